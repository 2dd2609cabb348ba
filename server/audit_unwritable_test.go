package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/jackc/pgx/v5"

	"github.com/passkdc/passkdc/integration/pgtest"
	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/kdc/binding"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/postgres"
	"github.com/passkdc/passkdc/store/sqlite"
)

// auditBackend is a real store whose audit table a trigger can make
// unwritable (an INSERT fails as on a table whose INSERT right was revoked;
// a trigger also stops a superuser, which a REVOKE does not).
type auditBackend struct {
	name string
	open func(t *testing.T) (st store.Store, deny func(on bool))
}

func sqliteAuditBackend(t *testing.T) (store.Store, func(bool)) {
	path := filepath.Join(t.TempDir(), "passkdc.db")
	st, err := sqlite.Open(t.Context(), path)
	mustTB(t, err)
	t.Cleanup(func() { st.Close() })
	db, err := sql.Open("sqlite", path)
	mustTB(t, err)
	t.Cleanup(func() { db.Close() })
	return st, func(on bool) {
		q := `DROP TRIGGER IF EXISTS deny_audit`
		if on {
			q = `CREATE TRIGGER deny_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit is not writable'); END`
		}
		_, err := db.ExecContext(context.Background(), q)
		mustTB(t, err)
	}
}

func postgresAuditBackend(t *testing.T) (store.Store, func(bool)) {
	srv := pgtest.Start(t)
	url := srv.NewSchema(t)
	st, err := postgres.Open(t.Context(), url)
	mustTB(t, err)
	t.Cleanup(func() { st.Close() })
	conn, err := pgx.Connect(t.Context(), url)
	mustTB(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(t.Context(), `CREATE FUNCTION deny_audit() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'audit is not writable'; END $$`)
	mustTB(t, err)
	return st, func(on bool) {
		q := `DROP TRIGGER IF EXISTS deny_audit ON audit`
		if on {
			q = `CREATE TRIGGER deny_audit BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION deny_audit()`
		}
		_, err := conn.Exec(context.Background(), q)
		mustTB(t, err)
	}
}

// TestUnwritableAuditLeavesNothing, on a real SQLite file and a real
// PostgreSQL: with the audit table unwritable, register/begin,
// register/finish and login/finish answer 503 and leave no credential, no
// spent pass, no new or consumed session and no moved counter; the same
// finishes succeed once the table is writable again.
func TestUnwritableAuditLeavesNothing(t *testing.T) {
	for _, b := range []auditBackend{{"sqlite", sqliteAuditBackend}, {"postgres", postgresAuditBackend}} {
		t.Run(b.name, func(t *testing.T) {
			var db store.Store
			var deny func(bool)
			bs := newBenchServer(t, func(store.Store) store.Store { db, deny = b.open(t); return db })
			ctx := t.Context()
			alice, err := db.GetPrincipalByName(ctx, realm, "alice")
			mustTB(t, err)
			mustTB(t, db.CreateTAP(ctx, store.TAP{ID: "t2", Principal: alice.Anchor, Hash: server.HashTAP("SECOND"),
				UsesLeft: 1, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))
			uses := func() int {
				taps, err := db.ListTAPs(ctx, alice.Anchor)
				mustTB(t, err)
				for _, tp := range taps {
					if tp.ID == "t2" {
						return tp.UsesLeft
					}
				}
				t.Fatal("pass t2 is gone")
				return -1
			}
			counters := func() map[string]uint32 {
				cs, err := db.ListCredentials(ctx, "")
				mustTB(t, err)
				out := map[string]uint32{}
				for _, c := range cs {
					out[string(c.ID)] = c.SignCount
				}
				return out
			}
			sessions := func() int {
				n, err := db.CountSessions(ctx, "", "", time.Now())
				mustTB(t, err)
				return n
			}

			// Ceremonies begun while the audit is writable.
			var reg regBegin
			a := bs.answer("/v1/register/begin", "Bearer SECOND", map[string]string{})
			mustTB(t, json.Unmarshal(a.body, &reg))
			key, err := softkey.Open(filepath.Join(t.TempDir(), "second.passkey"))
			mustTB(t, err)
			cred, err := key.Register(reg.PublicKey, benchOrigin)
			mustTB(t, err)
			regBody := map[string]any{"session": reg.Session, "credential": json.RawMessage(cred)}
			bk, err := binding.Generate()
			mustTB(t, err)
			var login struct {
				Session   string                                     `json:"session"`
				PublicKey protocol.PublicKeyCredentialRequestOptions `json:"publicKey"`
			}
			a = bs.answer("/v1/login/begin", "", map[string]string{"binding_key": b64u(bk.Public())})
			mustTB(t, json.Unmarshal(a.body, &login))
			asserted, err := bs.key.Assert(login.PublicKey, benchOrigin)
			mustTB(t, err)
			loginBody := map[string]any{"session": login.Session, "credential": json.RawMessage(asserted)}

			before, beforeSessions := counters(), sessions()
			deny(true)
			for _, step := range []struct {
				path, auth string
				body       any
			}{
				{"/v1/register/finish", "", regBody},
				{"/v1/login/finish", "", loginBody},
				{"/v1/register/begin", "Bearer SECOND", map[string]string{}},
			} {
				if a := bs.answer(step.path, step.auth, step.body); a.status != http.StatusServiceUnavailable {
					t.Fatalf("%s with the audit unwritable: %d %s", step.path, a.status, a.body)
				}
			}
			if u, c, s := uses(), counters(), sessions(); u != 1 || len(c) != len(before) || s != beforeSessions {
				t.Fatalf("after the refusals: pass uses %d, credentials %d (before %d), sessions %d (before %d)", u, len(c), len(before), s, beforeSessions)
			}
			for id, n := range before {
				if counters()[id] != n {
					t.Fatal("a sign counter moved")
				}
			}
			deny(false)
			if a := bs.answer("/v1/register/finish", "", regBody); a.status != http.StatusOK {
				t.Fatalf("register/finish once writable: %d %s", a.status, a.body)
			}
			if a := bs.answer("/v1/login/finish", "", loginBody); a.status != http.StatusOK {
				t.Fatalf("login/finish once writable: %d %s", a.status, a.body)
			}
			if uses() != 0 {
				t.Fatal("the registration did not spend the pass")
			}
		})
	}
}
