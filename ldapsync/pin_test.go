package ldapsync

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// sanlessPKI is a CA and a DC certificate shaped like Samba's stock one:
// subject CN only, no subjectAltName (negative serials: integration/ops).
type sanlessPKI struct {
	caFile          string
	caDER, leafDER  []byte
	server, expired tls.Certificate
}

func newSanlessPKI(t *testing.T) sanlessPKI {
	t.Helper()
	caKey, ca := newCA(t, "Samba CA", 77)
	caDER := ca.Raw
	leaf := func(notAfter time.Time) (tls.Certificate, []byte) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(4660), Subject: pkix.Name{CommonName: "dc1.corp.example.test"},
			NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, der
	}
	p := sanlessPKI{caDER: caDER}
	p.server, p.leafDER = leaf(time.Now().Add(time.Hour))
	p.expired, _ = leaf(time.Now().Add(-time.Minute))
	p.caFile = writeCertPEM(t, caDER)
	return p
}

func sha(der []byte) string { s := sha256.Sum256(der); return hex.EncodeToString(s[:]) }

func TestDialPinnedCertificate(t *testing.T) {
	pki := newSanlessPKI(t)
	sanless := fakeLDAPServer(t, modeLDAPS, pki.server)
	expired := fakeLDAPServer(t, modeLDAPS, pki.expired)
	withSAN := newTestPKI(t)
	named := fakeLDAPServer(t, modeLDAPS, withSAN.server)
	pw := writeSecret(t, testBindPassword+"\n")
	tests := []struct {
		name     string
		cfg      LDAPConfig
		problem  TLSProblem // "" = success
		mentions string
	}{
		{"leaf pinned", LDAPConfig{URL: "ldaps://" + sanless, TLSFingerprint: sha(pki.leafDER)}, "", ""},
		{"leaf pinned with colons", LDAPConfig{URL: "ldaps://" + sanless, TLSFingerprint: Fingerprint(pki.leafDER)}, "", ""},
		{"CA in ca_file pinned", LDAPConfig{URL: "ldaps://" + sanless, CAFile: pki.caFile, TLSFingerprint: sha(pki.caDER)}, "", ""},
		{"no SAN, CA trusted, no pin", LDAPConfig{URL: "ldaps://" + sanless, CAFile: pki.caFile}, TLSMissingSAN, "tls_fingerprint"},
		{"unknown CA", LDAPConfig{URL: "ldaps://" + named}, TLSUnknownCA, "ca_file"},
		{"name mismatch", LDAPConfig{URL: "ldaps://" + named, CAFile: withSAN.caFile, ServerName: "dc9.example.test"}, TLSNameMismatch, "ldap.url"},
		{"wrong pin", LDAPConfig{URL: "ldaps://" + sanless, TLSFingerprint: sha(withSAN.server.Certificate[0])}, TLSPinMismatch, Fingerprint(pki.leafDER)},
		{"CA pinned but not in the chain", LDAPConfig{URL: "ldaps://" + sanless, TLSFingerprint: sha(pki.caDER)}, TLSPinMismatch, "tls_fingerprint"},
		{"pinned CA, expired leaf", LDAPConfig{URL: "ldaps://" + expired, CAFile: pki.caFile, TLSFingerprint: sha(pki.caDER)}, TLSInvalid, "expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.BindDN, cfg.BindPasswordFile, cfg.Timeout = "cn=admin", pw, 2*time.Second
			conn, err := Dial(context.Background(), cfg)
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				_ = conn.Close()
				return
			}
			var verr *TLSVerifyError
			if !errors.As(err, &verr) || !errors.Is(err, ErrTLS) {
				t.Fatalf("err = %v, want a TLSVerifyError wrapping ErrTLS", err)
			}
			if verr.Problem != tc.problem || !strings.Contains(err.Error(), tc.mentions) {
				t.Fatalf("problem %q (want %q), message %q should mention %q", verr.Problem, tc.problem, err, tc.mentions)
			}
		})
	}
}

func TestParseFingerprint(t *testing.T) {
	good := strings.Repeat("ab", 32)
	tests := []struct {
		in string
		ok bool
	}{
		{good, true},
		{strings.ToUpper(good), true},
		{strings.TrimSuffix(strings.Repeat("AB:", 32), ":"), true},
		{good[:62], false},
		{good + "00", false},
		{strings.Repeat("zz", 32), false},
		{"", false},
	}
	for _, tc := range tests {
		if _, err := ParseFingerprint(tc.in); (err == nil) != tc.ok {
			t.Errorf("ParseFingerprint(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}
