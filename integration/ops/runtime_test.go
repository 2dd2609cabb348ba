package ops

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// gcLine is the start-up line saying the garbage collector's settings.
func gcLine(t *testing.T, logs string) map[string]any {
	t.Helper()
	var found map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["gc_percent"] == nil {
			continue
		}
		if found != nil {
			t.Errorf("more than one line with gc_percent:\n%s", logs)
		}
		found = m
	}
	if found == nil {
		t.Fatalf("no start-up line with gc_percent:\n%s", logs)
	}
	return found
}

// envWithout is this process's environment without the named variables.
func envWithout(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "PASSKDC_") && !contains(names, name) {
			env = append(env, kv)
		}
	}
	return env
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestServeAppliesTheRuntimeSettings: passkdc serve sets the garbage
// collector from runtime.gc_percent and runtime.memory_limit (default 400,
// no limit), GOGC and GOMEMLIMIT in the environment win, and one start-up
// line says what is in effect and where it came from; the Go runtime's own
// figures on /metrics agree. A value out of range stops serve and check with
// the key named.
func TestServeAppliesTheRuntimeSettings(t *testing.T) {
	bin := buildPasskdc(t)
	clean := envWithout("GOGC", "GOMEMLIMIT")
	cases := []struct {
		name, extra string
		env         []string
		pct         float64
		pctSource   string
		limit       string
		limitBytes  float64 // go_gc_gomemlimit_bytes
		limitSource string
	}{
		{"no runtime section", "", nil, 400, "default", "none", 1<<63 - 1, "default"},
		{"configured", "runtime: {gc_percent: 250, memory_limit: 512MiB}\n", nil, 250, "config", "536870912", 512 << 20, "config"},
		{"environment wins", "runtime: {gc_percent: 250, memory_limit: 512MiB}\n", []string{"GOGC=100", "GOMEMLIMIT=1GiB"},
			100, "environment", "1073741824", 1 << 30, "environment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port := freePort(t)
			logs, _ := serveEnv(t, bin, writeConfig(t, port, c.extra), port, append(clean[:len(clean):len(clean)], c.env...))
			m := gcLine(t, logs.String())
			if m["level"] != "info" || m["gc_percent"] != c.pct || m["gc_source"] != c.pctSource ||
				m["memory_limit"] != c.limit || m["memory_limit_source"] != c.limitSource {
				t.Errorf("start-up line %v, want gc_percent %v (%s), memory_limit %s (%s)", m, c.pct, c.pctSource, c.limit, c.limitSource)
			}
			_, exposition := get(t, "http://127.0.0.1:"+port+"/metrics")
			if got := metricValue(exposition, "go_gc_gogc_percent"); got != c.pct {
				t.Errorf("go_gc_gogc_percent %v, want %v", got, c.pct)
			}
			if got := metricValue(exposition, "go_gc_gomemlimit_bytes"); got != c.limitBytes {
				t.Errorf("go_gc_gomemlimit_bytes %v, want %v", got, c.limitBytes)
			}
		})
	}
	t.Run("out of range", func(t *testing.T) {
		for key, extra := range map[string]string{
			"runtime.gc_percent":   "runtime: {gc_percent: 5}\n",
			"runtime.memory_limit": "runtime: {memory_limit: lots}\n",
		} {
			cfg := writeConfig(t, freePort(t), extra)
			cmd := exec.Command(bin, "serve", "--config", cfg, "--insecure-loopback")
			cmd.Env = clean
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), key+": ") {
				t.Errorf("serve with %s: %v\n%s", strings.TrimSpace(extra), err, out)
			}
			cmd = exec.Command(bin, "check", "--config", cfg)
			cmd.Env = clean
			out, err = cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), key+": ") {
				t.Errorf("check with %s: %v\n%s", strings.TrimSpace(extra), err, out)
			}
		}
	})
}
