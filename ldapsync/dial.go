package ldapsync

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/sirupsen/logrus"
)

// DefaultTimeout bounds connect + TLS + bind in Dial, and each later request
// on the returned connection, when LDAPConfig.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// maxPasswordFileSize caps the bind password file; anything bigger is a
// mistake (a key file, a log) rather than a password.
const maxPasswordFileSize = 4096

// LDAPConfig says how to reach and bind to the directory. The field names
// follow the `ldap:` section of the configuration file (DESIGN §4).
type LDAPConfig struct {
	// URL is ldaps://host[:port] (TLS from the first byte) or ldap://host[:port]
	// (upgraded with StartTLS before binding). No DN, query or ldapi://.
	URL string
	// BindDN is the DN or user principal name to bind as. Empty: no bind
	// (anonymous), which is only useful for the RootDSE.
	BindDN string
	// BindPasswordFile holds the bind password; one trailing newline ("\n" or
	// "\r\n") is removed. A file readable by group or others is used but
	// logged as a warning: secrets mounted by orchestrators are often 0644
	// inside a private mount namespace, so refusing would break them.
	BindPasswordFile string
	// CAFile is a PEM bundle of CAs to trust instead of the system pool.
	CAFile string
	// InsecureSkipVerify disables certificate verification (tests only).
	InsecureSkipVerify bool
	// TLSFingerprint pins the SHA-256 of the DC's certificate, or of a CA in
	// its chain or in CAFile (hex, colons allowed). The chain and validity
	// times are still verified; the pin replaces the host name check, so a
	// DC certificate without subjectAltName (stock Samba) is accepted.
	TLSFingerprint string
	// ServerName overrides the host name checked against the certificate.
	ServerName string
	// AllowInsecure permits a simple bind without TLS on an ldap:// URL whose
	// host is a loopback address (a local test server). It is refused for
	// any other host, and ignored for ldaps://.
	AllowInsecure bool
	// Timeout bounds connect + TLS + bind, and each request afterwards.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives warnings (a loosely protected password file). Nil
	// means logrus.StandardLogger().
	Logger logrus.FieldLogger
}

// Dialer is the DialFunc that dials cfg with Dial.
func Dialer(cfg LDAPConfig) DialFunc {
	return func(ctx context.Context) (SearchConn, error) {
		conn, err := Dial(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return conn, nil
	}
}

// Dial connects to the directory, secures the connection (LDAPS or StartTLS)
// and binds. Failures wrap ErrUnreachable, ErrTLS or ErrBadCredentials with
// their cause; configuration mistakes are returned as plain errors. The
// returned connection has cfg.Timeout as its per-request timeout; the caller
// closes it.
func Dial(ctx context.Context, cfg LDAPConfig) (*ldap.Conn, error) {
	ep, err := parseLDAPURL(cfg.URL, cfg.AllowInsecure)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var password string
	if cfg.BindDN != "" {
		if password, err = readPasswordFile(cfg.BindPasswordFile, cfg.logger()); err != nil {
			return nil, err
		}
	}
	tlsCfg, err := cfg.tlsConfig(ep.host)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := ldapConnect(ctx, ep, tlsCfg)
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(timeout)
	if cfg.BindDN != "" {
		if err := ldapBind(ctx, conn, cfg.BindDN, password); err != nil {
			_ = conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

func (cfg LDAPConfig) logger() logrus.FieldLogger {
	if cfg.Logger != nil {
		return cfg.Logger
	}
	return logrus.StandardLogger()
}

// ldapEndpoint is a parsed LDAP URL.
type ldapEndpoint struct {
	tls      bool   // ldaps://
	plain    bool   // ldap:// without StartTLS (AllowInsecure on loopback)
	host     string // without port
	hostport string
}

func parseLDAPURL(raw string, allowInsecure bool) (ldapEndpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return ldapEndpoint{}, fmt.Errorf("ldap url %q: %w", raw, err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return ldapEndpoint{}, fmt.Errorf("ldap url %q: no host", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return ldapEndpoint{}, fmt.Errorf("ldap url %q: only scheme://host[:port] is supported (set the base DN separately)", raw)
	}
	ep := ldapEndpoint{host: u.Hostname()}
	port := u.Port()
	switch strings.ToLower(u.Scheme) {
	case "ldaps":
		ep.tls = true
		if port == "" {
			port = ldap.DefaultLdapsPort
		}
	case "ldap":
		if port == "" {
			port = ldap.DefaultLdapPort
		}
		if allowInsecure {
			if !isLoopbackHost(ep.host) {
				return ldapEndpoint{}, fmt.Errorf("ldap url %q: allow_insecure is only accepted for a loopback host", raw)
			}
			ep.plain = true
		}
	default:
		return ldapEndpoint{}, fmt.Errorf("ldap url %q: scheme must be ldaps:// or ldap:// (StartTLS)", raw)
	}
	ep.hostport = net.JoinHostPort(ep.host, port)
	return ep, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (cfg LDAPConfig) tlsConfig(host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: cfg.InsecureSkipVerify}
	if cfg.ServerName != "" {
		tc.ServerName = cfg.ServerName
	}
	var cas []*x509.Certificate
	if cfg.CAFile != "" {
		var err error
		if cas, err = readCAFile(cfg.CAFile); err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		for _, c := range cas {
			pool.AddCert(c)
		}
		tc.RootCAs = pool
	}
	if cfg.TLSFingerprint != "" && !cfg.InsecureSkipVerify {
		pin, err := ParseFingerprint(cfg.TLSFingerprint)
		if err != nil {
			return nil, fmt.Errorf("ldap %w", err)
		}
		// Go's own check (which needs a SAN naming host) is replaced by the
		// pin check in VerifyConnection, which still verifies the chain.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = pinVerifier(host, pin, cas)
	}
	return tc, nil
}

// readCAFile parses every certificate of a PEM bundle.
func readCAFile(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ldap ca_file: %w", err)
	}
	var cas []*x509.Certificate
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("ldap ca_file %s: %w", path, err)
		}
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return nil, fmt.Errorf("ldap ca_file %s: no PEM certificate found", path)
	}
	return cas, nil
}

// ReadPasswordFile reads a password file by the rules of
// LDAPConfig.BindPasswordFile (one line, one trailing newline dropped), for
// callers that authenticate with the same password over another protocol.
func ReadPasswordFile(path string) (string, error) {
	return readPasswordFile(path, logrus.StandardLogger())
}

// readPasswordFile reads the bind password; see LDAPConfig.BindPasswordFile.
func readPasswordFile(path string, log logrus.FieldLogger) (string, error) {
	if path == "" {
		return "", errors.New("ldap bind_password_file: not set (a bind DN needs a password file)")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("ldap bind_password_file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
		log.WithField("file", path).Warnf("bind password file is accessible by group or others (mode %#o); chmod 600 it", st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPasswordFileSize+1))
	if err != nil {
		return "", fmt.Errorf("ldap bind_password_file: %w", err)
	}
	if len(b) > maxPasswordFileSize {
		return "", fmt.Errorf("ldap bind_password_file %s: larger than %d bytes", path, maxPasswordFileSize)
	}
	b = trimOneNewline(b)
	switch {
	case len(b) == 0:
		return "", fmt.Errorf("ldap bind_password_file %s: empty", path)
	case bytes.ContainsAny(b, "\r\n\x00"):
		return "", fmt.Errorf("ldap bind_password_file %s: more than one line", path)
	}
	return string(b), nil
}

func trimOneNewline(b []byte) []byte {
	if bytes.HasSuffix(b, []byte("\r\n")) {
		return b[:len(b)-2]
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}

// ldapConnect opens TCP, does TLS (LDAPS) or StartTLS, and starts the LDAP
// reader. ctx bounds the whole step: when it ends, the socket is closed.
func ldapConnect(ctx context.Context, ep ldapEndpoint, tc *tls.Config) (*ldap.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", ep.hostport)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, ep.hostport, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	conn, err := secure(ctx, raw, ep, tc)
	if !stop() && err == nil { // ctx ended as we finished: raw is being closed
		_ = conn.Close()
		err = fmt.Errorf("%w: %s: %w", ErrUnreachable, ep.hostport, ctx.Err())
	}
	return conn, err
}

// secure wraps raw in TLS (LDAPS) or StartTLS as ep asks.
func secure(ctx context.Context, raw net.Conn, ep ldapEndpoint, tc *tls.Config) (*ldap.Conn, error) {
	if ep.tls {
		tconn := tls.Client(raw, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, classifyTLS(ctx, ep, err)
		}
		conn := ldap.NewConn(tconn, true)
		conn.Start()
		return conn, nil
	}
	conn := ldap.NewConn(raw, false)
	conn.Start()
	if ep.plain {
		return conn, nil
	}
	if err := conn.StartTLS(tc); err != nil {
		_ = conn.Close()
		return nil, classifyTLS(ctx, ep, err)
	}
	return conn, nil
}

// classifyTLS reports a handshake failure as ErrTLS, unless it was really the
// deadline or a dropped connection.
func classifyTLS(ctx context.Context, ep ldapEndpoint, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %s: TLS handshake: %w", ErrUnreachable, ep.hostport, ctx.Err())
	}
	var verr *TLSVerifyError
	if errors.As(err, &verr) {
		return verr
	}
	if verr = explainTLS(ep.host, err); verr != nil {
		verr.Host = ep.hostport
		return verr
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%w: %s: connection closed during TLS handshake (not a TLS port?): %w", ErrTLS, ep.hostport, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrTLS, ep.hostport, err)
}

// ldapBind does a simple bind, bounded by ctx (which closes conn when it
// ends first).
func ldapBind(ctx context.Context, conn *ldap.Conn, dn, password string) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	err := conn.Bind(dn, password)
	if !stop() {
		return fmt.Errorf("%w: bind as %q: %w", ErrUnreachable, dn, ctx.Err())
	}
	if err == nil {
		return nil
	}
	le := wrapLDAP("bind", dn, err)
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		return fmt.Errorf("%w: bind as %q: %w", ErrBadCredentials, dn, le)
	case ldap.IsErrorWithCode(err, ldap.ErrorNetwork):
		return fmt.Errorf("%w: bind as %q: %w", ErrUnreachable, dn, le)
	case ldap.IsErrorWithCode(err, ldap.LDAPResultStrongAuthRequired):
		return fmt.Errorf("bind as %q: the server requires TLS or signing for simple binds: %w", dn, le)
	}
	return fmt.Errorf("bind as %q: %w", dn, le)
}
