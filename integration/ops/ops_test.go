// Package ops tests operating settings through the real `passkdc serve`
// binary and a real config file: where /metrics is served (metrics_listen)
// and the log level and format (log.level, log.format). Tests only.
package ops

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passkdc/passkdc/keytabs"
)

const realm = "CORP.EXAMPLE.TEST"

func buildPasskdc(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "passkdc")
	build := exec.Command("go", "build", "-o", bin, "github.com/passkdc/passkdc/cmd/passkdc")
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// writeConfig writes a standalone config listening on port, plus extra YAML.
func writeConfig(t *testing.T, port, extra string) string {
	t.Helper()
	return writeConfigStore(t, port, "", extra)
}

// writeConfigStore is writeConfig with the store given (a PostgreSQL URL;
// "": a SQLite file of its own).
func writeConfigStore(t *testing.T, port, storeAt, extra string) string {
	t.Helper()
	dir := t.TempDir()
	if storeAt == "" {
		storeAt = filepath.Join(dir, "passkdc.db")
	}
	kt := filepath.Join(dir, "krbtgt.keytab")
	key, err := keytabs.StringToKey(18, "rodc", keytabs.ADUserSalt(realm, "krbtgt_40000"))
	if err != nil {
		t.Fatal(err)
	}
	k := &keytabs.Keytab{Entries: []keytabs.Entry{{Principal: keytabs.NewPrincipal(realm, "krbtgt_40000"), KVNO: keytabs.EncodeKVNO(40000, 1), Key: key}}}
	if err := k.WriteFile(kt); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "passkdc.yaml")
	yaml := fmt.Sprintf(`realm: %s
listen: 127.0.0.1:%s
rp_id: localhost
origins: ["http://localhost:%s"]
store: %s
keytab: %s
standalone: {enabled: true, allow: ["S-1-5-21-1-2-3-571"]}
%s`, realm, port, port, storeAt, kt, extra)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// lockedBuffer collects a process's stderr while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serve starts `passkdc serve` and waits until it answers /healthz.
func serve(t *testing.T, bin, cfg, port string) *lockedBuffer {
	t.Helper()
	logs, _ := serveProcess(t, bin, cfg, port)
	return logs
}

// serveProcess is serve that also returns the process (to signal it).
func serveProcess(t *testing.T, bin, cfg, port string) (*lockedBuffer, *os.Process) {
	t.Helper()
	return serveEnv(t, bin, cfg, port, nil)
}

// serveEnv is serveProcess with the process's environment given (nil: this
// process's).
func serveEnv(t *testing.T, bin, cfg, port string, env []string) (*lockedBuffer, *os.Process) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfg, "--insecure-loopback")
	cmd.Env = env
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://127.0.0.1:" + port + "/healthz"); err == nil {
			resp.Body.Close()
			return logs, cmd.Process
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("passkdc serve did not answer within 20 s; stderr:\n%s", logs.String())
	return nil, nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsListenMovesMetricsOffThePublicListener(t *testing.T) {
	bin := buildPasskdc(t)
	t.Run("default: on the API listener", func(t *testing.T) {
		port := freePort(t)
		serve(t, bin, writeConfig(t, port, ""), port)
		if code, body := get(t, "http://127.0.0.1:"+port+"/metrics"); code != 200 || !strings.Contains(body, "passkdc_") {
			t.Fatalf("/metrics on the API listener: %d\n%.300s", code, body)
		}
	})
	t.Run("metrics_listen", func(t *testing.T) {
		port, mport := freePort(t), freePort(t)
		serve(t, bin, writeConfig(t, port, "metrics_listen: 127.0.0.1:"+mport+"\n"), port)
		if code, _ := get(t, "http://127.0.0.1:"+port+"/metrics"); code != http.StatusNotFound {
			t.Errorf("/metrics still on the API listener: %d", code)
		}
		if code, body := get(t, "http://127.0.0.1:"+mport+"/metrics"); code != 200 || !strings.Contains(body, "passkdc_") {
			t.Fatalf("/metrics on metrics_listen: %d\n%.300s", code, body)
		}
		if code, _ := get(t, "http://127.0.0.1:"+mport+"/healthz"); code != http.StatusNotFound {
			t.Errorf("the metrics listener serves more than /metrics: /healthz %d", code)
		}
	})
}

func TestLogFormatAndLevel(t *testing.T) {
	bin := buildPasskdc(t)
	for _, tc := range []struct {
		name, extra string
		json        bool
	}{
		{"default json", "", true},
		{"text", "log: {format: text, level: info}\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			logs := serve(t, bin, writeConfig(t, port, tc.extra), port)
			sc := bufio.NewScanner(strings.NewReader(logs.String()))
			lines := 0
			for sc.Scan() {
				line := sc.Text()
				lines++
				var m map[string]any
				isJSON := json.Unmarshal([]byte(line), &m) == nil
				if isJSON != tc.json || (!tc.json && !strings.Contains(line, "level=")) {
					t.Errorf("log line in the wrong format (json=%v): %s", tc.json, line)
				}
			}
			if lines == 0 {
				t.Fatal("serve logged nothing at start")
			}
			if tc.json && !strings.Contains(logs.String(), `"msg":"passkdc ready"`) {
				t.Errorf("no start summary line:\n%s", logs.String())
			}
		})
	}
	t.Run("level error hides info", func(t *testing.T) {
		port := freePort(t)
		logs := serve(t, bin, writeConfig(t, port, "log: {level: error}\n"), port)
		if s := logs.String(); strings.Contains(s, `"level":"info"`) {
			t.Errorf("info lines at log.level error:\n%s", s)
		}
	})
	t.Run("bad values name the key", func(t *testing.T) {
		for key, extra := range map[string]string{
			"log.level":      "log: {level: loud}\n",
			"log.format":     "log: {format: xml}\n",
			"metrics_listen": "metrics_listen: nowhere\n",
		} {
			out, err := exec.Command(bin, "serve", "--config", writeConfig(t, freePort(t), extra), "--insecure-loopback").CombinedOutput()
			if err == nil || !strings.Contains(string(out), key) {
				t.Errorf("%s: %v\n%s", key, err, out)
			}
		}
	})
}

// TestReadyzReportsEachComponent: /readyz names the store and keytab states
// separately from /healthz liveness; a keytab that goes bad turns it 503.
func TestReadyzReportsEachComponent(t *testing.T) {
	bin := buildPasskdc(t)
	port := freePort(t)
	cfg := writeConfig(t, port, "")
	serve(t, bin, cfg, port)
	code, body := get(t, "http://127.0.0.1:"+port+"/readyz")
	var r struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 || r.Status != "ready" ||
		r.Checks["store"] != "ok" || r.Checks["keytab"] != "ok" {
		t.Fatalf("/readyz on a good deployment: %d %s", code, body)
	}
	if err := os.Chmod(filepath.Join(filepath.Dir(cfg), "krbtgt.keytab"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5500 * time.Millisecond) // /readyz answers are cached for 5 s
	code, body = get(t, "http://127.0.0.1:"+port+"/readyz")
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != http.StatusServiceUnavailable ||
		r.Checks["keytab"] != "unavailable" || r.Checks["store"] != "ok" || strings.Contains(body, "0644") {
		t.Fatalf("/readyz with a 0644 keytab: %d %s (want 503, keytab unavailable, no detail to the caller)", code, body)
	}
	if code, _ := get(t, "http://127.0.0.1:"+port+"/healthz"); code != 200 {
		t.Errorf("/healthz (liveness) %d with a bad keytab, want 200", code)
	}
}

// TestStartSummaryNamesWhatServeRunsWith: one line with the RODC, key
// version, policy, rp_id, origins, store and directory.
func TestStartSummaryNamesWhatServeRunsWith(t *testing.T) {
	bin := buildPasskdc(t)
	port := freePort(t)
	logs := serve(t, bin, writeConfig(t, port, ""), port)
	for _, line := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "passkdc ready" {
			continue
		}
		if m["rodc_number"] != float64(40000) || m["key_version"] != float64(1) || m["rp_id"] != "localhost" ||
			m["directory"] != "standalone" || !strings.HasPrefix(m["store"].(string), "sqlite ") || m["reveal_groups"] != float64(1) {
			t.Errorf("start summary: %v", m)
		}
		return
	}
	t.Fatalf("no 'passkdc ready' line:\n%s", logs.String())
}

// TestKeytabChangeIsPickedUpWithoutSIGHUP: a keytab rewritten (as keytab
// import does after a rotation) is used without a signal or a restart.
func TestKeytabChangeIsPickedUpWithoutSIGHUP(t *testing.T) {
	bin := buildPasskdc(t)
	port := freePort(t)
	cfg := writeConfig(t, port, "")
	logs := serve(t, bin, cfg, port)
	path := filepath.Join(filepath.Dir(cfg), "krbtgt.keytab")
	kt, err := keytabs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	key, err := keytabs.StringToKey(18, "rotated", keytabs.ADUserSalt(realm, "krbtgt_40000"))
	if err != nil {
		t.Fatal(err)
	}
	kt.Entries = append(kt.Entries, keytabs.Entry{Principal: keytabs.NewPrincipal(realm, "krbtgt_40000"), KVNO: keytabs.EncodeKVNO(40000, 2), Key: key})
	if err := kt.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	want := float64(keytabs.EncodeKVNO(40000, 2))
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body := get(t, "http://127.0.0.1:"+port+"/metrics")
		if metricValue(body, "passkdc_rodc_current_kvno") == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new key version was not loaded within 15 s of the keytab change (want kvno %.0f)\n%s", want, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The log line may reach the pipe after the metric moved: wait for it.
	for !strings.Contains(logs.String(), "keytab file changed") {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the reload:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metricValue is the value of an unlabelled metric in a Prometheus exposition (-1: absent).
func metricValue(exposition, name string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
