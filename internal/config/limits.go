package config

import (
	"maps"
	"slices"
	"time"
)

// Limits bounds what one client, one principal and one connection may cost the
// server (limits.* keys). Every key has a safe default; 0 is not "unlimited"
// but invalid, except where a comment says otherwise.
type Limits struct {
	// BodyBytes caps every request body (WebAuthn responses are a few KiB).
	BodyBytes int `yaml:"body_bytes"`
	// PerAddressPerMinute and PerAddressBurst: token bucket per source address
	// over every API and page request (answered 429 + Retry-After when empty).
	PerAddressPerMinute int `yaml:"per_address_per_minute"`
	PerAddressBurst     int `yaml:"per_address_burst"`
	// PerPrincipalPerMinute and PerPrincipalBurst: token bucket per principal
	// over ceremonies (begin with a known principal, finish before issuance).
	PerPrincipalPerMinute int `yaml:"per_principal_per_minute"`
	PerPrincipalBurst     int `yaml:"per_principal_burst"`
	// SessionsPerPrincipal bounds the open (unexpired) ceremony sessions of one
	// principal; SessionsTotal bounds all open sessions (discoverable sign-ins
	// have no principal until finish).
	SessionsPerPrincipal int `yaml:"sessions_per_principal"`
	SessionsTotal        int `yaml:"sessions_total"`
	// TrackedAddresses bounds the memory of the per-address and per-principal
	// limiters: the least recently seen keys are forgotten beyond it.
	TrackedAddresses int `yaml:"tracked_addresses"`
	// HTTP server timeouts.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// RequestTimeout bounds one request's work (store, directory, issuance).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// ShutdownTimeout bounds the drain of in-flight requests on SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	MaxHeaderBytes  int           `yaml:"max_header_bytes"`
}

// DefaultLimits are the limits used when the file sets none.
func DefaultLimits() Limits {
	return Limits{
		BodyBytes:             64 << 10,
		PerAddressPerMinute:   600,
		PerAddressBurst:       60,
		PerPrincipalPerMinute: 30,
		PerPrincipalBurst:     10,
		SessionsPerPrincipal:  20,
		SessionsTotal:         100000,
		TrackedAddresses:      10000,
		ReadHeaderTimeout:     5 * time.Second,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		RequestTimeout:        20 * time.Second,
		ShutdownTimeout:       15 * time.Second,
		MaxHeaderBytes:        16 << 10,
	}
}

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

// BuiltinNeverReveal returns the builtin group SIDs a standalone policy always denies.
func BuiltinNeverReveal() []string {
	return []string{"S-1-5-32-544", "S-1-5-32-548", "S-1-5-32-549", "S-1-5-32-550", "S-1-5-32-551"}
}

func (v *validator) limits(l *Limits) {
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
