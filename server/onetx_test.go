package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/passkdc/passkdc/kdc/binding"
	"github.com/passkdc/passkdc/store"
)

// txCounter counts the store's transactions: WithTx calls and standalone
// writes (each a transaction of its own).
type txCounter struct {
	store.Store
	mu     sync.Mutex
	txs    int
	writes int
}

func (c *txCounter) count(tx bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tx {
		c.txs++
	} else {
		c.writes++
	}
}

func (c *txCounter) reset() (txs, writes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	txs, writes = c.txs, c.writes
	c.txs, c.writes = 0, 0
	return txs, writes
}

func (c *txCounter) WithTx(ctx context.Context, fn func(store.Tx) error) error {
	c.count(true)
	return c.Store.WithTx(ctx, fn)
}

func (c *txCounter) CreateSession(ctx context.Context, s store.Session) error {
	c.count(false)
	return c.Store.CreateSession(ctx, s)
}

func (c *txCounter) ConsumeSession(ctx context.Context, id, kind string, now time.Time) (store.Session, error) {
	c.count(false)
	return c.Store.ConsumeSession(ctx, id, kind, now)
}

func (c *txCounter) UpdateCredentialUse(ctx context.Context, id []byte, o, n uint32, bs bool, at time.Time) error {
	c.count(false)
	return c.Store.UpdateCredentialUse(ctx, id, o, n, bs, at)
}

func (c *txCounter) AppendAudit(ctx context.Context, r store.AuditRecord) (int64, error) {
	c.count(false)
	return c.Store.AppendAudit(ctx, r)
}

// TestSignInIsOneStoreTransactionPerRequest: login/begin writes nothing (its
// session is a sealed challenge), login/finish consumes the challenge,
// records the credential use and writes the audit record in one, and a
// refused finish (a replayed session, a bad signature) is one transaction
// too. Each decision leaves exactly one audit record.
func TestSignInIsOneStoreTransactionPerRequest(t *testing.T) {
	var c *txCounter
	bs := newBenchServer(t, func(s store.Store) store.Store { c = &txCounter{Store: s}; return c })
	db := c.Store
	audits := func() int {
		recs, err := db.ListAudit(context.Background(), 0, 0)
		mustTB(t, err)
		return len(recs)
	}
	begin := func() (string, protocol.PublicKeyCredentialRequestOptions) {
		bk, err := binding.Generate()
		mustTB(t, err)
		body, _ := json.Marshal(map[string]string{"binding_key": b64u(bk.Public())})
		var out struct {
			Session   string                                     `json:"session"`
			PublicKey protocol.PublicKeyCredentialRequestOptions `json:"publicKey"`
		}
		bs.post(t, "/v1/login/begin", "", body, &out)
		return out.Session, out.PublicKey
	}
	finishBody := func(session string, opts protocol.PublicKeyCredentialRequestOptions, corrupt bool) []byte {
		cred, err := bs.key.Assert(opts, benchOrigin)
		mustTB(t, err)
		var m map[string]any
		mustTB(t, json.Unmarshal(cred, &m))
		if corrupt {
			m["response"].(map[string]any)["signature"] = b64u([]byte("not a signature"))
		}
		body, _ := json.Marshal(map[string]any{"session": session, "credential": m})
		return body
	}
	check := func(step string, wantStatus, status, wantAudits, before int) {
		t.Helper()
		if status != wantStatus {
			t.Fatalf("%s: HTTP %d, want %d", step, status, wantStatus)
		}
		txs, writes := c.reset()
		if wantTxs := min(wantAudits, 1); txs != wantTxs || writes != 0 {
			t.Fatalf("%s: %d transactions and %d standalone writes, want one transaction", step, txs, writes)
		}
		if got := audits() - before; got != wantAudits {
			t.Fatalf("%s: %d audit records, want %d", step, got, wantAudits)
		}
	}

	c.reset()
	n := audits()
	sid, opts := begin()
	check("begin", http.StatusOK, http.StatusOK, 0, n)
	body := finishBody(sid, opts, false)
	n = audits()
	check("finish", http.StatusOK, bs.send("/v1/login/finish", "", body, nil), 1, n)
	n = audits()
	check("replayed finish", http.StatusUnauthorized, bs.send("/v1/login/finish", "", body, nil), 1, n)

	sid, opts = begin()
	c.reset()
	n = audits()
	check("finish with a bad signature", http.StatusUnauthorized, bs.send("/v1/login/finish", "", finishBody(sid, opts, true), nil), 1, n)
	if code := bs.send("/v1/login/finish", "", finishBody(sid, opts, false), nil); code != http.StatusUnauthorized {
		t.Fatalf("the session survived a refused finish: HTTP %d", code)
	}
}
