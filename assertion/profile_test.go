package assertion

import (
	"reflect"
	"strings"
	"testing"

	"github.com/descope/virtualwebauthn"
	"github.com/google/uuid"

	"github.com/passkdc/passkdc/store"
)

func names(ps []Profile) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func TestResolveProfiles(t *testing.T) {
	const (
		admins  = "S-1-5-21-1-2-3-512"
		staff   = "CN=Staff,OU=Groups,DC=corp,DC=example,DC=test"
		interns = "9a0e6c1d-1111-4aaa-8bbb-0123456789ab"
	)
	profiles := []Profile{
		{Name: "admins", TargetGroups: []string{admins}},
		{Name: "staff", TargetGroups: []string{staff}, ExcludeGroups: []string{interns}},
		{Name: "everyone-but-admins", TargetGroups: []string{AllUsers}, ExcludeGroups: []string{admins}},
	}
	def := Profile{Name: "fallback"}
	cases := []struct {
		name     string
		profiles []Profile
		groups   []string
		want     []string
	}{
		{"no profiles configured", nil, []string{admins}, []string{"fallback"}},
		{"admin", profiles, []string{admins}, []string{"admins"}},
		{"staff (DN case-insensitive)", profiles, []string{strings.ToLower(staff)}, []string{"staff", "everyone-but-admins"}},
		{"admin and staff", profiles, []string{staff, admins}, []string{"admins", "staff"}},
		{"intern excluded from staff", profiles, []string{staff, interns}, []string{"everyone-but-admins"}},
		{"no groups", profiles, nil, []string{"everyone-but-admins"}},
		{"nothing matches", profiles[:2], []string{"S-1-5-21-9-9-9-1000"}, []string{"fallback"}},
		{"excluded everywhere", profiles[:2], []string{interns}, []string{"fallback"}},
		{"SID upper/lower case", profiles[:1], []string{strings.ToLower(admins)}, []string{"admins"}},
		{"empty target matches nobody", []Profile{{Name: "empty"}}, []string{admins}, []string{"fallback"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := names(ResolveProfiles(c.profiles, def, c.groups)); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestCheckLoginAnyProfileAllows(t *testing.T) {
	yubi := uuid.MustParse("cb69481e-8ff7-4039-93ec-0a2729a154a8")
	other := uuid.MustParse("00000000-0000-4000-8000-000000000001")
	strict := Profile{Name: "strict", AAGUIDAllow: []string{yubi.String()}}
	synced := Profile{Name: "synced", AllowSynced: true, UserVerification: UVPreferred}
	blocker := Profile{Name: "blocker", AAGUIDBlock: []string{strings.ToUpper(other.String())}, AllowSynced: true}
	cases := []struct {
		name     string
		profiles []Profile
		f        CredentialFacts
		code     string
		mention  []string
	}{
		{"allowed model", []Profile{strict}, CredentialFacts{AAGUID: yubi, UserVerified: true, Attested: true}, "", nil},
		{"allowed model never attested", []Profile{strict}, CredentialFacts{AAGUID: yubi, UserVerified: true}, CodeProfileRefused, []string{`"strict"`, RuleAAGUIDAllow, "enrol it again"}},
		{"other model", []Profile{strict}, CredentialFacts{AAGUID: other, UserVerified: true}, CodeProfileRefused, []string{`"strict"`, RuleAAGUIDAllow}},
		{"synced refused by strict, allowed by synced", []Profile{strict, synced}, CredentialFacts{AAGUID: other, BackupEligible: true}, "", nil},
		{"blocked model", []Profile{blocker}, CredentialFacts{AAGUID: other, UserVerified: true}, CodeProfileRefused, []string{`"blocker"`, RuleAAGUIDBlock}},
		{"synced on device-bound profile", []Profile{{Name: "bound"}}, CredentialFacts{BackupEligible: true, UserVerified: true}, CodeProfileRefused, []string{`"bound"`, RuleSynced}},
		{"no UV everywhere", []Profile{{Name: "a", AllowSynced: true}, {Name: "b", AllowSynced: true}}, CredentialFacts{}, CodeUVRequired, []string{`"a"`, `"b"`}},
		{"mixed refusals", []Profile{strict, {Name: "bound"}}, CredentialFacts{AAGUID: other, BackupEligible: true, UserVerified: true}, CodeProfileRefused, []string{RuleAAGUIDAllow, RuleSynced}},
		{"zero AAGUID vs allow list", []Profile{strict}, CredentialFacts{UserVerified: true}, CodeProfileRefused, []string{RuleAAGUIDAllow}},
		{"no profiles", nil, CredentialFacts{UserVerified: true}, CodeProfileRefused, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckLogin(c.profiles, c.f)
			if c.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			x := wantCode(t, err, c.code)
			for _, m := range c.mention {
				if !strings.Contains(x.Message, m) {
					t.Errorf("message %q does not mention %s", x.Message, m)
				}
			}
		})
	}
}

func TestCheckRegistrationAttestation(t *testing.T) {
	p := Profile{Name: "attested", Attestation: AttestationEnforced, AllowSynced: true}
	for _, f := range []CredentialFacts{
		{UserVerified: true, AttestationFmt: "none", AttestationType: "none", MetadataVerified: true},
		{UserVerified: true, AttestationFmt: "packed", AttestationType: "basic_surrogate", MetadataVerified: true},
		{UserVerified: true, AttestationFmt: "packed", AttestationType: "basic_full"},
	} {
		x := wantCode(t, CheckRegistration(p, f), CodeAttestationRefused)
		if !strings.Contains(x.Message, `"attested"`) || !strings.Contains(x.Message, RuleAttestation) {
			t.Errorf("message %q", x.Message)
		}
	}
	ok := CredentialFacts{UserVerified: true, AttestationFmt: "packed", AttestationType: "basic_full", MetadataVerified: true}
	if err := CheckRegistration(p, ok); err != nil {
		t.Fatal(err)
	}
}

func TestProfileValidate(t *testing.T) {
	bad := []Profile{
		{},
		{Name: "x", UserVerification: "discouraged"},
		{Name: "x", Attestation: "direct"},
		{Name: "x", AAGUIDAllow: []string{"not-a-uuid"}},
		{Name: "x", AAGUIDBlock: []string{"1234"}},
	}
	for _, p := range bad {
		wantCode(t, p.Validate(), CodeInvalidConfiguration)
	}
	if err := DefaultProfile().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestProfilesInCeremonies runs the AAGUID and synced rules through real
// registrations and sign-ins.
func TestProfilesInCeremonies(t *testing.T) { forStores(t, runProfilesInCeremonies) }

func runProfilesInCeremonies(t *testing.T, mk storeFactory) {
	group := store.Group{Anchor: "11111111-2222-4333-8444-555555555555", Directory: "default", Name: "Locked",
		DN: "CN=Locked,DC=corp,DC=example,DC=test", SID: "S-1-5-21-1-2-3-4001"}

	t.Run("AAGUID block and allow at registration", func(t *testing.T) {
		e := newEnvWith(t, mk, nil)
		auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
		aaguid := uuid.UUID(auth.Aaguid).String()
		block := DefaultProfile()
		block.Name, block.AAGUIDBlock = "no-this-model", []string{aaguid}
		sid, opts, err := e.rp.BeginRegistration(e.ctx, e.alice, block)
		if err != nil {
			t.Fatal(err)
		}
		if opts.Response.Attestation != "direct" {
			t.Errorf("AAGUID rules should request direct attestation, got %q", opts.Response.Attestation)
		}
		_, err = e.rp.FinishRegistration(e.ctx, sid, strings.NewReader(e.attest(e.vrp, auth, newCred(), opts)))
		x := e.refused(err, CodeProfileRefused, nil)
		if !strings.Contains(x.Message, `"no-this-model"`) || !strings.Contains(x.Message, RuleAAGUIDBlock) {
			t.Errorf("message %q", x.Message)
		}
		allowOther := DefaultProfile()
		allowOther.Name, allowOther.AAGUIDAllow = "only-other", []string{"cb69481e-8ff7-4039-93ec-0a2729a154a8"}
		_, _, err = e.register(e.alice, auth, allowOther)
		e.refused(err, CodeProfileRefused, nil)
		allowThis := DefaultProfile()
		allowThis.Name, allowThis.AAGUIDAllow = "only-this", []string{strings.ToUpper(aaguid)}
		// Without FIDO metadata the model is only claimed: an allow list
		// admits nobody (with metadata: TestAttestationEnforced).
		_, _, err = e.register(e.alice, auth, allowThis)
		if x := e.refused(err, CodeProfileRefused, nil); !strings.Contains(x.Message, "no FIDO metadata") {
			t.Errorf("message %q", x.Message)
		}
	})

	t.Run("AAGUID block at sign-in", func(t *testing.T) {
		auth := newAuth(store.Principal{Anchor: "6f1c3a52-8d1e-4c1b-9e36-0d2f5a7b9c01"}, virtualwebauthn.AuthenticatorOptions{})
		block := DefaultProfile()
		block.Name, block.TargetGroups, block.AAGUIDBlock = "locked", []string{group.SID}, []string{uuid.UUID(auth.Aaguid).String()}
		e := newEnvWith(t, mk, nil, WithProfiles([]Profile{block}, DefaultProfile()))
		cred := e.mustRegister(e.alice, auth)
		if _, err := e.login(nil, auth, cred, 1); err != nil {
			t.Fatalf("before joining the group: %v", err)
		}
		e.setGroups(e.alice.Anchor, group)
		before := e.snapshot()
		_, err := e.login(nil, auth, cred, 2)
		x := e.refused(err, CodeProfileRefused, before)
		if !strings.Contains(x.Message, `"locked"`) || !strings.Contains(x.Message, RuleAAGUIDBlock) {
			t.Errorf("message %q", x.Message)
		}
	})

	t.Run("allow_synced=false at registration and sign-in", func(t *testing.T) {
		bound := DefaultProfile()
		bound.Name, bound.TargetGroups, bound.AllowSynced = "device-bound", []string{group.DN}, false
		e := newEnvWith(t, mk, nil, WithProfiles([]Profile{bound}, DefaultProfile()))
		syncedAuth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{BackupEligible: true, BackupState: true})
		_, _, err := e.register(e.alice, syncedAuth, bound)
		x := e.refused(err, CodeProfileRefused, nil)
		if !strings.Contains(x.Message, `"device-bound"`) || !strings.Contains(x.Message, RuleSynced) {
			t.Errorf("message %q", x.Message)
		}
		// Registered under the default profile, then the user joins the group.
		_, sc, err := e.register(e.alice, syncedAuth, DefaultProfile())
		if err != nil || !sc.BackupEligible || !sc.BackupState {
			t.Fatalf("synced registration under default: %v %+v", err, sc)
		}
		cred := syncedAuth.Credentials[0]
		if _, err := e.login(nil, syncedAuth, cred, 1); err != nil {
			t.Fatal(err)
		}
		e.setGroups(e.alice.Anchor, group)
		before := e.snapshot()
		_, err = e.login(nil, syncedAuth, cred, 2)
		e.refused(err, CodeProfileRefused, before)
		// Device-bound passkeys still work for that user.
		e.setGroups(e.alice.Anchor)
		boundAuth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
		bc := e.mustRegister(e.alice, boundAuth)
		e.setGroups(e.alice.Anchor, group)
		if _, err := e.login(nil, boundAuth, bc, 1); err != nil {
			t.Fatalf("device-bound sign-in: %v", err)
		}
	})

	t.Run("backup eligibility changed", func(t *testing.T) {
		e := newEnvWith(t, mk, nil)
		auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
		cred := e.mustRegister(e.alice, auth)
		auth.Options.BackupEligible = true
		before := e.snapshot()
		_, err := e.login(nil, auth, cred, 1)
		e.refused(err, CodeBackupFlagsInvalid, before)
	})

	t.Run("attestation enforced without metadata", func(t *testing.T) {
		e := newEnvWith(t, mk, nil)
		p := DefaultProfile()
		p.Attestation = AttestationEnforced
		_, _, err := e.rp.BeginRegistration(e.ctx, e.alice, p)
		wantCode(t, err, CodeAttestationRefused)
	})
}

// TestResolveProfilesExclusionOverrides: an excluded group removes the user
// from a profile whatever targets them (a listed group or "*"), compared
// case-insensitively; only that profile is affected.
func TestResolveProfilesExclusionOverrides(t *testing.T) {
	const (
		staff      = "S-1-5-21-1-2-3-1100"
		contractor = "CN=Contractors,OU=Groups,DC=corp,DC=example,DC=test"
	)
	def := Profile{Name: "fallback"}
	everyone := Profile{Name: "everyone", TargetGroups: []string{AllUsers}, ExcludeGroups: []string{contractor}}
	staffOnly := Profile{Name: "staff", TargetGroups: []string{staff, contractor}, ExcludeGroups: []string{contractor}}
	plain := Profile{Name: "plain-staff", TargetGroups: []string{staff}}
	cases := []struct {
		name     string
		profiles []Profile
		groups   []string
		want     []string
	}{
		{"wildcard target, excluded", []Profile{everyone}, []string{contractor}, []string{"fallback"}},
		{"wildcard target, exclusion in another case", []Profile{everyone}, []string{strings.ToUpper(contractor)}, []string{"fallback"}},
		{"target and exclusion name the same group", []Profile{staffOnly}, []string{contractor}, []string{"fallback"}},
		{"target by another group, still excluded", []Profile{staffOnly}, []string{staff, contractor}, []string{"fallback"}},
		{"exclusion only affects its own profile", []Profile{staffOnly, plain}, []string{staff, contractor}, []string{"plain-staff"}},
		{"not excluded", []Profile{everyone, staffOnly}, []string{staff}, []string{"everyone", "staff"}},
		{"config order kept", []Profile{plain, everyone}, []string{staff}, []string{"plain-staff", "everyone"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := names(ResolveProfiles(c.profiles, def, c.groups)); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

// TestResolveProfilesDefault: the default profile applies only when no
// configured profile does, and is returned as configured.
func TestResolveProfilesDefault(t *testing.T) {
	def := DefaultProfile()
	def.Name, def.AllowSynced = "house-rules", false
	got := ResolveProfiles([]Profile{{Name: "admins", TargetGroups: []string{"S-1-5-21-1-2-3-512"}}}, def, []string{"S-1-5-21-1-2-3-513"})
	if len(got) != 1 || !reflect.DeepEqual(got[0], def) {
		t.Fatalf("got %+v, want the default %+v", got, def)
	}
	if got := ResolveProfiles([]Profile{{Name: "all", TargetGroups: []string{AllUsers}}}, def, nil); len(got) != 1 || got[0].Name != "all" {
		t.Fatalf("a profile targeting everyone must replace the default, got %v", names(got))
	}
	// The built-in default: UV required, no attestation, any model, synced allowed.
	d := DefaultProfile()
	if !d.uvRequired() || d.attestationEnforced() || d.wantsAAGUID() || !d.AllowSynced || !reflect.DeepEqual(d.TargetGroups, []string{AllUsers}) {
		t.Fatalf("DefaultProfile() = %+v", d)
	}
}

// TestRelyingPartyProfilesFromStoreGroups resolves profiles from the groups
// the store holds for a user, matched by SID, DN or anchor.
func TestRelyingPartyProfilesFromStoreGroups(t *testing.T) {
	forStores(t, func(t *testing.T, mk storeFactory) {
		admins := store.Group{Anchor: "0d6a9f3e-1111-4222-8333-444455556666", Directory: "default", Name: "Domain Admins",
			DN: "CN=Domain Admins,CN=Users,DC=corp,DC=example,DC=test", SID: "S-1-5-21-1-2-3-512"}
		staff := store.Group{Anchor: "0d6a9f3e-1111-4222-8333-444455557777", Directory: "default", Name: "Staff",
			DN: "CN=Staff,OU=Groups,DC=corp,DC=example,DC=test", SID: "S-1-5-21-1-2-3-1100"}
		bySID := Profile{Name: "by-sid", TargetGroups: []string{admins.SID}, AllowSynced: false}
		byDN := Profile{Name: "by-dn", TargetGroups: []string{strings.ToLower(staff.DN)}, ExcludeGroups: []string{admins.Anchor}, AllowSynced: true}
		byAnchor := Profile{Name: "by-anchor", TargetGroups: []string{staff.Anchor}, AllowSynced: true}
		def := DefaultProfile()
		e := newEnvWith(t, mk, nil, WithProfiles([]Profile{bySID, byDN, byAnchor}, def))
		cases := []struct {
			name   string
			groups []store.Group
			want   []string
		}{
			{"no groups", nil, []string{"default"}},
			{"staff", []store.Group{staff}, []string{"by-dn", "by-anchor"}},
			{"admin", []store.Group{admins}, []string{"by-sid"}},
			{"admin and staff: excluded from by-dn", []store.Group{admins, staff}, []string{"by-sid", "by-anchor"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.setGroups(e.alice.Anchor, c.groups...)
				got, err := e.rp.Profiles(e.ctx, e.alice.Anchor)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(names(got), c.want) {
					t.Errorf("got %v, want %v", names(got), c.want)
				}
			})
		}
	})
}

// TestWithProfilesRejectsInvalidProfiles: a bad profile (or default) is a
// configuration error when the relying party is built.
func TestWithProfilesRejectsInvalidProfiles(t *testing.T) {
	good := DefaultProfile()
	for _, c := range []struct {
		name     string
		profiles []Profile
		def      Profile
	}{
		{"bad profile", []Profile{{Name: "x", AAGUIDBlock: []string{"nope"}}}, good},
		{"bad default", nil, Profile{Name: "d", UserVerification: "discouraged"}},
		{"nameless", []Profile{{TargetGroups: []string{AllUsers}}}, good},
		{"everyone excluded", []Profile{{Name: "x", TargetGroups: []string{AllUsers}, ExcludeGroups: []string{AllUsers}}}, good},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &RelyingParty{}
			wantCode(t, WithProfiles(c.profiles, c.def)(r), CodeInvalidConfiguration)
		})
	}
}
