//go:debug x509negativeserial=1

package ops

import (
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/internal/testenv"
)

// TestDirectoryCertificateWithANegativeSerialIsVerified: Samba's stock LDAPS
// certificates often have a negative serial; passkdc must parse and verify
// such a certificate (against ldap.ca_file), not refuse it. The certificate is
// made by openssl the way Samba's is (random serial, here forced negative).
func TestDirectoryCertificateWithANegativeSerialIsVerified(t *testing.T) {
	openssl := testenv.RequireTool(t, "openssl")
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "dc.crt"), filepath.Join(dir, "dc.key")
	out, err := exec.Command(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
		"-set_serial", "-4660").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	handshakes := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			handshakes <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		handshakes <- c.(*tls.Conn).Handshake() // then close: not an LDAP server
	}()

	pw := filepath.Join(dir, "bind.pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildPasskdc(t)
	cfg := writeConfig(t, freePort(t), "")
	env := []string{"PASSKDC_STANDALONE_ENABLED=false", "PASSKDC_LDAP_URL=ldaps://" + ln.Addr().String(),
		"PASSKDC_LDAP_BIND_DN=svc@CORP.EXAMPLE.TEST", "PASSKDC_LDAP_BIND_PASSWORD_FILE=" + pw,
		"PASSKDC_LDAP_BASE_DN=DC=corp,DC=example,DC=test", "PASSKDC_LDAP_CA_FILE=" + crt, "PASSKDC_LDAP_TIMEOUT=5s"}
	cmd := exec.Command(bin, "check", "--config", cfg, "--kdc", "127.0.0.1:1")
	cmd.Env = append(cmd.Environ(), env...)
	report, _ := cmd.CombinedOutput()
	select {
	case err := <-handshakes:
		if err != nil {
			t.Fatalf("passkdc did not complete TLS with the negative-serial certificate: %v\n%s", err, report)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("passkdc never connected:\n%s", report)
	}
	if strings.Contains(string(report), "negative serial") {
		t.Fatalf("passkdc refused the certificate for its serial:\n%s", report)
	}
}
