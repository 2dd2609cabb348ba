package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
)

// credentialMarkerTests check store.Markers.Credentials and
// UpdateCredentialUseIf: what lets a sign-in decide on a cached copy of a
// credential and have its use recorded only if nothing it relied on changed.
func credentialMarkerTests() []test {
	return []test{
		{"EveryCredentialWriteMovesIt", testCredentialMarkerWrites},
		{"RolledBackWritesLeaveIt", testCredentialMarkerRollback},
		{"UseIfCurrent", testUseIf},
		{"UseIfInATransaction", testUseIfTx},
	}
}

// markers reads the markers of s with credential id.
func markers(t *testing.T, s store.Tx, id []byte) store.Markers {
	t.Helper()
	_, m, err := s.GetCredentialAndMarker(t.Context(), id)
	must(t, "credential and markers", err)
	return m
}

// testCredentialMarkerWrites: a new store's credential marker is 0; every
// create, rename, revocation (also of a revoked credential) and deletion
// makes it greater and leaves the directory marker; a use, directory writes
// and other writes leave it.
func testCredentialMarkerWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := principal(1, "alice")
	mustUpsertPrincipal(t, s, p)
	witness, c := credential(1, p.Anchor), credential(2, p.Anchor)
	must(t, "create witness", s.CreateCredential(ctx, witness))
	last := markers(t, s, witness.ID)
	if last.Credentials != 1 {
		t.Fatalf("a new store's credential marker after one credential is %d, want 1", last.Credentials)
	}
	moves := []struct {
		name string
		do   func() error
	}{
		{"create credential", func() error { return s.CreateCredential(ctx, c) }},
		{"rename credential", func() error { return s.RenameCredential(ctx, c.ID, "renamed") }},
		{"revoke credential", func() error { return s.RevokeCredential(ctx, c.ID, base()) }},
		{"revoke it again", func() error { return s.RevokeCredential(ctx, c.ID, base().Add(time.Hour)) }},
		{"delete credential", func() error { return s.DeleteCredential(ctx, c.ID) }},
	}
	for _, w := range moves {
		must(t, w.name, w.do())
		m := markers(t, s, witness.ID)
		if m.Credentials <= last.Credentials || m.Directory != last.Directory {
			t.Fatalf("%s: markers %+v after %+v: want the credential marker moved, the directory marker not", w.name, m, last)
		}
		last = m
	}
	stays := []struct {
		name string
		do   func() error
	}{
		{"credential use", func() error { return s.UpdateCredentialUse(ctx, witness.ID, 7, 8, true, base()) }},
		{"credential use if current", func() error {
			return s.UpdateCredentialUseIf(ctx, witness.ID, 8, 9, false, base(), markers(t, s, witness.ID))
		}},
		{"session", func() error {
			return s.CreateSession(ctx, store.Session{ID: "s", Kind: "login", CreatedAt: base(), ExpiresAt: base().Add(time.Hour)})
		}},
		{"challenge", func() error { return s.ConsumeChallenge(ctx, []byte("c1"), base().Add(time.Hour)) }},
		{"audit", func() error {
			_, err := s.AppendAudit(ctx, store.AuditRecord{Event: "login", Result: "ok"})
			return err
		}},
	}
	for _, w := range directoryWrites() {
		stays = append(stays, struct {
			name string
			do   func() error
		}{w.name, func() error { return w.do(ctx, s) }})
	}
	for _, w := range stays {
		must(t, w.name, w.do())
		if m := markers(t, s, witness.ID); m.Credentials != last.Credentials {
			t.Fatalf("%s moved the credential marker from %d to %d", w.name, last.Credentials, m.Credentials)
		}
	}
}

// testCredentialMarkerRollback: a rolled-back transaction's credential
// writes leave the credential marker where it was.
func testCredentialMarkerRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := principal(1, "alice")
	mustUpsertPrincipal(t, s, p)
	c := credential(1, p.Anchor)
	must(t, "create", s.CreateCredential(ctx, c))
	before := markers(t, s, c.ID)
	failed := errors.New("rolled back")
	err := s.WithTx(ctx, func(tx store.Tx) error {
		if err := tx.RevokeCredential(ctx, c.ID, base()); err != nil {
			return err
		}
		if err := tx.CreateCredential(ctx, credential(2, p.Anchor)); err != nil {
			return err
		}
		return failed
	})
	checkErr(t, "failing tx", err, failed)
	if m := markers(t, s, c.ID); m != before {
		t.Fatalf("a rolled-back transaction moved the markers from %+v to %+v", before, m)
	}
	must(t, "committed tx", s.WithTx(ctx, func(tx store.Tx) error {
		if err := tx.RenameCredential(ctx, c.ID, "a"); err != nil {
			return err
		}
		return tx.RenameCredential(ctx, c.ID, "b")
	}))
	if m := markers(t, s, c.ID); m.Credentials <= before.Credentials {
		t.Fatalf("a committed transaction of two renames left the credential marker at %d", m.Credentials)
	}
}

// testUseIf: UpdateCredentialUseIf records the use when the counter and both
// markers are what the caller read and the credential is unrevoked; any of
// them changed is ErrConflict and changes nothing; no such credential is
// ErrNotFound.
func testUseIf(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := principal(1, "alice")
	mustUpsertPrincipal(t, s, p)
	c := credential(1, p.Anchor)
	c.SignCount = 7
	must(t, "create", s.CreateCredential(ctx, c))
	other := credential(2, p.Anchor)
	must(t, "create other", s.CreateCredential(ctx, other))
	m := markers(t, s, c.ID)
	at := base().Add(time.Minute)
	must(t, "use with current markers", s.UpdateCredentialUseIf(ctx, c.ID, 7, 8, true, at, m))
	got, err := s.GetCredential(ctx, c.ID)
	must(t, "get", err)
	if got.SignCount != 8 || !got.BackupState || !got.LastUsedAt.Equal(at) {
		t.Fatalf("after the use: counter %d backup state %v last use %v", got.SignCount, got.BackupState, got.LastUsedAt)
	}
	refused := func(what string, old uint32, m store.Markers, want error) {
		t.Helper()
		before, err := s.GetCredential(ctx, c.ID)
		must(t, "get", err)
		checkErr(t, what, s.UpdateCredentialUseIf(ctx, c.ID, old, old+1, false, at.Add(time.Hour), m), want)
		after, err := s.GetCredential(ctx, c.ID)
		must(t, "get", err)
		equal(t, what+": the credential after the refused use", after, before)
	}
	refused("stale counter", 7, m, store.ErrConflict)
	refused("stale directory marker", 8, store.Markers{Directory: m.Directory - 1, Credentials: m.Credentials}, store.ErrConflict)
	refused("stale credential marker", 8, store.Markers{Directory: m.Directory, Credentials: m.Credentials - 1}, store.ErrConflict)
	mustUpsertGroup(t, s, group("g-1", "staff"))
	refused("after a directory write", 8, m, store.ErrConflict)
	m = markers(t, s, c.ID)
	must(t, "rename the other credential", s.RenameCredential(ctx, other.ID, "x"))
	refused("after another credential's rename", 8, m, store.ErrConflict)
	must(t, "revoke", s.RevokeCredential(ctx, c.ID, base()))
	refused("revoked, with the markers read after", 8, markers(t, s, c.ID), store.ErrConflict)
	checkErr(t, "no such credential", s.UpdateCredentialUseIf(ctx, []byte("nope"), 0, 1, false, at, m), store.ErrNotFound)
}

// testUseIfTx: UpdateCredentialUseIf works inside a transaction, and sees
// the transaction's own revocation of the credential.
func testUseIfTx(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := principal(1, "alice")
	mustUpsertPrincipal(t, s, p)
	c := credential(1, p.Anchor)
	c.SignCount = 1
	must(t, "create", s.CreateCredential(ctx, c))
	m := markers(t, s, c.ID)
	must(t, "use in a transaction", s.WithTx(ctx, func(tx store.Tx) error {
		if err := tx.ConsumeChallenge(ctx, []byte("ch"), base().Add(time.Hour)); err != nil {
			return err
		}
		return tx.UpdateCredentialUseIf(ctx, c.ID, 1, 2, false, base(), m)
	}))
	err := s.WithTx(ctx, func(tx store.Tx) error {
		if err := tx.RevokeCredential(ctx, c.ID, base()); err != nil {
			return err
		}
		return tx.UpdateCredentialUseIf(ctx, c.ID, 2, 3, false, base(), m)
	})
	checkErr(t, "after its own revocation", err, store.ErrConflict)
	got, err := s.GetCredential(ctx, c.ID)
	must(t, "get", err)
	if got.SignCount != 2 || !got.RevokedAt.IsZero() {
		t.Fatalf("the failed transaction left counter %d, revoked at %v", got.SignCount, got.RevokedAt)
	}
}

// testSharedUseIf: a credential write or a directory write committed
// through one handle makes the other handle's UpdateCredentialUseIf with
// the markers read before it fail (a replica's cached copy is then never
// used to record a sign-in), and with markers read after it succeed.
func testSharedUseIf(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	p := principal(1, "alice")
	mustUpsertPrincipal(t, a, p)
	c, other := credential(1, p.Anchor), credential(2, p.Anchor)
	c.SignCount = 0
	must(t, "create", a.CreateCredential(ctx, c))
	must(t, "create other", a.CreateCredential(ctx, other))
	writes := []struct {
		name string
		do   func() error
	}{
		{"rename of another credential", func() error { return a.RenameCredential(ctx, other.ID, "x") }},
		{"group written", func() error { _, err := a.UpsertGroup(ctx, group("g-1", "staff")); return err }},
		{"principal disabled", func() error {
			q := p
			q.Enabled = false
			_, err := a.UpsertPrincipal(ctx, q)
			return err
		}},
	}
	for _, w := range writes {
		m := markers(t, b, c.ID)
		must(t, w.name, w.do())
		checkErr(t, w.name+": use with the markers read before", b.UpdateCredentialUseIf(ctx, c.ID, 0, 0, false, base(), m), store.ErrConflict)
		must(t, w.name+": use with the markers read after", b.UpdateCredentialUseIf(ctx, c.ID, 0, 0, false, base(), markers(t, b, c.ID)))
	}
}
