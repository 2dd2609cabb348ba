package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/kdc/issuer"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/sqlite"
)

const badOrigin = plainOrigin

// badClock is the injectable clock of the hostile-input environment.
type badClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *badClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *badClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Store fault modes.
const (
	storeOK int32 = iota
	storeReadOnly
	storeLocked
)

var (
	errReadOnly = errors.New("attempt to write a readonly database (SQLITE_READONLY)")
	errLocked   = errors.New("database is locked (SQLITE_BUSY)")
)

// faultStore makes every write fail in a read-only or locked mode, as SQLite
// does on a read-only file or when another process holds the write lock past
// the busy timeout.
type faultStore struct {
	store.Store
	mode atomic.Int32
}

func (f *faultStore) fault() error {
	switch f.mode.Load() {
	case storeReadOnly:
		return errReadOnly
	case storeLocked:
		return errLocked
	}
	return nil
}

func (f *faultStore) CreateSession(ctx context.Context, s store.Session) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.CreateSession(ctx, s)
}

func (f *faultStore) ConsumeSession(ctx context.Context, id, kind string, now time.Time) (store.Session, error) {
	if err := f.fault(); err != nil {
		return store.Session{}, err
	}
	return f.Store.ConsumeSession(ctx, id, kind, now)
}

func (f *faultStore) UpdateCredentialUse(ctx context.Context, id []byte, o, n uint32, bs bool, at time.Time) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.UpdateCredentialUse(ctx, id, o, n, bs, at)
}

func (f *faultStore) CreateCredential(ctx context.Context, c store.Credential) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.CreateCredential(ctx, c)
}

func (f *faultStore) UseTAP(ctx context.Context, h []byte, now time.Time) (store.TAP, error) {
	if err := f.fault(); err != nil {
		return store.TAP{}, err
	}
	return f.Store.UseTAP(ctx, h, now)
}

func (f *faultStore) AppendAudit(ctx context.Context, r store.AuditRecord) (int64, error) {
	if err := f.fault(); err != nil {
		return 0, err
	}
	return f.Store.AppendAudit(ctx, r)
}

// WithTx gives fn a transaction whose writes fail the same way.
func (f *faultStore) WithTx(ctx context.Context, fn func(store.Tx) error) error {
	return f.Store.WithTx(ctx, func(tx store.Tx) error { return fn(&faultTx{Tx: tx, f: f}) })
}

// faultTx is a transaction of a faultStore.
type faultTx struct {
	store.Tx
	f *faultStore
}

func (x *faultTx) CreateSession(ctx context.Context, s store.Session) error {
	if err := x.f.fault(); err != nil {
		return err
	}
	return x.Tx.CreateSession(ctx, s)
}

func (x *faultTx) ConsumeSession(ctx context.Context, id, kind string, now time.Time) (store.Session, error) {
	if err := x.f.fault(); err != nil {
		return store.Session{}, err
	}
	return x.Tx.ConsumeSession(ctx, id, kind, now)
}

func (x *faultTx) UpdateCredentialUse(ctx context.Context, id []byte, o, n uint32, bs bool, at time.Time) error {
	if err := x.f.fault(); err != nil {
		return err
	}
	return x.Tx.UpdateCredentialUse(ctx, id, o, n, bs, at)
}

func (x *faultTx) AppendAudit(ctx context.Context, r store.AuditRecord) (int64, error) {
	if err := x.f.fault(); err != nil {
		return 0, err
	}
	return x.Tx.AppendAudit(ctx, r)
}

// stubRefresher is the directory's live check: up, or down past max_staleness.
type stubRefresher struct{ down atomic.Bool }

func (r *stubRefresher) Refresh(_ context.Context, p store.Principal) (store.Principal, []string, error) {
	if r.down.Load() {
		return p, nil, fmt.Errorf("directory unreachable and the mirror of %s is older than max_staleness (1h)", p.Name)
	}
	return p, nil, nil
}

// hostile is a server over a real SQLite store with a fake clock, a
// directory stub and a fault-injecting store wrapper.
type hostile struct {
	t       testing.TB
	handler http.Handler
	ctx     context.Context
	db      string
	raw     *sqlite.Store
	st      *faultStore
	clock   *badClock
	dir     *stubRefresher
	url     string
	hook    *test.Hook
	users   map[string]store.Principal
	keys    map[string]*fakeKey // one registered passkey per user
	revoked *fakeKey
}

func newHostile(t testing.TB, limits server.Limits) *hostile {
	t.Helper()
	return newHostileWith(t, limits, nil)
}

// newHostileWith is newHostile with a KDC proxy (nil: none).
func newHostileWith(t testing.TB, limits server.Limits, proxy *server.KDCProxyConfig) *hostile {
	t.Helper()
	h := &hostile{t: t, ctx: context.Background(),
		clock: &badClock{t: time.Now().UTC().Truncate(time.Second)}, dir: &stubRefresher{},
		users: map[string]store.Principal{}, keys: map[string]*fakeKey{}}
	te := newTestEnv(t, withClock(h.clock.Now), withIssuerClock(h.clock.Now),
		withStore(func(s store.Store) store.Store { h.st = &faultStore{Store: s}; return h.st }),
		withSeed(func(te *testEnv) { h.raw = te.raw; h.seed() }),
		withServer(func(c *server.Config) { c.Refresher, c.Limits, c.KDCProxy = h.dir, limits, proxy }))
	h.db = filepath.Join(te.dir, "passkdc.db")
	h.handler, h.url, h.hook = te.handler, te.url, te.hook
	return h
}

func (h *hostile) seed() {
	t, ctx := h.t, h.ctx
	for _, g := range []store.Group{
		{Anchor: "g-allowed", Name: "Allowed RODC Password Replication Group", SID: domainSID + "-571", Directory: "default"},
		{Anchor: "g-denied", Name: "Denied RODC Password Replication Group", SID: domainSID + "-572", Directory: "default"},
	} {
		_, err := h.raw.UpsertGroup(ctx, g)
		mustTB(t, err)
	}
	for i, name := range []string{"alice", "bob", "root", "carol", "dave"} {
		p := store.Principal{Anchor: fmt.Sprintf("0b7e6f4c-2a1d-4c3b-9e8f-00000000000%d", i+1), Directory: "default",
			Name: name, Realm: realm, SID: fmt.Sprintf("%s-%d", domainSID, 1200+i), Enabled: true, SyncedAt: h.clock.Now()}
		_, err := h.raw.UpsertPrincipal(ctx, p)
		mustTB(t, err)
		groups := []string{"g-allowed"}
		if name == "root" {
			groups = append(groups, "g-denied")
		}
		mustTB(t, h.raw.SetMemberships(ctx, p.Anchor, groups))
		h.users[name] = p
	}
}

// fakeKey is a test authenticator whose every output can be bent.
type fakeKey struct {
	key    *ecdsa.PrivateKey
	id     []byte
	handle []byte
	count  uint32
}

func newFakeKey(t testing.TB) *fakeKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustTB(t, err)
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &fakeKey{key: k, id: id}
}

// bend changes one thing in a response.
type bend struct {
	origin, rpID, typ, challenge string
	tokenBinding                 any
	flags                        byte // 0: UP|UV
	count                        *uint32
	badSig                       bool
	noHandle                     bool
	handle                       []byte
	crossOrigin                  bool
}

const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

func enc64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func authData(rpID string, flags byte, count uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, count)
	return append(out, attested...)
}

func clientData(typ, challenge, origin string, b bend) []byte {
	m := map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": b.crossOrigin}
	if b.tokenBinding != nil {
		m["tokenBinding"] = b.tokenBinding
	}
	out, _ := json.Marshal(m)
	return out
}

func (b bend) or(origin, rpID, typ, challenge string) (string, string, string, string) {
	if b.origin != "" {
		origin = b.origin
	}
	if b.rpID != "" {
		rpID = b.rpID
	}
	if b.typ != "" {
		typ = b.typ
	}
	if b.challenge != "" {
		challenge = b.challenge
	}
	return origin, rpID, typ, challenge
}

func (k *fakeKey) cose() []byte {
	raw, _ := k.key.PublicKey.ECDH()
	p := raw.Bytes()
	enc, _ := cbor.CoreDetEncOptions().EncMode()
	out, _ := enc.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: p[1:33], -3: p[33:65]})
	return out
}

// attest answers registration options (attestation "none").
func (k *fakeKey) attest(opts beginOpts, b bend) []byte {
	origin, rpID, typ, challenge := b.or(badOrigin, opts.PublicKey.RP.ID, "webauthn.create", opts.PublicKey.Challenge)
	k.handle = opts.PublicKey.User.handle()
	attested := append([]byte(nil), make([]byte, 16)...) // zero AAGUID
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(append(attested, k.id...), k.cose()...)
	flags := b.flags
	if flags == 0 {
		flags = flagUP | flagUV
	}
	att, _ := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{},
		"authData": authData(rpID, flags|flagAT, 0, attested)})
	out, _ := json.Marshal(map[string]any{"id": enc64(k.id), "rawId": enc64(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": enc64(clientData(typ, challenge, origin, b)), "attestationObject": enc64(att)}})
	return out
}

// assert answers sign-in options; the counter goes up unless bent.
func (k *fakeKey) assert(challenge string, b bend) []byte {
	origin, rpID, typ, challenge := b.or(badOrigin, "localhost", "webauthn.get", challenge)
	k.count++
	count := k.count
	if b.count != nil {
		count = *b.count
	}
	flags := b.flags
	if flags == 0 {
		flags = flagUP | flagUV
	}
	ad := authData(rpID, flags, count, nil)
	cd := clientData(typ, challenge, origin, b)
	cdh := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte(nil), ad...), cdh[:]...))
	sig, _ := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if b.badSig {
		sig[len(sig)-1] ^= 0x01
	}
	resp := map[string]any{"clientDataJSON": enc64(cd), "authenticatorData": enc64(ad), "signature": enc64(sig)}
	switch {
	case b.handle != nil:
		resp["userHandle"] = enc64(b.handle)
	case !b.noHandle:
		resp["userHandle"] = enc64(k.handle)
	}
	out, _ := json.Marshal(map[string]any{"id": enc64(k.id), "rawId": enc64(k.id), "type": "public-key", "response": resp})
	return out
}

type userEntity struct {
	ID json.RawMessage `json:"id"`
}

func (u userEntity) handle() []byte {
	var s string
	if json.Unmarshal(u.ID, &s) == nil {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err == nil {
			return b
		}
	}
	return nil
}

type beginOpts struct {
	Session   string `json:"session"`
	PublicKey struct {
		Challenge string              `json:"challenge"`
		RP        struct{ ID string } `json:"rp"`
		User      userEntity          `json:"user"`
	} `json:"publicKey"`
}

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) code() string {
	var e struct{ Error, Message string }
	_ = json.Unmarshal(a.body, &e)
	return e.Error
}

func (h *hostile) send(method, path, auth, ctype string, body []byte) answer {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	mustTB(h.t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	mustTB(h.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (h *hostile) post(path string, v any) answer {
	h.t.Helper()
	b, err := json.Marshal(v)
	mustTB(h.t, err)
	return h.send(http.MethodPost, path, "", "application/json", b)
}

var bindingKey = enc64(append([]byte{9}, make([]byte, 31)...))

// beginLogin starts a sign-in (principal "" is discoverable).
func (h *hostile) beginLogin(principal string) beginOpts {
	h.t.Helper()
	req := map[string]string{"binding_key": bindingKey}
	if principal != "" {
		req["principal"] = principal
	}
	a := h.post("/v1/login/begin", req)
	if a.status != http.StatusOK {
		h.t.Fatalf("login begin: %d %s", a.status, a.body)
	}
	var o beginOpts
	mustTB(h.t, json.Unmarshal(a.body, &o))
	return o
}

// newTAP stores a pass for user with uses uses and returns it.
func (h *hostile) newTAP(user string, uses int) string {
	h.t.Helper()
	pass := fmt.Sprintf("PASS-%s-%d", user, time.Now().UnixNano())
	mustTB(h.t, h.raw.CreateTAP(h.ctx, store.TAP{ID: pass, Principal: h.users[user].Anchor, Hash: server.HashTAP(pass),
		UsesLeft: uses, CreatedAt: h.clock.Now(), ExpiresAt: h.clock.Now().Add(time.Hour)}))
	return pass
}

func (h *hostile) registerBeginWith(pass string) answer {
	h.t.Helper()
	return h.send(http.MethodPost, "/v1/register/begin", "Bearer "+pass, "application/json", []byte("{}"))
}

// sendFrom runs one POST through the handler as if from remote (host:port).
func (h *hostile) sendFrom(remote, path, auth string, body []byte) answer {
	h.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return answer{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func (h *hostile) beginRegister(user string) beginOpts {
	h.t.Helper()
	a := h.registerBeginWith(h.newTAP(user, 1))
	if a.status != http.StatusOK {
		h.t.Fatalf("register begin: %d %s", a.status, a.body)
	}
	var o beginOpts
	mustTB(h.t, json.Unmarshal(a.body, &o))
	return o
}

func finish(session string, cred []byte) map[string]any {
	return map[string]any{"session": session, "credential": json.RawMessage(cred)}
}

// register enrols a new passkey for user through the API.
func (h *hostile) register(user string) *fakeKey {
	h.t.Helper()
	k := newFakeKey(h.t)
	o := h.beginRegister(user)
	if a := h.post("/v1/register/finish", finish(o.Session, k.attest(o, bend{}))); a.status != http.StatusOK {
		h.t.Fatalf("register %s: %d %s", user, a.status, a.body)
	}
	return k
}

// login signs in with k and requires a ticket.
func (h *hostile) login(k *fakeKey) {
	h.t.Helper()
	o := h.beginLogin("")
	if a := h.post("/v1/login/finish", finish(o.Session, k.assert(o.PublicKey.Challenge, bend{}))); a.status != http.StatusOK {
		h.t.Fatalf("login: %d %s", a.status, a.body)
	}
}

// snapshot is every row of every table but the audit trail.
func (h *hostile) snapshot() map[string]string {
	h.t.Helper()
	db, err := sql.Open("sqlite", "file:"+h.db+"?mode=ro")
	mustTB(h.t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' AND name <> 'audit'`)
	mustTB(h.t, err)
	var tables []string
	for rows.Next() {
		var n string
		mustTB(h.t, rows.Scan(&n))
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string]string{}
	for _, tb := range tables {
		r, err := db.Query(`SELECT * FROM "` + tb + `"`)
		mustTB(h.t, err)
		cols, _ := r.Columns()
		for r.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			mustTB(h.t, r.Scan(ptrs...))
			key := fmt.Sprintf("%s/%v", tb, vals[0])
			out[key] = fmt.Sprintf("%v", vals)
		}
		r.Close()
	}
	return out
}

// diff lists the keys whose rows differ.
func diff(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (h *hostile) auditCount() int {
	recs, err := h.raw.ListAudit(h.ctx, 0, 0)
	mustTB(h.t, err)
	return len(recs)
}

// badCase is one hostile request. prep runs first (it may start ceremonies,
// which are audited on their own) and returns the request to judge.
type badCase struct {
	name   string
	prep   func(h *hostile) req
	status int
	code   string
	// allowed store changes besides the audit record: the session the request
	// named is burnt, and a verified assertion refused afterwards by policy
	// records the credential's use (so the signature cannot be replayed).
	burns    bool
	usesCred string // user whose passkey's use is recorded
	// fault is the store mode during the request; the audit record then
	// cannot be stored and only the audit log line exists.
	fault int32
}

type req struct {
	method, path, auth, ctype string
	body                      []byte
	session                   string
}

func jsonReq(path string, v any) req {
	b, _ := json.Marshal(v)
	return req{method: http.MethodPost, path: path, ctype: "application/json", body: b}
}

func loginFinish(o beginOpts, cred []byte) req {
	r := jsonReq("/v1/login/finish", finish(o.Session, cred))
	r.session = o.Session
	return r
}

func regFinish(o beginOpts, cred []byte) req {
	r := jsonReq("/v1/register/finish", finish(o.Session, cred))
	r.session = o.Session
	return r
}

func raw(path, body string) req {
	return req{method: http.MethodPost, path: path, ctype: "application/json", body: []byte(body)}
}

// mutate edits the JSON of a WebAuthn response.
func mutate(cred []byte, fn func(m map[string]any)) []byte {
	var m map[string]any
	_ = json.Unmarshal(cred, &m)
	fn(m)
	out, _ := json.Marshal(m)
	return out
}

func setResponse(field string, v any) func(map[string]any) {
	return func(m map[string]any) { m["response"].(map[string]any)[field] = v }
}

func u32(v uint32) *uint32 { return &v }

func badCases() []badCase {
	const (
		lf = "/v1/login/finish"
		lb = "/v1/login/begin"
		rf = "/v1/register/finish"
		rb = "/v1/register/begin"
	)
	alice := func(h *hostile) *fakeKey { return h.keys["alice"] }
	// good assertion by alice for a fresh discoverable session, then bent.
	login := func(b bend) func(h *hostile) req {
		return func(h *hostile) req {
			o := h.beginLogin("")
			return loginFinish(o, alice(h).assert(o.PublicKey.Challenge, b))
		}
	}
	loginMut := func(fn func(map[string]any)) func(h *hostile) req {
		return func(h *hostile) req {
			o := h.beginLogin("")
			return loginFinish(o, mutate(alice(h).assert(o.PublicKey.Challenge, bend{}), fn))
		}
	}
	reg := func(b bend) func(h *hostile) req {
		return func(h *hostile) req {
			o := h.beginRegister("bob")
			return regFinish(o, newFakeKey(h.t).attest(o, b))
		}
	}
	regMut := func(fn func(map[string]any)) func(h *hostile) req {
		return func(h *hostile) req {
			o := h.beginRegister("bob")
			return regFinish(o, mutate(newFakeKey(h.t).attest(o, bend{}), fn))
		}
	}
	static := func(r req) func(*hostile) req { return func(*hostile) req { return r } }
	huge := `{"session":"` + strings.Repeat("A", 70<<10) + `"}`
	return []badCase{
		// Malformed and oversized JSON, wrong types.
		{name: "login finish empty body", prep: static(raw(lf, "")), status: 400, code: "malformed_request"},
		{name: "login finish not JSON", prep: static(raw(lf, "{session")), status: 400, code: "malformed_request"},
		{name: "login finish JSON array", prep: static(raw(lf, "[]")), status: 400, code: "malformed_request"},
		{name: "login finish trailing data", prep: static(raw(lf, `{"session":"x"}{}`)), status: 400, code: "malformed_request"},
		{name: "login finish unknown field", prep: static(raw(lf, `{"session":"x","admin":true}`)), status: 400, code: "malformed_request"},
		{name: "login finish session is a number", prep: static(raw(lf, `{"session":42,"credential":{}}`)), status: 400, code: "malformed_request"},
		{name: "login finish oversized", prep: static(raw(lf, huge)), status: 413, code: "request_too_large"},
		{name: "login finish wrong content type", prep: static(req{method: "POST", path: lf, ctype: "text/plain", body: []byte(`{}`)}), status: 415, code: "malformed_request"},
		{name: "login begin oversized", prep: static(raw(lb, huge)), status: 413, code: "request_too_large"},
		{name: "login begin binding key is a number", prep: static(raw(lb, `{"binding_key":7}`)), status: 400, code: "malformed_request"},
		{name: "login begin binding key not base64", prep: static(raw(lb, `{"binding_key":"***"}`)), status: 400, code: "invalid_binding_key"},
		{name: "login begin binding key all zero", prep: static(jsonReq(lb, map[string]string{"binding_key": enc64(make([]byte, 32))})), status: 400, code: "invalid_binding_key"},
		{name: "login begin binding key short", prep: static(jsonReq(lb, map[string]string{"binding_key": enc64(make([]byte, 7))})), status: 400, code: "invalid_binding_key"},
		{name: "login begin other realm", prep: static(jsonReq(lb, map[string]string{"binding_key": bindingKey, "principal": "alice@EVIL.TEST"})), status: 400, code: "wrong_realm"},
		{name: "register finish oversized", prep: static(raw(rf, huge)), status: 413, code: "request_too_large"},
		{name: "register finish not JSON", prep: static(raw(rf, "nope")), status: 400, code: "malformed_request"},
		{name: "register begin without pass", prep: static(raw(rb, "{}")), status: 401, code: "tap_required"},
		{name: "register begin unknown pass", prep: static(req{method: "POST", path: rb, auth: "Bearer NOPE-NOPE", ctype: "application/json", body: []byte("{}")}), status: 401, code: "tap_invalid"},
		// Malformed WebAuthn: base64, CBOR, JSON inside.
		{name: "credential id not base64", prep: loginMut(func(m map[string]any) { m["id"], m["rawId"] = "!!!", "!!!" }), status: 400, code: "malformed_request"},
		{name: "clientDataJSON not base64", prep: loginMut(setResponse("clientDataJSON", "%%%")), status: 400, code: "malformed_request"},
		{name: "clientDataJSON not JSON", prep: loginMut(setResponse("clientDataJSON", enc64([]byte("{{{")))), status: 400, code: "malformed_request"},
		{name: "authenticatorData truncated", prep: loginMut(setResponse("authenticatorData", enc64(make([]byte, 20)))), status: 400, code: "malformed_request"},
		{name: "signature not base64", prep: loginMut(setResponse("signature", "@@")), status: 400, code: "malformed_request"},
		{name: "credential type password", prep: loginMut(func(m map[string]any) { m["type"] = "password" }), status: 400, code: "malformed_request"},
		{name: "response is a string", prep: loginMut(func(m map[string]any) { m["response"] = "x" }), status: 400, code: "malformed_request"},
		{name: "attestation object not CBOR", prep: regMut(setResponse("attestationObject", enc64([]byte{0xff, 0x00, 0x13}))), status: 400, code: "malformed_request"},
		{name: "attestation object truncated CBOR", prep: regMut(func(m map[string]any) {
			r := m["response"].(map[string]any)
			b, _ := base64.RawURLEncoding.DecodeString(r["attestationObject"].(string))
			r["attestationObject"] = enc64(b[:len(b)/2])
		}), status: 400, code: "malformed_request"},
		// Sessions.
		{name: "unknown session", prep: func(h *hostile) req {
			o := h.beginLogin("")
			c := alice(h).assert(o.PublicKey.Challenge, bend{})
			o.Session = enc64(make([]byte, 32))
			return loginFinish(o, c)
		}, status: 401, code: "unknown_session"},
		{name: "empty session", prep: func(h *hostile) req {
			o := h.beginLogin("")
			c := alice(h).assert(o.PublicKey.Challenge, bend{})
			o.Session = ""
			return loginFinish(o, c)
		}, status: 401, code: "unknown_session"},
		{name: "reused session", prep: func(h *hostile) req {
			o := h.beginLogin("")
			if a := h.post(lf, finish(o.Session, alice(h).assert(o.PublicKey.Challenge, bend{}))); a.status != 200 {
				h.t.Fatalf("first use: %d %s", a.status, a.body)
			}
			return loginFinish(o, alice(h).assert(o.PublicKey.Challenge, bend{}))
		}, status: 401, code: "unknown_session"},
		{name: "expired session", prep: func(h *hostile) req {
			o := h.beginLogin("")
			h.clock.Advance(assertion.DefaultSessionTTL + time.Second)
			return loginFinish(o, alice(h).assert(o.PublicKey.Challenge, bend{}))
		}, status: 401, code: "session_expired", burns: true},
		{name: "registration session used for sign-in", prep: func(h *hostile) req {
			o := h.beginRegister("bob")
			lo := h.beginLogin("")
			return loginFinish(o, alice(h).assert(lo.PublicKey.Challenge, bend{}))
		}, status: 401, code: "unknown_session"},
		{name: "challenge from another session", prep: func(h *hostile) req {
			a, b := h.beginLogin(""), h.beginLogin("")
			return loginFinish(a, alice(h).assert(b.PublicKey.Challenge, bend{}))
		}, status: 401, code: "challenge_mismatch", burns: true},
		{name: "expired registration session", prep: func(h *hostile) req {
			o := h.beginRegister("bob")
			h.clock.Advance(assertion.DefaultSessionTTL + time.Second)
			return regFinish(o, newFakeKey(h.t).attest(o, bend{}))
		}, status: 401, code: "session_expired", burns: true},
		// Client data and authenticator data.
		{name: "wrong origin", prep: login(bend{origin: "https://evil.example"}), status: 401, code: "origin_mismatch", burns: true},
		{name: "origin with other port", prep: login(bend{origin: "https://localhost:9443"}), status: 401, code: "origin_mismatch", burns: true},
		{name: "cross-origin iframe", prep: login(bend{crossOrigin: true}), status: 401, code: "origin_mismatch", burns: true},
		{name: "wrong RP ID", prep: login(bend{rpID: "evil.example"}), status: 401, code: "rp_id_mismatch", burns: true},
		{name: "wrong ceremony type", prep: login(bend{typ: "webauthn.create"}), status: 401, code: "ceremony_type_mismatch", burns: true},
		{name: "tokenBinding present with unknown status", prep: login(bend{tokenBinding: map[string]string{"status": "bogus"}}), status: 401, code: "verification_failed", burns: true},
		{name: "tokenBinding not an object", prep: login(bend{tokenBinding: "present"}), status: 400, code: "malformed_request"},
		{name: "bad signature", prep: login(bend{badSig: true}), status: 401, code: "bad_signature", burns: true},
		{name: "user presence missing", prep: login(bend{flags: flagUV}), status: 401, code: "up_required", burns: true},
		{name: "user verification missing", prep: login(bend{flags: flagUP}), status: 401, code: "uv_required", burns: true},
		{name: "counter regression", prep: func(h *hostile) req {
			h.login(alice(h))
			o := h.beginLogin("")
			return loginFinish(o, alice(h).assert(o.PublicKey.Challenge, bend{count: u32(1)}))
		}, status: 401, code: "counter_regression", burns: true},
		{name: "counter replayed (equal)", prep: func(h *hostile) req {
			h.login(alice(h))
			o := h.beginLogin("")
			return loginFinish(o, alice(h).assert(o.PublicKey.Challenge, bend{count: u32(alice(h).count)}))
		}, status: 401, code: "counter_regression", burns: true},
		{name: "registration wrong origin", prep: reg(bend{origin: "https://evil.example"}), status: 401, code: "origin_mismatch", burns: true},
		{name: "registration wrong RP ID", prep: reg(bend{rpID: "evil.example"}), status: 401, code: "rp_id_mismatch", burns: true},
		{name: "registration without UV", prep: reg(bend{flags: flagUP}), status: 401, code: "uv_required", burns: true},
		{name: "registration of an existing credential", prep: func(h *hostile) req {
			o := h.beginRegister("bob")
			k := newFakeKey(h.t)
			k.id = alice(h).id
			return regFinish(o, k.attest(o, bend{}))
		}, status: 409, code: "credential_exists", burns: true},
		// Credentials.
		{name: "unknown credential", prep: func(h *hostile) req {
			o := h.beginLogin("")
			k := newFakeKey(h.t)
			k.handle = h.keys["alice"].handle
			return loginFinish(o, k.assert(o.PublicKey.Challenge, bend{}))
		}, status: 401, code: "unknown_credential", burns: true},
		{name: "revoked credential", prep: func(h *hostile) req {
			o := h.beginLogin("")
			return loginFinish(o, h.revoked.assert(o.PublicKey.Challenge, bend{}))
		}, status: 401, code: "credential_revoked", burns: true},
		{name: "other user's credential under a hint", prep: func(h *hostile) req {
			o := h.beginLogin("alice")
			return loginFinish(o, h.keys["bob"].assert(o.PublicKey.Challenge, bend{}))
		}, status: 401, code: "principal_mismatch", burns: true},
		{name: "user handle of another user", prep: func(h *hostile) req {
			o := h.beginLogin("")
			return loginFinish(o, alice(h).assert(o.PublicKey.Challenge, bend{handle: h.keys["bob"].handle}))
		}, status: 401, code: "user_handle_mismatch", burns: true},
		{name: "discoverable without user handle", prep: login(bend{noHandle: true}), status: 401, code: "user_handle_mismatch", burns: true},
		// Principals.
		{name: "disabled principal", prep: func(h *hostile) req {
			p := h.users["carol"]
			p.Enabled = false
			_, err := h.raw.UpsertPrincipal(h.ctx, p)
			mustTB(h.t, err)
			o := h.beginLogin("")
			return loginFinish(o, h.keys["carol"].assert(o.PublicKey.Challenge, bend{}))
		}, status: 403, code: "principal_disabled", burns: true},
		{name: "deleted principal", prep: func(h *hostile) req {
			p := h.users["dave"]
			p.Deleted = true
			_, err := h.raw.UpsertPrincipal(h.ctx, p)
			mustTB(h.t, err)
			o := h.beginLogin("")
			return loginFinish(o, h.keys["dave"].assert(o.PublicKey.Challenge, bend{}))
		}, status: 403, code: "principal_deleted", burns: true},
		{name: "never-reveal principal", prep: func(h *hostile) req {
			o := h.beginLogin("")
			return loginFinish(o, h.keys["root"].assert(o.PublicKey.Challenge, bend{}))
		}, status: 403, code: issuer.CodeReplicationPolicy, burns: true, usesCred: "root"},
		{name: "directory down beyond max_staleness", prep: func(h *hostile) req {
			h.dir.down.Store(true)
			o := h.beginLogin("")
			return loginFinish(o, alice(h).assert(o.PublicKey.Challenge, bend{}))
		}, status: 503, code: issuer.CodeDirectory, burns: true, usesCred: "alice"},
		// Store faults.
		{name: "store locked at sign-in finish", prep: login(bend{}), status: 500, code: "internal_error", fault: storeLocked},
		{name: "store read-only at registration begin", prep: func(h *hostile) req {
			pass := "PASS-RO-" + fmt.Sprint(time.Now().UnixNano())
			mustTB(h.t, h.raw.CreateTAP(h.ctx, store.TAP{ID: pass, Principal: h.users["bob"].Anchor, Hash: server.HashTAP(pass),
				UsesLeft: 1, CreatedAt: h.clock.Now(), ExpiresAt: h.clock.Now().Add(time.Hour)}))
			return req{method: "POST", path: rb, auth: "Bearer " + pass, ctype: "application/json", body: []byte("{}")}
		}, status: 503, code: "store_unavailable", fault: storeReadOnly},
	}
}

// TestBadInputIsRefusedAuditedAndChangesNothing sends each hostile request to
// a fresh server and checks the status, the stable code, exactly one audit
// record (one audit log line; stored unless the store itself is failing), no
// ticket in the answer and no change to the store besides the audit trail,
// the burnt session and, after a verified assertion, the credential's use.
func TestBadInputIsRefusedAuditedAndChangesNothing(t *testing.T) {
	cases := badCases()
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHostile(t, server.Limits{PerAddressPerMinute: 1 << 20, PerAddressBurst: 1 << 20,
				PerPrincipalPerMinute: 1 << 20, PerPrincipalBurst: 1 << 20})
			for _, u := range []string{"alice", "bob", "root", "carol", "dave"} {
				h.keys[u] = h.register(u)
			}
			h.revoked = h.register("alice")
			mustTB(t, h.raw.RevokeCredential(h.ctx, h.revoked.id, h.clock.Now()))
			r := tc.prep(h)
			h.judge(tc, r)
		})
	}
}

func (h *hostile) judge(tc badCase, r req) {
	t := h.t
	before, audits := h.snapshot(), h.auditCount()
	h.hook.Reset()
	h.st.mode.Store(tc.fault)
	a := h.send(r.method, r.path, r.auth, r.ctype, r.body)
	h.st.mode.Store(storeOK)
	if a.status != tc.status || a.code() != tc.code {
		t.Fatalf("answer %d %s, want %d %s", a.status, a.body, tc.status, tc.code)
	}
	if bytes.Contains(a.body, []byte("krb_cred")) || bytes.Contains(a.body, []byte("server_key")) {
		t.Fatalf("a refusal carries a ticket: %s", a.body)
	}
	var lines []*logrus.Entry
	for _, e := range h.hook.AllEntries() {
		if e.Data["audit"] == true {
			lines = append(lines, e)
		}
	}
	if len(lines) != 1 || lines[0].Data["reason"] != tc.code || lines[0].Data["result"] == "ok" {
		t.Fatalf("%d audit log lines (%v), want one refusal with reason %s", len(lines), lines, tc.code)
	}
	recs, err := h.raw.ListAudit(h.ctx, 0, 0)
	mustTB(t, err)
	wantStored := 1
	if tc.fault != storeOK {
		wantStored = 0 // the store refuses the record too: the log line is the audit
	}
	if got := len(recs) - audits; got != wantStored {
		t.Fatalf("%d new audit records, want %d", got, wantStored)
	}
	if wantStored == 1 {
		last := recs[len(recs)-1]
		if last.Reason != tc.code || last.Result == "ok" || last.Remote != "127.0.0.1" {
			t.Fatalf("audit record %+v", last)
		}
	}
	h.checkUnchanged(tc, r, before)
}

func (h *hostile) checkUnchanged(tc badCase, r req, before map[string]string) {
	after := h.snapshot()
	challenges := 0
	for _, k := range diff(before, after) {
		switch {
		case tc.burns && strings.HasPrefix(k, "consumed_challenges/") && before[k] == "":
			challenges++ // a sign-in's challenge is used up (a sealed session)
		case tc.burns && k == "sessions/"+r.session:
			if _, still := after[k]; still {
				h.t.Fatalf("session %s changed but was not consumed", r.session)
			}
		case tc.usesCred != "" && k == fmt.Sprintf("credentials/%v", h.keys[tc.usesCred].id):
		default:
			h.t.Errorf("store changed: %s\n before %s\n after  %s", k, before[k], after[k])
		}
	}
	if challenges > 1 {
		h.t.Errorf("%d challenges consumed by one request", challenges)
	}
	if !tc.burns && r.session != "" && before["sessions/"+r.session] != "" && after["sessions/"+r.session] == "" {
		h.t.Errorf("session burnt by a request refused before it was read")
	}
}

func mustTB(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
