package assertion

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/google/uuid"
)

// Values of Profile.UserVerification and Profile.Attestation.
const (
	UVRequired          = "required"
	UVPreferred         = "preferred"
	AttestationNone     = "none"
	AttestationEnforced = "enforced"
	// AllUsers in Profile.TargetGroups targets every user.
	AllUsers = "*"
)

// Rule names used in refusal messages.
const (
	RuleUserVerification = "user_verification"
	RuleAttestation      = "attestation"
	RuleAAGUIDBlock      = "aaguid_block"
	RuleAAGUIDAllow      = "aaguid_allow"
	RuleSynced           = "allow_synced"
)

// Profile is a passkey profile (modelled on Entra ID's): which passkeys the
// users it targets may register and sign in with. A user in several profiles
// passes when any of them allows the passkey.
type Profile struct {
	Name string `json:"name" yaml:"name"`
	// TargetGroups selects users by group (group SID, DN or anchor, compared
	// case-insensitively); "*" targets everyone.
	TargetGroups []string `json:"target_groups,omitempty" yaml:"target_groups"`
	// ExcludeGroups removes members of these groups from the profile, even
	// when "*" or another of their groups targets them. "*" is not allowed.
	ExcludeGroups []string `json:"exclude_groups,omitempty" yaml:"exclude_groups"`
	// UserVerification is "required" (default when empty) or "preferred".
	UserVerification string `json:"user_verification,omitempty" yaml:"user_verification"`
	// Attestation is "none" (default when empty) or "enforced": the
	// registration must carry an attestation statement that chains to a
	// root in the offline FIDO metadata blob.
	Attestation string `json:"attestation,omitempty" yaml:"attestation"`
	// AAGUIDAllow, when not empty, lists the only authenticator models allowed.
	AAGUIDAllow []string `json:"aaguid_allow,omitempty" yaml:"aaguid_allow"`
	// AAGUIDBlock lists authenticator models refused.
	AAGUIDBlock []string `json:"aaguid_block,omitempty" yaml:"aaguid_block"`
	// AllowSynced allows backup-eligible (synced) passkeys; false allows
	// device-bound passkeys only.
	AllowSynced bool `json:"allow_synced" yaml:"allow_synced"`
	// EnrolWith lists the ways a user of this profile may open a
	// registration besides a passkey of their own: EnrolTAP (a temporary
	// access pass; always allowed, the helpdesk's way) and EnrolKerberos (an
	// HTTP Negotiate ticket; it only bootstraps the first passkey). Empty:
	// EnrolTAP only.
	EnrolWith []string `json:"enrol_with,omitempty" yaml:"enrol_with"`
	// KerberosMaxAge, when not zero, bounds the age of the ticket's authtime
	// (the user's last password logon) for Kerberos enrolment.
	KerberosMaxAge time.Duration `json:"kerberos_max_age,omitempty" yaml:"kerberos_max_age"`
}

// Ways to open a registration (Profile.EnrolWith).
const (
	EnrolTAP      = "tap"
	EnrolKerberos = "kerberos"
)

// AllowsKerberos reports whether the profile lets a user enrol with a
// Kerberos ticket whose authtime is age old.
func (p Profile) AllowsKerberos(age time.Duration) (allowed, fresh bool) {
	if !slices.Contains(p.EnrolWith, EnrolKerberos) {
		return false, false
	}
	return true, p.KerberosMaxAge == 0 || age <= p.KerberosMaxAge
}

// DefaultProfile is the profile used when none is configured: user
// verification required, no attestation, any authenticator, synced allowed.
func DefaultProfile() Profile {
	return Profile{Name: "default", TargetGroups: []string{AllUsers}, UserVerification: UVRequired,
		Attestation: AttestationNone, AllowSynced: true}
}

// Validate checks the profile's values.
func (p Profile) Validate() error {
	if p.Name == "" {
		return newErr(CodeInvalidConfiguration, "passkey profile without a name", nil)
	}
	switch p.UserVerification {
	case "", UVRequired, UVPreferred:
	default:
		return newErr(CodeInvalidConfiguration, fmt.Sprintf("profile %q: user_verification %q is not required or preferred", p.Name, p.UserVerification), nil)
	}
	switch p.Attestation {
	case "", AttestationNone, AttestationEnforced:
	default:
		return newErr(CodeInvalidConfiguration, fmt.Sprintf("profile %q: attestation %q is not none or enforced", p.Name, p.Attestation), nil)
	}
	for _, m := range p.EnrolWith {
		if m != EnrolTAP && m != EnrolKerberos {
			return newErr(CodeInvalidConfiguration, fmt.Sprintf("profile %q: enrol_with %q is not tap or kerberos", p.Name, m), nil)
		}
	}
	if len(p.EnrolWith) > 0 && !slices.Contains(p.EnrolWith, EnrolTAP) {
		return newErr(CodeInvalidConfiguration, fmt.Sprintf("profile %q: enrol_with must keep tap (temporary access passes are the helpdesk's way in)", p.Name), nil)
	}
	if p.KerberosMaxAge < 0 || (p.KerberosMaxAge > 0 && !slices.Contains(p.EnrolWith, EnrolKerberos)) {
		return newErr(CodeInvalidConfiguration, fmt.Sprintf("profile %q: kerberos_max_age needs enrol_with to list kerberos, and must not be negative", p.Name), nil)
	}
	if slices.Contains(p.ExcludeGroups, AllUsers) {
		return newErr(CodeInvalidConfiguration, fmt.Sprintf("profile %q: exclude_groups cannot hold %q (it would exclude everyone)", p.Name, AllUsers), nil)
	}
	for _, list := range [][]string{p.AAGUIDAllow, p.AAGUIDBlock} {
		for _, s := range list {
			if _, err := uuid.Parse(s); err != nil {
				return newErr(CodeInvalidConfiguration, fmt.Sprintf("profile %q: AAGUID %q is not a UUID", p.Name, s), err)
			}
		}
	}
	return nil
}

func (p Profile) uvRequired() bool { return p.UserVerification != UVPreferred }

func (p Profile) attestationEnforced() bool { return p.Attestation == AttestationEnforced }

// wantsAAGUID tells whether the profile looks at the AAGUID at all.
func (p Profile) wantsAAGUID() bool { return len(p.AAGUIDAllow) > 0 || len(p.AAGUIDBlock) > 0 }

// needsAttestedModel: the profile trusts an authenticator's model only when
// its attestation was verified against FIDO metadata (an allow list of
// models is worthless against a self-claimed AAGUID).
func (p Profile) needsAttestedModel() bool { return p.attestationEnforced() || len(p.AAGUIDAllow) > 0 }

// ResolveProfiles returns the profiles that apply to a user who is a member of
// userGroups (identifiers: SIDs, DNs, anchors). A profile applies when one of
// its TargetGroups matches and none of its ExcludeGroups does. When none
// applies, the result is the default profile alone.
func ResolveProfiles(profiles []Profile, defaultProfile Profile, userGroups []string) []Profile {
	var out []Profile
	for _, p := range profiles {
		if matchesAny(p.TargetGroups, userGroups, true) && !matchesAny(p.ExcludeGroups, userGroups, false) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return []Profile{defaultProfile}
	}
	return out
}

func matchesAny(list, userGroups []string, wildcard bool) bool {
	for _, g := range list {
		if wildcard && g == AllUsers {
			return true
		}
		if slices.ContainsFunc(userGroups, func(u string) bool { return strings.EqualFold(u, g) }) {
			return true
		}
	}
	return false
}

// CredentialFacts is what the profile rules look at.
type CredentialFacts struct {
	AAGUID         uuid.UUID
	BackupEligible bool
	UserVerified   bool
	// AttestationFmt and AttestationType as verified by go-webauthn
	// ("packed", "basic_full", ...); registration only.
	AttestationFmt  string
	AttestationType string
	// MetadataVerified is true when the attestation was verified against the
	// FIDO metadata (trust anchor, status); registration only.
	MetadataVerified bool
	// MetadataProblem says why the attestation did not verify against the
	// FIDO metadata, when it was tried and failed (or no metadata is
	// configured); registration only. Profiles enforcing attestation quote it.
	MetadataProblem string
	// Attested is true at sign-in when the credential's attestation was
	// verified against FIDO metadata when it was registered.
	Attested bool
}

type refusal struct {
	profile, rule, why string
}

func (r refusal) String() string {
	return fmt.Sprintf("profile %q rule %s: %s", r.profile, r.rule, r.why)
}

// trustedAttestationType tells whether t has a certificate trust path that
// can chain to a metadata root.
func trustedAttestationType(t string) bool {
	switch t {
	case "basic_full", "attca", "anonca":
		return true
	}
	return false
}

func (p Profile) checkRegistration(f CredentialFacts) *refusal {
	if p.uvRequired() && !f.UserVerified {
		return &refusal{p.Name, RuleUserVerification, "user verification required"}
	}
	unattested := f.unattested()
	if p.attestationEnforced() && unattested != "" {
		return &refusal{p.Name, RuleAttestation, unattested}
	}
	if len(p.AAGUIDAllow) > 0 && unattested != "" {
		return &refusal{p.Name, RuleAAGUIDAllow, fmt.Sprintf(
			"the allow list admits only models attested against FIDO metadata; model %s is only claimed by the authenticator (%s)", f.AAGUID, unattested)}
	}
	return p.checkCommon(f)
}

// unattested says why the registration's model is not attested (its
// attestation verified through a certificate path to FIDO metadata); ""
// when it is.
func (f CredentialFacts) unattested() string {
	switch {
	case f.AttestationFmt == "" || f.AttestationFmt == AttestationNone:
		return "no attestation was provided"
	case !trustedAttestationType(f.AttestationType):
		return fmt.Sprintf("attestation type %q has no certificate trust path", f.AttestationType)
	case !f.MetadataVerified && f.MetadataProblem != "":
		return f.MetadataProblem
	case !f.MetadataVerified:
		return "attestation not verified against FIDO metadata"
	}
	return ""
}

func (p Profile) checkLogin(f CredentialFacts) *refusal {
	if p.uvRequired() && !f.UserVerified {
		return &refusal{p.Name, RuleUserVerification, "user verification required"}
	}
	if p.attestationEnforced() && !f.Attested {
		return &refusal{p.Name, RuleAttestation,
			"this passkey was registered without a verified attestation, so its model is unknown; enrol it again"}
	}
	if len(p.AAGUIDAllow) > 0 && !f.Attested {
		return &refusal{p.Name, RuleAAGUIDAllow,
			"this passkey was registered without a verified attestation, so its model cannot be checked against the allow list; enrol it again"}
	}
	return p.checkCommon(f)
}

func (p Profile) checkCommon(f CredentialFacts) *refusal {
	if containsUUID(p.AAGUIDBlock, f.AAGUID) {
		return &refusal{p.Name, RuleAAGUIDBlock, fmt.Sprintf("authenticator AAGUID %s is blocked", f.AAGUID)}
	}
	if len(p.AAGUIDAllow) > 0 && !containsUUID(p.AAGUIDAllow, f.AAGUID) {
		return &refusal{p.Name, RuleAAGUIDAllow, fmt.Sprintf("authenticator AAGUID %s is not in the allow list", f.AAGUID)}
	}
	if f.BackupEligible && !p.AllowSynced {
		return &refusal{p.Name, RuleSynced, "synced (backup-eligible) passkeys are not allowed"}
	}
	return nil
}

func containsUUID(list []string, id uuid.UUID) bool {
	for _, s := range list {
		if u, err := uuid.Parse(s); err == nil && u == id {
			return true
		}
	}
	return false
}

// CheckRegistration applies prof to a credential being registered. It
// returns nil, or an *Error with code uv_required, attestation_refused or
// profile_refused naming the profile and the rule.
func CheckRegistration(prof Profile, f CredentialFacts) error {
	_, err := AdmitRegistration([]Profile{prof}, f)
	return err
}

// AdmitRegistration applies the user's profiles to a credential being
// registered: it passes when any profile allows it (user verification,
// attestation against the metadata, AAGUID allow/block, synced) and returns
// the first profile, in the order given, that does. When every profile
// refuses, the *Error names each profile and the rule that refused (code as
// for CheckLogin, with attestation_refused when every refusal is about
// attestation).
func AdmitRegistration(profiles []Profile, f CredentialFacts) (Profile, error) {
	if len(profiles) == 0 {
		return Profile{}, newErr(CodeProfileRefused, "no passkey profile applies", nil)
	}
	refusals := make([]refusal, 0, len(profiles))
	for _, p := range profiles {
		r := p.checkRegistration(f)
		if r == nil {
			return p, nil
		}
		refusals = append(refusals, *r)
	}
	return Profile{}, refusalError(refusals)
}

// registrationUV is the user verification to ask for when registering under
// profiles: required only when every profile requires it. With "preferred",
// a profile that requires UV admits the credential only when UV was done.
func registrationUV(profiles []Profile) protocol.UserVerificationRequirement {
	for _, p := range profiles {
		if !p.uvRequired() {
			return protocol.VerificationPreferred
		}
	}
	return protocol.VerificationRequired
}

// registrationConveyance asks for direct attestation when any profile
// enforces attestation or looks at the authenticator model.
func registrationConveyance(profiles []Profile) protocol.ConveyancePreference {
	for _, p := range profiles {
		if p.attestationEnforced() || p.wantsAAGUID() {
			return protocol.PreferDirectAttestation
		}
	}
	return protocol.PreferNoAttestation
}

func anyEnforcesAttestation(profiles []Profile) bool {
	return slices.ContainsFunc(profiles, Profile.attestationEnforced)
}

// anyNeedsAttestedModel: some profile needs the attestation verified
// against FIDO metadata (enforced attestation or an allow list).
func anyNeedsAttestedModel(profiles []Profile) bool {
	return slices.ContainsFunc(profiles, Profile.needsAttestedModel)
}

// NeedsMetadata reports whether the profile can admit anyone only with FIDO
// metadata configured (enforced attestation or an AAGUID allow list), with
// the reason for an administrator.
func (p Profile) NeedsMetadata() (bool, string) {
	switch {
	case p.attestationEnforced():
		return true, "enforces attestation"
	case len(p.AAGUIDAllow) > 0:
		return true, "has an aaguid_allow list, which admits only models attested against FIDO metadata"
	}
	return false, ""
}

// CheckLogin applies the user's profiles to a credential used for sign-in:
// it passes when any profile allows it (AAGUID allow/block, synced, user
// verification). The refusal names every profile and the rule that refused.
func CheckLogin(profiles []Profile, f CredentialFacts) error {
	if len(profiles) == 0 {
		return newErr(CodeProfileRefused, "no passkey profile applies", nil)
	}
	var refusals []refusal
	for _, p := range profiles {
		r := p.checkLogin(f)
		if r == nil {
			return nil
		}
		refusals = append(refusals, *r)
	}
	return refusalError(refusals)
}

// refusalError picks the most specific code: uv_required or
// attestation_refused when every refusal is of that rule, else profile_refused.
func refusalError(rs []refusal) *Error {
	msgs := make([]string, len(rs))
	same := true
	for i, r := range rs {
		msgs[i] = r.String()
		same = same && r.rule == rs[0].rule
	}
	code := CodeProfileRefused
	if same {
		switch rs[0].rule {
		case RuleUserVerification:
			code = CodeUVRequired
		case RuleAttestation:
			code = CodeAttestationRefused
		}
	}
	return newErr(code, strings.Join(msgs, "; "), nil)
}
