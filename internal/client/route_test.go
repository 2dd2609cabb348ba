package client

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/internal/kdctest"
	"github.com/passkdc/passkdc/kdc/kkdcp"
	"github.com/passkdc/passkdc/kdc/krbcred"
	"github.com/passkdc/passkdc/kdc/tgs"
)

// signedIn is a sign-in result holding a TGT for alice@EXAMPLE.TEST.
func signedIn(t *testing.T) *SignedIn {
	t.Helper()
	kt := keytab.New()
	if err := kt.AddEntry("krbtgt/EXAMPLE.TEST", "EXAMPLE.TEST", "pw", time.Now(), 1, 18); err != nil {
		t.Fatal(err)
	}
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice")
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/EXAMPLE.TEST")
	now := time.Now().UTC()
	tkt, key, err := messages.NewTicket(cname, "EXAMPLE.TEST", sname, "EXAMPLE.TEST", types.NewKrbFlags(), kt, 18, 1, now, now, now.Add(time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	der, err := tkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return &SignedIn{Principal: "alice@EXAMPLE.TEST", Cred: &krbcred.Cred{Tickets: [][]byte{der},
		Infos: []krbcred.Info{{Key: key, PRealm: "EXAMPLE.TEST", PName: cname, SRealm: "EXAMPLE.TEST", SName: sname, EndTime: now.Add(time.Hour)}}}}
}

// revoked is a KDC's KRB-ERROR answer to req (TCP framing included).
func revoked(req []byte) []byte {
	var r messages.TGSReq
	_ = r.Unmarshal(req)
	e := messages.NewKRBError(r.ReqBody.SName, r.ReqBody.Realm, errorcode.KDC_ERR_TGT_REVOKED, "revoked")
	b, _ := e.Marshal()
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// fakeProxy is a KDC proxy answering every message with a KRB-ERROR; it
// counts the requests.
func fakeProxy(t *testing.T) (string, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		b, _ := io.ReadAll(r.Body)
		m, err := kkdcp.Decode(b, 1<<16)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, _ := kkdcp.Message{KerbMessage: revoked(m.Kerberos())}.Marshal()
		w.Header().Set("Content-Type", "application/kerberos")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/KdcProxy", &n
}

func TestExchangeRoute(t *testing.T) {
	c, err := New("http://127.0.0.1:1", "")
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	refusing, dcHits := kdctest.Serve(t, revoked)
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
