//go:debug x509negativeserial=1

// The harness's own LDAPS connections to the stock-certificate DC (its
// readiness probe) parse the DC's negative serial in this test binary.

package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/deploy"
	"github.com/passkdc/passkdc/integration/samba"
)

// stockIP is the address of this package's DC that keeps Samba's own LDAPS
// certificate (the shared DC, 127.0.0.12, has the harness's certificate).
const stockIP = "127.0.0.71"

// stockDC starts a DC of the selected generation (PASSKDC_SAMBA_GENERATION)
// serving the certificate Samba generated itself: subject CN only, no
// subjectAltName, a negative serial (forced when Samba drew a positive one).
func stockDC(t *testing.T) *samba.DC {
	t.Helper()
	samba.Require(t)
	samba.RequireGeneration(t, "")
	if err := samba.PrepareGeneration(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), samba.SharedStartTimeout)
	defer cancel()
	dc, err := samba.Start(ctx, samba.Options{IP: stockIP, CacheDir: samba.CacheDirFromEnv(), StockTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dc.Stop(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("samba %s with its stock certificate: %+v", dc.Generation(), dc.Timings())
	return dc
}

func pemFingerprint(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("no PEM in %s", path)
	}
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:])
}

// TestRODCCommandsVerifyTheDCsStockCertificate: `passkdc rodc provision` and
// `rodc show` reach a DC that serves Samba's own certificate (no
// subjectAltName, negative serial) with verification: pinned by the
// certificate's SHA-256, or by its CA's (ldap.ca_file holding Samba's
// ca.pem). Without a pin each failure names the option that fixes it.
func TestRODCCommandsVerifyTheDCsStockCertificate(t *testing.T) {
	dc := stockDC(t)
	bin := binaries(t)
	der, err := os.ReadFile(dc.CertFile())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(der)
	if b == nil {
		t.Fatal("no certificate in", dc.CertFile())
	}
	if serial, err := samba.CertSerial(b.Bytes); err != nil || serial.Sign() >= 0 {
		t.Fatalf("stock certificate serial %v (%v), want negative", serial, err)
	}
	pw := filepath.Join(t.TempDir(), "admin.pw")
	if err := os.WriteFile(pw, []byte(dc.AdminPassword()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(t.TempDir(), "other-ca.pem")
	writeUnrelatedCA(t, otherCA)
	leafPin, caPin := pemFingerprint(t, dc.CertFile()), pemFingerprint(t, dc.CAFile())
	const name = "PKSTOCK"
	run := func(t *testing.T, verb string, flags ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		args := append([]string{"rodc", verb, "--ldap-url", dc.LDAPURL(), "--bind-dn", dc.AdminBindDN(),
			"--bind-password-file", pw, "--name", name, "--timeout", "20s"}, flags...)
		return deploy.Run(ctx, nil, bin.Passkdc, args...)
	}

	out, err := run(t, "provision", "--tls-fingerprint", leafPin)
	if err != nil {
		t.Fatalf("rodc provision pinned to the stock certificate: %v\n%s", err, out)
	}
	for _, tc := range []struct{ name, verb string }{{"certificate pin", "show"}, {"CA pin", "show"}} {
		t.Run(tc.name, func(t *testing.T) {
			flags := []string{"--tls-fingerprint", leafPin}
			if tc.name == "CA pin" {
				flags = []string{"--ca-file", dc.CAFile(), "--tls-fingerprint", strings.ToUpper(caPin)}
			}
			out, err := run(t, tc.verb, append(flags, "--json")...)
			if err != nil || !strings.Contains(out, `"krbtgt_name"`) || !strings.Contains(out, name) {
				t.Fatalf("rodc show with %s: %v\n%s", tc.name, err, out)
			}
		})
	}
	for _, tc := range []struct {
		name  string
		flags []string
		want  []string
	}{
		{"DC's CA without a pin: no subjectAltName", []string{"--ca-file", dc.CAFile()},
			[]string{"subjectAltName", "ldap.tls_fingerprint (--tls-fingerprint)"}},
		// Go checks the name before the chain, so with no subjectAltName an
		// untrusted CA is reported as the missing SAN too; the pin fixes both.
		{"unknown CA", []string{"--ca-file", otherCA}, []string{"subjectAltName", "ldap.tls_fingerprint (--tls-fingerprint)"}},
		{"system roots only", nil, []string{"subjectAltName", "ldap.tls_fingerprint (--tls-fingerprint)"}},
		{"pin of another certificate", []string{"--tls-fingerprint", strings.Repeat("ab", 32)},
			[]string{"ldap.tls_fingerprint (--tls-fingerprint)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, "show", tc.flags...)
			if err == nil {
				t.Fatalf("rodc show succeeded:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("error does not name %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "negative serial") {
				t.Errorf("refused for the negative serial:\n%s", out)
			}
		})
	}
}
