package ops

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/internal/mdstest"
)

// TestServeRunsThePreflightChecksAtStart: `passkdc serve` runs the checks of
// `passkdc check` before it listens. A fatal problem (a keytab readable by
// others) stops it with the problem and its fix; a warning (an origin on
// another port than listen, a FIDO metadata blob past its nextUpdate) is
// logged with its fix as fields, and the start summary counts it.
func TestServeRunsThePreflightChecksAtStart(t *testing.T) {
	bin := buildPasskdc(t)

	t.Run("fatal stops the start", func(t *testing.T) {
		cfg := writeConfig(t, freePort(t), "")
		if err := os.Chmod(filepath.Join(filepath.Dir(cfg), "krbtgt.keytab"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "serve", "--insecure-loopback", "--config", cfg).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("serve with a 0644 keytab: %v, want exit 1\n%s", err, out)
		}
		for _, want := range []string{"pre-flight check(s) failed", "keytab:", "fix:", "chmod 600"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("serve's refusal lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("warnings are logged and serve starts", func(t *testing.T) {
		port := freePort(t)
		root := mdstest.NewRoot(t, "MDS root")
		dir := t.TempDir()
		blob, rootFile := filepath.Join(dir, "mds.jwt"), filepath.Join(dir, "root.pem")
		writeFile(t, blob, mdstest.MakeBlobNextUpdate(t, root, "2026-01-01"))
		writeFile(t, rootFile, root.PEM())
		extra := "metadata: {blob_file: " + blob + ", root_file: " + rootFile + "}\n"
		cfg := writeConfig(t, port, extra)
		raw, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// The origin moves to another port (as behind a reverse proxy): a warning, not a refusal.
		writeFile(t, cfg, []byte(strings.Replace(string(raw), `"http://localhost:`+port+`"`, `"http://localhost:1`+port+`"`, 1)))
		logs := serve(t, bin, cfg, port)
		warned := map[string]map[string]any{}
		var ready map[string]any
		for _, line := range strings.Split(logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			if name, ok := m["check"].(string); ok && m["level"] == "warning" {
				warned[name] = m
			}
			if m["msg"] == "passkdc ready" {
				ready = m
			}
		}
		for name, fix := range map[string]string{"origins": "listen port", "metadata": "metadata.blob_file"} {
			w, ok := warned[name]
			if !ok {
				t.Errorf("no warning for check %q:\n%s", name, logs.String())
				continue
			}
			if f, _ := w["fix"].(string); !strings.Contains(f, fix) {
				t.Errorf("warning %q: fix %q does not say %q", name, f, fix)
			}
		}
		if ready == nil || ready["check_warnings"] != float64(2) {
			t.Errorf("start summary %v, want check_warnings 2", ready)
		}
	})
}
