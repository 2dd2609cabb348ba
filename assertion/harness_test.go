package assertion

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"github.com/go-webauthn/webauthn/protocol"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"

	"github.com/passkdc/passkdc/store"
)

const (
	testRPID   = "passkdc.example.test"
	testOrigin = "https://passkdc.example.test:8443"
)

// fakeClock is an injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one relying party with a store, a clock and a principal "alice".
type env struct {
	t     testing.TB
	ctx   context.Context
	st    store.Store
	clock *fakeClock
	rp    *RelyingParty
	vrp   virtualwebauthn.RelyingParty
	alice store.Principal
}

// storeFactory makes a fresh backend for a test.
type storeFactory func(t testing.TB) store.Store

func newEnv(t testing.TB, cfg *Config, opts ...Option) *env {
	t.Helper()
	return newEnvWith(t, memFactory, cfg, opts...)
}

func newEnvWith(t testing.TB, mk storeFactory, cfg *Config, opts ...Option) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), st: mk(t),
		clock: &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)},
		vrp:   virtualwebauthn.RelyingParty{ID: testRPID, Name: "passkdc", Origin: testOrigin}}
	c := Config{RPID: testRPID, RPDisplayName: "passkdc", Origins: []string{testOrigin}}
	if cfg != nil {
		c = *cfg
	}
	rp, err := New(c, e.st, append([]Option{WithClock(e.clock.Now)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.rp = rp
	e.alice = e.addPrincipal("6f1c3a52-8d1e-4c1b-9e36-0d2f5a7b9c01", "alice")
	return e
}

func (e *env) addPrincipal(anchor, name string) store.Principal {
	e.t.Helper()
	p := store.Principal{Anchor: anchor, Directory: "default", Name: name, Realm: "CORP.EXAMPLE.TEST",
		UPN: name + "@corp.example.test", SID: "S-1-5-21-1-2-3-1105", Enabled: true, SyncedAt: e.clock.Now()}
	e.putPrincipal(p)
	return p
}

func (e *env) putPrincipal(p store.Principal) {
	e.t.Helper()
	if _, err := e.st.UpsertPrincipal(e.ctx, p); err != nil {
		e.t.Fatalf("UpsertPrincipal: %v", err)
	}
}

// setGroups makes member a direct member of groups.
func (e *env) setGroups(member string, groups ...store.Group) {
	e.t.Helper()
	var anchors []string
	for _, g := range groups {
		if _, err := e.st.UpsertGroup(e.ctx, g); err != nil {
			e.t.Fatalf("UpsertGroup: %v", err)
		}
		anchors = append(anchors, g.Anchor)
	}
	if err := e.st.SetMemberships(e.ctx, member, anchors); err != nil {
		e.t.Fatalf("SetMemberships: %v", err)
	}
}

// newCred makes a P-256 credential. virtualwebauthn encodes the coordinates
// with big.Int.Bytes, dropping leading zero bytes (1 key in ~128), which
// go-webauthn rightly rejects; such keys are skipped.
func newCred() virtualwebauthn.Credential {
	for {
		c := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
		k, err := x509.ParsePKCS8PrivateKey(c.Key.Data)
		if err != nil {
			panic(err)
		}
		if ek := k.(*ecdsa.PrivateKey); len(ek.X.Bytes()) == 32 && len(ek.Y.Bytes()) == 32 {
			return c
		}
	}
}

// newAuth is a virtual authenticator whose credentials carry p's user handle.
func newAuth(p store.Principal, o virtualwebauthn.AuthenticatorOptions) *virtualwebauthn.Authenticator {
	o.UserHandle = []byte(p.Anchor)
	a := virtualwebauthn.NewAuthenticatorWithOptions(o)
	return &a
}

// attest answers a registration session.
func (e *env) attest(vrp virtualwebauthn.RelyingParty, auth *virtualwebauthn.Authenticator, cred virtualwebauthn.Credential, options any) string {
	e.t.Helper()
	raw, err := json.Marshal(options)
	if err != nil {
		e.t.Fatal(err)
	}
	opts, err := virtualwebauthn.ParseAttestationOptions(string(raw))
	if err != nil {
		e.t.Fatalf("ParseAttestationOptions: %v", err)
	}
	return virtualwebauthn.CreateAttestationResponse(vrp, *auth, cred, *opts)
}

// register runs a full registration of a new credential for p under prof.
func (e *env) register(p store.Principal, auth *virtualwebauthn.Authenticator, prof Profile) (virtualwebauthn.Credential, store.Credential, error) {
	e.t.Helper()
	cred := newCred()
	sid, opts, err := e.rp.BeginRegistration(e.ctx, p, prof)
	if err != nil {
		return cred, store.Credential{}, err
	}
	body := e.attest(e.vrp, auth, cred, opts)
	sc, err := e.rp.FinishRegistration(e.ctx, sid, strings.NewReader(body))
	if err == nil {
		auth.AddCredential(cred)
	}
	return cred, sc, err
}

func (e *env) mustRegister(p store.Principal, auth *virtualwebauthn.Authenticator) virtualwebauthn.Credential {
	e.t.Helper()
	cred, _, err := e.register(p, auth, DefaultProfile())
	if err != nil {
		e.t.Fatalf("register: %v", err)
	}
	return cred
}

var testBindingKey = append([]byte{9}, make([]byte, 31)...) // X25519 base point: a valid public key

// beginLogin starts a sign-in and returns the session and the parsed options.
func (e *env) beginLogin(hint *store.Principal) (string, *virtualwebauthn.AssertionOptions) {
	e.t.Helper()
	sid, opts, err := e.rp.BeginLogin(e.ctx, hint, testBindingKey)
	if err != nil {
		e.t.Fatalf("BeginLogin: %v", err)
	}
	return sid, e.optionsOf(opts)
}

// optionsOf is opts as the virtual authenticator reads them.
func (e *env) optionsOf(opts *protocol.CredentialAssertion) *virtualwebauthn.AssertionOptions {
	e.t.Helper()
	raw, err := json.Marshal(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ao, err := virtualwebauthn.ParseAssertionOptions(string(raw))
	if err != nil {
		e.t.Fatalf("ParseAssertionOptions: %v", err)
	}
	return ao
}

// assertBody signs the options with cred at counter.
func (e *env) assertBody(vrp virtualwebauthn.RelyingParty, auth *virtualwebauthn.Authenticator, cred virtualwebauthn.Credential, counter uint32, ao *virtualwebauthn.AssertionOptions) string {
	cred.Counter = counter
	return virtualwebauthn.CreateAssertionResponse(vrp, *auth, cred, *ao)
}

// login runs a full sign-in with cred at counter.
func (e *env) login(hint *store.Principal, auth *virtualwebauthn.Authenticator, cred virtualwebauthn.Credential, counter uint32) (LoginResult, error) {
	e.t.Helper()
	sid, ao := e.beginLogin(hint)
	return e.rp.FinishLogin(e.ctx, sid, strings.NewReader(e.assertBody(e.vrp, auth, cred, counter, ao)))
}

// snapshot is every credential in the store, for "nothing changed" checks.
func (e *env) snapshot() []store.Credential { return snapshotOf(e.t, e.st) }

func snapshotOf(t testing.TB, st store.Store) []store.Credential {
	t.Helper()
	cs, err := st.ListCredentials(context.Background(), "")
	if err != nil {
		t.Fatalf("ListCredentials: %v", err)
	}
	sort.Slice(cs, func(i, j int) bool { return bytes.Compare(cs[i].ID, cs[j].ID) < 0 })
	for i := range cs { // normalise time zones between backends
		cs[i].CreatedAt, cs[i].LastUsedAt, cs[i].RevokedAt = cs[i].CreatedAt.UTC(), cs[i].LastUsedAt.UTC(), cs[i].RevokedAt.UTC()
	}
	return cs
}

// wantCode fails unless err is an *Error with code.
func wantCode(t testing.TB, err error, code string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %s", code)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not *assertion.Error", err, err)
	}
	if e.Code != code {
		t.Fatalf("code %s (%v), want %s", e.Code, err, code)
	}
	if !errors.Is(err, &Error{Code: code}) {
		t.Fatalf("errors.Is does not match code %s", code)
	}
	return e
}

// refused checks the code and that no credential changed.
func (e *env) refused(err error, code string, before []store.Credential) *Error {
	e.t.Helper()
	x := wantCode(e.t, err, code)
	if after := e.snapshot(); !reflect.DeepEqual(before, after) {
		e.t.Fatalf("credentials changed on refusal %s:\nbefore %+v\nafter  %+v", code, before, after)
	}
	return x
}
