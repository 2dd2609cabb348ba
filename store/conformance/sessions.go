package conformance

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
)

func sessionTests() []test {
	return []test{
		{"ConsumeOnce", testSessionConsumeOnce},
		{"Expired", testSessionExpired},
		{"KindMismatch", testSessionKindMismatch},
		{"GetDoesNotConsume", testSessionGetDoesNotConsume},
		{"Count", testSessionCount},
		{"DeleteExpired", testSessionDeleteExpired},
	}
}

func tapTests() []test {
	return []test{
		{"UseDecrements", testTAPUseDecrements},
		{"Expired", testTAPExpired},
		{"GetDoesNotSpend", testTAPGetDoesNotSpend},
		{"UnknownDuplicateDelete", testTAPUnknownDuplicateDelete},
	}
}

// session returns a session of kind for principal, valid for 5 minutes from base.
func session(id, kind, principal string) store.Session {
	return store.Session{
		ID:         id,
		Kind:       kind,
		Principal:  principal,
		Data:       []byte(`{"challenge":"` + id + `"}`),
		BindingKey: []byte{0x00, 0x01, 0xfe, 0xff, 0x42},
		CreatedAt:  base(),
		ExpiresAt:  base().Add(5 * time.Minute),
	}
}

func testSessionConsumeOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	se := session("s1", "login", anchor(1))
	must(t, "create", s.CreateSession(ctx, se))
	checkErr(t, "duplicate", s.CreateSession(ctx, session("s1", "register", "")), store.ErrExists)
	got, err := s.ConsumeSession(ctx, "s1", "login", base().Add(time.Minute))
	must(t, "consume", err)
	equal(t, "consumed", got, normSession(se))
	_, err = s.ConsumeSession(ctx, "s1", "login", base().Add(time.Minute))
	checkErr(t, "second consume", err, store.ErrNotFound)
	_, err = s.ConsumeSession(ctx, "nope", "login", base())
	checkErr(t, "unknown", err, store.ErrNotFound)

	// Discoverable sign-in: no principal, no data.
	bare := store.Session{ID: "s2", Kind: "login", ExpiresAt: base().Add(time.Minute)}
	must(t, "create bare", s.CreateSession(ctx, bare))
	got, err = s.ConsumeSession(ctx, "s2", "login", base())
	must(t, "consume bare", err)
	equal(t, "bare", got, normSession(bare))
	// The ID is free again.
	must(t, "re-create", s.CreateSession(ctx, se))
}

func testSessionExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := []struct {
		name string
		now  time.Duration // after ExpiresAt
		want error
	}{
		{"1ns before expiry", -time.Nanosecond, nil},
		{"at expiry", 0, store.ErrExpired},
		{"after expiry", time.Hour, store.ErrExpired},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			se := session(fmt.Sprint("e", i), "login", anchor(1))
			must(t, "create", s.CreateSession(ctx, se))
			_, err := s.ConsumeSession(ctx, se.ID, "login", se.ExpiresAt.Add(tc.now))
			checkErr(t, "consume", err, tc.want)
			// Gone either way.
			_, err = s.ConsumeSession(ctx, se.ID, "login", base())
			checkErr(t, "consume again", err, store.ErrNotFound)
		})
	}
}

func testSessionKindMismatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	se := session("s1", "login", anchor(1))
	must(t, "create", s.CreateSession(ctx, se))
	_, err := s.ConsumeSession(ctx, "s1", "register", base())
	checkErr(t, "other kind", err, store.ErrNotFound)
	_, err = s.ConsumeSession(ctx, "s1", "", base())
	checkErr(t, "empty kind", err, store.ErrNotFound)
	got, err := s.ConsumeSession(ctx, "s1", "login", base())
	must(t, "right kind after a mismatch", err)
	equal(t, "consumed", got, normSession(se))
}

func testSessionGetDoesNotConsume(t *testing.T, s store.Store) {
	ctx := t.Context()
	se := session("g1", "login", anchor(1))
	must(t, "create", s.CreateSession(ctx, se))
	cases := []struct {
		name, id, kind string
		want           error
	}{
		{"right kind", "g1", "login", nil},
		{"again: reading does not consume", "g1", "login", nil},
		{"other kind", "g1", "register", store.ErrNotFound},
		{"empty kind", "g1", "", store.ErrNotFound},
		{"unknown", "nope", "login", store.ErrNotFound},
		{"empty id", "", "login", store.ErrNotFound},
	}
	for _, tc := range cases {
		got, err := s.GetSession(ctx, tc.id, tc.kind)
		checkErr(t, tc.name, err, tc.want)
		if tc.want == nil {
			equal(t, tc.name, got, normSession(se))
		}
	}
	// Expiry is not GetSession's business: an expired session is still read.
	old := session("g2", "login", "")
	old.ExpiresAt = base().Add(-time.Hour)
	must(t, "create expired", s.CreateSession(ctx, old))
	got, err := s.GetSession(ctx, "g2", "login")
	must(t, "get expired", err)
	equal(t, "expired", got, normSession(old))

	// Inside a transaction: a session created there is read there; after
	// ConsumeSession it is gone for GetSession too.
	must(t, "tx", s.WithTx(ctx, func(tx store.Tx) error {
		in := session("g3", "login", "")
		if err := tx.CreateSession(ctx, in); err != nil {
			return err
		}
		if _, err := tx.GetSession(ctx, "g3", "login"); err != nil {
			return fmt.Errorf("get in tx: %w", err)
		}
		if _, err := tx.ConsumeSession(ctx, "g1", "login", base()); err != nil {
			return err
		}
		if _, err := tx.GetSession(ctx, "g1", "login"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("get after consume in tx: %v, want not found", err)
		}
		return nil
	}))
	_, err = s.GetSession(ctx, "g1", "login")
	checkErr(t, "after committed consume", err, store.ErrNotFound)
	_, err = s.GetSession(ctx, "g3", "login")
	must(t, "created in tx", err)
}

func testSessionCount(t *testing.T, s store.Store) {
	ctx := t.Context()
	u1, u2 := anchor(1), anchor(2)
	now := base().Add(time.Minute)
	expired := session("x1", "login", u1)
	expired.ExpiresAt = now
	for _, se := range []store.Session{
		session("a1", "login", u1),
		expired,
		session("a2", "register", u1),
		session("b1", "login", u2),
		session("d1", "login", ""),
	} {
		must(t, "create "+se.ID, s.CreateSession(ctx, se))
	}
	cases := []struct {
		principal, kind string
		want            int
	}{
		{u1, "login", 1},
		{u1, "register", 1},
		{u1, "", 2},
		{u2, "", 1},
		{"", "login", 3},
		{"", "", 4},
		{anchor(3), "", 0},
		{u1, "page", 0},
	}
	for _, tc := range cases {
		n, err := s.CountSessions(ctx, tc.principal, tc.kind, now)
		must(t, "count", err)
		if n != tc.want {
			t.Errorf("count(%q, %q) = %d, want %d", tc.principal, tc.kind, n, tc.want)
		}
	}
	n, err := s.CountSessions(ctx, "", "", base().Add(time.Hour))
	must(t, "count later", err)
	if n != 0 {
		t.Errorf("count after every expiry = %d, want 0", n)
	}
}

func testSessionDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := base().Add(10 * time.Minute)
	live := session("live", "login", anchor(1))
	live.ExpiresAt = now.Add(time.Nanosecond)
	atNow := session("atnow", "login", anchor(1))
	atNow.ExpiresAt = now
	for _, se := range []store.Session{session("old1", "login", ""), session("old2", "register", ""), atNow, live} {
		must(t, "create", s.CreateSession(ctx, se))
	}
	n, err := s.DeleteExpiredSessions(ctx, now)
	must(t, "delete expired", err)
	if n != 3 {
		t.Fatalf("deleted %d, want 3", n)
	}
	for _, id := range []string{"old1", "atnow"} {
		_, err = s.ConsumeSession(ctx, id, "login", base())
		checkErr(t, "consume deleted "+id, err, store.ErrNotFound)
	}
	_, err = s.ConsumeSession(ctx, "live", "login", now)
	must(t, "consume live", err)
	n, err = s.DeleteExpiredSessions(ctx, now)
	must(t, "delete expired again", err)
	if n != 0 {
		t.Fatalf("deleted %d the second time, want 0", n)
	}
}

// tap returns a pass for principal with uses uses, valid for an hour from base.
func tap(id, principal string, uses int) store.TAP {
	h := sha256.Sum256([]byte("pass " + id))
	return store.TAP{
		ID:        id,
		Principal: principal,
		Hash:      h[:],
		UsesLeft:  uses,
		CreatedAt: base(),
		ExpiresAt: base().Add(time.Hour),
		CreatedBy: "admin@CORP.EXAMPLE.TEST",
	}
}

func testTAPUseDecrements(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, _ := twoPrincipals(t, s)
	p := tap("t1", alice, 3)
	must(t, "create", s.CreateTAP(ctx, p))
	for want := 2; want >= 0; want-- {
		got, err := s.UseTAP(ctx, p.Hash, base().Add(time.Minute))
		must(t, "use", err)
		p.UsesLeft = want
		equal(t, "used", got, normTAP(p))
	}
	_, err := s.UseTAP(ctx, p.Hash, base().Add(time.Minute))
	checkErr(t, "use when exhausted", err, store.ErrExhausted)
	_, err = s.UseTAP(ctx, p.Hash, base().Add(2*time.Minute))
	checkErr(t, "use when exhausted again", err, store.ErrExhausted)
	list, err := s.ListTAPs(ctx, alice)
	must(t, "list", err)
	equal(t, "listed exhausted", list, []store.TAP{normTAP(p)})

	z := tap("t0", alice, 0)
	must(t, "create with no uses", s.CreateTAP(ctx, z))
	_, err = s.UseTAP(ctx, z.Hash, base())
	checkErr(t, "use a pass created with no uses", err, store.ErrExhausted)
}

// testTAPGetDoesNotSpend: GetTAP answers what UseTAP would, in and out of a
// transaction, and never changes the pass.
func testTAPGetDoesNotSpend(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, _ := twoPrincipals(t, s)
	p := tap("t1", alice, 1)
	must(t, "create", s.CreateTAP(ctx, p))
	for i := 0; i < 3; i++ {
		got, err := s.GetTAP(ctx, p.Hash, base().Add(time.Minute))
		must(t, "get", err)
		equal(t, "got", got, normTAP(p))
	}
	must(t, "get in a transaction", s.WithTx(ctx, func(tx store.Tx) error {
		_, err := tx.GetTAP(ctx, p.Hash, base().Add(time.Minute))
		return err
	}))
	_, err := s.GetTAP(ctx, p.Hash, p.ExpiresAt)
	checkErr(t, "get at expiry", err, store.ErrExpired)
	list, err := s.ListTAPs(ctx, alice)
	must(t, "list", err)
	equal(t, "a get at expiry leaves the pass as it was", list, []store.TAP{normTAP(p)})
	_, err = s.UseTAP(ctx, p.Hash, base().Add(time.Minute))
	must(t, "use after gets", err)
	_, err = s.GetTAP(ctx, p.Hash, base().Add(time.Minute))
	checkErr(t, "get when exhausted", err, store.ErrExhausted)
	_, err = s.GetTAP(ctx, []byte("no such pass hash.............."), base())
	checkErr(t, "get unknown", err, store.ErrNotFound)
}

func testTAPExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, _ := twoPrincipals(t, s)
	p := tap("t1", alice, 2)
	must(t, "create", s.CreateTAP(ctx, p))
	got, err := s.UseTAP(ctx, p.Hash, p.ExpiresAt.Add(-time.Nanosecond))
	must(t, "use 1ns before expiry", err)
	if got.UsesLeft != 1 {
		t.Fatalf("uses left %d, want 1", got.UsesLeft)
	}
	_, err = s.UseTAP(ctx, p.Hash, p.ExpiresAt)
	checkErr(t, "use at expiry", err, store.ErrExpired)
	_, err = s.UseTAP(ctx, p.Hash, p.ExpiresAt.Add(time.Hour))
	checkErr(t, "use after expiry", err, store.ErrExpired)
	list, err := s.ListTAPs(ctx, alice)
	must(t, "list", err)
	p.UsesLeft = 0
	equal(t, "expired pass has no uses left", list, []store.TAP{normTAP(p)})
	// Even a clock going back does not revive it.
	_, err = s.UseTAP(ctx, p.Hash, base())
	checkErr(t, "use with an earlier clock", err, store.ErrExhausted)
}

func testTAPUnknownDuplicateDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, bob := twoPrincipals(t, s)
	p1, p2, p3 := tap("t1", alice, 1), tap("t2", bob, 1), tap("t3", alice, 1)
	p3.CreatedAt = base().Add(time.Minute)
	for _, p := range []store.TAP{p3, p2, p1} {
		must(t, "create "+p.ID, s.CreateTAP(ctx, p))
	}
	h := sha256.Sum256([]byte("unknown"))
	_, err := s.UseTAP(ctx, h[:], base())
	checkErr(t, "unknown hash", err, store.ErrNotFound)

	dupID := tap("t1", alice, 5)
	dupID.Hash = h[:]
	checkErr(t, "duplicate ID", s.CreateTAP(ctx, dupID), store.ErrExists)
	dupHash := tap("t9", alice, 5)
	dupHash.Hash = p1.Hash
	checkErr(t, "duplicate hash", s.CreateTAP(ctx, dupHash), store.ErrExists)
	checkErr(t, "unknown principal", s.CreateTAP(ctx, tap("t8", anchor(99), 1)), store.ErrNotFound)

	cases := []struct {
		principal string
		want      []store.TAP
	}{
		{alice, []store.TAP{p1, p3}},
		{bob, []store.TAP{p2}},
		{"", []store.TAP{p1, p2, p3}},
		{anchor(99), nil},
	}
	for _, tc := range cases {
		list, err := s.ListTAPs(ctx, tc.principal)
		must(t, "list", err)
		if len(list) != len(tc.want) {
			t.Fatalf("list %q: %d passes, want %d", tc.principal, len(list), len(tc.want))
		}
		for i := range list {
			equal(t, "list", list[i], normTAP(tc.want[i]))
		}
	}

	must(t, "delete", s.DeleteTAP(ctx, "t1"))
	_, err = s.UseTAP(ctx, p1.Hash, base())
	checkErr(t, "use deleted", err, store.ErrNotFound)
	checkErr(t, "delete again", s.DeleteTAP(ctx, "t1"), store.ErrNotFound)
	_, err = s.UseTAP(ctx, p2.Hash, base())
	must(t, "other pass still usable", err)
}
