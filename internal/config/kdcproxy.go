package config

import (
	"net"
	"time"
)

// KDCProxy is the Kerberos KDC proxy (MS-KKDCP) on the API listener
// (kdc_proxy.* keys): POST /KdcProxy relays AS-REQ and TGS-REQ for the
// configured realm to its KDCs over TCP, so clients that reach passkdc over
// HTTPS but no DC can still trade a partial TGT and get service tickets.
type KDCProxy struct {
	Enabled bool `yaml:"enabled"`
	// KDCs are the realm's KDC addresses (host:port), tried in order.
	KDCs []string `yaml:"kdcs"`
	// Timeout bounds one exchange with one KDC (dial, send, answer).
	Timeout time.Duration `yaml:"timeout"`
	// MaxBytes caps a KDC-PROXY-MESSAGE (at most limits.body_bytes).
	MaxBytes int `yaml:"max_bytes"`
	// PerAddressPerMinute and PerAddressBurst: token bucket per source address
	// over /KdcProxy requests, on top of limits.per_address_*.
	PerAddressPerMinute int `yaml:"per_address_per_minute"`
	PerAddressBurst     int `yaml:"per_address_burst"`
}

// DefaultKDCProxy is the proxy section when the file sets none (disabled).
func DefaultKDCProxy() KDCProxy {
	return KDCProxy{Timeout: 5 * time.Second, MaxBytes: 32 << 10, PerAddressPerMinute: 120, PerAddressBurst: 30}
}

func (v *validator) kdcProxy(p *KDCProxy, l *Limits) {
	if !p.Enabled {
		return
	}
	if len(p.KDCs) == 0 {
		v.add("kdc_proxy.kdcs", "required when the proxy is enabled: the realm's KDCs as host:port (e.g. dc1.corp.example.test:88)")
	}
	for _, k := range p.KDCs {
		if host, port, err := net.SplitHostPort(k); err != nil || host == "" || port == "" {
			v.add("kdc_proxy.kdcs", "want host:port, got %q", k)
		}
	}
	if p.Timeout <= 0 {
		v.add("kdc_proxy.timeout", "must be positive, got %s", p.Timeout)
	}
	switch {
	case p.MaxBytes <= 0:
		v.add("kdc_proxy.max_bytes", "must be positive, got %d", p.MaxBytes)
	case l.BodyBytes > 0 && p.MaxBytes > l.BodyBytes:
		v.add("kdc_proxy.max_bytes", "%d is more than limits.body_bytes %d: raise that too or lower this", p.MaxBytes, l.BodyBytes)
	}
	if p.PerAddressPerMinute <= 0 {
		v.add("kdc_proxy.per_address_per_minute", "must be positive, got %d", p.PerAddressPerMinute)
	}
	if p.PerAddressBurst <= 0 {
		v.add("kdc_proxy.per_address_burst", "must be positive, got %d", p.PerAddressBurst)
	}
}
