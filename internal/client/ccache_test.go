package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/kdc/ccache"
	"github.com/passkdc/passkdc/kdc/krbcred"
)

func TestPartialCCacheHoldsTheIssuedTicket(t *testing.T) {
	si := signedIn(t)
	cc, err := PartialCCache(si)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "krb5cc")
	if err := cc.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache file %v, %v: want mode 0600", fi, err)
	}
	back, err := ccache.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.DefaultPrincipal.String() != "alice@EXAMPLE.TEST" || len(back.Credentials) != 1 {
		t.Fatalf("cache for %s with %d credentials", back.DefaultPrincipal, len(back.Credentials))
	}
	c, info := back.Credentials[0], si.Cred.Infos[0]
	if c.Server.String() != "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST" || !reflect.DeepEqual(c.Ticket, si.Cred.Tickets[0]) ||
		!reflect.DeepEqual(c.Key, info.Key) || !c.EndTime.Equal(info.EndTime.Truncate(time.Second)) {
		t.Errorf("written credential %+v does not match the issued %+v", c, info)
	}
}

func TestPartialCCacheRefusesABrokenCredential(t *testing.T) {
	for _, tc := range []struct {
		name string
		bend func(c *krbcred.Cred)
	}{
		{"a ticket without its info", func(c *krbcred.Cred) { c.Infos = nil }},
		{"no ticket at all", func(c *krbcred.Cred) { c.Tickets, c.Infos = nil, nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			si := signedIn(t)
			tc.bend(si.Cred)
			if cc, err := PartialCCache(si); !errors.Is(err, krbcred.ErrInvalid) {
				t.Fatalf("cache %v, err %v; want krbcred.ErrInvalid", cc, err)
			}
		})
	}
}

// TestExchangeWritesTheFullTGT: whichever way the partial TGT reaches the
// DC, the cache holds the DC's full TGT.
func TestExchangeWritesTheFullTGT(t *testing.T) {
	si := signedIn(t)
	c, err := New("http://127.0.0.1:1", "")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDC{t: t, sessionKey: si.Cred.Infos[0].Key}
	dc, proxy := d.serveTCP(), d.serveProxy()
	dead := testenv.ClosedPort(t)
	for _, tc := range []struct {
		name     string
		exchange func() (*ccache.CCache, error)
		wantPath Path
	}{
		{"ExchangeForTGT", func() (*ccache.CCache, error) { return ExchangeForTGT(context.Background(), si, []string{dc}) }, Path{}},
		{"route: DC", func() (*ccache.CCache, error) {
			cc, p, err := c.ExchangeRoute(context.Background(), si, Route{KDCs: []string{dc}, Proxy: proxy})
			if p != (Path{KDC: dc}) {
				t.Errorf("path %+v", p)
			}
			return cc, err
		}, Path{}},
		{"route: proxy after a dead DC", func() (*ccache.CCache, error) {
			cc, p, err := c.ExchangeRoute(context.Background(), si, Route{KDCs: []string{dead}, Proxy: proxy})
			if p.Proxy != proxy || p.Unreached == nil || !strings.Contains(p.String(), "no DC reachable") {
				t.Errorf("path %+v (%s)", p, p)
			}
			return cc, err
		}, Path{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, err := tc.exchange()
			if err != nil {
				t.Fatal(err)
			}
			d.checkFullTGT(t, cc)
		})
	}
}

func TestExchangeRefusesBadDCAnswers(t *testing.T) {
	for _, tc := range []struct {
		name string
		bend func(d *fakeDC, si *SignedIn)
		want string
	}{
		{"replayed reply (nonce)", func(d *fakeDC, _ *SignedIn) { d.badNonce = true }, "nonce does not match"},
		{"reply sealed with another key", func(d *fakeDC, _ *SignedIn) { d.wrongKey = true }, "decrypt TGS-REP"},
		{"partial TGT not DER", func(_ *fakeDC, si *SignedIn) { si.Cred.Tickets[0] = []byte{0x61, 0x01} }, "partial TGT is malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			si := signedIn(t)
			d := &fakeDC{t: t, sessionKey: si.Cred.Infos[0].Key}
			tc.bend(d, si)
			cc, err := ExchangeForTGT(context.Background(), si, []string{d.serveTCP()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("cache %v, err %v; want an error containing %q", cc, err, tc.want)
			}
		})
	}
}
