package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/internal/kdctest"
	"github.com/passkdc/passkdc/kdc/kkdcp"
	"github.com/passkdc/passkdc/server"
)

// echoKDC answers every framed request with a framed KRB-ERROR-tagged reply
// and counts the requests it saw.
func echoKDC(t *testing.T) (string, *atomic.Int32) {
	return kdctest.Serve(t, func([]byte) []byte { return kkdcp.Frame([]byte{0x7e, 0x03, 0x02, 0x01, 0x05}) })
}

func proxyMsg(t *testing.T, tag byte, realm string) []byte {
	b, err := kkdcp.Message{KerbMessage: kkdcp.Frame([]byte{tag, 0x03, 0x02, 0x01, 0x05}), Realm: realm}.Marshal()
	must(t, err)
	return b
}

func TestKDCProxyRelaysAndRefusesWithoutForwarding(t *testing.T) {
	kdc, seen := echoKDC(t)
	h := newHostileWith(t, config.Limits{}, &server.KDCProxyConfig{
		Forwarder: &kkdcp.Forwarder{KDCs: map[string][]string{realm: {kdc}}, Timeout: 2 * time.Second},
		MaxBytes:  256, PerAddressPerMinute: 600, PerAddressBurst: 100})
	const ct = "application/kerberos"
	a := h.send(http.MethodPost, "/KdcProxy", "", ct, proxyMsg(t, 0x6c, realm))
	if a.status != http.StatusOK || a.header.Get("Content-Type") != ct {
		t.Fatalf("relay: %d %s %s", a.status, a.header.Get("Content-Type"), a.body)
	}
	m, err := kkdcp.Decode(a.body, 0)
	if err == nil || m.KerbMessage != nil {
		// A reply carries a KRB-ERROR, which Decode (a request decoder) refuses.
		t.Fatalf("reply decoded as a request: %v", err)
	}
	if !bytes.Contains(a.body, []byte{0x7e, 0x03, 0x02, 0x01, 0x05}) {
		t.Fatalf("reply does not carry the KDC's answer: %x", a.body)
	}
	for _, tc := range []struct {
		name, ctype string
		body        []byte
		status      int
		reason      string
	}{
		{"not DER", ct, []byte("hello, KDC"), http.StatusBadRequest, "outer_tag"},
		{"truncated DER", ct, proxyMsg(t, 0x6c, realm)[:10], http.StatusBadRequest, "not_der"},
		{"wrong realm", ct, proxyMsg(t, 0x6c, "EVIL.TEST"), http.StatusBadRequest, "realm"},
		{"no realm", ct, proxyMsg(t, 0x6c, ""), http.StatusBadRequest, "realm"},
		{"AP-REQ", ct, proxyMsg(t, 0x6e, realm), http.StatusBadRequest, "message_type"},
		{"oversize", ct, bytes.Repeat([]byte{0x30}, 257), http.StatusRequestEntityTooLarge, "too_large"},
		{"json", "application/json", proxyMsg(t, 0x6c, realm), http.StatusUnsupportedMediaType, "content_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.hook.Reset()
			a := h.send(http.MethodPost, "/KdcProxy", "", tc.ctype, tc.body)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			e := h.hook.LastEntry()
			if e == nil || e.Data["reason"] != tc.reason || e.Data["result"] != "refused" || e.Data["remote"] == nil {
				t.Fatalf("log: %+v", e)
			}
		})
	}
	if n := seen.Load(); n != 1 {
		t.Errorf("KDC saw %d requests; only the valid one may reach it", n)
	}
	metrics := string(h.send(http.MethodGet, "/metrics", "", "", nil).body)
	for _, want := range []string{`outcome="forwarded"} 1`, `outcome="realm"} 2`, `outcome="not_der"} 1`,
		`outcome="too_large"} 1`, `outcome="message_type"} 1`, `outcome="content_type"} 1`} {
		if !strings.Contains(metrics, "passkdc_kdc_proxy_requests_total{"+want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestKDCProxyRateLimitAndDCDown(t *testing.T) {
	down, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := down.Addr().String()
	down.Close()
	h := newHostileWith(t, config.Limits{}, &server.KDCProxyConfig{
		Forwarder: &kkdcp.Forwarder{KDCs: map[string][]string{realm: {addr}}, Timeout: time.Second},
		MaxBytes:  256, PerAddressPerMinute: 1, PerAddressBurst: 1})
	a := h.send(http.MethodPost, "/KdcProxy", "", "application/kerberos", proxyMsg(t, 0x6a, realm))
	if a.status != http.StatusServiceUnavailable || !strings.Contains(string(a.body), "kdc_unreachable") {
		t.Fatalf("DC down: %d %s", a.status, a.body)
	}
	a = h.send(http.MethodPost, "/KdcProxy", "", "application/kerberos", proxyMsg(t, 0x6a, realm))
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Fatalf("rate limit: %d %s", a.status, a.body)
	}
}

func TestNoKDCProxyUnlessConfigured(t *testing.T) {
	h := newHostile(t, config.Limits{})
	if a := h.send(http.MethodPost, "/KdcProxy", "", "application/kerberos", proxyMsg(t, 0x6a, realm)); a.status != http.StatusNotFound && a.status != http.StatusMethodNotAllowed {
		t.Fatalf("unconfigured proxy answered %d", a.status)
	}
}

// A client that sends half a body is cut by limits.read_timeout, refused
// as client_timeout without reaching the KDC.
func TestKDCProxySlowClientTimesOut(t *testing.T) {
	kdc, seen := echoKDC(t)
	lim := config.Limits{ReadTimeout: 300 * time.Millisecond}
	h := newHostileWith(t, lim, &server.KDCProxyConfig{
		Forwarder: &kkdcp.Forwarder{KDCs: map[string][]string{realm: {kdc}}, Timeout: time.Second},
		MaxBytes:  256, PerAddressPerMinute: 600, PerAddressBurst: 100})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	hs := server.NewHTTPServer(ln.Addr().String(), h.handler, lim)
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	defer c.Close()
	body := proxyMsg(t, 0x6c, realm)
	_, err = fmt.Fprintf(c, "POST /KdcProxy HTTP/1.1\r\nHost: x\r\nContent-Type: application/kerberos\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:5])
	must(t, err)
	must(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, _ := io.ReadAll(c)
	if !strings.Contains(string(resp), "408") {
		t.Fatalf("answer to a stalled body: %q", resp)
	}
	if e := h.hook.LastEntry(); e == nil || e.Data["reason"] != "client_timeout" {
		t.Fatalf("log: %+v", e)
	}
	if seen.Load() != 0 {
		t.Fatal("a stalled request reached the KDC")
	}
}

// Sign-in answers carry the advertised KDC proxy URL (also with the proxy
// route off: it may name another server's proxy), and none when not set.
func TestSignInAdvertisesTheKDCProxy(t *testing.T) {
	const advertised = "https://kdcproxy.example.test/KdcProxy"
	for _, tc := range []struct {
		name  string
		proxy *server.KDCProxyConfig
		want  string
	}{
		{"advertised, route off", &server.KDCProxyConfig{AdvertiseURL: advertised}, `"kdc_proxy":"` + advertised + `"`},
		{"nothing configured", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHostileWith(t, config.Limits{}, tc.proxy)
			k := h.register("alice")
			o := h.beginLogin("")
			a := h.post("/v1/login/finish", finish(o.Session, k.assert(o.PublicKey.Challenge, bend{})))
			if a.status != http.StatusOK {
				t.Fatalf("login: %d %s", a.status, a.body)
			}
			if got := string(a.body); tc.want != "" && !strings.Contains(got, tc.want) || tc.want == "" && strings.Contains(got, "kdc_proxy") {
				t.Fatalf("login answer %s, want %q", got, tc.want)
			}
			resp, err := http.Post(h.url+"/KdcProxy", "application/kerberos", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusOK {
				t.Fatalf("POST /KdcProxy with the route off: %s", resp.Status)
			}
		})
	}
}
