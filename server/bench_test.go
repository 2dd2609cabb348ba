package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/internal/client"
	"github.com/passkdc/passkdc/internal/logjson"
	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/kdc/binding"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
)

const benchOrigin = plainOrigin

// benchServer is the server of `passkdc serve` in process (SQLite store,
// JSON audit log to nowhere, no rate limit), with alice's passkey registered
// through the API.
type benchServer struct {
	h   http.Handler
	key *softkey.Authenticator
}

func newBenchServer(b testing.TB, wrap func(store.Store) store.Store) *benchServer {
	b.Helper()
	ctx := context.Background()
	alice := store.Principal{Anchor: "7c1e0a52-93c8-4b8e-8f55-1f6f2b6c0a01", Directory: "default", Name: "alice",
		Realm: realm, SID: domainSID + "-1105", Enabled: true, SyncedAt: time.Now()}
	log := logrus.New()
	log.SetOutput(io.Discard)
	log.SetFormatter(logjson.New()) // as `passkdc serve` formats JSON logs
	lim := server.DefaultLimits()
	lim.PerAddressPerMinute, lim.PerAddressBurst = 1<<30, 1<<20
	lim.PerPrincipalPerMinute, lim.PerPrincipalBurst = 1<<30, 1<<20
	opts := []envOption{withSeed(func(e *testEnv) {
		_, err := e.st.UpsertGroup(ctx, store.Group{Anchor: "g-allowed", Name: "Allowed RODC Password Replication Group",
			SID: domainSID + "-571", Directory: "default"})
		mustTB(b, err)
		_, err = e.st.UpsertPrincipal(ctx, alice)
		mustTB(b, err)
		mustTB(b, e.st.SetMemberships(ctx, alice.Anchor, []string{"g-allowed"}))
	}), withServer(func(c *server.Config) { c.Log, c.Limits = log, lim })}
	if wrap != nil {
		opts = append(opts, withStore(wrap))
	}
	te := newTestEnv(b, opts...)
	st, dir := te.st, te.dir
	var err error
	bs := &benchServer{h: te.handler}
	bs.key, err = softkey.Open(filepath.Join(dir, "alice.passkey"))
	mustTB(b, err)
	mustTB(b, st.CreateTAP(ctx, store.TAP{ID: "t", Principal: alice.Anchor, Hash: server.HashTAP("PASS"),
		UsesLeft: 1, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))
	var reg struct {
		Session   string                                      `json:"session"`
		PublicKey protocol.PublicKeyCredentialCreationOptions `json:"publicKey"`
	}
	bs.post(b, "/v1/register/begin", "Bearer PASS", []byte("{}"), &reg)
	cred, err := bs.key.Register(reg.PublicKey, benchOrigin)
	mustTB(b, err)
	body, _ := json.Marshal(map[string]any{"session": reg.Session, "credential": json.RawMessage(cred)})
	bs.post(b, "/v1/register/finish", "", body, nil)
	return bs
}

func (bs *benchServer) post(b testing.TB, path, auth string, body []byte, out any) {
	b.Helper()
	if code := bs.send(path, auth, body, out); code != http.StatusOK {
		b.Fatalf("%s: HTTP %d", path, code)
	}
}

// send posts body and returns the status, decoding a 200 answer into out.
func (bs *benchServer) send(path, auth string, body []byte, out any) int {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	bs.h.ServeHTTP(w, r)
	if w.Code == http.StatusOK && out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			return -1
		}
	}
	return w.Code
}

// cpuTime is the CPU time (user + system) of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSignIn measures the server's side of one discoverable sign-in
// (login begin + finish, in process, no network): wall time per sign-in
// (fsyncs included), allocations, and CPU per sign-in (cpu-µs/op; the
// client's signing and the KRB-CRED check are outside the timer).
//
//	go test ./server/ -run '^$' -bench SignIn -benchmem
func BenchmarkSignIn(b *testing.B) {
	bs := newBenchServer(b, nil)
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		bk, err := binding.Generate()
		mustTB(b, err)
		beginBody, _ := json.Marshal(map[string]string{"binding_key": b64u(bk.Public())})
		var begin struct {
			Session   string                                     `json:"session"`
			PublicKey protocol.PublicKeyCredentialRequestOptions `json:"publicKey"`
		}
		b.StartTimer()
		c0 := cpuTime()
		bs.post(b, "/v1/login/begin", "", beginBody, &begin)
		cpu += cpuTime() - c0
		b.StopTimer()
		cred, err := bs.key.Assert(begin.PublicKey, benchOrigin)
		mustTB(b, err)
		finBody, _ := json.Marshal(map[string]any{"session": begin.Session, "credential": json.RawMessage(cred)})
		var fin struct {
			Principal string `json:"principal"`
			KRBCred   string `json:"krb_cred"`
			ServerKey string `json:"server_key"`
		}
		b.StartTimer()
		c0 = cpuTime()
		bs.post(b, "/v1/login/finish", "", finBody, &fin)
		cpu += cpuTime() - c0
		b.StopTimer()
		if _, err := client.Open(bk, begin.Session, fin.Principal, fin.KRBCred, fin.ServerKey); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}
