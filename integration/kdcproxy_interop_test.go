package integration

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/passkdc/passkdc/internal/testenv"
)

// pyKDCProxyAddr is where Python's kdcproxy listens (this helper's loopback range).
const pyKDCProxyAddr = "127.0.0.32"

// startPyKDCProxy runs Debian's python3-kdcproxy as a WSGI app over TLS
// (certificate for 127.0.0.32 made with openssl) relaying to the DC; it
// returns its URL and CA file.
func startPyKDCProxy(t *testing.T, f *fixture) (string, string) {
	t.Helper()
	py, openssl := testenv.Python(t), testenv.RequireTool(t, "openssl")
	if out, err := exec.Command(py, "-c", "import kdcproxy").CombinedOutput(); err != nil {
		if testenv.InCI() {
			t.Fatalf("python3-kdcproxy missing (integration/scripts/install-deps.sh installs it): %s", out)
		}
		t.Skipf("python3-kdcproxy missing: %s", out)
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if out, err := exec.Command(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN="+pyKDCProxyAddr,
		"-addext", "subjectAltName=IP:"+pyKDCProxyAddr).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	conf := filepath.Join(dir, "kdcproxy.conf")
	body := fmt.Sprintf("[global]\nuse_dns = false\n\n[%s]\nkerberos = kerberos+tcp://%s\n", f.dc.Realm(), f.dc.KDCAddr())
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pyKDCProxyAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command(py, filepath.Join(filepath.Dir(file), "testdata", "kdcproxy_wsgi.py"), pyKDCProxyAddr, fmt.Sprint(port), cert, key)
	cmd.Env = append(os.Environ(), "KDCPROXY_CONFIG="+conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() { ready <- bufio.NewScanner(stdout).Scan() }()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("kdcproxy did not start:\n%s", stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("kdcproxy did not start in 20 s:\n%s", stderr.String())
	}
	return fmt.Sprintf("https://%s:%d/KdcProxy", pyKDCProxyAddr, port), cert
}

// ticketLines are klist's principal lines (client and services), without times.
func ticketLines(t *testing.T, out string) []string {
	t.Helper()
	var lines []string
	re := regexp.MustCompile(`[\w$./-]+@[A-Z.]+`)
	for _, l := range strings.Split(out, "\n") {
		if m := re.FindAllString(l, -1); len(m) > 0 && !strings.Contains(l, "Ticket cache") {
			lines = append(lines, strings.Join(m, " "))
		}
	}
	return lines
}

// The same MIT client through Python's kdcproxy and through passkdc gets the
// same tickets: kinit with a password, then kvno cifs/DC.
func TestKDCProxyInteropWithPythonKdcproxy(t *testing.T) {
	kinit, kvno, klist := testenv.RequireTool(t, "kinit"), testenv.RequireTool(t, "kvno"), testenv.RequireTool(t, "klist")
	f := server(t)
	pyURL, pyCA := startPyKDCProxy(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	realm, svc := f.dc.Realm(), "cifs/"+f.dc.FQDN()
	var got [2][]string
	for i, p := range []struct{ url, ca string }{{pyURL, pyCA}, {f.URL + "/KdcProxy", f.CAFile}} {
		conf := proxyKrb5Conf(t, f, p.ca, p.url)
		cc := filepath.Join(t.TempDir(), "cc")
		env := append(f.clientEnv(cc), "KRB5_CONFIG="+conf)
		cmd := exec.CommandContext(ctx, kinit, "kpuser@"+realm)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(f.password + "\n")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kinit through %s: %v\n%s", p.url, err, b)
		}
		if out, err := run(ctx, env, kvno, svc); err != nil {
			t.Fatalf("kvno through %s: %v\n%s", p.url, err, out)
		}
		list, err := run(ctx, env, klist)
		if err != nil {
			t.Fatal(err)
		}
		got[i] = ticketLines(t, list)
	}
	if strings.Join(got[0], "\n") != strings.Join(got[1], "\n") || len(got[0]) < 3 {
		t.Fatalf("tickets differ:\nPython kdcproxy: %q\npasskdc:         %q", got[0], got[1])
	}
	t.Logf("same tickets through both proxies: %q", got[0])
}
