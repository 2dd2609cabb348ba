package integration

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/deploy"
)

// cutProxy forwards loopback TCP connections to a target. Cut, it closes
// its listener and every open connection, so clients get "connection
// refused" as from a directory that went away; restored, it listens again on
// the same address.
type cutProxy struct {
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener // nil while cut
	conns  map[net.Conn]struct{}
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	p := &cutProxy{addr: "127.0.0.1:0", target: target, conns: map[net.Conn]struct{}{}}
	if err := p.listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.setCut(true) })
	return p
}

func (p *cutProxy) listen() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go p.serve(ln)
	return nil
}

func (p *cutProxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.forward(c)
	}
}

func (p *cutProxy) forward(c net.Conn) {
	defer p.drop(c)
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	defer p.drop(up)
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
}

func (p *cutProxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// setCut cuts or restores the link.
func (p *cutProxy) setCut(cut bool) error {
	if !cut {
		return p.listen()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	return nil
}

// The directory going away and coming back is survived without a restart:
// within max_staleness passkdc serves from its mirror, beyond it refuses
// (fail closed, exit 3 with the "directory" code), and once the directory is
// back sign-ins work again.
func TestDirectoryOutageIsSurvivedWithoutRestart(t *testing.T) {
	f := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	proxy := newCutProxy(t, f.dc.LDAPSAddr())
	dir, err := os.MkdirTemp("", "passkdc-outage-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	const staleness = 6 * time.Second
	d, err := deploy.Provision(ctx, deploy.Options{DC: f.dc, Bin: f.Bin, Dir: dir, RODCName: rodcName,
		LDAPURL: "ldaps://" + proxy.addr, MaxStaleness: staleness, SyncInterval: staleness - time.Second})
	if err != nil {
		t.Fatal(err)
	}
	user, err := f.dc.CreateUser(ctx, "olga", f.password)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.dc.AddMember(ctx, "CN=Allowed RODC Password Replication Group,CN=Users,"+f.dc.BaseDN(), user.DN); err != nil {
		t.Fatal(err)
	}
	if out, err := d.Passkdc(ctx, "sync", "--full"); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	if err := d.Serve(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	pass, err := d.IssueTAP(ctx, "olga")
	if err != nil {
		t.Fatal(err)
	}
	key := "soft:" + filepath.Join(dir, "olga.passkey")
	signIn := func(extra ...string) (string, int) {
		out, err := d.Passkinit(ctx, nil, append([]string{"--authenticator", key, "--no-exchange",
			"-c", filepath.Join(dir, "cc")}, extra...)...)
		return out, exitCode(err)
	}
	if out, code := signIn("--register", "--tap", pass); code != 0 {
		t.Fatalf("sign-in with the directory up: exit %d\n%s", code, out)
	}
	synced := time.Now() // the sign-in above confirmed the account live

	if err := proxy.setCut(true); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, d, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"directory":"unavailable"`) {
		t.Errorf("/readyz with the directory cut: %d %s, want 503 naming the directory", code, body)
	}
	if code, _ := get(t, d, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz (liveness) with the directory cut: %d, want 200", code)
	}
	if out, code := signIn(); code != 0 {
		if time.Since(synced) < staleness {
			t.Fatalf("sign-in within max_staleness of a directory outage: exit %d, want 0 (served from the mirror)\n%s\n%s", code, out, d.Log())
		}
		t.Logf("machine too slow to check the within-staleness case (%s elapsed)", time.Since(synced))
	} else {
		// The fallback to the mirror is visible to operators: a warning and a metric.
		if !strings.Contains(d.Log(), "answered from the mirror") {
			t.Errorf("no warning when the live check fell back to the mirror:\n%s", d.Log())
		}
		if m := metrics(t, d); !strings.Contains(m, "passkdc_live_check_mirror_fallbacks_total 1") {
			t.Errorf("fallback metric not counted:\n%s", grepLines(m, "fallback"))
		}
	}
	time.Sleep(time.Until(synced.Add(staleness + time.Second)))
	out, code := signIn()
	if code != 3 || !strings.Contains(out, "directory") {
		t.Fatalf("sign-in beyond max_staleness with the directory down: exit %d, want 3 naming the directory\n%s", code, out)
	}

	if err := proxy.setCut(false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, code = signIn()
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sign-in after the directory came back: exit %d\n%s\nserver log:\n%s", code, out, d.Log())
		}
		time.Sleep(time.Second)
	}

	// SIGHUP with a directory configured re-reads the keytab and keeps serving.
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(d.Log(), "keytab reloaded"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no keytab reload after SIGHUP:\n%s", d.Log())
		}
	}
	if out, code := signIn(); code != 0 {
		t.Fatalf("sign-in after SIGHUP: exit %d\n%s\nserver log:\n%s", code, out, d.Log())
	}
}

// metrics reads the running server's /metrics.
func metrics(t *testing.T, d *deploy.Deployment) string {
	t.Helper()
	_, body := get(t, d, "/metrics")
	return body
}

// get fetches path from the running server.
func get(t *testing.T, d *deploy.Deployment, path string) (int, string) {
	t.Helper()
	hc, err := d.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(d.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
