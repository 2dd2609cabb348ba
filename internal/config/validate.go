package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/ldapsync"
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid configuration")

// FieldError is one problem with one key.
type FieldError struct {
	Key string // dotted path, e.g. "ldap.url"
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func joinFieldErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("config: %w", errors.Join(errs...))
}

// Validate checks every key and reports all problems at once; each is a
// *FieldError wrapping ErrInvalid.
func (c *Config) Validate() error {
	v := &validator{}
	v.top(c)
	if !c.Standalone.Enabled || c.LDAP.URL != "" {
		v.ldap(&c.LDAP)
	}
	v.limits(&c.Limits)
	v.standalone(&c.Standalone)
	v.kdcProxy(&c.KDCProxy, &c.Limits)
	v.sync(&c.Sync)
	v.profiles(c)
	v.helpdesk(&c.Helpdesk)
	v.kerberos(&c.Kerberos)
	v.runtime(&c.Runtime)
	return joinFieldErrors(v.errs)
}

type validator struct{ errs []error }

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) top(c *Config) {
	switch {
	case c.Realm == "":
		v.add("realm", "required (e.g. CORP.EXAMPLE.TEST)")
	case strings.ContainsAny(c.Realm, " \t/@:\\"):
		v.add("realm", "%q is not a Kerberos realm name", c.Realm)
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			v.add("listen", "want host:port, got %q", c.Listen)
		}
	}
	if c.Store == "" {
		v.add("store", "required (SQLite file path)")
	}
	if c.Metadata.RootFile != "" && c.Metadata.BlobFile == "" {
		v.add("metadata.blob_file", "required when metadata.root_file is set (the MDS3 blob the root verifies)")
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		v.add("tls", "cert and key go together: set both or neither")
	}
	if len(c.Origins) > 0 && c.RPID == "" {
		v.add("rp_id", "required when origins are set")
	}
	for _, o := range c.Origins {
		v.origin(c.RPID, o)
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			v.add("metrics_listen", "want host:port, got %q", c.MetricsListen)
		} else if c.MetricsListen == c.Listen {
			v.add("metrics_listen", "must differ from listen (%s): it moves /metrics off the public listener", c.Listen)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		v.add("log.format", "want json or text, got %q", c.Log.Format)
	}
}

func (v *validator) origin(rpID, o string) {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.Path != "" && u.Path != "/" {
		v.add("origins", "%q is not an origin (scheme://host[:port])", o)
		return
	}
	host := u.Hostname()
	if u.Scheme != "https" && !(u.Scheme == "http" && host == "localhost") {
		v.add("origins", "%q: WebAuthn needs https (http only for localhost)", o)
	}
	if rpID != "" && host != rpID && !strings.HasSuffix(host, "."+rpID) {
		v.add("origins", "%q is not rp_id %q or a subdomain of it", o, rpID)
	}
}

func (v *validator) ldap(l *LDAP) {
	v.ldapURL(l)
	if !slices.Contains(ldapsync.Flavours(), l.Flavour) {
		v.add("ldap.flavour", "want one of %s, got %q", strings.Join(ldapsync.Flavours(), ", "), l.Flavour)
	}
	switch l.Membership {
	case "", ldapsync.MembershipMemberOf, ldapsync.MembershipMember:
	default:
		v.add("ldap.membership", "want %q or %q, got %q", ldapsync.MembershipMemberOf, ldapsync.MembershipMember, l.Membership)
	}
	if l.Directory == "" {
		v.add("ldap.directory", "must not be empty")
	}
	v.dn("ldap.base_dn", l.BaseDN, true)
	v.dn("ldap.user_base_dn", l.UserBaseDN, false)
	v.dn("ldap.group_base_dn", l.GroupBaseDN, false)
	if l.BindDN != "" && l.BindPasswordFile == "" {
		v.add("ldap.bind_password_file", "required with bind_dn (the password is read from this file)")
	}
	if l.BindDN == "" && l.BindPasswordFile != "" {
		v.add("ldap.bind_dn", "required with bind_password_file")
	}
	if l.CAFile != "" && l.InsecureSkipVerify {
		v.add("ldap.insecure_skip_verify", "conflicts with ca_file: choose one")
	}
	if l.TLSFingerprint != "" && l.InsecureSkipVerify {
		v.add("ldap.insecure_skip_verify", "conflicts with tls_fingerprint: choose one")
	}
	if l.TLSFingerprint != "" && !validFingerprint(l.TLSFingerprint) {
		v.add("ldap.tls_fingerprint", "want the SHA-256 of the DC's certificate or its CA as 64 hex digits (colons allowed), got %q", l.TLSFingerprint)
	}
	if l.PageSize < 1 || l.PageSize > 100000 {
		v.add("ldap.page_size", "want 1..100000, got %d", l.PageSize)
	}
	if l.Timeout <= 0 {
		v.add("ldap.timeout", "must be positive, got %s", l.Timeout)
	}
	v.filter("ldap.user_filter", l.UserFilter)
	v.filter("ldap.group_filter", l.GroupFilter)
	if l.Flavour == ldapsync.FlavourAD && l.Attributes.MemberUID != "" {
		v.add("ldap.attributes.member_uid", "not used by the ad flavour")
	}
}

func (v *validator) ldapURL(l *LDAP) {
	if l.URL == "" {
		v.add("ldap.url", "required (ldap://host or ldaps://host)")
		return
	}
	u, err := url.Parse(l.URL)
	if err != nil || u.Host == "" {
		v.add("ldap.url", "%q is not an LDAP URL (ldap://host[:port] or ldaps://host[:port])", l.URL)
		return
	}
	switch u.Scheme {
	case "ldaps":
	case "ldap":
		if !l.StartTLS && !isLoopback(u.Hostname()) {
			v.add("ldap.start_tls", "false would send the bind password in clear to %s: only allowed for a loopback host", u.Hostname())
		}
	default:
		v.add("ldap.url", "scheme must be ldap or ldaps, got %q", u.Scheme)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (v *validator) dn(key, s string, required bool) {
	if s == "" {
		if required {
			v.add(key, "required (e.g. DC=corp,DC=example,DC=test)")
		}
		return
	}
	if _, err := ldap.ParseDN(s); err != nil {
		v.add(key, "%q is not a DN: %v", s, err)
	}
}

func (v *validator) filter(key, s string) {
	if s == "" {
		return
	}
	if _, err := ldap.CompileFilter(s); err != nil {
		v.add(key, "%q is not an LDAP filter: %v", s, err)
	}
}

func (v *validator) sync(s *Sync) {
	if s.Interval < 0 {
		v.add("sync.interval", "must not be negative (0 disables periodic sync)")
	}
	if s.FullInterval <= 0 {
		v.add("sync.full_interval", "must be positive, got %s", s.FullInterval)
	}
	if s.MaxStaleness <= 0 {
		v.add("sync.max_staleness", "must be positive, got %s", s.MaxStaleness)
	}
	if s.Interval > 0 && s.MaxStaleness > 0 && s.MaxStaleness < s.Interval {
		v.add("sync.max_staleness", "%s is shorter than sync.interval %s: the mirror would go stale between syncs",
			s.MaxStaleness, s.Interval)
	}
}

// validFingerprint: 64 hex digits, optionally separated by colons.
func validFingerprint(s string) bool {
	clean := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	if len(clean) != 64 {
		return false
	}
	_, err := hex.DecodeString(clean)
	return err == nil
}

// kerberos validates the kerberos section.
func (v *validator) kerberos(k *Kerberos) {
	if (k.Keytab == "") != (k.SPN == "") {
		v.add("kerberos", "keytab and spn go together: set both or neither")
		return
	}
	if k.SPN == "" {
		return
	}
	svc, host, ok := strings.Cut(k.SPN, "/")
	if !ok || svc != "HTTP" || host == "" || strings.ContainsAny(host, "/@: ") || !strings.Contains(host, ".") {
		v.add("kerberos.spn", "want HTTP/<passkdc's fully qualified host name>, got %q", k.SPN)
	}
}
