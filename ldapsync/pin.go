package ldapsync

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// TLSProblem says why the DC's certificate was not accepted, so the error can
// name the setting that fixes it.
type TLSProblem string

// The TLS verification problems a caller can branch on.
const (
	TLSMissingSAN   TLSProblem = "missing_san"   // no subjectAltName: pin it (tls_fingerprint)
	TLSUnknownCA    TLSProblem = "unknown_ca"    // signer not trusted: ca_file or tls_fingerprint
	TLSNameMismatch TLSProblem = "name_mismatch" // SAN names another host: fix the URL
	TLSPinMismatch  TLSProblem = "pin_mismatch"  // no certificate matches tls_fingerprint
	TLSInvalid      TLSProblem = "invalid"       // expired, not yet valid, wrong usage…
)

// TLSVerifyError is a certificate the DC presented that passkdc did not
// accept. It wraps ErrTLS; Hint names the configuration option to use and
// Fingerprint is the SHA-256 of the DC's certificate (to compare out of band
// before pinning it).
type TLSVerifyError struct {
	Host        string
	Problem     TLSProblem
	Fingerprint string
	Hint        string
	Err         error
}

func (e *TLSVerifyError) Error() string {
	msg := fmt.Sprintf("%s: %s: certificate not accepted (%s)", ErrTLS, e.Host, e.Err)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	if e.Fingerprint != "" {
		msg += fmt.Sprintf("; the DC presented a certificate with SHA-256 fingerprint %s", e.Fingerprint)
	}
	return msg
}

// Unwrap returns ErrTLS and the verification cause.
func (e *TLSVerifyError) Unwrap() []error { return []error{ErrTLS, e.Err} }

// ParseFingerprint reads a SHA-256 certificate fingerprint written as 64 hex
// digits, with or without colons (openssl x509 -fingerprint -sha256 style).
func ParseFingerprint(s string) ([]byte, error) {
	clean := strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(s))
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("tls_fingerprint %q: want the SHA-256 of a certificate as 64 hex digits (colons allowed)", s)
	}
	return b, nil
}

// Fingerprint is the SHA-256 of a DER certificate as colon-separated hex.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// pinVerifier checks the DC's chain against a pinned certificate: the pinned
// one (the DC's own, one it presents, or one in ca_file) becomes the only
// root, the chain and validity times are checked, and the host name check is
// replaced by the pin (stock Samba certificates have no subjectAltName).
func pinVerifier(host string, pin []byte, extra []*x509.Certificate) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return &TLSVerifyError{Host: host, Problem: TLSInvalid, Err: errors.New("no certificate presented")}
		}
		leaf := cs.PeerCertificates[0]
		var root *x509.Certificate
		for _, c := range append(append([]*x509.Certificate{}, cs.PeerCertificates...), extra...) {
			if sum := sha256.Sum256(c.Raw); string(sum[:]) == string(pin) {
				root = c
				break
			}
		}
		if root == nil {
			return &TLSVerifyError{Host: host, Problem: TLSPinMismatch, Fingerprint: Fingerprint(leaf.Raw),
				Err:  errors.New("no certificate in the DC's chain matches tls_fingerprint"),
				Hint: "check ldap.tls_fingerprint (--tls-fingerprint) against the DC's certificate or its CA"}
		}
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(root)
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return &TLSVerifyError{Host: host, Problem: TLSInvalid, Fingerprint: Fingerprint(leaf.Raw), Err: err,
				Hint: "the pinned certificate matches but the chain is not valid (expired, or not signed by it)"}
		}
		return nil
	}
}

// explainTLS turns Go's certificate verification errors into a
// TLSVerifyError naming the option to use; other errors come back nil.
func explainTLS(host string, err error) *TLSVerifyError {
	var certErr *tls.CertificateVerificationError
	var leafDER []byte
	if errors.As(err, &certErr) && len(certErr.UnverifiedCertificates) > 0 {
		leafDER = certErr.UnverifiedCertificates[0].Raw
	}
	e := &TLSVerifyError{Host: host, Err: err}
	if leafDER != nil {
		e.Fingerprint = Fingerprint(leafDER)
	}
	var hostErr x509.HostnameError
	var caErr x509.UnknownAuthorityError
	switch {
	case errors.As(err, &hostErr) && hostErr.Certificate != nil && !hasSAN(hostErr.Certificate):
		e.Problem = TLSMissingSAN
		e.Hint = "the DC's certificate has no subjectAltName (stock Samba certificates have none): " +
			"pin it with ldap.tls_fingerprint (--tls-fingerprint) or give the DC a certificate that names it"
	case errors.As(err, &hostErr):
		e.Problem = TLSNameMismatch
		e.Hint = fmt.Sprintf("the certificate does not name %q: use the host name it was issued for in ldap.url (--ldap-url), or pin it with ldap.tls_fingerprint (--tls-fingerprint)", host)
	case errors.As(err, &caErr):
		e.Problem = TLSUnknownCA
		e.Hint = "the DC's certificate is signed by a CA passkdc does not trust: set ldap.ca_file (--ca-file) to that CA, or pin it with ldap.tls_fingerprint (--tls-fingerprint)"
	case certErr != nil:
		e.Problem = TLSInvalid
	default:
		return nil
	}
	return e
}

func hasSAN(c *x509.Certificate) bool {
	return len(c.DNSNames)+len(c.IPAddresses)+len(c.URIs)+len(c.EmailAddresses) > 0
}
