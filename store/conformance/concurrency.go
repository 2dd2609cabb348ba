package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
)

// racers is how many goroutines each race starts.
const racers = 8

func concurrencyTests() []test {
	return []test{
		{"CredentialUseOneWinner", testRaceCredentialUse},
		{"CredentialUseNoLostUpdate", testRaceCredentialNoLostUpdate},
		{"ConsumeSessionOnce", testRaceConsumeSession},
		{"UseTAPExactlyK", testRaceUseTAP},
		{"LockPrincipalFirstCredentialOnce", testRaceFirstCredential},
	}
}

// race runs fn(i) for i in [0, n) in goroutines released together and returns
// their errors by index.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts errors: nil ones as "ok", sentinel ones by name; any other
// error fails the test.
func tally(t *testing.T, errs []error, sentinels map[string]error) map[string]int {
	t.Helper()
	out := map[string]int{}
next:
	for _, err := range errs {
		if err == nil {
			out["ok"]++
			continue
		}
		for name, s := range sentinels {
			if errors.Is(err, s) {
				out[name]++
				continue next
			}
		}
		t.Fatalf("unexpected error in race: %v", err)
	}
	return out
}

// useCredential runs UpdateCredentialUse alone (even i) or in WithTx (odd i).
func useCredential(ctx context.Context, s store.Store, i int, id []byte, old uint32) error {
	at := base().Add(time.Duration(old) * time.Second)
	if i%2 == 0 {
		return s.UpdateCredentialUse(ctx, id, old, old+1, false, at)
	}
	return s.WithTx(ctx, func(tx store.Tx) error {
		c, err := tx.GetCredential(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.UpdateCredentialUse(ctx, id, old, old+1, false, at); err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, store.AuditRecord{Event: "login", Result: "ok", Principal: c.Principal})
		return err
	})
}

func testRaceCredentialUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, _ := twoPrincipals(t, s)
	c := credential(1, alice)
	c.SignCount = 100
	must(t, "create", s.CreateCredential(ctx, c))
	const rounds = 10
	for r := uint32(0); r < rounds; r++ {
		old := c.SignCount + r
		errs := race(racers, func(i int) error { return useCredential(ctx, s, i, c.ID, old) })
		got := tally(t, errs, map[string]error{"conflict": store.ErrConflict})
		if got["ok"] != 1 || got["conflict"] != racers-1 {
			t.Fatalf("round %d: %v, want exactly one ok and %d conflicts", r, got, racers-1)
		}
	}
	got, err := s.GetCredential(ctx, c.ID)
	must(t, "get", err)
	if got.SignCount != c.SignCount+rounds {
		t.Fatalf("final counter %d, want %d", got.SignCount, c.SignCount+rounds)
	}
}

// testRaceCredentialNoLostUpdate: every racer reads the counter and retries
// its compare-and-set until it wins (bounded); no increment is lost.
func testRaceCredentialNoLostUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, _ := twoPrincipals(t, s)
	c := credential(1, alice)
	must(t, "create", s.CreateCredential(ctx, c))
	const maxTries = 1000
	errs := race(racers, func(i int) error {
		for try := 0; try < maxTries; try++ {
			cur, err := s.GetCredential(ctx, c.ID)
			if err != nil {
				return err
			}
			err = useCredential(ctx, s, i, c.ID, cur.SignCount)
			if !errors.Is(err, store.ErrConflict) {
				return err
			}
		}
		return fmt.Errorf("racer %d: no success in %d tries", i, maxTries)
	})
	got := tally(t, errs, nil)
	if got["ok"] != racers {
		t.Fatalf("%v, want %d ok", got, racers)
	}
	cur, err := s.GetCredential(ctx, c.ID)
	must(t, "get", err)
	if cur.SignCount != c.SignCount+racers {
		t.Fatalf("final counter %d, want %d", cur.SignCount, c.SignCount+racers)
	}
}

func testRaceConsumeSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	for r := 0; r < 5; r++ {
		id := fmt.Sprint("race-", r)
		must(t, "create", s.CreateSession(ctx, session(id, "login", anchor(1))))
		errs := race(racers, func(i int) error {
			if i%2 == 0 {
				_, err := s.ConsumeSession(ctx, id, "login", base())
				return err
			}
			return s.WithTx(ctx, func(tx store.Tx) error {
				_, err := tx.ConsumeSession(ctx, id, "login", base())
				return err
			})
		})
		got := tally(t, errs, map[string]error{"not found": store.ErrNotFound})
		if got["ok"] != 1 || got["not found"] != racers-1 {
			t.Fatalf("round %d: %v, want exactly one ok and %d not found", r, got, racers-1)
		}
	}
}

func testRaceUseTAP(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, _ := twoPrincipals(t, s)
	const uses = 3
	const n = racers + 4
	p := tap("t1", alice, uses)
	must(t, "create", s.CreateTAP(ctx, p))
	left := make([]int, n)
	errs := race(n, func(i int) error {
		got, err := s.UseTAP(ctx, p.Hash, base())
		left[i] = got.UsesLeft
		return err
	})
	got := tally(t, errs, map[string]error{"exhausted": store.ErrExhausted})
	if got["ok"] != uses || got["exhausted"] != n-uses {
		t.Fatalf("%v, want %d ok and %d exhausted", got, uses, n-uses)
	}
	seen := map[int]bool{}
	for i, err := range errs {
		if err == nil {
			if seen[left[i]] {
				t.Fatalf("two uses both left %d uses", left[i])
			}
			seen[left[i]] = true
		}
	}
	for want := 0; want < uses; want++ {
		if !seen[want] {
			t.Fatalf("no use left %d uses: %v", want, seen)
		}
	}
}

// testRaceFirstCredential: racers each lock the principal, look for a
// credential and add one only when there is none (Kerberos enrolment's
// first passkey), holding the lock across a pause that lets the others
// catch up. Exactly one credential is stored; the others see it or fail
// with ErrConflict, never add a second.
func testRaceFirstCredential(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, _ := twoPrincipals(t, s)
	errHasOne := errors.New("already has a credential")
	errs := race(racers, func(i int) error {
		return s.WithTx(ctx, func(tx store.Tx) error {
			if _, err := tx.LockPrincipal(ctx, alice); err != nil {
				return err
			}
			creds, err := tx.ListCredentials(ctx, alice)
			if err != nil {
				return err
			}
			if len(creds) > 0 {
				return errHasOne
			}
			time.Sleep(20 * time.Millisecond)
			return tx.CreateCredential(ctx, credential(i+1, alice))
		})
	})
	got := tally(t, errs, map[string]error{"has one": errHasOne, "conflict": store.ErrConflict})
	if got["ok"] != 1 {
		t.Fatalf("%v, want exactly one racer to add the first credential", got)
	}
	creds, err := s.ListCredentials(ctx, alice)
	must(t, "list", err)
	if len(creds) != 1 {
		t.Fatalf("%d credentials stored, want 1", len(creds))
	}
	if _, err := s.LockPrincipal(ctx, "no-such-anchor"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LockPrincipal of an unknown anchor: %v, want ErrNotFound", err)
	}
}
