package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/passkdc/passkdc/internal/gotune"
)

// Runtime is the Go runtime's garbage collector settings (runtime.* keys).
// An absent key leaves passkdc's default (internal/gotune): gc_percent 400,
// no memory limit. GOGC and GOMEMLIMIT in the environment win over both.
type Runtime struct {
	// GCPercent is the collector's target percentage (GOGC), 50..2000;
	// nil: gotune.DefaultGCPercent.
	GCPercent *int `yaml:"gc_percent"`
	// MemoryLimit is a soft memory limit (GOMEMLIMIT) such as 512MiB, 1GiB,
	// 2GB or plain bytes; empty: none.
	MemoryLimit string `yaml:"memory_limit"`
}

// The bounds of runtime.gc_percent and runtime.memory_limit.
const (
	minGCPercent   = 50
	maxGCPercent   = 2000
	minMemoryLimit = 64 << 20
)

// Options are the settings for gotune.Apply (the configuration must have
// been validated: an invalid memory limit gives none).
func (r Runtime) Options() gotune.Options {
	var o gotune.Options
	if r.GCPercent != nil {
		o.GCPercent = *r.GCPercent
	}
	o.MemoryLimit, _ = parseSize(r.MemoryLimit)
	return o
}

func (v *validator) runtime(r *Runtime) {
	if r.GCPercent != nil && (*r.GCPercent < minGCPercent || *r.GCPercent > maxGCPercent) {
		v.add("runtime.gc_percent", "want %d..%d (passkdc's default is %d; Go's is 100), got %d",
			minGCPercent, maxGCPercent, gotune.DefaultGCPercent, *r.GCPercent)
	}
	n, err := parseSize(r.MemoryLimit)
	switch {
	case err != nil:
		v.add("runtime.memory_limit", "%v: want a size such as 512MiB, 1GiB, 2GB or plain bytes", err)
	case n != 0 && n < minMemoryLimit:
		v.add("runtime.memory_limit", "%q is below 64MiB: the collector would run all the time (leave it out for no limit)", r.MemoryLimit)
	}
}

// sizeUnits are the suffixes parseSize accepts, longest first.
var sizeUnits = []struct {
	suffix string
	bytes  int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"b", 1},
}

// parseSize reads a byte count: digits with an optional unit (B, KB, MB,
// GB, TB in powers of 1000; KiB, MiB, GiB, TiB in powers of 1024; any
// case). Empty is 0 (no limit).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	num, mult := s, int64(1)
	lower := strings.ToLower(s)
	for _, u := range sizeUnits {
		if strings.HasSuffix(lower, u.suffix) {
			num, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}
