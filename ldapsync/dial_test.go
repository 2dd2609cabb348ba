package ldapsync

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/passkdc/passkdc/internal/testenv"
)

const testBindPassword = "s3cret pass"

// testPKI is a CA and a server certificate for 127.0.0.1 / localhost.
type testPKI struct {
	caFile string
	server tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey, ca := newCA(t, "test CA", 1)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "ldap"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return testPKI{caFile: writeCertPEM(t, ca.Raw), server: tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}
}

// newCA makes a self-signed P-256 CA valid for an hour around now.
func newCA(t *testing.T, cn string, serial int64) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// writeCertPEM writes der as a PEM certificate file and returns its path.
func writeCertPEM(t *testing.T, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeCA writes a fresh CA that signed nothing (for "untrusted" tests).
func writeCA(t *testing.T) string {
	return newTestPKI(t).caFile
}

func writeSecret(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type serverMode int

const (
	modeLDAPS    serverMode = iota // TLS from the first byte
	modeStartTLS                   // plain, StartTLS offered
	modeSilent                     // accepts and never answers
)

// fakeLDAPServer answers simple binds (testBindPassword is right) and
// StartTLS; it returns host:port.
func fakeLDAPServer(t *testing.T, mode serverMode, cert tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	tc := &tls.Config{Certificates: []tls.Certificate{cert}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				switch mode {
				case modeSilent:
					time.Sleep(5 * time.Second)
				case modeLDAPS:
					serveLDAP(tls.Server(c, tc), tc)
				default:
					serveLDAP(c, tc)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func serveLDAP(c net.Conn, tc *tls.Config) {
	for {
		p, err := ber.ReadPacket(c)
		if err != nil || len(p.Children) < 2 {
			return
		}
		id, _ := p.Children[0].Value.(int64)
		op := p.Children[1]
		switch op.Tag {
		case ldap.ApplicationBindRequest:
			code := int64(ldap.LDAPResultInvalidCredentials)
			if len(op.Children) == 3 && op.Children[2].Data.String() == testBindPassword {
				code = ldap.LDAPResultSuccess
			}
			writeLDAPResult(c, id, ldap.ApplicationBindResponse, code)
		case ldap.ApplicationExtendedRequest:
			writeLDAPResult(c, id, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
			s := tls.Server(c, tc)
			if s.Handshake() != nil {
				return
			}
			c = s
		default:
			return
		}
	}
}

func writeLDAPResult(c net.Conn, id int64, tag ber.Tag, code int64) {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAPMessage")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "id"))
	res := ber.Encode(ber.ClassApplication, ber.TypeConstructed, tag, nil, "result")
	res.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, "code"))
	res.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matchedDN"))
	res.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "diagnostic"))
	msg.AppendChild(res)
	_, _ = c.Write(msg.Bytes())
}

func TestDial(t *testing.T) {
	pki := newTestPKI(t)
	ldaps := fakeLDAPServer(t, modeLDAPS, pki.server)
	plain := fakeLDAPServer(t, modeStartTLS, pki.server)
	silent := fakeLDAPServer(t, modeSilent, pki.server)
	closed := testenv.ClosedPort(t)
	good := writeSecret(t, testBindPassword+"\n")
	bad := writeSecret(t, "wrong\n")
	base := LDAPConfig{BindDN: "cn=admin", BindPasswordFile: good, CAFile: pki.caFile, Timeout: 2 * time.Second}

	tests := []struct {
		name    string
		mod     func(c *LDAPConfig)
		wantErr error  // nil: success
		errText string // for plain configuration errors
		tls     bool
	}{
		{name: "ldaps", mod: func(c *LDAPConfig) { c.URL = "ldaps://" + ldaps }, tls: true},
		{name: "ldaps by name", mod: func(c *LDAPConfig) { c.URL = "ldaps://localhost:" + portOf(ldaps) }, tls: true},
		{name: "starttls", mod: func(c *LDAPConfig) { c.URL = "ldap://" + plain }, tls: true},
		{name: "plain on loopback when allowed", mod: func(c *LDAPConfig) { c.URL = "ldap://" + plain; c.AllowInsecure = true }},
		{name: "anonymous", mod: func(c *LDAPConfig) { c.URL = "ldaps://" + ldaps; c.BindDN = ""; c.BindPasswordFile = "" }, tls: true},
		{name: "skip verify", mod: func(c *LDAPConfig) { c.URL = "ldaps://" + ldaps; c.CAFile = ""; c.InsecureSkipVerify = true }, tls: true},
		{name: "bad password", mod: func(c *LDAPConfig) { c.URL = "ldaps://" + ldaps; c.BindPasswordFile = bad }, wantErr: ErrBadCredentials},
		{name: "bad password over starttls", mod: func(c *LDAPConfig) { c.URL = "ldap://" + plain; c.BindPasswordFile = bad }, wantErr: ErrBadCredentials},
		{name: "untrusted CA", mod: func(c *LDAPConfig) { c.URL = "ldaps://" + ldaps; c.CAFile = writeCA(t) }, wantErr: ErrTLS},
		{name: "system roots", mod: func(c *LDAPConfig) { c.URL = "ldaps://" + ldaps; c.CAFile = "" }, wantErr: ErrTLS},
		{name: "name mismatch", mod: func(c *LDAPConfig) { c.URL = "ldaps://" + ldaps; c.ServerName = "dc1.example.test" }, wantErr: ErrTLS},
		{name: "starttls untrusted", mod: func(c *LDAPConfig) { c.URL = "ldap://" + plain; c.CAFile = writeCA(t) }, wantErr: ErrTLS},
		{name: "ldaps to a plain port", mod: func(c *LDAPConfig) { c.URL = "ldaps://" + plain }, wantErr: ErrTLS},
		{name: "closed port", mod: func(c *LDAPConfig) { c.URL = "ldaps://" + closed }, wantErr: ErrUnreachable},
		{name: "silent server", mod: func(c *LDAPConfig) { c.URL = "ldaps://" + silent; c.Timeout = 300 * time.Millisecond }, wantErr: ErrUnreachable},
		{name: "silent server starttls", mod: func(c *LDAPConfig) { c.URL = "ldap://" + silent; c.Timeout = 300 * time.Millisecond }, wantErr: ErrUnreachable},
		{name: "insecure on a remote host", mod: func(c *LDAPConfig) { c.URL = "ldap://dc1.example.test"; c.AllowInsecure = true }, errText: "loopback"},
		{name: "no password file", mod: func(c *LDAPConfig) { c.URL = "ldaps://" + ldaps; c.BindPasswordFile = "" }, errText: "password file"},
		{name: "missing CA file", mod: func(c *LDAPConfig) { c.URL = "ldaps://" + ldaps; c.CAFile = "/nonexistent/ca.pem" }, errText: "ca_file"},
		{name: "CA file without PEM", mod: func(c *LDAPConfig) { c.URL = "ldaps://" + ldaps; c.CAFile = good }, errText: "no PEM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.mod(&cfg)
			start := time.Now()
			conn, err := Dial(context.Background(), cfg)
			if time.Since(start) > 4*time.Second {
				t.Errorf("Dial took %v", time.Since(start))
			}
			if tc.wantErr == nil && tc.errText == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer conn.Close()
				if _, ok := conn.TLSConnectionState(); ok != tc.tls {
					t.Errorf("TLS = %v, want %v", ok, tc.tls)
				}
				return
			}
			if err == nil {
				conn.Close()
				t.Fatal("Dial succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			for _, other := range []error{ErrUnreachable, ErrTLS, ErrBadCredentials} {
				if other != tc.wantErr && errors.Is(err, other) {
					t.Errorf("err = %v also matches %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("err = %v, want it to mention %q", err, tc.errText)
			}
		})
	}
}

func TestDialCancelled(t *testing.T) {
	pki := newTestPKI(t)
	silent := fakeLDAPServer(t, modeSilent, pki.server)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := Dial(ctx, LDAPConfig{URL: "ldaps://" + silent, CAFile: pki.caFile, Timeout: 10 * time.Second})
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.Canceled) || time.Since(start) > 3*time.Second {
		t.Errorf("err = %v after %v", err, time.Since(start))
	}
}

func portOf(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

func TestParseLDAPURL(t *testing.T) {
	tests := []struct {
		url      string
		insecure bool
		want     ldapEndpoint
		err      bool
	}{
		{url: "ldaps://dc1.corp.test", want: ldapEndpoint{tls: true, host: "dc1.corp.test", hostport: "dc1.corp.test:636"}},
		{url: "LDAPS://dc1:3269/", want: ldapEndpoint{tls: true, host: "dc1", hostport: "dc1:3269"}},
		{url: "ldap://dc1", want: ldapEndpoint{host: "dc1", hostport: "dc1:389"}},
		{url: "ldap://[::1]:1389", insecure: true, want: ldapEndpoint{plain: true, host: "::1", hostport: "[::1]:1389"}},
		{url: "ldap://localhost", insecure: true, want: ldapEndpoint{plain: true, host: "localhost", hostport: "localhost:389"}},
		{url: "ldap://127.0.0.20", insecure: true, want: ldapEndpoint{plain: true, host: "127.0.0.20", hostport: "127.0.0.20:389"}},
		{url: "ldaps://127.0.0.1", insecure: true, want: ldapEndpoint{tls: true, host: "127.0.0.1", hostport: "127.0.0.1:636"}},
		{url: "ldap://10.0.0.1", insecure: true, err: true},
		{url: "ldapi:///var/run/ldapi", err: true},
		{url: "http://dc1", err: true},
		{url: "dc1.corp.test", err: true},
		{url: "ldaps://dc1/DC=corp,DC=test", err: true},
		{url: "ldaps://dc1?x", err: true},
		{url: "ldaps://user@dc1", err: true},
		{url: "ldaps://", err: true},
		{url: "ldaps://:636", err: true},
		{url: "ldaps://dc1:port", err: true},
		{url: "", err: true},
	}
	for _, tc := range tests {
		got, err := parseLDAPURL(tc.url, tc.insecure)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseLDAPURL(%q, %v) = %+v, %v; want %+v err=%v", tc.url, tc.insecure, got, err, tc.want, tc.err)
		}
	}
}

func TestReadPasswordFile(t *testing.T) {
	tests := []struct {
		content string
		want    string // "" = error
	}{
		{"pw", "pw"},
		{"pw\n", "pw"},
		{"pw\r\n", "pw"},
		{"pw \t\n", "pw \t"},
		{"pw\n\n", ""},
		{"\n", ""},
		{"", ""},
		{"a\nb", ""},
		{"a\x00b", ""},
		{strings.Repeat("x", 4096), strings.Repeat("x", 4096)},
		{strings.Repeat("x", 4097), ""},
	}
	log, hook := logtest.NewNullLogger()
	for _, tc := range tests {
		got, err := readPasswordFile(writeSecret(t, tc.content), log)
		if (tc.want == "") != (err != nil) || got != tc.want {
			t.Errorf("readPasswordFile(%q) = %q, %v; want %q", tc.content, got, err, tc.want)
		}
	}
	if len(hook.AllEntries()) != 0 {
		t.Errorf("warnings for 0600 files: %v", hook.AllEntries())
	}
	loose := writeSecret(t, "pw\n")
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := readPasswordFile(loose, log); err != nil || got != "pw" {
		t.Errorf("0644 file: %q, %v", got, err)
	}
	if e := hook.LastEntry(); e == nil || e.Level != logrus.WarnLevel || !strings.Contains(e.Message, "chmod 600") {
		t.Errorf("no warning for a 0644 password file: %v", e)
	}
	if _, err := readPasswordFile(filepath.Join(t.TempDir(), "missing"), log); err == nil {
		t.Error("missing file accepted")
	}
}
