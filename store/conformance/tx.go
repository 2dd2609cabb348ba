package conformance

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
)

func auditTests() []test {
	return []test{
		{"AppendList", testAuditAppendList},
		{"GetByID", testAuditGet},
	}
}

func txTests() []test {
	return []test{
		{"Commit", testTxCommit},
		{"RollbackEveryWrite", testTxRollback},
		{"RollbackOnStoreError", testTxRollbackOnStoreError},
		{"ReadsOwnWrites", testTxReadsOwnWrites},
	}
}

func testAuditAppendList(t *testing.T, s store.Store) {
	ctx := t.Context()
	var recs []store.AuditRecord
	for i := 0; i < 5; i++ {
		recs = append(recs, store.AuditRecord{
			Time:         base().Add(time.Duration(i) * time.Second),
			Event:        "login",
			Result:       []string{"ok", "refused"}[i%2],
			Reason:       []string{"", "counter_regression"}[i%2],
			Principal:    anchor(i),
			CredentialID: fmt.Sprintf("Y3JlZC0%d", i),
			KVNO:         uint32(0xbeef0000 + i),
			Remote:       "192.0.2.1:443",
			Detail:       fmt.Sprintf("record %d ✓", i),
		})
	}
	recs[3].Time = time.Time{} // filled in by the store
	before := time.Now()
	var last int64
	for i := range recs {
		id, err := s.AppendAudit(ctx, recs[i])
		must(t, "append", err)
		if id <= last {
			t.Fatalf("audit ID %d after %d: not increasing", id, last)
		}
		recs[i].ID, last = id, id
	}
	after := time.Now()

	all, err := s.ListAudit(ctx, 0, 0)
	must(t, "list", err)
	if len(all) != len(recs) {
		t.Fatalf("listed %d records, want %d", len(all), len(recs))
	}
	if got := all[3].Time; got.Before(before.Add(-time.Second)) || got.After(after.Add(time.Second)) {
		t.Fatalf("zero time set to %v, want about now (%v)", got, before)
	}
	recs[3].Time = all[3].Time
	for i := range recs {
		want := recs[i]
		want.Time = want.Time.UTC()
		equal(t, "record", all[i], want)
	}
	cases := []struct {
		after int64
		limit int
		want  []int // indexes into recs
	}{
		{0, 2, []int{0, 1}},
		{recs[1].ID, 2, []int{2, 3}},
		{recs[3].ID, 0, []int{4}},
		{recs[3].ID, 10, []int{4}},
		{recs[4].ID, 0, nil},
		{-1, -1, []int{0, 1, 2, 3, 4}},
	}
	for _, tc := range cases {
		got, err := s.ListAudit(ctx, tc.after, tc.limit)
		must(t, "list page", err)
		ids := []int64{}
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		want := []int64{}
		for _, i := range tc.want {
			want = append(want, recs[i].ID)
		}
		equal(t, fmt.Sprintf("ListAudit(%d, %d)", tc.after, tc.limit), ids, want)
	}
}

func testTxCommit(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := principal(1, "alice")
	c := credential(1, p.Anchor)
	err := s.WithTx(ctx, func(tx store.Tx) error {
		if _, err := tx.UpsertPrincipal(ctx, p); err != nil {
			return err
		}
		if err := tx.CreateCredential(ctx, c); err != nil {
			return err
		}
		if err := tx.CreateSession(ctx, session("s1", "login", p.Anchor)); err != nil {
			return err
		}
		_, err := tx.AppendAudit(ctx, store.AuditRecord{Time: base(), Event: "register", Result: "ok"})
		return err
	})
	must(t, "WithTx", err)
	got, err := s.GetPrincipal(ctx, p.Anchor)
	must(t, "get principal", err)
	equal(t, "principal", got, normPrincipal(p))
	gotC, err := s.GetCredential(ctx, c.ID)
	must(t, "get credential", err)
	equal(t, "credential", gotC, normCredential(c))
	_, err = s.ConsumeSession(ctx, "s1", "login", base())
	must(t, "consume session", err)
	recs, err := s.ListAudit(ctx, 0, 0)
	must(t, "list audit", err)
	if len(recs) != 1 || recs[0].Event != "register" {
		t.Fatalf("audit after commit: %+v", recs)
	}
}

// errBoom is the error the rollback tests fail their transactions with.
var errBoom = errors.New("boom")

func testTxRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	// State before the transaction: a principal with a credential, a session,
	// a pass, a group membership and an audit record.
	old := principal(1, "alice")
	mustUpsertPrincipal(t, s, old)
	oldC := credential(1, old.Anchor)
	must(t, "create credential", s.CreateCredential(ctx, oldC))
	must(t, "create session", s.CreateSession(ctx, session("s-old", "login", old.Anchor)))
	oldTAP := tap("t-old", old.Anchor, 2)
	must(t, "create pass", s.CreateTAP(ctx, oldTAP))
	mustUpsertGroup(t, s, group("g-1", "g1"))
	must(t, "set memberships", s.SetMemberships(ctx, old.Anchor, []string{"g-1"}))
	_, err := s.AppendAudit(ctx, store.AuditRecord{Time: base(), Event: "before"})
	must(t, "append", err)

	p := principal(2, "bob")
	c := credential(2, p.Anchor)
	err = s.WithTx(ctx, func(tx store.Tx) error {
		steps := []func() error{
			func() error { _, err := tx.UpsertPrincipal(ctx, p); return err },
			func() error { return tx.CreateCredential(ctx, c) },
			func() error {
				_, err := tx.AppendAudit(ctx, store.AuditRecord{Time: base(), Event: "inside"})
				return err
			},
			func() error { return tx.CreateSession(ctx, session("s-new", "login", p.Anchor)) },
			func() error { return tx.CreateTAP(ctx, tap("t-new", p.Anchor, 1)) },
			func() error { return tx.UpdateCredentialUse(ctx, oldC.ID, 7, 8, true, base()) },
			func() error { return tx.RenameCredential(ctx, oldC.ID, "renamed") },
			func() error { _, err := tx.ConsumeSession(ctx, "s-old", "login", base()); return err },
			func() error { _, err := tx.UseTAP(ctx, oldTAP.Hash, base()); return err },
			func() error { return tx.SetMemberships(ctx, old.Anchor, nil) },
			func() error { return tx.PutSyncState(ctx, store.SyncState{Directory: "default", HighWater: "9"}) },
			func() error {
				q := old
				q.Enabled = false
				_, err := tx.UpsertPrincipal(ctx, q)
				return err
			},
			func() error { _, err := tx.MarkUnseenDeleted(ctx, "default", 100); return err },
		}
		for i, step := range steps {
			if err := step(); err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
		}
		return fmt.Errorf("fail on purpose: %w", errBoom)
	})
	checkErr(t, "WithTx", err, errBoom)

	_, err = s.GetPrincipal(ctx, p.Anchor)
	checkErr(t, "principal of the rolled back tx", err, store.ErrNotFound)
	_, err = s.GetCredential(ctx, c.ID)
	checkErr(t, "credential of the rolled back tx", err, store.ErrNotFound)
	recs, err := s.ListAudit(ctx, 0, 0)
	must(t, "list audit", err)
	if len(recs) != 1 || recs[0].Event != "before" {
		t.Fatalf("audit after rollback: %+v", recs)
	}
	_, err = s.ConsumeSession(ctx, "s-new", "login", base())
	checkErr(t, "session of the rolled back tx", err, store.ErrNotFound)
	list, err := s.ListTAPs(ctx, "")
	must(t, "list passes", err)
	equal(t, "passes", list, []store.TAP{normTAP(oldTAP)})

	gotOld, err := s.GetPrincipal(ctx, old.Anchor)
	must(t, "get old principal", err)
	equal(t, "old principal unchanged", gotOld, normPrincipal(old))
	gotC, err := s.GetCredential(ctx, oldC.ID)
	must(t, "get old credential", err)
	equal(t, "old credential unchanged", gotC, normCredential(oldC))
	_, err = s.ConsumeSession(ctx, "s-old", "login", base())
	must(t, "old session still there", err)
	groups, err := s.TransitiveGroups(ctx, old.Anchor)
	must(t, "groups", err)
	equal(t, "memberships unchanged", groupNames(groups), []string{"g1"})
	st, err := s.GetSyncState(ctx, "default")
	must(t, "sync state", err)
	equal(t, "sync state unchanged", st, store.SyncState{Directory: "default"})
}

func testTxRollbackOnStoreError(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, _ := twoPrincipals(t, s)
	c1, c2 := credential(1, alice), credential(2, alice)
	must(t, "create", s.CreateCredential(ctx, c1))
	err := s.WithTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateCredential(ctx, c2); err != nil {
			return err
		}
		return tx.CreateCredential(ctx, c1) // duplicate
	})
	checkErr(t, "WithTx", err, store.ErrExists)
	_, err = s.GetCredential(ctx, c2.ID)
	checkErr(t, "credential created before the failure", err, store.ErrNotFound)

	// The store is usable after the failed transaction.
	must(t, "create after", s.CreateCredential(ctx, c2))
}

func testTxReadsOwnWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := principal(1, "alice")
	c := credential(1, p.Anchor)
	err := s.WithTx(ctx, func(tx store.Tx) error {
		mustUpsertPrincipal(t, tx, p)
		got, err := tx.GetPrincipalByName(ctx, p.Realm, "ALICE")
		must(t, "get inside", err)
		equal(t, "principal inside", got, normPrincipal(p))
		must(t, "create credential", tx.CreateCredential(ctx, c))
		must(t, "use", tx.UpdateCredentialUse(ctx, c.ID, 7, 8, false, base()))
		list, err := tx.ListCredentials(ctx, p.Anchor)
		must(t, "list inside", err)
		if len(list) != 1 || list[0].SignCount != 8 {
			t.Fatalf("credentials inside the tx: %+v", list)
		}
		must(t, "session", tx.CreateSession(ctx, session("s1", "login", p.Anchor)))
		n, err := tx.CountSessions(ctx, p.Anchor, "login", base())
		must(t, "count inside", err)
		if n != 1 {
			t.Fatalf("sessions inside the tx: %d, want 1", n)
		}
		_, err = tx.ConsumeSession(ctx, "s1", "login", base())
		must(t, "consume inside", err)
		_, err = tx.ConsumeSession(ctx, "s1", "login", base())
		checkErr(t, "consume twice inside", err, store.ErrNotFound)
		return nil
	})
	must(t, "WithTx", err)
}

func testAuditGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	rec := store.AuditRecord{Time: base(), Event: "login", Result: "ok", Principal: "alice", CredentialID: "Y3JlZA",
		KVNO: 7, Remote: "192.0.2.1", Detail: "partial TGT issued"}
	id, err := s.AppendAudit(ctx, rec)
	must(t, "append", err)
	got, err := s.GetAudit(ctx, id)
	must(t, "get", err)
	rec.ID, rec.Time = id, rec.Time.UTC() // times come back in UTC
	equal(t, "record", got, rec)
	_, err = s.GetAudit(ctx, id+1)
	checkErr(t, "next ID", err, store.ErrNotFound)
	var rolledBack int64
	boom := errors.New("boom")
	_ = s.WithTx(ctx, func(tx store.Tx) error {
		rolledBack, _ = tx.AppendAudit(ctx, rec)
		return boom
	})
	_, err = s.GetAudit(ctx, rolledBack)
	checkErr(t, "rolled back", err, store.ErrNotFound)
}
