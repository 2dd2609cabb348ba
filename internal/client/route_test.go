package client

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/internal/kdctest"
	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/kdc/tgs"
)

func TestExchangeRoute(t *testing.T) {
	c, err := New("http://127.0.0.1:1", "")
	if err != nil {
		t.Fatal(err)
	}
	dead := testenv.ClosedPort(t)
	refusing, dcHits := kdctest.Serve(t, kdctest.Revoked)
	garbage, _ := kdctest.Serve(t, func([]byte) []byte { return []byte{0, 0, 0, 2, 0x30, 0} })
	proxy, proxyHits := fakeProxy(t)

	for _, tc := range []struct {
		name                   string
		route                  Route
		wantProxy, wantKDCErr  bool
		wantDC, wantProxyCalls int32
		wantErr                error
	}{
		{"dead DCs fall back to the proxy", Route{KDCs: []string{dead, dead}, Proxy: proxy}, true, true, 0, 1, nil},
		{"a DC's refusal is final", Route{KDCs: []string{dead, refusing}, Proxy: proxy}, false, true, 1, 0, nil},
		{"a DC's garbage is final", Route{KDCs: []string{garbage}, Proxy: proxy}, false, false, 0, 0, nil},
		{"proxy only skips the DCs", Route{KDCs: []string{refusing}, Proxy: proxy, ProxyOnly: true}, true, true, 0, 1, nil},
		{"no DC configured, proxy known", Route{Proxy: proxy}, true, true, 0, 1, nil},
		{"dead DCs, no proxy", Route{KDCs: []string{dead}}, false, false, 0, 0, ErrNoRoute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dc0, p0 := dcHits.Load(), proxyHits.Load()
			_, path, err := c.ExchangeRoute(context.Background(), signedIn(t), tc.route)
			var kerr *tgs.KDCError
			if errors.As(err, &kerr) != tc.wantKDCErr || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || err == nil {
				t.Fatalf("err = %v", err)
			}
			if (path.Proxy != "") != tc.wantProxy {
				t.Fatalf("path %+v, want proxy %v", path, tc.wantProxy)
			}
			if got := dcHits.Load() - dc0; got != tc.wantDC {
				t.Errorf("%d requests at the refusing DC, want %d", got, tc.wantDC)
			}
			if got := proxyHits.Load() - p0; got != tc.wantProxyCalls {
				t.Errorf("%d proxy requests, want %d", got, tc.wantProxyCalls)
			}
		})
	}
}

func TestOpenChecksTheAdvertisedProxy(t *testing.T) {
	c, err := New("https://passkdc.example.test", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"http://passkdc.example.test/KdcProxy", "ftp://x/KdcProxy", "not a url"} {
		if _, err := c.open(nil, "s", issued{KDCProxy: bad}); err == nil || !strings.Contains(err.Error(), "kdc_proxy.advertise_url") {
			t.Errorf("advertised %q accepted", bad)
		}
	}
}
