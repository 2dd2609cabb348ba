package assertion

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/descope/virtualwebauthn"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/memory"
)

// credReads counts the credential reads that reach the store.
type credReads struct {
	store.Store
	n atomic.Int64
}

func (c *credReads) GetCredentialAndMarker(ctx context.Context, id []byte) (store.Credential, store.Markers, error) {
	c.n.Add(1)
	return c.Store.GetCredentialAndMarker(ctx, id)
}

// cacheEnv is an env whose store counts credential reads.
func cacheEnv(t *testing.T) (*env, *credReads) {
	var counted *credReads
	e := newEnvWith(t, func(t testing.TB) store.Store {
		counted = &credReads{Store: memory.New()}
		return counted
	}, nil)
	return e, counted
}

// decision is what a caller of CheckLogin and Record (the server) ends with.
type decision struct {
	pl      *PendingLogin
	checked error // CheckLogin's refusal
	stale   bool  // Record said ErrStale on the first decision
	again   *PendingLogin
	err     error // the final refusal, if any
}

// decide signs in with cred at counter as the server does: CheckLogin, Record
// in a transaction, and on ErrStale a fresh decision (the first one's
// transaction rolled back).
func (e *env) decide(auth *virtualwebauthn.Authenticator, cred virtualwebauthn.Credential, counter uint32) decision {
	e.t.Helper()
	return e.decideAs(e.alice, auth, cred, counter)
}

// decideAs is decide for principal p.
func (e *env) decideAs(p store.Principal, auth *virtualwebauthn.Authenticator, cred virtualwebauthn.Credential, counter uint32) decision {
	e.t.Helper()
	sid, ao := e.beginLogin(&p)
	body := []byte(e.assertBody(e.vrp, auth, cred, counter, ao))
	var d decision
	d.pl, d.checked = e.rp.CheckLogin(e.ctx, sid, body)
	d.err = d.checked
	record := func(pl *PendingLogin) error {
		var rerr error
		err := e.st.WithTx(e.ctx, func(tx store.Tx) error {
			rerr = pl.Record(e.ctx, tx)
			return rerr
		})
		return errors.Join(rerr, err)
	}
	if d.checked != nil {
		return d
	}
	if err := record(d.pl); errors.Is(err, ErrStale) {
		d.stale = true
		d.again, d.err = e.rp.CheckLoginFresh(e.ctx, sid, body)
		if d.err == nil {
			d.err = record(d.again)
		}
	} else {
		d.err = err
	}
	return d
}

func (e *env) storedCount(id []byte) uint32 {
	e.t.Helper()
	c, err := e.st.GetCredential(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.SignCount
}

func TestCachedCopySparesTheCredentialRead(t *testing.T) {
	e, reads := cacheEnv(t)
	auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
	cred := e.mustRegister(e.alice, auth)
	first := e.decide(auth, cred, 1)
	if first.err != nil || first.pl.Cached() {
		t.Fatalf("first sign-in: %v, cached %v (want a fresh read)", first.err, first.pl.Cached())
	}
	before := reads.n.Load()
	for counter := uint32(2); counter <= 4; counter++ {
		d := e.decide(auth, cred, counter)
		if d.err != nil || !d.pl.Cached() || d.stale {
			t.Fatalf("sign-in at counter %d: %v, cached %v, stale %v", counter, d.err, d.pl.Cached(), d.stale)
		}
		if got := e.storedCount(cred.ID); got != counter {
			t.Fatalf("stored counter %d, want %d", got, counter)
		}
	}
	if n := reads.n.Load() - before; n != 0 {
		t.Fatalf("three sign-ins on the cached copy read the credential %d times", n)
	}
}

func TestCachedCopyIsDecidedAgainWhenTheStoreChanged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(e *env, id []byte) error
		want   string // the fresh decision's refusal ("" issued)
	}{
		{"revoked", func(e *env, id []byte) error { return e.st.RevokeCredential(e.ctx, id, e.clock.Now()) }, CodeCredentialRevoked},
		{"principal disabled", func(e *env, _ []byte) error {
			p := e.alice
			p.Enabled = false
			_, err := e.st.UpsertPrincipal(e.ctx, p)
			return err
		}, CodePrincipalDisabled},
		{"another credential renamed", func(e *env, _ []byte) error {
			auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
			other := e.mustRegister(e.alice, auth)
			return e.st.RenameCredential(e.ctx, other.ID, "spare")
		}, ""},
		{"groups changed", func(e *env, _ []byte) error {
			e.setGroups(e.alice.Anchor, store.Group{Anchor: "a0000000-0000-4000-8000-000000000001", Directory: "default", Name: "staff", SID: "S-1-5-21-1-2-3-1300"})
			return nil
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := cacheEnv(t)
			auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
			cred := e.mustRegister(e.alice, auth)
			if d := e.decide(auth, cred, 1); d.err != nil {
				t.Fatal(d.err)
			}
			if err := tc.change(e, cred.ID); err != nil {
				t.Fatal(err)
			}
			d := e.decide(auth, cred, 2)
			if !d.pl.Cached() || !d.stale {
				t.Fatalf("after the change: cached %v, stale %v (want the copy's decision found stale when recorded)", d.pl.Cached(), d.stale)
			}
			if d.again.Cached() {
				t.Fatal("the decision taken again used the copy")
			}
			if tc.want == "" {
				if d.err != nil {
					t.Fatalf("decided again: %v, want issued", d.err)
				}
				if got := e.storedCount(cred.ID); got != 2 {
					t.Fatalf("stored counter %d, want 2 (recorded once)", got)
				}
				return
			}
			wantCode(t, d.err, tc.want)
			if got := e.storedCount(cred.ID); got != 1 {
				t.Fatalf("stored counter %d after the refusal, want 1", got)
			}
		})
	}
}

// TestCachedCopyFollowsACounterMovedElsewhere: another replica's use moves
// the stored counter past the copy's: a counter above it is recorded without
// deciding again, one at or below it is decided again and refused as a
// regression.
func TestCachedCopyFollowsACounterMovedElsewhere(t *testing.T) {
	e, _ := cacheEnv(t)
	auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
	cred := e.mustRegister(e.alice, auth)
	if d := e.decide(auth, cred, 2); d.err != nil {
		t.Fatal(d.err)
	}
	if err := e.st.UpdateCredentialUse(e.ctx, cred.ID, 2, 5, false, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	d := e.decide(auth, cred, 6)
	if d.err != nil || !d.pl.Cached() || d.stale || e.storedCount(cred.ID) != 6 {
		t.Fatalf("counter 6 after another use to 5: %v, cached %v, stale %v, stored %d", d.err, d.pl.Cached(), d.stale, e.storedCount(cred.ID))
	}
	if err := e.st.UpdateCredentialUse(e.ctx, cred.ID, 6, 9, false, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	d = e.decide(auth, cred, 8)
	if !d.stale {
		t.Fatalf("counter 8 after another use to 9: stale %v, want the copy's decision taken again", d.stale)
	}
	wantCode(t, d.err, CodeCounterRegression)
	if got := e.storedCount(cred.ID); got != 9 {
		t.Fatalf("stored counter %d, want 9", got)
	}
}

// TestCachedRefusalIsDecidedAgain: a refusal that rests on the copy is never
// answered: a store put back to a lower counter (a restored backup) makes
// the copy refuse a counter the store accepts; CheckLogin decides again on
// the store's credential and issues.
func TestCachedRefusalIsDecidedAgain(t *testing.T) {
	e, _ := cacheEnv(t)
	auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
	cred := e.mustRegister(e.alice, auth)
	if d := e.decide(auth, cred, 10); d.err != nil {
		t.Fatal(d.err)
	}
	if err := e.st.UpdateCredentialUse(e.ctx, cred.ID, 10, 3, false, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	d := e.decide(auth, cred, 5)
	if d.err != nil || d.pl.Cached() || !d.pl.DecidedAgain() || d.stale {
		t.Fatalf("counter 5 against a copy at 10 and a store at 3: %v, cached %v, decided again %v, stale %v", d.err, d.pl.Cached(), d.pl.DecidedAgain(), d.stale)
	}
	if got := e.storedCount(cred.ID); got != 5 {
		t.Fatalf("stored counter %d, want 5", got)
	}
}

// TestADirectoryChangeKeepsTheCopies: after a directory change the first
// sign-in decided on a copy is decided again, and it tells the relying party
// the store's new directory marker: another user's copy is then used
// without a read and recorded; an enrolment (the credential marker) drops
// every copy.
func TestADirectoryChangeKeepsTheCopies(t *testing.T) {
	e, reads := cacheEnv(t)
	bob := e.addPrincipal("6f1c3a52-8d1e-4c1b-9e36-0d2f5a7b9c02", "bob")
	aliceAuth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
	bobAuth := newAuth(bob, virtualwebauthn.AuthenticatorOptions{})
	aliceCred, bobCred := e.mustRegister(e.alice, aliceAuth), e.mustRegister(bob, bobAuth)
	for _, d := range []decision{e.decideAs(e.alice, aliceAuth, aliceCred, 0), e.decideAs(bob, bobAuth, bobCred, 0)} {
		if d.err != nil {
			t.Fatal(d.err)
		}
	}
	e.setGroups(e.alice.Anchor, store.Group{Anchor: "a0000000-0000-4000-8000-000000000001", Directory: "default", Name: "staff", SID: "S-1-5-21-1-2-3-1300"})
	if d := e.decideAs(e.alice, aliceAuth, aliceCred, 0); d.err != nil || !d.stale {
		t.Fatalf("alice after the change: %v, stale %v (want decided again, issued)", d.err, d.stale)
	}
	before := reads.n.Load()
	if d := e.decideAs(bob, bobAuth, bobCred, 0); d.err != nil || !d.pl.Cached() || d.stale {
		t.Fatalf("bob after alice's: %v, cached %v, stale %v (want his copy used and recorded)", d.err, d.pl.Cached(), d.stale)
	}
	if n := reads.n.Load() - before; n != 0 {
		t.Fatalf("bob's sign-in read the credential %d times", n)
	}
	other := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
	e.mustRegister(e.alice, other)
	if d := e.decideAs(bob, bobAuth, bobCred, 0); d.err != nil || !d.stale {
		t.Fatalf("bob after an enrolment: %v, stale %v (want decided again)", d.err, d.stale)
	}
	before = reads.n.Load()
	if d := e.decideAs(e.alice, aliceAuth, aliceCred, 0); d.err != nil || d.pl.Cached() || reads.n.Load()-before != 1 {
		t.Fatalf("alice after the enrolment and bob's fresh read: %v, cached %v, %d reads (want her copy dropped: one read)", d.err, d.pl.Cached(), reads.n.Load()-before)
	}
}
