package config

import (
	"maps"
	"slices"
	"time"

	"github.com/passkdc/passkdc/server"
)

// Standalone is the no-directory mode (standalone.* keys): principals and
// groups are put into the store by an administrator (or a test) instead of
// being mirrored from LDAP, and the RODC's password replication policy is
// given here instead of being read from the RODC object. The ldap section is
// then optional and ignored; no sync and no live check run.
type Standalone struct {
	Enabled bool `yaml:"enabled"`
	// Allow lists the reveal-on-demand group SIDs (msDS-RevealOnDemandGroup);
	// at least one is required.
	Allow []string `yaml:"allow"`
	// Deny lists the never-reveal group SIDs (msDS-NeverRevealGroup); the
	// builtin Administrators, Account, Server, Print and Backup Operators are
	// always added.
	Deny []string `yaml:"deny"`
}

func (v *validator) limits(l *server.Limits) {
	positive := map[string]int{
		"limits.body_bytes": l.BodyBytes, "limits.per_address_per_minute": l.PerAddressPerMinute,
		"limits.per_address_burst": l.PerAddressBurst, "limits.per_principal_per_minute": l.PerPrincipalPerMinute,
		"limits.per_principal_burst": l.PerPrincipalBurst, "limits.sessions_per_principal": l.SessionsPerPrincipal,
		"limits.sessions_total": l.SessionsTotal, "limits.tracked_addresses": l.TrackedAddresses,
		"limits.max_header_bytes": l.MaxHeaderBytes,
	}
	for _, k := range sortedKeys(positive) {
		if positive[k] <= 0 {
			v.add(k, "must be positive, got %d", positive[k])
		}
	}
	if l.BodyBytes > 16<<20 {
		v.add("limits.body_bytes", "%d is more than 16 MiB", l.BodyBytes)
	}
	durations := map[string]time.Duration{
		"limits.read_header_timeout": l.ReadHeaderTimeout, "limits.read_timeout": l.ReadTimeout,
		"limits.write_timeout": l.WriteTimeout, "limits.idle_timeout": l.IdleTimeout,
		"limits.request_timeout": l.RequestTimeout, "limits.shutdown_timeout": l.ShutdownTimeout,
	}
	for _, k := range sortedKeys(durations) {
		if durations[k] <= 0 {
			v.add(k, "must be positive, got %s", durations[k])
		}
	}
}

func (v *validator) standalone(s *Standalone) {
	if s.Enabled && len(s.Allow) == 0 {
		v.add("standalone.allow", "required in standalone mode: the reveal-on-demand group SIDs")
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
