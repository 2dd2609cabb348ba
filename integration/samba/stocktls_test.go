//go:debug x509negativeserial=1

package samba_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/samba"
)

// stockIP is the address of the StockTLS DC of this package.
const stockIP = "127.0.0.70"

// TestStockTLSNegativeSerial: with StockTLS the DC serves the certificate
// Samba generated itself (subject CN only, no subjectAltName), always with a
// negative serial, signed by Samba's ca.pem; the harness reaches it by pinning.
func TestStockTLSNegativeSerial(t *testing.T) {
	samba.Require(t)
	samba.RequireGeneration(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := samba.PrepareGeneration(ctx, ""); err != nil {
		t.Fatal(err)
	}
	dc, err := samba.Start(ctx, samba.Options{IP: stockIP, CacheDir: cacheDir, StockTLS: true})

	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dc.Stop(); err != nil {
			t.Error(err)
		}
	})
	_, err = os.Stat(dc.CertFile() + ".orig")
	t.Logf("samba %s: %+v; re-issued with a negative serial: %v", dc.Generation(), dc.Timings(), err == nil)
	cert := readCert(t, dc.CertFile())
	if cert.SerialNumber.Sign() >= 0 {
		t.Errorf("serial %v, want negative", cert.SerialNumber)
	}
	if len(cert.DNSNames)+len(cert.IPAddresses) != 0 {
		t.Errorf("stock certificate has subjectAltNames %v %v", cert.DNSNames, cert.IPAddresses)
	}
	if !strings.EqualFold(cert.Subject.CommonName, dc.FQDN()) {
		t.Errorf("subject CN %q, want %q", cert.Subject.CommonName, dc.FQDN())
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, dc.CAFile()))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots}); err != nil {
		t.Errorf("certificate does not chain to Samba's ca.pem: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: dc.FQDN()}); err == nil {
		t.Error("name check passed: Go should refuse a certificate without subjectAltName")
	}
	conn, err := dc.LDAP(ctx) // pinned to cert.pem
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("no PEM in %s", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}
