package server

import "time"

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
