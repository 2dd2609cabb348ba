// Package version reports the passkdc build version.
package version

import "runtime/debug"

// Version is set at link time with -ldflags "-X github.com/passkdc/passkdc/internal/version.Version=v1.2.3".
// When unset, String falls back to the module version recorded by the Go toolchain.
var Version = ""

// String returns the best available version string for this binary.
func String() string {
	if Version != "" {
		return Version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "devel-" + s.Value[:12]
			}
		}
	}
	return "devel"
}
