package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/passkdc/passkdc/server"
)

// fuzzBody sends arbitrary bytes to a finish endpoint of a server whose
// users have passkeys, seeded with spent (already used) real ceremonies and
// refused ones: no input may yield a ticket, a registration or a server
// error, every refusal is a JSON error with a code, and no request takes
// more than 10 s. Each execution writes an audit record to SQLite, so run
// with a short -fuzzminimizetime (e.g. 5s): minimizing at ~1 ms per
// execution otherwise looks like a stall.
func fuzzBody(f *testing.F, path string, seeds func(h *hostile) [][]byte) {
	h := newHostile(f, server.Limits{PerAddressPerMinute: 1 << 30, PerAddressBurst: 1 << 30,
		PerPrincipalPerMinute: 1 << 30, PerPrincipalBurst: 1 << 30, SessionsPerPrincipal: 1 << 20})
	h.keys["alice"] = h.register("alice")
	for _, s := range seeds(h) {
		f.Add(s)
	}
	f.Add([]byte(`{"session":"","credential":null}`))
	f.Add([]byte(`{"session":"x","credential":{"id":"AA","rawId":"AA","type":"public-key","response":{}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "127.0.0.1:1234"
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() { defer close(done); h.handler.ServeHTTP(rec, req) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("%s took more than 10 s on %q\n%s", path, body, buf[:runtime.Stack(buf, true)])
		}
		if rec.Code == http.StatusOK || rec.Code >= 500 {
			t.Fatalf("%s answered %d %s to %q", path, rec.Code, rec.Body.Bytes(), body)
		}
		var e struct{ Error, Message string }
		if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" {
			t.Fatalf("refusal without a JSON error code: %s", rec.Body.Bytes())
		}
	})
}

func FuzzLoginFinishBody(f *testing.F) {
	fuzzBody(f, "/v1/login/finish", func(h *hostile) [][]byte {
		o := h.beginLogin("")
		good, _ := json.Marshal(finish(o.Session, h.keys["alice"].assert(o.PublicKey.Challenge, bend{})))
		// Used once here: the fuzzer mutates a real, spent sign-in.
		if a := h.send(http.MethodPost, "/v1/login/finish", "", "application/json", good); a.status != http.StatusOK {
			h.t.Fatalf("seed sign-in: %d %s", a.status, a.body)
		}
		o2 := h.beginLogin("")
		bad, _ := json.Marshal(finish(o2.Session, h.keys["alice"].assert(o2.PublicKey.Challenge, bend{badSig: true})))
		return [][]byte{good, bad}
	})
}

func FuzzRegisterFinishBody(f *testing.F) {
	fuzzBody(f, "/v1/register/finish", func(h *hostile) [][]byte {
		o := h.beginRegister("bob")
		good, _ := json.Marshal(finish(o.Session, newFakeKey(h.t).attest(o, bend{})))
		if a := h.send(http.MethodPost, "/v1/register/finish", "", "application/json", good); a.status != http.StatusOK {
			h.t.Fatalf("seed registration: %d %s", a.status, a.body)
		}
		o2 := h.beginRegister("bob")
		bad, _ := json.Marshal(finish(o2.Session, newFakeKey(h.t).attest(o2, bend{rpID: "evil.example"})))
		return [][]byte{good, bad}
	})
}
