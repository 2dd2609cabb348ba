package ldapsync

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// integrationConfig returns an LDAPS configuration for the package's shared
// Samba DC (samba_test.go), bound as the domain administrator and verified
// against the DC's CA.
func integrationConfig(t *testing.T) LDAPConfig {
	t.Helper()
	dc := sambaShared.DC(t)
	return LDAPConfig{
		URL:              dc.LDAPURL(),
		BindDN:           dc.AdminBindDN(),
		BindPasswordFile: writeSecret(t, dc.AdminPassword()+"\n"),
		CAFile:           dc.CAFile(),
		Timeout:          20 * time.Second,
	}
}

func TestIntegrationDial(t *testing.T) {
	cfg := integrationConfig(t)
	u, err := url.Parse(cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Hostname()
	ctx := context.Background()

	t.Run("ok", func(t *testing.T) {
		start := time.Now()
		conn, err := Dial(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, ok := conn.TLSConnectionState(); !ok {
			t.Error("connection is not TLS")
		}
		t.Logf("dial+bind took %v", time.Since(start))
	})
	t.Run("starttls", func(t *testing.T) {
		c := cfg
		c.URL = "ldap://" + net.JoinHostPort(host, "389")
		conn, err := Dial(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, ok := conn.TLSConnectionState(); !ok {
			t.Error("StartTLS connection is not TLS")
		}
	})
	t.Run("plain simple bind refused by the DC", func(t *testing.T) {
		if !isLoopbackHost(host) {
			t.Skip("AllowInsecure needs a loopback DC")
		}
		c := cfg
		c.URL, c.AllowInsecure = "ldap://"+net.JoinHostPort(host, "389"), true
		_, err := Dial(ctx, c)
		if err == nil || !strings.Contains(err.Error(), "requires TLS") || errors.Is(err, ErrBadCredentials) {
			t.Fatalf("err = %v, want strongAuthRequired explained", err)
		}
	})
	t.Run("bad password", func(t *testing.T) {
		c := cfg
		c.BindPasswordFile = writeSecret(t, "wrong-password\n")
		_, err := Dial(ctx, c)
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("err = %v, want ErrBadCredentials", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		c := cfg
		c.URL = "ldaps://" + net.JoinHostPort(host, "1")
		_, err := Dial(ctx, c)
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("err = %v, want ErrUnreachable", err)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		c := cfg
		c.InsecureSkipVerify = false
		c.CAFile = writeCA(t)
		_, err := Dial(ctx, c)
		if !errors.Is(err, ErrTLS) {
			t.Fatalf("err = %v, want ErrTLS", err)
		}
	})
}
