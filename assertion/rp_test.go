package assertion

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/go-webauthn/webauthn/protocol"

	"github.com/passkdc/passkdc/store"
)

func TestRegisterAndDiscoverableLogin(t *testing.T) { forStores(t, runRegisterAndLogin) }

func runRegisterAndLogin(t *testing.T, mk storeFactory) {
	e := newEnvWith(t, mk, nil)
	auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})

	sid, opts, err := e.rp.BeginRegistration(e.ctx, e.alice, DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	o := opts.Response
	if string(o.User.ID.(protocol.URLEncodedBase64)) != e.alice.Anchor || o.User.Name != "alice" {
		t.Errorf("user entity %+v", o.User)
	}
	if o.AuthenticatorSelection.ResidentKey != protocol.ResidentKeyRequirementRequired ||
		o.AuthenticatorSelection.UserVerification != protocol.VerificationRequired ||
		o.Attestation != protocol.PreferNoAttestation || len(o.CredentialExcludeList) != 0 || o.RelyingParty.ID != testRPID {
		t.Errorf("creation options %+v", o)
	}
	cred := newCred()
	sc, err := e.rp.FinishRegistration(e.ctx, sid, strings.NewReader(e.attest(e.vrp, auth, cred, opts)))
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	auth.AddCredential(cred)
	if !bytes.Equal(sc.ID, cred.ID) || sc.Principal != e.alice.Anchor || !bytes.Equal(sc.AAGUID, auth.Aaguid[:]) ||
		sc.AttestationFmt != "packed" || sc.AttestationType != "basic_surrogate" || sc.Profile != "default" ||
		!sc.UserVerified || sc.BackupEligible || sc.SignCount != 0 || !sc.CreatedAt.Equal(e.clock.Now()) {
		t.Errorf("stored credential %+v", sc)
	}
	stored, err := e.st.GetCredential(e.ctx, cred.ID)
	if err != nil || !bytes.Equal(stored.PublicKey, sc.PublicKey) {
		t.Fatalf("credential not persisted: %v", err)
	}

	// The next registration excludes the existing credential.
	_, opts2, err := e.rp.BeginRegistration(e.ctx, e.alice, DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	if ex := opts2.Response.CredentialExcludeList; len(ex) != 1 || !bytes.Equal(ex[0].CredentialID, cred.ID) {
		t.Errorf("excludeCredentials %+v", ex)
	}

	e.clock.Advance(time.Minute)
	lsid, ao := e.beginLogin(nil)
	if len(ao.AllowCredentials) != 0 {
		t.Errorf("discoverable sign-in lists credentials %v", ao.AllowCredentials)
	}
	res, err := e.rp.FinishLogin(e.ctx, lsid, strings.NewReader(e.assertBody(e.vrp, auth, cred, 1, ao)))
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if res.Principal.Anchor != e.alice.Anchor || !bytes.Equal(res.BindingKey, testBindingKey) || res.NewSignCount != 1 ||
		!bytes.Equal(res.Credential.ID, cred.ID) {
		t.Errorf("result %+v", res)
	}
	stored, _ = e.st.GetCredential(e.ctx, cred.ID)
	if stored.SignCount != 1 || !stored.LastUsedAt.Equal(e.clock.Now()) {
		t.Errorf("use not recorded: %+v", stored)
	}
}

func TestLoginWithHint(t *testing.T) { forStores(t, runLoginWithHint) }

func runLoginWithHint(t *testing.T, mk storeFactory) {
	e := newEnvWith(t, mk, nil)
	auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
	cred := e.mustRegister(e.alice, auth)

	sid, ao := e.beginLogin(&e.alice)
	// No credential is listed: begin tells nobody who has passkeys.
	if len(ao.AllowCredentials) != 0 {
		t.Fatalf("allowCredentials %v", ao.AllowCredentials)
	}
	// A hinted session accepts an assertion without a user handle.
	noHandle := *auth
	noHandle.Options.UserHandle = nil
	res, err := e.rp.FinishLogin(e.ctx, sid, strings.NewReader(e.assertBody(e.vrp, &noHandle, cred, 1, ao)))
	if err != nil || res.Principal.Anchor != e.alice.Anchor {
		t.Fatalf("hinted sign-in: %v", err)
	}

	// Alice's credential answering a session begun for bob.
	bob := e.addPrincipal("0b0b0b0b-1111-4222-8333-944445555666", "bob")
	before := e.snapshot()
	_, err = e.login(&bob, auth, cred, 2)
	e.refused(err, CodePrincipalMismatch, before)
	// Bob has no credentials: begin still answers, with an empty list.
	if _, ao := e.beginLogin(&bob); len(ao.AllowCredentials) != 0 {
		t.Errorf("bob's allow list %v", ao.AllowCredentials)
	}
	// A name that names nobody: a session like any other, and alice's
	// passkey is refused exactly as for bob's session.
	us, uo, err := e.rp.BeginUnknownLogin(e.ctx, testBindingKey)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := e.rp.openToken(e.ctx, us); err != nil || len(uo.Response.AllowedCredentials) != 0 || tok.principal == "" {
		t.Fatalf("unknown-name session %+v (%v) options %+v", tok, err, uo.Response)
	}
	_, err = e.rp.FinishLogin(e.ctx, us, strings.NewReader(e.assertBody(e.vrp, auth, cred, 2, e.optionsOf(uo))))
	e.refused(err, CodePrincipalMismatch, before)
	// A discoverable sign-in without a user handle is refused.
	_, err = e.login(nil, &noHandle, cred, 2)
	e.refused(err, CodeUserHandleMismatch, before)
	// A user handle that is not the credential's principal.
	wrong := *auth
	wrong.Options.UserHandle = []byte(bob.Anchor)
	_, err = e.login(nil, &wrong, cred, 2)
	e.refused(err, CodeUserHandleMismatch, before)
}

func TestCeremonyRefusals(t *testing.T) { forStores(t, runCeremonyRefusals) }

func runCeremonyRefusals(t *testing.T, mk storeFactory) {
	e := newEnvWith(t, mk, nil)
	auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
	cred := e.mustRegister(e.alice, auth)
	badOrigin := e.vrp
	badOrigin.Origin = "https://evil.example.test"
	badRP := e.vrp
	badRP.ID = "evil.example.test"
	before := e.snapshot()

	cases := []struct {
		name string
		vrp  virtualwebauthn.RelyingParty
		code string
	}{
		{"wrong origin", badOrigin, CodeOriginMismatch},
		{"wrong RP ID", badRP, CodeRPIDMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sid, ao := e.beginLogin(nil)
			_, err := e.rp.FinishLogin(e.ctx, sid, strings.NewReader(e.assertBody(c.vrp, auth, cred, 1, ao)))
			e.refused(err, c.code, before)
		})
	}
	t.Run("registration wrong origin", func(t *testing.T) {
		sid, opts, err := e.rp.BeginRegistration(e.ctx, e.alice, DefaultProfile())
		if err != nil {
			t.Fatal(err)
		}
		c2 := newCred()
		_, err = e.rp.FinishRegistration(e.ctx, sid, strings.NewReader(e.attest(badOrigin, auth, c2, opts)))
		e.refused(err, CodeOriginMismatch, before)
	})
	t.Run("registration wrong RP ID", func(t *testing.T) {
		sid, opts, err := e.rp.BeginRegistration(e.ctx, e.alice, DefaultProfile())
		if err != nil {
			t.Fatal(err)
		}
		c2 := newCred()
		_, err = e.rp.FinishRegistration(e.ctx, sid, strings.NewReader(e.attest(badRP, auth, c2, opts)))
		e.refused(err, CodeRPIDMismatch, before)
	})
	t.Run("bad signature", func(t *testing.T) {
		sid, ao := e.beginLogin(nil)
		body := mutateAssertion(t, e.assertBody(e.vrp, auth, cred, 1, ao), func(m map[string]any) {
			r := m["response"].(map[string]any)
			sig, _ := base64.RawURLEncoding.DecodeString(r["signature"].(string))
			sig[len(sig)-1] ^= 1
			r["signature"] = base64.RawURLEncoding.EncodeToString(sig)
		})
		_, err := e.rp.FinishLogin(e.ctx, sid, strings.NewReader(body))
		e.refused(err, CodeBadSignature, before)
	})
	t.Run("ceremony type", func(t *testing.T) {
		sid, ao := e.beginLogin(nil)
		body := mutateAssertion(t, e.assertBody(e.vrp, auth, cred, 1, ao), func(m map[string]any) {
			r := m["response"].(map[string]any)
			cd, _ := base64.RawURLEncoding.DecodeString(r["clientDataJSON"].(string))
			cd = bytes.Replace(cd, []byte("webauthn.get"), []byte("webauthn.create"), 1)
			r["clientDataJSON"] = base64.RawURLEncoding.EncodeToString(cd)
		})
		_, err := e.rp.FinishLogin(e.ctx, sid, strings.NewReader(body))
		e.refused(err, CodeCeremonyMismatch, before)
	})
	// Nothing above consumed the credential: a correct sign-in still works.
	if _, err := e.login(nil, auth, cred, 1); err != nil {
		t.Fatalf("sign-in after refusals: %v", err)
	}
}

// mutateAssertion edits a response's JSON.
func mutateAssertion(t testing.TB, body string, f func(map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSessionSingleUseAndExpiry(t *testing.T) { forStores(t, runSessionSingleUseAndExpiry) }

func runSessionSingleUseAndExpiry(t *testing.T, mk storeFactory) {
	e := newEnvWith(t, mk, nil)
	auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
	cred := e.mustRegister(e.alice, auth)

	t.Run("reused session", func(t *testing.T) {
		sid, ao := e.beginLogin(nil)
		body := e.assertBody(e.vrp, auth, cred, 10, ao)
		if _, err := e.rp.FinishLogin(e.ctx, sid, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		before := e.snapshot()
		_, err := e.rp.FinishLogin(e.ctx, sid, strings.NewReader(body))
		e.refused(err, CodeUnknownSession, before)
	})
	t.Run("concurrent finishes of one session", func(t *testing.T) {
		sid, ao := e.beginLogin(nil)
		stored, _ := e.st.GetCredential(e.ctx, cred.ID)
		body := e.assertBody(e.vrp, auth, cred, stored.SignCount+1, ao)
		const n = 8
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			go func() {
				_, err := e.rp.FinishLogin(e.ctx, sid, strings.NewReader(body))
				errs <- err
			}()
		}
		ok := 0
		for i := 0; i < n; i++ {
			if err := <-errs; err == nil {
				ok++
			} else if Code(err) != CodeUnknownSession {
				t.Errorf("loser: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent finishes succeeded, want 1", ok, n)
		}
	})
	t.Run("unknown session", func(t *testing.T) {
		_, ao := e.beginLogin(nil)
		before := e.snapshot()
		_, err := e.rp.FinishLogin(e.ctx, "no-such-session", strings.NewReader(e.assertBody(e.vrp, auth, cred, 20, ao)))
		e.refused(err, CodeUnknownSession, before)
	})
	t.Run("expired session", func(t *testing.T) {
		sid, ao := e.beginLogin(nil)
		e.clock.Advance(DefaultSessionTTL + time.Second)
		before := e.snapshot()
		body := e.assertBody(e.vrp, auth, cred, 30, ao)
		_, err := e.rp.FinishLogin(e.ctx, sid, strings.NewReader(body))
		e.refused(err, CodeSessionExpired, before)
		// A sign-in session is a sealed challenge: once expired it stays
		// expired (nothing is stored for it, nothing to consume).
		_, err = e.rp.FinishLogin(e.ctx, sid, strings.NewReader(body))
		e.refused(err, CodeSessionExpired, before)
	})
	t.Run("expired registration session", func(t *testing.T) {
		sid, opts, err := e.rp.BeginRegistration(e.ctx, e.alice, DefaultProfile())
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(DefaultSessionTTL)
		before := e.snapshot()
		c2 := newCred()
		_, err = e.rp.FinishRegistration(e.ctx, sid, strings.NewReader(e.attest(e.vrp, auth, c2, opts)))
		e.refused(err, CodeSessionExpired, before)
	})
	t.Run("registration session used for login", func(t *testing.T) {
		sid, _, err := e.rp.BeginRegistration(e.ctx, e.alice, DefaultProfile())
		if err != nil {
			t.Fatal(err)
		}
		_, ao := e.beginLogin(nil)
		before := e.snapshot()
		_, err = e.rp.FinishLogin(e.ctx, sid, strings.NewReader(e.assertBody(e.vrp, auth, cred, 40, ao)))
		e.refused(err, CodeUnknownSession, before)
	})
	t.Run("challenge from another session", func(t *testing.T) {
		sidA, aoA := e.beginLogin(nil)
		sidB, _ := e.beginLogin(nil)
		bodyA := e.assertBody(e.vrp, auth, cred, 50, aoA)
		before := e.snapshot()
		_, err := e.rp.FinishLogin(e.ctx, sidB, strings.NewReader(bodyA))
		e.refused(err, CodeChallengeMismatch, before)
		if _, err := e.rp.FinishLogin(e.ctx, sidA, strings.NewReader(bodyA)); err != nil {
			t.Fatalf("own session: %v", err)
		}
	})
}

func TestUserVerification(t *testing.T) { forStores(t, runUserVerification) }

func runUserVerification(t *testing.T, mk storeFactory) {
	noUV := virtualwebauthn.AuthenticatorOptions{UserNotVerified: true}
	preferred := DefaultProfile()
	preferred.UserVerification = UVPreferred

	t.Run("registration requires UV", func(t *testing.T) {
		e := newEnvWith(t, mk, nil)
		_, _, err := e.register(e.alice, newAuth(e.alice, noUV), DefaultProfile())
		e.refused(err, CodeUVRequired, nil)
	})
	t.Run("registration UV preferred", func(t *testing.T) {
		e := newEnvWith(t, mk, nil)
		_, sc, err := e.register(e.alice, newAuth(e.alice, noUV), preferred)
		if err != nil || sc.UserVerified {
			t.Fatalf("register without UV under preferred: %v %+v", err, sc)
		}
	})
	t.Run("sign-in requires UV", func(t *testing.T) {
		e := newEnvWith(t, mk, nil)
		auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
		cred := e.mustRegister(e.alice, auth)
		auth.Options.UserNotVerified = true
		before := e.snapshot()
		_, err := e.login(nil, auth, cred, 1)
		e.refused(err, CodeUVRequired, before)
	})
	cfgPreferred := &Config{RPID: testRPID, Origins: []string{testOrigin}, UserVerification: "preferred"}
	t.Run("sign-in UV preferred by config and profile", func(t *testing.T) {
		e := newEnvWith(t, mk, cfgPreferred, WithProfiles(nil, preferred))
		auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
		cred := e.mustRegister(e.alice, auth)
		auth.Options.UserNotVerified = true
		if _, err := e.login(nil, auth, cred, 1); err != nil {
			t.Fatalf("sign-in without UV under preferred: %v", err)
		}
	})
	t.Run("sign-in UV preferred by config, required by profile", func(t *testing.T) {
		e := newEnvWith(t, mk, cfgPreferred) // default profile requires UV
		auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
		cred := e.mustRegister(e.alice, auth)
		auth.Options.UserNotVerified = true
		before := e.snapshot()
		_, err := e.login(nil, auth, cred, 1)
		x := e.refused(err, CodeUVRequired, before)
		if !strings.Contains(x.Message, `"default"`) {
			t.Errorf("message does not name the profile: %s", x.Message)
		}
	})
}

func TestSignCounter(t *testing.T) { forStores(t, runSignCounter) }

func runSignCounter(t *testing.T, mk storeFactory) {
	e := newEnvWith(t, mk, nil)
	auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
	cred := e.mustRegister(e.alice, auth)
	if _, err := e.login(nil, auth, cred, 5); err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint32{5, 3, 0} {
		before := e.snapshot()
		_, err := e.login(nil, auth, cred, n)
		e.refused(err, CodeCounterRegression, before)
	}
	if r, err := e.login(nil, auth, cred, 6); err != nil || r.NewSignCount != 6 {
		t.Fatalf("counter 6: %v", err)
	}

	t.Run("zero counters", func(t *testing.T) {
		auth2 := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
		c2 := e.mustRegister(e.alice, auth2)
		for i := 0; i < 2; i++ { // authenticators without a counter always send 0
			if _, err := e.login(nil, auth2, c2, 0); err != nil {
				t.Fatalf("zero counter sign-in %d: %v", i, err)
			}
		}
		if _, err := e.login(nil, auth2, c2, 1); err != nil {
			t.Fatal(err)
		}
		before := e.snapshot()
		_, err := e.login(nil, auth2, c2, 0)
		e.refused(err, CodeCounterRegression, before)
	})
	t.Run("concurrent use", func(t *testing.T) {
		// Another sign-in with the same credential commits between our
		// read of the counter and our update.
		racing := &racingStore{Store: e.st}
		rp, err := New(e.rp.cfg, racing, WithClock(e.clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := e.st.GetCredential(e.ctx, cred.ID)
		racing.race = func() {
			if err := e.st.UpdateCredentialUse(e.ctx, cred.ID, stored.SignCount, stored.SignCount+1, false, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		sid, _, err := rp.BeginLogin(e.ctx, nil, testBindingKey)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := rp.openToken(e.ctx, sid) // peek at the challenge
		if err != nil {
			t.Fatal(err)
		}
		ch := tok.challenge
		body := e.assertBody(e.vrp, auth, cred, stored.SignCount+10, &virtualwebauthn.AssertionOptions{Challenge: ch, RelyingPartyID: testRPID})
		_, err = rp.FinishLogin(e.ctx, sid, strings.NewReader(body))
		wantCode(t, err, CodeCounterConflict)
		after, _ := e.st.GetCredential(e.ctx, cred.ID)
		if after.SignCount != stored.SignCount+1 {
			t.Errorf("conflicting use was recorded: %+v", after)
		}
	})
}

// racingStore runs race once, just before the transaction that records a
// sign-in: after the checks read the counter, before the update.
type racingStore struct {
	store.Store
	race func()
}

func (r *racingStore) WithTx(ctx context.Context, fn func(store.Tx) error) error {
	if r.race != nil {
		r.race()
		r.race = nil
	}
	return r.Store.WithTx(ctx, fn)
}

func TestCredentialAndPrincipalState(t *testing.T) { forStores(t, runCredentialAndPrincipalState) }

func runCredentialAndPrincipalState(t *testing.T, mk storeFactory) {
	e := newEnvWith(t, mk, nil)
	auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
	cred := e.mustRegister(e.alice, auth)

	t.Run("unknown credential", func(t *testing.T) {
		stranger := newCred()
		before := e.snapshot()
		_, err := e.login(nil, auth, stranger, 1)
		e.refused(err, CodeUnknownCredential, before)
	})
	for _, c := range []struct {
		name   string
		change func(p *store.Principal)
		code   string
	}{
		{"disabled", func(p *store.Principal) { p.Enabled = false }, CodePrincipalDisabled},
		{"deleted", func(p *store.Principal) { p.Deleted = true }, CodePrincipalDeleted},
		{"expired", func(p *store.Principal) { p.Expires = e.clock.Now().Add(-time.Hour) }, CodePrincipalExpired},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := e.alice
			c.change(&p)
			e.putPrincipal(p)
			defer e.putPrincipal(e.alice)
			before := e.snapshot()
			_, err := e.login(nil, auth, cred, 1)
			e.refused(err, c.code, before)
			_, _, err = e.register(p, auth, DefaultProfile())
			e.refused(err, c.code, before)
		})
	}
	t.Run("account expiring later is fine", func(t *testing.T) {
		p := e.alice
		p.Expires = e.clock.Now().Add(time.Hour)
		e.putPrincipal(p)
		defer e.putPrincipal(e.alice)
		if _, err := e.login(nil, auth, cred, 1); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("revoked credential", func(t *testing.T) {
		if err := e.st.RevokeCredential(e.ctx, cred.ID, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		before := e.snapshot()
		_, err := e.login(nil, auth, cred, 100)
		e.refused(err, CodeCredentialRevoked, before)
		// A hinted sign-in no longer lists it.
		if _, ao := e.beginLogin(&e.alice); len(ao.AllowCredentials) != 0 {
			t.Errorf("revoked credential listed: %v", ao.AllowCredentials)
		}
	})
	t.Run("credential registered twice", func(t *testing.T) {
		sid, opts, err := e.rp.BeginRegistration(e.ctx, e.alice, DefaultProfile())
		if err != nil {
			t.Fatal(err)
		}
		before := e.snapshot()
		_, err = e.rp.FinishRegistration(e.ctx, sid, strings.NewReader(e.attest(e.vrp, auth, cred, opts)))
		e.refused(err, CodeCredentialExists, before)
	})
}

func TestBindingKey(t *testing.T) { forStores(t, runBindingKey) }

func runBindingKey(t *testing.T, mk storeFactory) {
	e := newEnvWith(t, mk, nil)
	lowOrder := append([]byte{1}, make([]byte, 31)...)
	for _, k := range [][]byte{nil, make([]byte, 31), make([]byte, 33), make([]byte, 32), lowOrder} {
		_, _, err := e.rp.BeginLogin(e.ctx, nil, k)
		wantCode(t, err, CodeInvalidBindingKey)
	}
	if err := ValidateBindingKey(testBindingKey); err != nil {
		t.Fatal(err)
	}
}

func TestCode(t *testing.T) {
	if Code(nil) != "" || Code(&Error{Code: CodeUVRequired}) != CodeUVRequired {
		t.Error("Code()")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	st := memFactory(t)
	for _, c := range []Config{
		{RPID: testRPID}, // no origins
		{RPID: "https://bad/", Origins: []string{testOrigin}}, // not a domain
		{RPID: testRPID, Origins: []string{testOrigin}, UserVerification: "sometimes"},
	} {
		_, err := New(c, st)
		wantCode(t, err, CodeInvalidConfiguration)
	}
	_, err := New(Config{RPID: testRPID, Origins: []string{testOrigin}}, st, WithProfiles([]Profile{{Name: "x", UserVerification: "maybe"}}, DefaultProfile()))
	wantCode(t, err, CodeInvalidConfiguration)
}
