package assertion

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/google/uuid"

	"github.com/passkdc/passkdc/store"
)

// registerUnder runs a registration of a new credential for alice under
// profiles (none: resolved by the relying party), rewriting the response with
// rewrite when not nil. It returns the creation options sent to the client.
func (e *env) registerUnder(auth *virtualwebauthn.Authenticator, rewrite func(string) string, profiles ...Profile) (*protocol.CredentialCreation, store.Credential, error) {
	e.t.Helper()
	cred := newCred()
	sid, opts, err := e.rp.BeginRegistration(e.ctx, e.alice, profiles...)
	if err != nil {
		return nil, store.Credential{}, err
	}
	body := e.attest(e.vrp, auth, cred, opts)
	if rewrite != nil {
		body = rewrite(body)
	}
	sc, err := e.rp.FinishRegistration(e.ctx, sid, strings.NewReader(body))
	if err == nil {
		auth.AddCredential(cred)
	}
	return opts, sc, err
}

// wantAdmitted fails unless the registration succeeded under profile name,
// recorded in the returned and the stored credential.
func (e *env) wantAdmitted(sc store.Credential, err error, name string) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("want admitted by %q, got %v", name, err)
	}
	stored, gerr := e.st.GetCredential(e.ctx, sc.ID)
	if gerr != nil {
		e.t.Fatalf("GetCredential: %v", gerr)
	}
	if sc.Profile != name || stored.Profile != name {
		e.t.Fatalf("admitted by %q (stored %q), want %q", sc.Profile, stored.Profile, name)
	}
}

func wantMentions(t *testing.T, x *Error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(x.Message, p) {
			t.Errorf("message %q does not mention %s", x.Message, p)
		}
	}
}

func deviceBoundOnly() Profile {
	p := DefaultProfile()
	p.Name, p.AllowSynced = "device-bound-only", false
	return p
}

func syncedOK() Profile {
	p := DefaultProfile()
	p.Name = "synced-ok"
	return p
}

// TestRegistrationAnyProfileAdmitsSynced: a user in a device-bound-only and a
// synced-allowed profile registers a synced passkey (admitted by the second,
// recorded as such) and a device-bound one (admitted by the first, in config
// order); the synced one then signs in.
func TestRegistrationAnyProfileAdmitsSynced(t *testing.T) {
	forStores(t, func(t *testing.T, mk storeFactory) {
		staff := store.Group{Anchor: "0d6a9f3e-1111-4222-8333-444455557777", Directory: "default", Name: "Staff",
			DN: "CN=Staff,OU=Groups,DC=corp,DC=example,DC=test", SID: "S-1-5-21-1-2-3-1100"}
		bound, synced := deviceBoundOnly(), syncedOK()
		bound.TargetGroups, synced.TargetGroups = []string{AllUsers}, []string{staff.SID}
		e := newEnvWith(t, mk, nil, WithProfiles([]Profile{bound, synced}, DefaultProfile()))
		e.setGroups(e.alice.Anchor, staff)

		syncedAuth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{BackupEligible: true, BackupState: true})
		_, sc, err := e.registerUnder(syncedAuth, nil) // profiles resolved from the store
		e.wantAdmitted(sc, err, "synced-ok")
		if !sc.BackupEligible {
			t.Fatalf("stored %+v", sc)
		}
		if _, err := e.login(nil, syncedAuth, syncedAuth.Credentials[0], 1); err != nil {
			t.Fatalf("sign-in with the synced passkey: %v", err)
		}
		boundAuth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
		_, sc, err = e.registerUnder(boundAuth, nil)
		e.wantAdmitted(sc, err, "device-bound-only")

		// Explicit profiles in either order: the first that allows admits.
		_, sc, err = e.registerUnder(newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{BackupEligible: true}), nil, synced, bound)
		e.wantAdmitted(sc, err, "synced-ok")
	})
}

// TestRegistrationExcludedGroupRemovesProfile: the exclusion takes the
// synced-allowed profile away, so the synced passkey is refused by the
// device-bound-only profile alone; without the excluded group it is admitted.
func TestRegistrationExcludedGroupRemovesProfile(t *testing.T) {
	forStores(t, func(t *testing.T, mk storeFactory) {
		staff := store.Group{Anchor: "0d6a9f3e-1111-4222-8333-444455557777", Directory: "default", Name: "Staff",
			DN: "CN=Staff,OU=Groups,DC=corp,DC=example,DC=test", SID: "S-1-5-21-1-2-3-1100"}
		contractors := store.Group{Anchor: "0d6a9f3e-1111-4222-8333-444455558888", Directory: "default", Name: "Contractors",
			DN: "CN=Contractors,OU=Groups,DC=corp,DC=example,DC=test", SID: "S-1-5-21-1-2-3-1200"}
		bound, synced := deviceBoundOnly(), syncedOK()
		bound.TargetGroups = []string{AllUsers}
		synced.TargetGroups, synced.ExcludeGroups = []string{staff.SID}, []string{strings.ToLower(contractors.DN)}
		e := newEnvWith(t, mk, nil, WithProfiles([]Profile{bound, synced}, DefaultProfile()))
		auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{BackupEligible: true})

		e.setGroups(e.alice.Anchor, staff, contractors)
		_, _, err := e.registerUnder(auth, nil)
		x := e.refused(err, CodeProfileRefused, nil)
		wantMentions(t, x, `profile "device-bound-only" rule allow_synced`)
		if strings.Contains(x.Message, "synced-ok") {
			t.Errorf("refusal names the profile the user is excluded from: %q", x.Message)
		}

		e.setGroups(e.alice.Anchor, staff)
		_, sc, err := e.registerUnder(auth, nil)
		e.wantAdmitted(sc, err, "synced-ok")
	})
}

// TestRegistrationAllRefuse: when every profile refuses, the error names each
// profile with its rule; the code is the specific one when all refusals share
// a rule, and nothing is stored.
func TestRegistrationAllRefuse(t *testing.T) {
	e := newEnv(t, nil)
	synced := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{BackupEligible: true})
	blocker := syncedOK()
	blocker.Name, blocker.AAGUIDBlock = "no-this-model", []string{uuid.UUID(synced.Aaguid).String()}
	allowOther := syncedOK()
	allowOther.Name, allowOther.AAGUIDAllow = "only-other", []string{"cb69481e-8ff7-4039-93ec-0a2729a154a8"}
	uvOnly := deviceBoundOnly()
	uvOnly.Name, uvOnly.AllowSynced = "uv-only", true
	noUV := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{UserNotVerified: true, BackupEligible: true})
	lax := deviceBoundOnly()
	lax.Name, lax.UserVerification = "lax-bound", UVPreferred

	cases := []struct {
		name     string
		auth     *virtualwebauthn.Authenticator
		profiles []Profile
		code     string
		mention  []string
	}{
		{"synced and blocked model", synced, []Profile{deviceBoundOnly(), blocker}, CodeProfileRefused,
			[]string{`profile "device-bound-only" rule allow_synced`, `profile "no-this-model" rule aaguid_block`}},
		{"blocked and not allowed model", synced, []Profile{blocker, allowOther}, CodeProfileRefused,
			[]string{`profile "no-this-model" rule aaguid_block`, `profile "only-other" rule aaguid_allow`}},
		{"no UV and synced", noUV, []Profile{uvOnly, lax}, CodeProfileRefused,
			[]string{`profile "uv-only" rule user_verification`, `profile "lax-bound" rule allow_synced`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot()
			_, _, err := e.registerUnder(c.auth, nil, c.profiles...)
			wantMentions(t, e.refused(err, c.code, before), c.mention...)
		})
	}
}

// attestationEnv is a relying party with FIDO metadata trusting one model.
func attestationEnv(t *testing.T) (*env, uuid.UUID, func(string) string) {
	blobRoot := newRootCA(t, "Test MDS Root")
	attRoot := newRootCA(t, "Test Attestation Root")
	good := uuid.New()
	md, err := LoadMetadata(makeBlob(t, blobRoot, mdsEntry{AAGUID: good, Root: attRoot.Cert}), blobRoot.Cert, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	full := func(b string) string { return withFullAttestation(t, b, newAttestationCert(t, attRoot, good)) }
	return newEnv(t, nil, WithMetadata(md)), good, full
}

func attestedProfile(name string) Profile {
	p := DefaultProfile()
	p.Name, p.Attestation = name, AttestationEnforced
	return p
}

// TestRegistrationAttestationAnyProfile: a user in an attestation-enforced
// and a no-attestation profile is asked for direct attestation; a passkey
// without attestation (or with an untrusted one) is admitted by the
// no-attestation profile, a trusted one by the enforcing profile when it comes
// first. When every profile enforces attestation, each is named.
func TestRegistrationAttestationAnyProfile(t *testing.T) {
	e, good, full := attestationEnv(t)
	attested, plain := attestedProfile("attested"), syncedOK()
	plain.Name = "plain"
	none := func(b string) string { return withNoneAttestation(t, b) }
	auth := func() *virtualwebauthn.Authenticator {
		a := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
		a.Aaguid = good
		return a
	}
	cases := []struct {
		name     string
		rewrite  func(string) string
		profiles []Profile
		want     string // admitting profile, or "" for a refusal
		mention  []string
	}{
		{"none attestation, enforced first", none, []Profile{attested, plain}, "plain", nil},
		{"none attestation, none first", none, []Profile{plain, attested}, "plain", nil},
		{"self attestation", nil, []Profile{attested, plain}, "plain", nil},
		{"trusted attestation, enforced first", full, []Profile{attested, plain}, "attested", nil},
		{"trusted attestation, none first", full, []Profile{plain, attested}, "plain", nil},
		{"no attestation, all enforce", none, []Profile{attested, attestedProfile("also-attested")}, "",
			[]string{`profile "attested" rule attestation`, `profile "also-attested" rule attestation`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot()
			opts, sc, err := e.registerUnder(auth(), c.rewrite, c.profiles...)
			if c.want == "" {
				wantMentions(t, e.refused(err, CodeAttestationRefused, before), c.mention...)
				return
			}
			e.wantAdmitted(sc, err, c.want)
			if opts.Response.Attestation != protocol.PreferDirectAttestation {
				t.Errorf("conveyance %q, want direct", opts.Response.Attestation)
			}
		})
	}
}

// TestRegistrationAttestationWithoutMetadata: with no FIDO metadata, a
// profile enforcing attestation cannot admit anything; a user also in a
// profile without attestation still registers under it, and a user only in
// enforcing profiles is refused at begin, each profile named.
func TestRegistrationAttestationWithoutMetadata(t *testing.T) {
	e := newEnv(t, nil)
	plain := syncedOK()
	plain.Name = "plain"
	_, sc, err := e.registerUnder(newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{}), nil, attestedProfile("attested"), plain)
	e.wantAdmitted(sc, err, "plain")

	_, _, err = e.rp.BeginRegistration(e.ctx, e.alice, attestedProfile("a"), attestedProfile("b"))
	x := wantCode(t, err, CodeAttestationRefused)
	wantMentions(t, x, `profile "a" rule attestation`, `profile "b" rule attestation`, "no FIDO metadata")
}

// TestRegistrationUserVerificationMix: UV is asked as "required" only when
// every profile requires it; with a mix, a passkey without UV is admitted
// only by a profile that does not require it, and one with UV by the first.
func TestRegistrationUserVerificationMix(t *testing.T) {
	e := newEnv(t, nil)
	required := syncedOK()
	required.Name = "uv-required"
	preferred := deviceBoundOnly()
	preferred.Name, preferred.UserVerification = "uv-preferred", UVPreferred
	alsoRequired := deviceBoundOnly()
	alsoRequired.Name = "also-required"
	cases := []struct {
		name     string
		opts     virtualwebauthn.AuthenticatorOptions
		profiles []Profile
		wantUV   protocol.UserVerificationRequirement
		want     string // admitting profile, or "" for a refusal
		code     string
		mention  []string
	}{
		{"all require, UV done", virtualwebauthn.AuthenticatorOptions{}, []Profile{required, alsoRequired},
			protocol.VerificationRequired, "uv-required", "", nil},
		{"all require, no UV", virtualwebauthn.AuthenticatorOptions{UserNotVerified: true}, []Profile{required, alsoRequired},
			protocol.VerificationRequired, "", CodeUVRequired,
			[]string{`profile "uv-required" rule user_verification`, `profile "also-required" rule user_verification`}},
		{"mix, UV done", virtualwebauthn.AuthenticatorOptions{}, []Profile{required, preferred},
			protocol.VerificationPreferred, "uv-required", "", nil},
		{"mix, no UV, device-bound", virtualwebauthn.AuthenticatorOptions{UserNotVerified: true}, []Profile{required, preferred},
			protocol.VerificationPreferred, "uv-preferred", "", nil},
		{"mix, no UV, synced", virtualwebauthn.AuthenticatorOptions{UserNotVerified: true, BackupEligible: true}, []Profile{required, preferred},
			protocol.VerificationPreferred, "", CodeProfileRefused,
			[]string{`profile "uv-required" rule user_verification`, `profile "uv-preferred" rule allow_synced`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot()
			opts, sc, err := e.registerUnder(newAuth(e.alice, c.opts), nil, c.profiles...)
			if opts == nil {
				t.Fatalf("begin: %v", err)
			}
			if got := opts.Response.AuthenticatorSelection.UserVerification; got != c.wantUV {
				t.Errorf("options ask for user verification %q, want %q", got, c.wantUV)
			}
			if c.want == "" {
				wantMentions(t, e.refused(err, c.code, before), c.mention...)
				return
			}
			e.wantAdmitted(sc, err, c.want)
			if sc.UserVerified == c.opts.UserNotVerified {
				t.Errorf("stored UserVerified %v", sc.UserVerified)
			}
		})
	}
}

// TestRegistrationSessionProfiles: a session records every profile; a
// session written by a version that knew one profile still finishes under it.
func TestRegistrationSessionProfiles(t *testing.T) {
	one := syncedOK()
	cases := []struct {
		name string
		st   sessionState
		want []string
	}{
		{"several", sessionState{Profiles: []Profile{deviceBoundOnly(), one}, Profile: &Profile{Name: "ignored"}}, []string{"device-bound-only", "synced-ok"}},
		{"older single profile", sessionState{Profile: &one}, []string{"synced-ok"}},
		{"none", sessionState{}, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, err := json.Marshal(c.st)
			if err != nil {
				t.Fatal(err)
			}
			var back sessionState
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatal(err)
			}
			if got := names(back.registrationProfiles()); strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}
