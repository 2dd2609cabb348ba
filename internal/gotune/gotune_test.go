package gotune

import (
	"runtime/debug"
	"testing"
)

// restore puts back the process's GC settings after a test changed them.
func restore(t *testing.T) {
	t.Helper()
	pct, limit := currentGCPercent(), debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(limit)
	})
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestApply: options, defaults and the environment each give the settings
// the runtime then has, and Applied says where each came from.
func TestApply(t *testing.T) {
	cases := []struct {
		name string
		// before: what the Go runtime applied from the environment at start.
		beforePct   int
		beforeLimit int64
		opts        Options
		env         map[string]string
		want        Applied
	}{
		{"zero options: passkdc's defaults", 100, NoLimit, Options{}, nil,
			Applied{DefaultGCPercent, SourceDefault, NoLimit, SourceDefault}},
		{"configured", 100, NoLimit, Options{GCPercent: 250, MemoryLimit: 512 << 20}, nil,
			Applied{250, SourceConfig, 512 << 20, SourceConfig}},
		{"GOGC wins over the configuration", 100, NoLimit, Options{GCPercent: 250}, map[string]string{"GOGC": "100"},
			Applied{100, SourceEnvironment, NoLimit, SourceDefault}},
		{"GOGC=off is reported as -1", -1, NoLimit, Options{}, map[string]string{"GOGC": "off"},
			Applied{-1, SourceEnvironment, NoLimit, SourceDefault}},
		{"GOMEMLIMIT wins, GOGC unset", 100, 1 << 30, Options{GCPercent: 300, MemoryLimit: 512 << 20},
			map[string]string{"GOMEMLIMIT": "1GiB"}, Applied{300, SourceConfig, 1 << 30, SourceEnvironment}},
		{"both from the environment", 50, 2 << 30, Options{GCPercent: 300, MemoryLimit: 512 << 20},
			map[string]string{"GOGC": "50", "GOMEMLIMIT": "2GiB"}, Applied{50, SourceEnvironment, 2 << 30, SourceEnvironment}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			restore(t)
			debug.SetGCPercent(c.beforePct)
			debug.SetMemoryLimit(c.beforeLimit)
			got := Apply(c.opts, env(c.env))
			if got != c.want {
				t.Fatalf("Apply = %+v, want %+v", got, c.want)
			}
			if p := currentGCPercent(); p != c.want.GCPercent {
				t.Errorf("runtime GC percent %d, want %d", p, c.want.GCPercent)
			}
			if l := debug.SetMemoryLimit(-1); l != c.want.MemoryLimit {
				t.Errorf("runtime memory limit %d, want %d", l, c.want.MemoryLimit)
			}
		})
	}
}

// TestMemoryLimitText: a log line says "none" or the bytes.
func TestMemoryLimitText(t *testing.T) {
	for _, c := range []struct {
		limit int64
		want  string
	}{{NoLimit, "none"}, {512 << 20, "536870912"}} {
		if got := (Applied{MemoryLimit: c.limit}).MemoryLimitText(); got != c.want {
			t.Errorf("MemoryLimitText(%d) = %q, want %q", c.limit, got, c.want)
		}
	}
}
