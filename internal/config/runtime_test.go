package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/internal/gotune"
)

// TestRuntime: the runtime section (file or environment) gives gotune its
// options; absent keys give the zero options, which are passkdc's defaults.
func TestRuntime(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		env  map[string]string
		want gotune.Options
	}{
		{"absent", "", nil, gotune.Options{}},
		{"gc_percent and MiB", "runtime: {gc_percent: 250, memory_limit: 512MiB}\n", nil,
			gotune.Options{GCPercent: 250, MemoryLimit: 512 << 20}},
		{"the default written out", "runtime: {gc_percent: 400}\n", nil, gotune.Options{GCPercent: 400}},
		{"GiB", "runtime: {memory_limit: 1GiB}\n", nil, gotune.Options{MemoryLimit: 1 << 30}},
		{"GB is decimal", "runtime: {memory_limit: 2GB}\n", nil, gotune.Options{MemoryLimit: 2e9}},
		{"any case, a space", "runtime: {memory_limit: 100 mib}\n", nil, gotune.Options{MemoryLimit: 100 << 20}},
		{"plain bytes", "runtime: {memory_limit: 1073741824}\n", nil, gotune.Options{MemoryLimit: 1 << 30}},
		{"bytes with B", "runtime: {memory_limit: 100000000B}\n", nil, gotune.Options{MemoryLimit: 1e8}},
		{"environment", "", map[string]string{"PASSKDC_RUNTIME_GC_PERCENT": "800", "PASSKDC_RUNTIME_MEMORY_LIMIT": "3GiB"},
			gotune.Options{GCPercent: 800, MemoryLimit: 3 << 30}},
		{"an empty variable unsets the file's", "runtime: {gc_percent: 250}\n", map[string]string{"PASSKDC_RUNTIME_GC_PERCENT": ""},
			gotune.Options{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(minimal+c.yaml), envMap(c.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Runtime.Options(); got != c.want {
				t.Errorf("Options() = %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestRuntimeInvalid: a refused value names its key and what to write.
func TestRuntimeInvalid(t *testing.T) {
	cases := []struct {
		name, yaml string
		env        map[string]string
		key, msg   string
	}{
		{"gc_percent too low", "runtime: {gc_percent: 5}\n", nil, "runtime.gc_percent", "want 50..2000"},
		{"gc_percent zero", "runtime: {gc_percent: 0}\n", nil, "runtime.gc_percent", "got 0"},
		{"gc_percent too high", "runtime: {gc_percent: 5000}\n", nil, "runtime.gc_percent", "want 50..2000"},
		{"gc_percent negative", "runtime: {gc_percent: -1}\n", nil, "runtime.gc_percent", "want 50..2000"},
		{"gc_percent not a number", "", map[string]string{"PASSKDC_RUNTIME_GC_PERCENT": "off"}, "runtime.gc_percent", "not an integer"},
		{"junk size", "runtime: {memory_limit: lots}\n", nil, "runtime.memory_limit", "such as 512MiB"},
		{"fraction", "runtime: {memory_limit: 1.5GiB}\n", nil, "runtime.memory_limit", "such as 512MiB"},
		{"unknown unit", "runtime: {memory_limit: 1PiB}\n", nil, "runtime.memory_limit", "not a size"},
		{"negative", "runtime: {memory_limit: -1}\n", nil, "runtime.memory_limit", "not a size"},
		{"overflow", "runtime: {memory_limit: 9000000000TiB}\n", nil, "runtime.memory_limit", "too large"},
		{"tiny", "runtime: {memory_limit: 1MiB}\n", nil, "runtime.memory_limit", "below 64MiB"},
		{"unknown key", "runtime: {gogc: 400}\n", nil, "", "field gogc not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal+c.yaml), envMap(c.env))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not mention %q", err, c.msg)
			}
			if c.key == "" {
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.key+": ") {
				t.Errorf("error %q is not an ErrInvalid naming %s", err, c.key)
			}
		})
	}
}
