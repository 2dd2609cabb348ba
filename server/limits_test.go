package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/server"
)

func wantTooMany(t *testing.T, a answer, code string) {
	t.Helper()
	if a.status != http.StatusTooManyRequests || a.code() != code {
		t.Fatalf("answer %d %s, want 429 %s", a.status, a.body, code)
	}
	secs, err := strconv.Atoi(a.header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After %q", a.header.Get("Retry-After"))
	}
	if !strings.Contains(a.header.Get("Content-Type"), "application/json") || !strings.Contains(string(a.body), `"message"`) {
		t.Fatalf("429 is not the JSON error: %s", a.body)
	}
}

func TestPerAddressRateLimitAnswers429WithRetryAfter(t *testing.T) {
	h := newHostile(t, server.Limits{PerAddressPerMinute: 6, PerAddressBurst: 5})
	req := map[string]string{"binding_key": bindingKey}
	for i := range 5 {
		if a := h.post("/v1/login/begin", req); a.status != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i, a.status, a.body)
		}
	}
	a := h.post("/v1/login/begin", req)
	wantTooMany(t, a, "rate_limited")
	if s, _ := strconv.Atoi(a.header.Get("Retry-After")); s > 10 {
		t.Fatalf("Retry-After %d s for 6/min", s)
	}
	// Health and metrics stay reachable for probes.
	if a := h.send(http.MethodGet, "/healthz", "", "", nil); a.status != http.StatusOK {
		t.Fatalf("healthz under limit: %d", a.status)
	}
	// The clock moves on: a token is back.
	h.clock.Advance(11e9)
	if a := h.post("/v1/login/begin", req); a.status != http.StatusOK {
		t.Fatalf("after waiting: %d %s", a.status, a.body)
	}
}

func TestPerPrincipalRateLimitIsAudited(t *testing.T) {
	h := newHostile(t, server.Limits{PerAddressPerMinute: 1 << 20, PerAddressBurst: 1 << 20,
		PerPrincipalPerMinute: 1, PerPrincipalBurst: 3, SessionsPerPrincipal: 100})
	req := map[string]string{"binding_key": bindingKey, "principal": "alice"}
	for i := range 3 {
		if a := h.post("/v1/login/begin", req); a.status != http.StatusOK {
			t.Fatalf("begin %d: %d %s", i, a.status, a.body)
		}
	}
	before := h.auditCount()
	wantTooMany(t, h.post("/v1/login/begin", req), "rate_limited")
	recs, err := h.raw.ListAudit(h.ctx, 0, 0)
	must(t, err)
	if len(recs) != before+1 || recs[len(recs)-1].Reason != "rate_limited" || recs[len(recs)-1].Principal != "alice" {
		t.Fatalf("audit after a per-principal refusal: %+v", recs[len(recs)-1])
	}
	// Another principal is not affected.
	if a := h.post("/v1/login/begin", map[string]string{"binding_key": bindingKey, "principal": "bob"}); a.status != http.StatusOK {
		t.Fatalf("bob: %d %s", a.status, a.body)
	}
}

func TestOpenRegistrationsPerPrincipalAreBounded(t *testing.T) {
	h := newHostile(t, server.Limits{PerAddressPerMinute: 1 << 20, PerAddressBurst: 1 << 20,
		PerPrincipalPerMinute: 1 << 20, PerPrincipalBurst: 1 << 20, SessionsPerPrincipal: 4})
	for range 4 {
		h.beginRegister("alice")
	}
	wantTooMany(t, h.registerBeginWith(h.newTAP("alice", 1)), "too_many_sessions")
	// Anonymous sign-in begins naming alice do not count against the bound.
	for i := range 10 {
		if a := h.post("/v1/login/begin", map[string]string{"binding_key": bindingKey, "principal": "alice"}); a.status != http.StatusOK {
			t.Fatalf("login begin %d: %d %s", i, a.status, a.body)
		}
	}
	// Expired sessions no longer count.
	h.clock.Advance(6 * 60e9)
	if a := h.registerBeginWith(h.newTAP("alice", 1)); a.status != http.StatusOK {
		t.Fatalf("after expiry: %d %s", a.status, a.body)
	}
}

// TestAnonymousBeginsCannotLockAUserOut: 1,000 begins naming alice, from 1,000
// addresses, sign-in and registration alike, then alice signs in and enrols
// with her pass. Under the old per-principal keying the begins spent alice's
// budget and filled her open-ceremony bound.
func TestAnonymousBeginsCannotLockAUserOut(t *testing.T) {
	h := newHostile(t, server.Limits{PerAddressPerMinute: 1 << 20, PerAddressBurst: 1 << 20,
		PerPrincipalPerMinute: 6, PerPrincipalBurst: 5, SessionsPerPrincipal: 5, SessionsTotal: 1 << 20})
	k := h.register("alice")
	loginReq, _ := json.Marshal(map[string]string{"binding_key": bindingKey, "principal": "alice"})
	for i := range 1000 {
		remote := fmt.Sprintf("10.0.%d.%d:4000", i/250, i%250+1)
		if i%2 == 0 {
			h.sendFrom(remote, "/v1/login/begin", "", loginReq)
		} else {
			h.sendFrom(remote, "/v1/register/begin", "Bearer not-a-pass", nil)
		}
	}
	h.login(k)            // signs in with alice's own passkey (from 127.0.0.1)
	h.beginLogin("alice") // a named begin of her own still gets a challenge
	h.register("alice")   // and her pass still enrols a passkey
}

// TestOpenSessionsInAllAreBounded: the begins that store a session count
// against the bound (here registration begins, refused or not: the limiter
// counts before the pass is checked), and the fourth is refused; sign-in
// begins store nothing (a sealed challenge) and are not bounded by it.
func TestOpenSessionsInAllAreBounded(t *testing.T) {
	h := newHostile(t, server.Limits{PerAddressPerMinute: 1 << 20, PerAddressBurst: 1 << 20, SessionsTotal: 3})
	req := map[string]string{"binding_key": bindingKey}
	for i := range 3 {
		if a := h.send(http.MethodPost, "/v1/register/begin", "Bearer not-a-pass", "application/json", []byte("{}")); a.status == http.StatusTooManyRequests {
			t.Fatalf("registration begin %d: %d %s", i, a.status, a.body)
		}
	}
	wantTooMany(t, h.send(http.MethodPost, "/v1/register/begin", "Bearer not-a-pass", "application/json", []byte("{}")), "too_many_sessions")
	for i := range 5 {
		if a := h.post("/v1/login/begin", req); a.status != http.StatusOK {
			t.Fatalf("sign-in begin %d past the session bound: %d %s", i, a.status, a.body)
		}
	}
}

func TestHTTPServerHasTimeouts(t *testing.T) {
	s := server.NewHTTPServer("127.0.0.1:0", http.NotFoundHandler(), server.Limits{})
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("timeouts %+v", s)
	}
}

func TestBodyCapIsConfigurable(t *testing.T) {
	h := newHostile(t, server.Limits{BodyBytes: 1024})
	a := h.send(http.MethodPost, "/v1/login/finish", "", "application/json", []byte(`{"session":"`+strings.Repeat("A", 2000)+`"}`))
	if a.status != http.StatusRequestEntityTooLarge || a.code() != "request_too_large" {
		t.Fatalf("answer %d %s", a.status, a.body)
	}
}
