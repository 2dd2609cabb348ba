package config

import (
	"net"
	"net/url"
	"strings"
	"time"
)

// KDCProxy is the Kerberos KDC proxy (MS-KKDCP) on the API listener
// (kdc_proxy.* keys): POST /KdcProxy relays AS-REQ and TGS-REQ for the
// configured realm to its KDCs over TCP, so clients that reach passkdc over
// HTTPS but no DC can still trade a partial TGT and get service tickets.
type KDCProxy struct {
	Enabled bool `yaml:"enabled"`
	// KDCs are the realm's KDC addresses (host:port), tried in order (after
	// the DNS SRV targets when DNSSRV is set).
	KDCs []string `yaml:"kdcs"`
	// DNSSRV: find the realm's KDCs in the _kerberos._tcp.REALM SRV records
	// (priority, then weight order), cached for DNSCache.
	DNSSRV bool `yaml:"dns_srv"`
	// DNSResolver is the DNS server (host[:port], port 53 by default) asked
	// for the SRV records and the KDCs' names; "": the system resolver.
	DNSResolver string `yaml:"dns_resolver"`
	// DNSCache is how long a realm's SRV answer is reused.
	DNSCache time.Duration `yaml:"dns_cache"`
	// AdvertiseURL is the KDC proxy URL sign-in answers tell passkinit to
	// fall back to when no DC is reachable; "" with the proxy enabled: the
	// first origin + /KdcProxy; "none": not advertised. It may name another
	// proxy (e.g. a Windows KDC Proxy Server) with enabled: false.
	AdvertiseURL string `yaml:"advertise_url"`
	// Timeout bounds one exchange with one KDC (dial, send, answer).
	Timeout time.Duration `yaml:"timeout"`
	// MaxBytes caps a KDC-PROXY-MESSAGE (at most limits.body_bytes).
	MaxBytes int `yaml:"max_bytes"`
	// PerAddressPerMinute and PerAddressBurst: token bucket per source address
	// over /KdcProxy requests, on top of limits.per_address_*.
	PerAddressPerMinute int `yaml:"per_address_per_minute"`
	PerAddressBurst     int `yaml:"per_address_burst"`
}

// NoAdvertise is the advertise_url value that turns advertising off.
const NoAdvertise = "none"

// maxDNSCache bounds kdc_proxy.dns_cache: a DC taken out of DNS must stop
// receiving traffic within the hour.
const maxDNSCache = time.Hour

// DefaultKDCProxy is the proxy section when the file sets none (disabled).
func DefaultKDCProxy() KDCProxy {
	return KDCProxy{Timeout: 5 * time.Second, MaxBytes: 32 << 10, PerAddressPerMinute: 120, PerAddressBurst: 30,
		DNSCache: time.Minute}
}

// AdvertisedKDCProxy is the KDC proxy URL passkdc tells clients about ("":
// none): kdc_proxy.advertise_url, else the first origin's /KdcProxy when
// the proxy is enabled.
func (c *Config) AdvertisedKDCProxy() string {
	p := c.KDCProxy
	switch {
	case p.AdvertiseURL == NoAdvertise:
		return ""
	case p.AdvertiseURL != "":
		return p.AdvertiseURL
	case p.Enabled && len(c.Origins) > 0:
		return strings.TrimSuffix(c.Origins[0], "/") + "/KdcProxy"
	}
	return ""
}

// DNSResolverAddr is kdc_proxy.dns_resolver as host:port ("" when unset).
func (p *KDCProxy) DNSResolverAddr() string {
	if p.DNSResolver == "" {
		return ""
	}
	if _, _, err := net.SplitHostPort(p.DNSResolver); err == nil {
		return p.DNSResolver
	}
	return net.JoinHostPort(strings.Trim(p.DNSResolver, "[]"), "53")
}

func (v *validator) kdcProxy(p *KDCProxy, l *Limits) {
	v.advertiseURL(p.AdvertiseURL)
	if !p.Enabled {
		return
	}
	if len(p.KDCs) == 0 && !p.DNSSRV {
		v.add("kdc_proxy.kdcs", "required when the proxy is enabled without dns_srv: the realm's KDCs as host:port (e.g. dc1.corp.example.test:88), or set kdc_proxy.dns_srv: true")
	}
	for _, k := range p.KDCs {
		if host, port, err := net.SplitHostPort(k); err != nil || host == "" || port == "" {
			v.add("kdc_proxy.kdcs", "want host:port, got %q", k)
		}
	}
	if r := p.DNSResolverAddr(); r != "" {
		if host, port, err := net.SplitHostPort(r); err != nil || net.ParseIP(host) == nil || port == "" {
			v.add("kdc_proxy.dns_resolver", "want the DNS server's IP address[:port], got %q", p.DNSResolver)
		}
	}
	if p.DNSSRV && (p.DNSCache <= 0 || p.DNSCache > maxDNSCache) {
		v.add("kdc_proxy.dns_cache", "must be between 1ns and %s, got %s", maxDNSCache, p.DNSCache)
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

// advertiseURL accepts "", "none", or an https URL (http only to a
// loopback host, for tests) with a path, as clients will POST to it.
func (v *validator) advertiseURL(s string) {
	if s == "" || s == NoAdvertise {
		return
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		v.add("kdc_proxy.advertise_url", "want https://host[:port]/KdcProxy (or none), got %q", s)
		return
	}
	ip := net.ParseIP(u.Hostname())
	loopback := u.Hostname() == "localhost" || ip != nil && ip.IsLoopback()
	if u.Scheme != "https" && (u.Scheme != "http" || !loopback) {
		v.add("kdc_proxy.advertise_url", "must be https (http only for a loopback host), got %q", s)
	}
}
