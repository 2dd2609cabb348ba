package assertion

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/passkdc/passkdc/store"
)

// maxUserHandle is WebAuthn's limit on user.id.
const maxUserHandle = 64

// BeginRegistration starts registering a passkey for p under profile prof.
// The user handle is the principal's anchor; the credential must be
// discoverable; user verification and attestation follow the profile; the
// user's existing credentials are excluded. It returns the session ID to pass
// to FinishRegistration and the options for navigator.credentials.create().
func (r *RelyingParty) BeginRegistration(ctx context.Context, p store.Principal, prof Profile) (string, *protocol.CredentialCreation, error) {
	if p.Anchor == "" || len(p.Anchor) > maxUserHandle {
		return "", nil, newErr(CodeInvalidPrincipal, "principal anchor empty or longer than 64 bytes", nil)
	}
	if err := prof.Validate(); err != nil {
		return "", nil, err
	}
	if prof.attestationEnforced() && r.waMDS == nil {
		return "", nil, newErr(CodeAttestationRefused, fmt.Sprintf("profile %q rule %s: attestation enforced but no FIDO metadata is configured", prof.Name, RuleAttestation), nil)
	}
	if err := principalUsable(p, r.now()); err != nil {
		return "", nil, err
	}
	u, err := r.user(ctx, p)
	if err != nil {
		return "", nil, err
	}
	exclude := make([]protocol.CredentialDescriptor, len(u.creds))
	for i, c := range u.creds {
		exclude[i] = c.Descriptor()
	}
	uv := protocol.VerificationRequired
	if !prof.uvRequired() {
		uv = protocol.VerificationPreferred
	}
	conveyance := protocol.PreferNoAttestation
	if prof.attestationEnforced() || prof.wantsAAGUID() {
		conveyance = protocol.PreferDirectAttestation
	}
	creation, sd, err := r.wa.BeginRegistration(u,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   uv,
		}),
		webauthn.WithExclusions(exclude),
		webauthn.WithConveyancePreference(conveyance),
	)
	if err != nil {
		return "", nil, newErr(CodeInternal, "building creation options", err)
	}
	id, err := r.createSession(ctx, KindRegister, p.Anchor, sessionState{WebAuthn: *sd, Profile: &prof}, nil)
	if err != nil {
		return "", nil, err
	}
	return id, creation, nil
}

// FinishRegistration verifies the authenticator's response (the JSON of a
// PublicKeyCredential from navigator.credentials.create()) for the session,
// applies the session's profile and stores the new credential. The session is
// consumed whether or not registration succeeds.
func (r *RelyingParty) FinishRegistration(ctx context.Context, sessionID string, body io.Reader) (store.Credential, error) {
	b, err := readBody(body, r.cfg.MaxBodyBytes)
	if err != nil {
		return store.Credential{}, err
	}
	parsed, err := parseCreation(b)
	if err != nil {
		return store.Credential{}, err
	}
	s, st, err := r.consumeSession(ctx, sessionID, KindRegister)
	if err != nil {
		return store.Credential{}, err
	}
	if st.Profile == nil {
		return store.Credential{}, newErr(CodeInternal, "registration session without profile", nil)
	}
	cred, err := r.verifyRegistration(ctx, s, st, parsed)
	if err != nil {
		return store.Credential{}, err
	}
	if err := r.st.CreateCredential(ctx, cred); err != nil {
		switch {
		case errors.Is(err, store.ErrExists):
			return store.Credential{}, newErr(CodeCredentialExists, "credential is already registered", err)
		case errors.Is(err, store.ErrNotFound):
			return store.Credential{}, newErr(CodePrincipalDeleted, "principal disappeared from the store", err)
		}
		return store.Credential{}, newErr(CodeInternal, "storing credential", err)
	}
	return cred, nil
}

func (r *RelyingParty) verifyRegistration(ctx context.Context, s store.Session, st sessionState, parsed *protocol.ParsedCredentialCreationData) (store.Credential, error) {
	prof := *st.Profile
	p, err := r.loadPrincipal(ctx, s.Principal)
	if err != nil {
		return store.Credential{}, err
	}
	if err := principalUsable(p, r.now()); err != nil {
		return store.Credential{}, err
	}
	sd := st.WebAuthn
	if err := r.checkClientData(parsed.Response.CollectedClientData, protocol.CreateCeremony, sd.Challenge); err != nil {
		return store.Credential{}, err
	}
	authData := parsed.Response.AttestationObject.AuthData
	if err := r.checkAuthData(authData, r.cfg.RPID, sd.UserVerification == protocol.VerificationRequired); err != nil {
		return store.Credential{}, err
	}
	wa := r.wa
	if prof.attestationEnforced() {
		if r.waMDS == nil {
			return store.Credential{}, newErr(CodeAttestationRefused, fmt.Sprintf("profile %q rule %s: no FIDO metadata configured", prof.Name, RuleAttestation), nil)
		}
		wa = r.waMDS
	}
	wc, err := wa.CreateCredential(&waUser{p: p}, sd, parsed)
	if err != nil {
		x := classifyProtocol(err, CodeVerificationFailed)
		if x.Code == CodeAttestationRefused || x.Code == CodeProfileRefused {
			x.Message = fmt.Sprintf("profile %q rule %s: %s", prof.Name, RuleAttestation, x.Message)
		}
		return store.Credential{}, x
	}
	aaguid, err := uuid.FromBytes(wc.Authenticator.AAGUID)
	if err != nil {
		return store.Credential{}, newErr(CodeMalformedRequest, "AAGUID is not 16 bytes", err)
	}
	facts := CredentialFacts{
		AAGUID: aaguid, BackupEligible: wc.Flags.BackupEligible, UserVerified: wc.Flags.UserVerified,
		AttestationFmt: wc.AttestationFormat, AttestationType: wc.AttestationType,
		MetadataVerified: prof.attestationEnforced(), // CreateCredential checked it against the metadata
	}
	if err := CheckRegistration(prof, facts); err != nil {
		return store.Credential{}, err
	}
	return r.newCredential(p, prof, wc), nil
}

func (r *RelyingParty) newCredential(p store.Principal, prof Profile, wc *webauthn.Credential) store.Credential {
	tr := make([]string, len(wc.Transport))
	for i, t := range wc.Transport {
		tr[i] = string(t)
	}
	return store.Credential{
		ID: slicesClone(wc.ID), Principal: p.Anchor, PublicKey: slicesClone(wc.PublicKey),
		AttestationType: wc.AttestationType, AttestationFmt: wc.AttestationFormat,
		AAGUID: slicesClone(wc.Authenticator.AAGUID), Transports: tr, SignCount: wc.Authenticator.SignCount,
		BackupEligible: wc.Flags.BackupEligible, BackupState: wc.Flags.BackupState,
		UserVerified: wc.Flags.UserVerified, Profile: prof.Name, CreatedAt: r.now().UTC(),
	}
}
