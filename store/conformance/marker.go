package conformance

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
)

func markerTests() []test {
	return []test{
		{"EveryDirectoryWriteMovesIt", testMarkerDirectoryWrites},
		{"OtherWritesAndReadsLeaveIt", testMarkerOtherWrites},
		{"OncePerTransactionAndRolledBack", testMarkerTx},
		{"ReadWithTheCredential", testMarkerWithCredential},
	}
}

// marker reads the change marker of s.
func marker(t *testing.T, s store.Tx) int64 {
	t.Helper()
	m, err := s.ChangeMarker(t.Context())
	must(t, "change marker", err)
	return m
}

// directoryWrites are the writes of principals, groups and memberships, each
// as one standalone call (an unchanged upsert and an empty membership list
// among them: a write is a write).
func directoryWrites() []struct {
	name string
	do   func(ctx context.Context, s store.Store) error
} {
	p := principal(1, "alice")
	disabled := p
	disabled.Enabled = false
	ign := func(_ any, err error) error { return err }
	return []struct {
		name string
		do   func(ctx context.Context, s store.Store) error
	}{
		{"new principal", func(ctx context.Context, s store.Store) error { return ign(s.UpsertPrincipal(ctx, p)) }},
		{"unchanged principal", func(ctx context.Context, s store.Store) error { return ign(s.UpsertPrincipal(ctx, p)) }},
		{"principal disabled", func(ctx context.Context, s store.Store) error { return ign(s.UpsertPrincipal(ctx, disabled)) }},
		{"new group", func(ctx context.Context, s store.Store) error { return ign(s.UpsertGroup(ctx, group("g-1", "staff"))) }},
		{"group renamed", func(ctx context.Context, s store.Store) error { return ign(s.UpsertGroup(ctx, group("g-1", "people"))) }},
		{"memberships set", func(ctx context.Context, s store.Store) error {
			return s.SetMemberships(ctx, p.Anchor, []string{"g-1"})
		}},
		{"memberships cleared", func(ctx context.Context, s store.Store) error { return s.SetMemberships(ctx, p.Anchor, nil) }},
		{"unseen marked deleted", func(ctx context.Context, s store.Store) error { return ign(s.MarkUnseenDeleted(ctx, "default", 99)) }},
		{"nothing unseen", func(ctx context.Context, s store.Store) error { return ign(s.MarkUnseenDeleted(ctx, "other", 1)) }},
	}
}

// testMarkerDirectoryWrites: a new store's marker is 0, and each write of a
// principal, a group or memberships makes it greater.
func testMarkerDirectoryWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	last := marker(t, s)
	if last != 0 {
		t.Fatalf("a new store's change marker is %d, want 0", last)
	}
	for _, w := range directoryWrites() {
		must(t, w.name, w.do(ctx, s))
		m := marker(t, s)
		if m <= last {
			t.Fatalf("%s: change marker %d after %d: did not move", w.name, m, last)
		}
		last = m
	}
}

// testMarkerOtherWrites: credentials, sessions, challenges, passes, audit,
// sync state, generations and every read leave the marker as it is.
func testMarkerOtherWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := principal(1, "alice")
	mustUpsertPrincipal(t, s, p)
	c := credential(1, p.Anchor)
	before := marker(t, s)
	steps := []struct {
		name string
		do   func() error
	}{
		{"create credential", func() error { return s.CreateCredential(ctx, c) }},
		{"credential use", func() error { return s.UpdateCredentialUse(ctx, c.ID, 7, 8, true, base()) }},
		{"rename credential", func() error { return s.RenameCredential(ctx, c.ID, "x") }},
		{"session", func() error {
			return s.CreateSession(ctx, store.Session{ID: "s", Kind: "login", CreatedAt: base(), ExpiresAt: base().Add(time.Hour)})
		}},
		{"challenge", func() error { return s.ConsumeChallenge(ctx, []byte("c1"), base().Add(time.Hour)) }},
		{"pass", func() error {
			return s.CreateTAP(ctx, store.TAP{ID: "t", Principal: p.Anchor, Hash: []byte("h"), UsesLeft: 1, CreatedAt: base(), ExpiresAt: base().Add(time.Hour)})
		}},
		{"audit", func() error {
			_, err := s.AppendAudit(ctx, store.AuditRecord{Event: "login", Result: "ok"})
			return err
		}},
		{"sync state", func() error { return s.PutSyncState(ctx, store.SyncState{Directory: "default", HighWater: "9"}) }},
		{"generation", func() error { _, err := s.NextGeneration(ctx, "default"); return err }},
		{"reads", func() error {
			_, err1 := s.GetPrincipal(ctx, p.Anchor)
			_, err2 := s.TransitiveGroups(ctx, p.Anchor)
			_, _, err3 := s.GetCredentialAndMarker(ctx, c.ID)
			_, err4 := s.ListPrincipals(ctx, store.PrincipalFilter{})
			return errors.Join(err1, err2, err3, err4)
		}},
		{"revoke credential", func() error { return s.RevokeCredential(ctx, c.ID, base()) }},
	}
	for _, st := range steps {
		must(t, st.name, st.do())
		if m := marker(t, s); m != before {
			t.Fatalf("%s moved the change marker from %d to %d", st.name, before, m)
		}
	}
}

// testMarkerTx: a transaction of several directory writes moves the marker
// (once or more), one that fails moves it not at all, and neither does a
// transaction without a directory write.
func testMarkerTx(t *testing.T, s store.Store) {
	ctx := t.Context()
	before := marker(t, s)
	must(t, "tx", s.WithTx(ctx, func(tx store.Tx) error {
		for i := 0; i < 3; i++ {
			if _, err := tx.UpsertPrincipal(ctx, principal(i, fmt.Sprint("u", i))); err != nil {
				return err
			}
		}
		return tx.SetMemberships(ctx, anchor(0), []string{"g"})
	}))
	committed := marker(t, s)
	if committed <= before {
		t.Fatalf("a committed transaction of directory writes left the marker at %d (was %d)", committed, before)
	}
	failed := errors.New("rolled back")
	err := s.WithTx(ctx, func(tx store.Tx) error {
		p := principal(0, "u0")
		p.Enabled = false
		if _, err := tx.UpsertPrincipal(ctx, p); err != nil {
			return err
		}
		return failed
	})
	checkErr(t, "failing tx", err, failed)
	if m := marker(t, s); m != committed {
		t.Fatalf("a rolled-back transaction moved the marker from %d to %d", committed, m)
	}
	must(t, "tx without directory writes", s.WithTx(ctx, func(tx store.Tx) error {
		_, err := tx.AppendAudit(ctx, store.AuditRecord{Event: "login", Result: "ok"})
		return err
	}))
	if m := marker(t, s); m != committed {
		t.Fatalf("a transaction without directory writes moved the marker from %d to %d", committed, m)
	}
}

// testMarkerWithCredential: GetCredentialAndMarker returns what GetCredential
// and ChangeMarker return, inside a transaction too; an unknown credential is
// ErrNotFound.
func testMarkerWithCredential(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := principal(1, "alice")
	mustUpsertPrincipal(t, s, p)
	c := credential(1, p.Anchor)
	must(t, "create credential", s.CreateCredential(ctx, c))
	mustUpsertGroup(t, s, group("g-1", "staff"))
	want, err := s.GetCredential(ctx, c.ID)
	must(t, "get credential", err)
	got, m, err := s.GetCredentialAndMarker(ctx, c.ID)
	must(t, "get credential and marker", err)
	equal(t, "credential", got, want)
	if wm := marker(t, s); m.Directory != wm {
		t.Fatalf("marker read with the credential %d, ChangeMarker %d", m.Directory, wm)
	}
	_, _, err = s.GetCredentialAndMarker(ctx, []byte("nope"))
	checkErr(t, "unknown credential", err, store.ErrNotFound)
	must(t, "in tx", s.WithTx(ctx, func(tx store.Tx) error {
		got, tm, err := tx.GetCredentialAndMarker(ctx, c.ID)
		if err != nil {
			return err
		}
		if tm != m || !reflect.DeepEqual(got, want) {
			return fmt.Errorf("in a transaction: markers %+v credential %+v, want %+v %+v", tm, got, m, want)
		}
		return nil
	}))
}

// RunSharedTests runs the tests of two handles on one database (two
// processes or replicas on one SQLite file or PostgreSQL database): open
// returns two handles on a new, empty database, closed when the test ends.
// A backend whose handles cannot share a database does not call it.
func RunSharedTests(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	for _, tc := range []test2{
		{"MarkerMovesForTheOtherHandle", testSharedMarker},
		{"ConcurrentWritersEachMoveIt", testSharedMarkerConcurrent},
		{"UseIfSeesTheOtherHandlesWrites", testSharedUseIf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			tc.run(t, a, b)
		})
	}
}

// test2 is a test of two handles on one database.
type test2 struct {
	name string
	run  func(t *testing.T, a, b store.Store)
}

// testSharedMarker: every directory write committed through one handle moves
// the marker the other handle reads, by ChangeMarker and with a credential,
// as soon as the write has returned (a replica caching principals by marker
// then never serves what another replica has changed).
func testSharedMarker(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	p := principal(1, "alice")
	mustUpsertPrincipal(t, a, p)
	c := credential(1, p.Anchor)
	must(t, "create credential", a.CreateCredential(ctx, c))
	last := marker(t, b)
	for i, w := range directoryWrites() {
		writer, reader := a, b
		if i%2 == 1 {
			writer, reader = b, a
		}
		must(t, w.name, w.do(ctx, writer))
		m := marker(t, reader)
		_, cm, err := reader.GetCredentialAndMarker(ctx, c.ID)
		must(t, "credential and marker", err)
		if m <= last || cm.Directory != m {
			t.Fatalf("%s through one handle: the other reads marker %d (with the credential %d), was %d", w.name, m, cm, last)
		}
		if wm := marker(t, writer); wm != m {
			t.Fatalf("%s: the handles read markers %d and %d", w.name, wm, m)
		}
		last = m
	}
}

// testSharedMarkerConcurrent: directory writes committed concurrently through
// both handles each move the marker: every writer sees a greater marker after
// its write than before it, and the marker ends at least as many steps on as
// there were writes.
func testSharedMarkerConcurrent(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	const perHandle = 20
	start := marker(t, a)
	var wg sync.WaitGroup
	errs := make(chan error, 2*perHandle)
	for h, s := range []store.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perHandle; i++ {
				before, err := s.ChangeMarker(ctx)
				if err != nil {
					errs <- err
					return
				}
				p := principal(100*h+i, fmt.Sprintf("u%d-%d", h, i))
				if _, err := s.UpsertPrincipal(ctx, p); err != nil {
					errs <- fmt.Errorf("upsert: %w", err)
					return
				}
				after, err := s.ChangeMarker(ctx)
				if err != nil {
					errs <- err
					return
				}
				if after <= before {
					errs <- fmt.Errorf("handle %d write %d: marker %d after, %d before", h, i, after, before)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if end := marker(t, b); end < start+2*perHandle {
		t.Fatalf("%d concurrent writes moved the marker from %d to %d", 2*perHandle, start, end)
	}
}
