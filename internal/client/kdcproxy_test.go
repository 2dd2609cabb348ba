package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/kdc/kkdcp"
)

// tgsReqLike is a message the proxy forwards: it only has to start as a
// TGS-REQ ([APPLICATION 12]).
var tgsReqLike = []byte{0x6c, 0x03, 0x02, 0x01, 0x05}

// TestKDCProxyTransport: the client wraps the Kerberos message for the
// realm, and every bad proxy answer is an ErrKDCProxy or a typed kkdcp
// refusal, never a reply handed to the Kerberos code.
func TestKDCProxyTransport(t *testing.T) {
	krbError := []byte{0x7e, 0x03, 0x02, 0x01, 0x05}
	for _, tc := range []struct {
		name     string
		answer   func(w http.ResponseWriter, m kkdcp.Message)
		want     []byte // the Kerberos answer returned
		wantErr  error
		wantText string
	}{
		{name: "a framed KRB-ERROR", answer: func(w http.ResponseWriter, _ kkdcp.Message) {
			out, _ := kkdcp.Message{KerbMessage: kkdcp.Frame(krbError)}.Marshal()
			_, _ = w.Write(out)
		}, want: krbError},
		{name: "HTTP 503", answer: func(w http.ResponseWriter, _ kkdcp.Message) {
			http.Error(w, "no KDC for this realm", http.StatusServiceUnavailable)
		}, wantErr: ErrKDCProxy, wantText: "503 Service Unavailable: no KDC for this realm"},
		{name: "not DER", answer: func(w http.ResponseWriter, _ kkdcp.Message) {
			_, _ = io.WriteString(w, "<html>login page</html>")
		}, wantErr: kkdcp.ErrNotDER},
		{name: "a request echoed back", answer: func(w http.ResponseWriter, m kkdcp.Message) {
			out, _ := m.Marshal()
			_, _ = w.Write(out)
		}, wantErr: kkdcp.ErrReply},
		{name: "bad framing", answer: func(w http.ResponseWriter, _ kkdcp.Message) {
			f := kkdcp.Frame(krbError)
			f[3]++
			out, _ := kkdcp.Message{KerbMessage: f}.Marshal()
			_, _ = w.Write(out)
		}, wantErr: kkdcp.ErrFraming},
		{name: "larger than the cap", answer: func(w http.ResponseWriter, _ kkdcp.Message) {
			_, _ = w.Write(bytes.Repeat([]byte{0x30}, maxProxyReply+10))
		}, wantErr: kkdcp.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got kkdcp.Message
			var ctype string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctype = r.Header.Get("Content-Type")
				b, _ := io.ReadAll(r.Body)
				m, err := kkdcp.Decode(b, 1<<16)
				if err != nil {
					t.Errorf("the client sent no KDC-PROXY-MESSAGE: %v", err)
				}
				got = m
				tc.answer(w, m)
			}))
			t.Cleanup(srv.Close)
			c, err := New(srv.URL, "")
			if err != nil {
				t.Fatal(err)
			}
			send, err := c.KDCProxy(srv.URL+"/KdcProxy", "EXAMPLE.TEST")
			if err != nil {
				t.Fatal(err)
			}
			out, err := send(context.Background(), tgsReqLike)
			if ctype != "application/kerberos" || got.Realm != "EXAMPLE.TEST" || !bytes.Equal(got.Kerberos(), tgsReqLike) {
				t.Errorf("sent %q realm %q message %x", ctype, got.Realm, got.KerbMessage)
			}
			if tc.wantErr == nil {
				if err != nil || !bytes.Equal(out, tc.want) {
					t.Fatalf("answer %x, %v; want %x", out, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantText) || out != nil {
				t.Fatalf("answer %x, err %v; want %v (%q)", out, err, tc.wantErr, tc.wantText)
			}
		})
	}
}

func TestKDCProxyURLs(t *testing.T) {
	c, err := New("https://passkdc.example.test", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://passkdc.example.test/KdcProxy", true},
		{"http://127.0.0.1:8080/KdcProxy", true},
		{"ftp://passkdc.example.test/KdcProxy", false},
		{"https:///KdcProxy", false},
		{"passkdc.example.test/KdcProxy", false},
	} {
		_, err := c.KDCProxy(tc.url, "EXAMPLE.TEST")
		if (err == nil) != tc.ok || (CheckKDCProxyURL(tc.url) == nil) != tc.ok {
			t.Errorf("%s: err %v, want accepted %v", tc.url, err, tc.ok)
		}
	}
	dead := "http://" + testenv.ClosedPort(t) + "/KdcProxy"
	send, err := c.KDCProxy(dead, "EXAMPLE.TEST")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := send(context.Background(), tgsReqLike); !errors.Is(err, ErrKDCProxy) || !strings.Contains(err.Error(), dead) {
		t.Fatalf("unreachable proxy: %v", err)
	}
}
