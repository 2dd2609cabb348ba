package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/kdc/binding"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
)

// httpAnswer is a recorded HTTP httpAnswer.
type httpAnswer struct {
	status  int
	errCode string
	body    []byte
}

func (bs *benchServer) answer(path, auth string, body any) httpAnswer {
	b, _ := json.Marshal(body)
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	bs.h.ServeHTTP(w, r)
	var e struct {
		Code string `json:"error"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	return httpAnswer{status: w.Code, errCode: e.Code, body: w.Body.Bytes()}
}

type regBegin struct {
	Session   string                                      `json:"session"`
	PublicKey protocol.PublicKeyCredentialCreationOptions `json:"publicKey"`
}

// registrationEnv is the bench server over a fault-injecting store, with a
// second pass for alice (one use) and a new soft authenticator.
type registrationEnv struct {
	bs  *benchServer
	db  store.Store
	f   *faultStore
	key *softkey.Authenticator
}

const alicePass2 = "SECOND-PASS"

func newRegistrationEnv(t *testing.T) *registrationEnv {
	e := &registrationEnv{}
	e.bs = newBenchServer(t, func(s store.Store) store.Store { e.db = s; e.f = &faultStore{Store: s}; return e.f })
	var err error
	e.key, err = softkey.Open(filepath.Join(t.TempDir(), "second.passkey"))
	mustTB(t, err)
	p, err := e.db.GetPrincipalByName(t.Context(), realm, "alice")
	mustTB(t, err)
	mustTB(t, e.db.CreateTAP(t.Context(), store.TAP{ID: "t2", Principal: p.Anchor, Hash: server.HashTAP(alicePass2),
		UsesLeft: 1, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))
	return e
}

// state is what a refused registration must leave as it was.
type regState struct {
	usesLeft, creds, audits int
}

func (e *registrationEnv) state(t *testing.T) regState {
	t.Helper()
	ctx := t.Context()
	tp, err := e.db.GetTAP(ctx, server.HashTAP(alicePass2), time.Now())
	uses := 0
	if err == nil {
		uses = tp.UsesLeft
	}
	creds, err := e.db.ListCredentials(ctx, "")
	mustTB(t, err)
	recs, err := e.db.ListAudit(ctx, 0, 0)
	mustTB(t, err)
	return regState{usesLeft: uses, creds: len(creds), audits: len(recs)}
}

func (e *registrationEnv) lastAudit(t *testing.T) store.AuditRecord {
	t.Helper()
	recs, err := e.db.ListAudit(t.Context(), 0, 0)
	mustTB(t, err)
	return recs[len(recs)-1]
}

func (e *registrationEnv) begin(t *testing.T, body any) (regBegin, httpAnswer) {
	t.Helper()
	a := e.bs.answer("/v1/register/begin", "Bearer "+alicePass2, body)
	var b regBegin
	if a.status == http.StatusOK {
		mustTB(t, json.Unmarshal(a.body, &b))
	}
	return b, a
}

func (e *registrationEnv) finishBody(t *testing.T, b regBegin) map[string]any {
	t.Helper()
	cred, err := e.key.Register(b.PublicKey, benchOrigin)
	mustTB(t, err)
	return map[string]any{"session": b.Session, "credential": json.RawMessage(cred)}
}

// TestRegistrationSpendsThePassOnlyWhenAPasskeyIsStored: begin checks the
// pass and spends nothing; a pass named for another account is refused at
// begin; with the store unwritable, begin and finish leave no session, no
// credential and no spent pass; the finish retried once the store is back
// stores the passkey and spends the pass, with exactly one audit record per
// decision.
func TestRegistrationSpendsThePassOnlyWhenAPasskeyIsStored(t *testing.T) {
	e := newRegistrationEnv(t)
	s0 := e.state(t)

	_, a := e.begin(t, map[string]string{"principal": "bob"})
	if a.status != http.StatusForbidden || a.errCode != server.CodeTAPOtherAccount {
		t.Fatalf("pass for alice named as bob: %d %s", a.status, a.body)
	}
	if s := e.state(t); s.usesLeft != 1 || s.creds != s0.creds || s.audits != s0.audits+1 {
		t.Fatalf("after the refused begin: %+v (before %+v)", s, s0)
	}
	if r := e.lastAudit(t); r.Event != "register.begin" || r.Result != "refused" || r.Principal != "alice" || r.Reason != server.CodeTAPOtherAccount {
		t.Fatalf("audit of the refused begin: %+v", r)
	}

	e.f.mode.Store(storeReadOnly)
	_, a = e.begin(t, map[string]string{"principal": "alice@" + realm})
	e.f.mode.Store(storeOK)
	if a.status != http.StatusServiceUnavailable {
		t.Fatalf("begin with the store read-only: %d %s", a.status, a.body)
	}
	if s := e.state(t); s.usesLeft != 1 || s.creds != s0.creds+0 {
		t.Fatalf("after the failed begin: %+v", s)
	}

	b, a := e.begin(t, map[string]string{"principal": "alice"})
	if a.status != http.StatusOK {
		t.Fatalf("begin: %d %s", a.status, a.body)
	}
	if s := e.state(t); s.usesLeft != 1 {
		t.Fatalf("begin spent the pass: %+v", s)
	}
	body := e.finishBody(t, b)
	before := e.state(t)
	e.f.mode.Store(storeReadOnly)
	a = e.bs.answer("/v1/register/finish", "", body)
	e.f.mode.Store(storeOK)
	if a.status != http.StatusServiceUnavailable {
		t.Fatalf("finish with the store read-only: %d %s", a.status, a.body)
	}
	if s := e.state(t); s != before {
		t.Fatalf("the failed finish changed the store: %+v, before %+v", s, before)
	}
	if _, err := e.db.GetSession(t.Context(), b.Session, "register"); err != nil {
		t.Fatalf("the failed finish consumed the session: %v", err)
	}

	a = e.bs.answer("/v1/register/finish", "", body)
	if a.status != http.StatusOK {
		t.Fatalf("finish retried: %d %s", a.status, a.body)
	}
	if s := e.state(t); s.usesLeft != 0 || s.creds != before.creds+1 || s.audits != before.audits+1 {
		t.Fatalf("after the finish: %+v, before %+v", s, before)
	}
	if r := e.lastAudit(t); r.Event != "register" || r.Result != "ok" || r.Principal != "alice" || r.CredentialID == "" {
		t.Fatalf("audit of the registration: %+v", r)
	}
	// Replayed: refused, one record naming alice, nothing else changes.
	before = e.state(t)
	a = e.bs.answer("/v1/register/finish", "", body)
	if a.status == http.StatusOK {
		t.Fatalf("replayed finish: %d %s", a.status, a.body)
	}
	if s := e.state(t); s.creds != before.creds || s.audits != before.audits+1 {
		t.Fatalf("after the replay: %+v, before %+v", s, before)
	}
}

// TestRegistrationRefusedAfterTheSpendKeepsThePass: two registrations begun
// with a one-use pass; the second finish finds the pass spent and is
// refused with tap_used, storing no credential, and its record names alice.
func TestRegistrationRefusedAfterTheSpendKeepsThePass(t *testing.T) {
	e := newRegistrationEnv(t)
	b1, _ := e.begin(t, nil)
	b2, _ := e.begin(t, nil)
	body1 := e.finishBody(t, b1)
	other, err := softkey.Open(filepath.Join(t.TempDir(), "third.passkey"))
	mustTB(t, err)
	cred2, err := other.Register(b2.PublicKey, benchOrigin)
	mustTB(t, err)
	if a := e.bs.answer("/v1/register/finish", "", body1); a.status != http.StatusOK {
		t.Fatalf("first finish: %d %s", a.status, a.body)
	}
	before := e.state(t)
	a := e.bs.answer("/v1/register/finish", "", map[string]any{"session": b2.Session, "credential": json.RawMessage(cred2)})
	if a.errCode != "tap_used" {
		t.Fatalf("second finish: %d %s", a.status, a.body)
	}
	if s := e.state(t); s.creds != before.creds || s.audits != before.audits+1 {
		t.Fatalf("after the refused finish: %+v, before %+v", s, before)
	}
	if r := e.lastAudit(t); r.Result != "refused" || r.Principal != "alice" || r.Reason != "tap_used" {
		t.Fatalf("audit: %+v", r)
	}
	if _, err := e.db.GetSession(t.Context(), b2.Session, "register"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused finish left its session: %v", err)
	}
}

// commitFault loses the httpAnswer to COMMIT, as PostgreSQL's client does when
// the server restarts during it: either after the commit happened (lost) or
// instead of it (rollback), and can make reads fail too (blind).
type commitFault struct {
	store.Store
	lost, rollback, blind atomic.Bool
}

var errConnClosed = errors.New("commit: conn closed")

func (c *commitFault) WithTx(ctx context.Context, fn func(store.Tx) error) error {
	err := c.Store.WithTx(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if c.rollback.Load() {
			return errConnClosed
		}
		return nil
	})
	if err == nil && c.lost.Load() {
		return errConnClosed
	}
	return err
}

func (c *commitFault) ListAudit(ctx context.Context, after int64, limit int) ([]store.AuditRecord, error) {
	if c.blind.Load() {
		return nil, errors.New("dial tcp: connection refused")
	}
	return c.Store.ListAudit(ctx, after, limit)
}

func (c *commitFault) GetAudit(ctx context.Context, id int64) (store.AuditRecord, error) {
	if c.blind.Load() {
		return store.AuditRecord{}, errors.New("dial tcp: connection refused")
	}
	return c.Store.GetAudit(ctx, id)
}

// TestUnknownCommitOutcomeIsReportedTruthfully: a sign-in whose COMMIT
// httpAnswer was lost but which was committed gets its ticket; one that was
// rolled back is answered audit_unavailable; one the store cannot be asked
// about is answered outcome_unknown, never "nothing was issued".
func TestUnknownCommitOutcomeIsReportedTruthfully(t *testing.T) {
	var c *commitFault
	bs := newBenchServer(t, func(s store.Store) store.Store { c = &commitFault{Store: s}; return c })
	// begin starts a sign-in and returns the finish body.
	begin := func() map[string]any {
		bk, err := binding.Generate()
		mustTB(t, err)
		var begin struct {
			Session   string                                     `json:"session"`
			PublicKey protocol.PublicKeyCredentialRequestOptions `json:"publicKey"`
		}
		a := bs.answer("/v1/login/begin", "", map[string]string{"binding_key": b64u(bk.Public())})
		mustTB(t, json.Unmarshal(a.body, &begin))
		cred, err := bs.key.Assert(begin.PublicKey, benchOrigin)
		mustTB(t, err)
		return map[string]any{"session": begin.Session, "credential": json.RawMessage(cred)}
	}
	cases := []struct {
		name                  string
		lost, rollback, blind bool
		status                int
		code                  string
	}{
		{"committed, httpAnswer lost", true, false, false, http.StatusOK, ""},
		{"rolled back", false, true, false, http.StatusServiceUnavailable, server.CodeAuditUnavailable},
		{"committed, store unreachable after", true, false, true, http.StatusServiceUnavailable, server.CodeOutcomeUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.lost.Store(false)
			c.rollback.Store(false)
			c.blind.Store(false)
			// Begin under a healthy store, then the fault at finish.
			body := begin()
			c.lost.Store(tc.lost)
			c.rollback.Store(tc.rollback)
			c.blind.Store(tc.blind)
			a := bs.answer("/v1/login/finish", "", body)
			c.lost.Store(false)
			c.rollback.Store(false)
			c.blind.Store(false)
			if a.status != tc.status || a.errCode != tc.code {
				t.Fatalf("HTTP %d %s, want %d %q", a.status, a.body, tc.status, tc.code)
			}
			if tc.status == http.StatusOK {
				var out struct {
					KRBCred string `json:"krb_cred"`
				}
				mustTB(t, json.Unmarshal(a.body, &out))
				if out.KRBCred == "" {
					t.Fatal("no ticket in the httpAnswer of a committed sign-in")
				}
			}
		})
	}
	if a := bs.answer("/v1/login/finish", "", begin()); a.status != http.StatusOK {
		t.Fatalf("sign-in after the faults: %d %s", a.status, a.body)
	}
}

// callLog records which store methods a request called, in order.
type callLog struct {
	store.Store
	mu    sync.Mutex
	calls []string
}

func (c *callLog) add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, name)
}

func (c *callLog) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

func (c *callLog) GetPrincipalByName(ctx context.Context, realm, name string) (store.Principal, error) {
	c.add("GetPrincipalByName")
	return c.Store.GetPrincipalByName(ctx, realm, name)
}

func (c *callLog) GetPrincipal(ctx context.Context, anchor string) (store.Principal, error) {
	c.add("GetPrincipal")
	return c.Store.GetPrincipal(ctx, anchor)
}

func (c *callLog) ListCredentials(ctx context.Context, principal string) ([]store.Credential, error) {
	c.add("ListCredentials")
	return c.Store.ListCredentials(ctx, principal)
}

func (c *callLog) CountSessions(ctx context.Context, principal, kind string, now time.Time) (int, error) {
	c.add("CountSessions")
	return c.Store.CountSessions(ctx, principal, kind, now)
}

func (c *callLog) WithTx(ctx context.Context, fn func(store.Tx) error) error {
	c.add("WithTx")
	return c.Store.WithTx(ctx, func(tx store.Tx) error { return fn(&callLogTx{Tx: tx, c: c}) })
}

type callLogTx struct {
	store.Tx
	c *callLog
}

func (t *callLogTx) CreateSession(ctx context.Context, s store.Session) error {
	t.c.add("tx.CreateSession")
	return t.Tx.CreateSession(ctx, s)
}

func (t *callLogTx) AppendAudit(ctx context.Context, r store.AuditRecord) (int64, error) {
	t.c.add("tx.AppendAudit")
	return t.Tx.AppendAudit(ctx, r)
}

// shape is the JSON's structure: the keys at every level, values erased
// (but for publicKey's fixed fields, which must be equal too).
func shape(t *testing.T, body []byte) any {
	t.Helper()
	var v any
	mustTB(t, json.Unmarshal(body, &v))
	var erase func(any) any
	erase = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, e := range x {
				switch k {
				case "session", "challenge":
					out[k] = "random"
				default:
					out[k] = erase(e)
				}
			}
			return out
		case []any:
			return len(x)
		}
		return v
	}
	return erase(v)
}

// TestLoginBeginDoesNotRevealAccounts: a name with passkeys, a name without
// and a name of nobody get the same status, the same body structure and
// values (but for the random session and challenge) and the same store
// calls; a finish with the unknown name is refused as one for another
// account's name is.
func TestLoginBeginDoesNotRevealAccounts(t *testing.T) {
	var c *callLog
	bs := newBenchServer(t, func(s store.Store) store.Store { c = &callLog{Store: s}; return c })
	_, err := c.Store.UpsertPrincipal(t.Context(), store.Principal{Anchor: "b0b", Directory: "default", Name: "bob", Realm: realm,
		SID: domainSID + "-1106", Enabled: true, SyncedAt: time.Now()})
	mustTB(t, err)
	bk, err := binding.Generate()
	mustTB(t, err)
	type seen struct {
		status int
		shape  any
		calls  []string
	}
	var first *seen
	for _, name := range []string{"alice", "bob", "mallory", "Alice@" + realm, "nobody@" + realm} {
		c.take()
		a := bs.answer("/v1/login/begin", "", map[string]string{"binding_key": b64u(bk.Public()), "principal": name})
		got := &seen{a.status, shape(t, a.body), c.take()}
		if a.status != http.StatusOK {
			t.Fatalf("%s: %d %s", name, a.status, a.body)
		}
		if first == nil {
			first = got
			continue
		}
		if !reflect.DeepEqual(got, first) {
			t.Fatalf("%s answered %+v, alice %+v", name, got, first)
		}
	}
	// Alice's passkey with mallory's name: refused as with bob's.
	for _, name := range []string{"bob", "mallory"} {
		var begin struct {
			Session   string                                     `json:"session"`
			PublicKey protocol.PublicKeyCredentialRequestOptions `json:"publicKey"`
		}
		a := bs.answer("/v1/login/begin", "", map[string]string{"binding_key": b64u(bk.Public()), "principal": name})
		mustTB(t, json.Unmarshal(a.body, &begin))
		cred, err := bs.key.Assert(begin.PublicKey, benchOrigin)
		mustTB(t, err)
		a = bs.answer("/v1/login/finish", "", map[string]any{"session": begin.Session, "credential": json.RawMessage(cred)})
		if a.status != http.StatusUnauthorized && a.status != http.StatusForbidden || a.errCode != "principal_mismatch" {
			t.Fatalf("alice's passkey under %s: %d %s", name, a.status, a.body)
		}
	}
}
