package postgres

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/pgtest"
	"github.com/passkdc/passkdc/store"
)

// testLazyBegin: a transaction starts with its first statement (BEGIN in
// the same flight as a hot statement, or alone before any other), and
// everything in it is still kept or undone as a whole.
func testLazyBegin(t *testing.T, srv *pgtest.Server) {
	s := openTest(t, srv.NewSchema(t))
	ctx := t.Context()
	_, err := s.UpsertPrincipal(ctx, store.Principal{Anchor: "a-1", Name: "alice", Realm: "R", Enabled: true})
	mustDo(t, "principal", err)
	cred := []byte("cred-1")
	mustDo(t, "credential", s.CreateCredential(ctx, store.Credential{ID: cred, Principal: "a-1", PublicKey: []byte{1}}))
	exp := time.Now().Add(time.Hour)
	errStop := errors.New("stop")
	counter := func() uint32 {
		c, err := s.GetCredential(ctx, cred)
		mustDo(t, "read credential", err)
		return c.SignCount
	}

	// Rolled back: the challenge, the counter and the audit record are not kept.
	var auditID int64
	err = s.WithTx(ctx, func(tx store.Tx) error {
		mustDo(t, "consume", tx.ConsumeChallenge(ctx, []byte("c1"), exp))
		mustDo(t, "count", tx.UpdateCredentialUse(ctx, cred, 0, 1, false, time.Now()))
		var err error
		auditID, err = tx.AppendAudit(ctx, store.AuditRecord{Event: "login", Result: "ok"})
		mustDo(t, "audit", err)
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("rolled back transaction: %v, want fn's error", err)
	}
	mustDo(t, "challenge after rollback", s.ConsumeChallenge(ctx, []byte("c1"), exp))
	if n := counter(); n != 0 {
		t.Errorf("counter after rollback: %d, want 0", n)
	}
	if _, err := s.GetAudit(ctx, auditID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("audit record after rollback: %v, want ErrNotFound", err)
	}

	// Committed, hot first statement and generic first statement alike.
	mustDo(t, "commit, hot first", s.WithTx(ctx, func(tx store.Tx) error {
		if err := tx.ConsumeChallenge(ctx, []byte("c2"), exp); err != nil {
			return err
		}
		return tx.UpdateCredentialUse(ctx, cred, 0, 1, false, time.Now())
	}))
	mustDo(t, "commit, generic first", s.WithTx(ctx, func(tx store.Tx) error {
		if _, err := tx.GetPrincipal(ctx, "a-1"); err != nil {
			return err
		}
		return tx.ConsumeChallenge(ctx, []byte("c3"), exp)
	}))
	for _, c := range []string{"c2", "c3"} {
		if err := s.ConsumeChallenge(ctx, []byte(c), exp); !errors.Is(err, store.ErrExists) {
			t.Errorf("challenge %s after commit: %v, want ErrExists", c, err)
		}
	}
	if n := counter(); n != 1 {
		t.Errorf("counter after commit: %d, want 1", n)
	}
	mustDo(t, "empty transaction", s.WithTx(ctx, func(store.Tx) error { return nil }))

	// A statement the server refused aborts the transaction: a commit
	// after it (fn ignoring the error) is refused and keeps nothing.
	_, err = s.pool.Exec(ctx, `CREATE FUNCTION deny_audit() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'audit is not writable'; END $$`)
	mustDo(t, "function", err)
	_, err = s.pool.Exec(ctx, `CREATE TRIGGER deny_audit BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION deny_audit()`)
	mustDo(t, "trigger", err)
	err = s.WithTx(ctx, func(tx store.Tx) error {
		mustDo(t, "consume before refusal", tx.ConsumeChallenge(ctx, []byte("c4"), exp))
		if _, err := tx.AppendAudit(ctx, store.AuditRecord{Event: "login", Result: "ok"}); err == nil {
			t.Error("append with the trigger: no error")
		}
		return nil
	})
	if err == nil {
		t.Error("commit after a refused statement: no error")
	}
	mustDo(t, "challenge after refused commit", s.ConsumeChallenge(ctx, []byte("c4"), exp))
}

// testHotDecoding: the credential read of the sign-in (binary, decoded by
// hand) returns what the generic read (pgx's scan) returns, for a
// credential with every field set and one with every optional field empty.
func testHotDecoding(t *testing.T, srv *pgtest.Server) {
	s := openTest(t, srv.NewSchema(t))
	ctx := t.Context()
	_, err := s.UpsertPrincipal(ctx, store.Principal{Anchor: "a-é", Name: "élise", Realm: "R", Enabled: true})
	mustDo(t, "principal", err)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, c := range []store.Credential{{
		ID: []byte("full"), Principal: "a-é", Name: "clé", PublicKey: make([]byte, 77), AttestationType: "basic",
		AttestationFmt: "packed", AAGUID: []byte("0123456789abcdef"), Transports: []string{"internal", "hybrid", "usb"},
		SignCount: 4294967295, BackupEligible: true, BackupState: true, UserVerified: true, Profile: "strict",
		CreatedAt: at, LastUsedAt: at.Add(time.Hour), RevokedAt: at.Add(2 * time.Hour),
		AttestationVerified: true, AttestationStatement: `{"x":1}`,
	}, {
		ID: []byte("bare"), Principal: "a-é",
	}} {
		mustDo(t, "create", s.CreateCredential(ctx, c))
		want, err := s.GetCredential(ctx, c.ID)
		mustDo(t, "generic read", err)
		got, mark, err := s.GetCredentialAndMarker(ctx, c.ID)
		mustDo(t, "hot read", err)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("hot read of %s:\n got %+v\nwant %+v", c.ID, got, want)
		}
		if m, err := s.ChangeMarker(ctx); err != nil || m != mark.Directory {
			t.Errorf("marker: hot read %d, ChangeMarker %d, %v", mark.Directory, m, err)
		}
	}
	if _, _, err := s.GetCredentialAndMarker(ctx, []byte("none")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("hot read of a missing credential: %v, want ErrNotFound", err)
	}
}
