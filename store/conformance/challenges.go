package conformance

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
)

func challengeTests() []test {
	return []test{
		{"ConsumeOnce", testChallengeConsumeOnce},
		{"RolledBackWithTx", testChallengeRolledBack},
		{"RefusalLeavesTxUsable", testChallengeRefusalInTx},
		{"PrunedAfterExpiry", testChallengePruned},
		{"RaceOneWinner", testChallengeRace},
		{"ServerSecretFirstWins", testServerSecret},
	}
}

func challengeID(i byte) []byte { return bytes.Repeat([]byte{i}, 32) }

func testChallengeConsumeOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := base().Add(5 * time.Minute)
	must(t, "first use", s.ConsumeChallenge(ctx, challengeID(1), exp))
	checkErr(t, "second use", s.ConsumeChallenge(ctx, challengeID(1), exp), store.ErrExists)
	must(t, "another challenge", s.ConsumeChallenge(ctx, challengeID(2), exp))
	if err := s.ConsumeChallenge(ctx, nil, exp); err == nil {
		t.Fatal("an empty challenge ID was accepted")
	}
	if err := s.ConsumeChallenge(ctx, challengeID(3), time.Time{}); err == nil {
		t.Fatal("a challenge without expiry was accepted")
	}
}

func testChallengeRolledBack(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := base().Add(5 * time.Minute)
	boom := errors.New("boom")
	err := s.WithTx(ctx, func(tx store.Tx) error {
		must(t, "use in tx", tx.ConsumeChallenge(ctx, challengeID(4), exp))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithTx: %v", err)
	}
	must(t, "use after rollback", s.ConsumeChallenge(ctx, challengeID(4), exp))
}

// A replayed challenge is refused inside the transaction of the refusal's
// audit record, which must still commit.
func testChallengeRefusalInTx(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := base().Add(5 * time.Minute)
	must(t, "first use", s.ConsumeChallenge(ctx, challengeID(5), exp))
	var id int64
	must(t, "refusal tx", s.WithTx(ctx, func(tx store.Tx) error {
		checkErr(t, "replay in tx", tx.ConsumeChallenge(ctx, challengeID(5), exp), store.ErrExists)
		var err error
		id, err = tx.AppendAudit(ctx, store.AuditRecord{Time: base(), Event: "login", Result: "refused"})
		return err
	}))
	recs, err := s.ListAudit(ctx, id-1, 1)
	must(t, "list", err)
	if len(recs) != 1 || recs[0].ID != id {
		t.Fatalf("refusal record after a replayed challenge: %+v", recs)
	}
}

func testChallengePruned(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := base().Add(10 * time.Minute)
	must(t, "expired", s.ConsumeChallenge(ctx, challengeID(6), now))
	must(t, "live", s.ConsumeChallenge(ctx, challengeID(7), now.Add(time.Nanosecond)))
	_, err := s.DeleteExpiredSessions(ctx, now)
	must(t, "prune at expiry", err)
	// Kept past its expiry for ChallengeRetention (replica clock skew).
	checkErr(t, "expired, kept", s.ConsumeChallenge(ctx, challengeID(6), now.Add(time.Hour)), store.ErrExists)
	_, err = s.DeleteExpiredSessions(ctx, now.Add(store.ChallengeRetention))
	must(t, "prune after retention", err)
	// The pruned one is forgotten (its token expired long ago); the live one is not.
	must(t, "expired again", s.ConsumeChallenge(ctx, challengeID(6), now.Add(time.Hour)))
	checkErr(t, "live again", s.ConsumeChallenge(ctx, challengeID(7), now.Add(time.Hour)), store.ErrExists)
}

func testChallengeRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := base().Add(5 * time.Minute)
	errs := race(racers, func(int) error {
		return s.WithTx(ctx, func(tx store.Tx) error { return tx.ConsumeChallenge(ctx, challengeID(8), exp) })
	})
	got := tally(t, errs, map[string]error{"used": store.ErrExists})
	if got["ok"] != 1 || got["used"] != racers-1 {
		t.Fatalf("concurrent uses of one challenge: %v, want 1 ok", got)
	}
}

func testServerSecret(t *testing.T, s store.Store) {
	ctx := t.Context()
	first, err := s.ServerSecret(ctx, "k", []byte("first"))
	must(t, "first", err)
	second, err := s.ServerSecret(ctx, "k", []byte("second"))
	must(t, "second", err)
	if string(first) != "first" || string(second) != "first" {
		t.Fatalf("secrets %q, %q: want the first stored for both", first, second)
	}
	var inTx []byte
	must(t, "in tx", s.WithTx(ctx, func(tx store.Tx) error {
		var err error
		inTx, err = tx.ServerSecret(ctx, "k", []byte("third"))
		return err
	}))
	if string(inTx) != "first" {
		t.Fatalf("secret in a transaction %q", inTx)
	}
	other, err := s.ServerSecret(ctx, "other", []byte("x"))
	must(t, "other", err)
	if string(other) != "x" {
		t.Fatalf("second name %q", other)
	}
	if _, err := s.ServerSecret(ctx, "", []byte("x")); err == nil {
		t.Fatal("an unnamed secret was accepted")
	}
}
