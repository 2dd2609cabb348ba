// Package gotune applies passkdc's Go runtime settings: the garbage
// collector's target percentage (GOGC) and the soft memory limit
// (GOMEMLIMIT). A sign-in allocates tens of KiB while the live heap stays
// small, so with Go's default GOGC=100 the collector runs very often; passkdc
// therefore defaults to DefaultGCPercent. The environment variables GOGC and
// GOMEMLIMIT, which the Go runtime reads itself at start, always win over the
// configuration. `passkdc serve` and the sign-in bench's server process apply
// the same Options through Apply, so the bench measures what serve runs.
package gotune

import (
	"math"
	"runtime/debug"
	"strconv"
)

// DefaultGCPercent is passkdc's garbage collector target when neither the
// configuration nor GOGC sets one (Go's own default is 100).
const DefaultGCPercent = 400

// NoLimit is the memory limit that means none (the Go runtime's default).
const NoLimit int64 = math.MaxInt64

// Environment variables the Go runtime reads at start.
const (
	EnvGOGC       = "GOGC"
	EnvGOMEMLIMIT = "GOMEMLIMIT"
)

// Source says where an effective setting came from.
type Source string

// The sources of a setting.
const (
	SourceDefault     Source = "default"     // passkdc's default
	SourceConfig      Source = "config"      // the configuration file (or its PASSKDC_ variable)
	SourceEnvironment Source = "environment" // GOGC or GOMEMLIMIT, applied by the Go runtime
)

// Options are the settings to apply; the zero value means passkdc's defaults.
type Options struct {
	// GCPercent is the collector's target percentage; 0: DefaultGCPercent.
	GCPercent int
	// MemoryLimit is the soft memory limit in bytes; 0: none.
	MemoryLimit int64
}

// Applied is what is in effect after Apply.
type Applied struct {
	GCPercent         int
	GCSource          Source
	MemoryLimit       int64 // NoLimit: none
	MemoryLimitSource Source
}

// HasMemoryLimit reports whether a soft memory limit is in effect.
func (a Applied) HasMemoryLimit() bool { return a.MemoryLimit != NoLimit }

// Apply sets the garbage collector's percentage and the memory limit from
// opts, except a setting whose environment variable (GOGC, GOMEMLIMIT) is
// set according to getenv: the Go runtime has applied that one already, and
// it is left as it is. It returns the settings in effect.
func Apply(opts Options, getenv func(string) string) Applied {
	var a Applied
	if getenv(EnvGOGC) != "" {
		a.GCPercent, a.GCSource = currentGCPercent(), SourceEnvironment
	} else {
		a.GCPercent, a.GCSource = pick(opts.GCPercent, DefaultGCPercent)
		debug.SetGCPercent(a.GCPercent)
	}
	if getenv(EnvGOMEMLIMIT) != "" {
		a.MemoryLimit, a.MemoryLimitSource = debug.SetMemoryLimit(-1), SourceEnvironment
	} else {
		a.MemoryLimit, a.MemoryLimitSource = pick(opts.MemoryLimit, NoLimit)
		debug.SetMemoryLimit(a.MemoryLimit)
	}
	return a
}

// pick is v from the configuration, or def when v is zero.
func pick[T int | int64](v, def T) (T, Source) {
	if v == 0 {
		return def, SourceDefault
	}
	return v, SourceConfig
}

// currentGCPercent reads the percentage in effect (SetGCPercent returns the
// previous one; setting it back leaves it unchanged).
func currentGCPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// MemoryLimitText is the memory limit for a log line: "none" or the bytes
// in decimal.
func (a Applied) MemoryLimitText() string {
	if !a.HasMemoryLimit() {
		return "none"
	}
	return strconv.FormatInt(a.MemoryLimit, 10)
}
