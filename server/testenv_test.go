package server_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/kdc/issuer"
	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/rodc"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/sqlite"
)

// plainOrigin is the relying party's origin of an environment served over
// plain HTTP (the handler is called directly or through httptest's URL).
const plainOrigin = "https://localhost:8443"

// testEnv is the one server test environment: a SQLite store (optionally
// wrapped), the RODC's krbtgt keys, the issuer, the relying party and the
// server, served on loopback. The test files' env, webEnv, hostile and
// benchServer are views of it; their differences are envOptions.
type testEnv struct {
	t       testing.TB
	dir     string        // the test's temp dir (database, TLS files)
	raw     *sqlite.Store // the SQLite store under any wrapper
	st      store.Store   // the store the server uses
	keys    *keytabs.KeySet
	now     func() time.Time // the server's clock
	hook    *test.Hook       // the server's log (debug level) unless withServer replaced Log
	handler http.Handler
	origin  string // the relying party's origin
	url     string // the base URL the server is served on
	ca      string // with TLS: the PEM file of the self-signed certificate
}

// envSetup is what the options of newTestEnv change.
type envSetup struct {
	tls       bool
	now       func() time.Time // server and relying party
	issuerNow func() time.Time
	wrap      func(store.Store) store.Store
	seeds     []func(*testEnv)
	rp        []assertion.Option
	updates   []func(*server.Config)
}

// envOption is one difference from the default environment.
type envOption func(*envSetup)

// withTLS serves on https://localhost:PORT (the origin) with a self-signed
// certificate instead of plain HTTP with plainOrigin.
func withTLS() envOption { return func(s *envSetup) { s.tls = true } }

// withClock gives the server and the relying party a clock.
func withClock(now func() time.Time) envOption { return func(s *envSetup) { s.now = now } }

// withIssuerClock gives the ticket issuer a clock.
func withIssuerClock(now func() time.Time) envOption { return func(s *envSetup) { s.issuerNow = now } }

// withStore makes the server use wrap(the SQLite store).
func withStore(wrap func(store.Store) store.Store) envOption {
	return func(s *envSetup) { s.wrap = wrap }
}

// withSeed fills the directory mirror before the server starts (seeds run in
// order).
func withSeed(seed func(*testEnv)) envOption {
	return func(s *envSetup) { s.seeds = append(s.seeds, seed) }
}

// withRP adds relying party options (the clock is added by withClock).
func withRP(opts ...assertion.Option) envOption {
	return func(s *envSetup) { s.rp = append(s.rp, opts...) }
}

// withServer changes the server's configuration before server.New, as dex's
// newTestServer(t, update) does.
func withServer(update func(*server.Config)) envOption {
	return func(s *envSetup) { s.updates = append(s.updates, update) }
}

// newTestEnv is the only place the server tests assemble a server.
func newTestEnv(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	var s envSetup
	for _, o := range opts {
		o(&s)
	}
	ctx := context.Background()
	e := &testEnv{t: t, dir: t.TempDir(), now: s.now}
	if e.now == nil {
		e.now = time.Now
	}
	raw, err := sqlite.Open(ctx, filepath.Join(e.dir, "passkdc.db"))
	mustTB(t, err)
	t.Cleanup(func() { raw.Close() })
	e.raw, e.st = raw, store.Store(raw)
	if s.wrap != nil {
		e.st = s.wrap(raw)
	}
	for _, seed := range s.seeds {
		seed(e)
	}
	e.keys = testKeys(t)
	policy := &rodc.RODC{Allow: []string{domainSID + "-571"}, Deny: []string{domainSID + "-572", "S-1-5-32-544"}}
	iss, err := issuer.New(issuer.Config{Realm: realm}, e.keys, policy, issuer.StoreGroups{Store: e.st}, s.issuerNow)
	mustTB(t, err)

	e.origin, e.url = plainOrigin, ""
	var ln net.Listener
	if s.tls {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		mustTB(t, err)
		e.origin = "https://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	}
	rpOpts := s.rp
	if s.now != nil {
		rpOpts = append([]assertion.Option{assertion.WithClock(s.now)}, rpOpts...)
	}
	rp, err := assertion.New(assertion.Config{RPID: "localhost", Origins: []string{e.origin}}, e.st, rpOpts...)
	mustTB(t, err)
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	e.hook = hook
	cfg := server.Config{Realm: realm, Store: e.st, RP: rp, Issuer: iss, Log: log, Now: s.now}
	for _, u := range s.updates {
		u(&cfg)
	}
	srv, err := server.New(cfg)
	mustTB(t, err)
	e.handler = srv.Handler()
	e.serve(ln)
	return e
}

// testKeys is the RODC's krbtgt_40000 key set.
func testKeys(t testing.TB) *keytabs.KeySet {
	kp := keytabs.NewPrincipal(realm, "krbtgt_40000")
	key, _ := keytabs.StringToKey(18, "rodc", keytabs.ADUserSalt(realm, "krbtgt_40000"))
	kt := &keytabs.Keytab{Entries: []keytabs.Entry{{Principal: kp, KVNO: keytabs.EncodeKVNO(40000, 1), Key: key}}}
	ks, err := kt.KeySet(kp)
	mustTB(t, err)
	return ks
}

// serve starts the handler: over TLS on ln (the origin is its URL), or over
// plain HTTP on a loopback port of httptest's when ln is nil.
func (e *testEnv) serve(ln net.Listener) {
	t := e.t
	if ln == nil {
		hs := httptest.NewServer(e.handler)
		t.Cleanup(hs.Close)
		e.url = hs.URL
		return
	}
	files, err := server.EnsureSelfSigned(e.dir, []string{"localhost", "127.0.0.1"}, time.Now())
	mustTB(t, err)
	cert, err := tls.LoadX509KeyPair(files.CertFile, files.KeyFile)
	mustTB(t, err)
	hs := httptest.NewUnstartedServer(e.handler)
	hs.Listener.Close()
	hs.Listener = ln
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	e.url, e.ca = e.origin, files.CertFile
}

// seedDirectory is the directory of the TLS environments: the RODC's allowed
// and denied groups and Domain Admins; alice may have tickets, root may not
// (Domain Admins is nested in the never-reveal group).
func seedDirectory(e *testEnv) (alice, root store.Principal) {
	t, ctx := e.t, context.Background()
	for _, g := range []store.Group{
		{Anchor: "g-allowed", Name: "Allowed RODC Password Replication Group", SID: domainSID + "-571", Directory: "default"},
		{Anchor: "g-denied", Name: "Denied RODC Password Replication Group", SID: domainSID + "-572", Directory: "default"},
		{Anchor: "g-admins", Name: "Domain Admins", SID: domainSID + "-512", Directory: "default"},
	} {
		_, err := e.st.UpsertGroup(ctx, g)
		mustTB(t, err)
	}
	now := e.now()
	alice = store.Principal{Anchor: "7c1e0a52-93c8-4b8e-8f55-1f6f2b6c0a01", Directory: "default", Name: "alice", Realm: realm,
		SID: domainSID + "-1105", DisplayName: "Alice Liddell", Enabled: true, SyncedAt: now}
	root = store.Principal{Anchor: "7c1e0a52-93c8-4b8e-8f55-1f6f2b6c0a02", Directory: "default", Name: "root", Realm: realm,
		SID: domainSID + "-500", Enabled: true, SyncedAt: now}
	for _, p := range []store.Principal{alice, root} {
		_, err := e.st.UpsertPrincipal(ctx, p)
		mustTB(t, err)
	}
	mustTB(t, e.st.SetMemberships(ctx, alice.Anchor, []string{"g-allowed"}))
	mustTB(t, e.st.SetMemberships(ctx, root.Anchor, []string{"g-allowed", "g-admins"}))
	mustTB(t, e.st.SetMemberships(ctx, "g-admins", []string{"g-denied"}))
	return alice, root
}
