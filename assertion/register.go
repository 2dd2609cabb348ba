package assertion

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/passkdc/passkdc/store"
)

// maxUserHandle is WebAuthn's limit on user.id.
const maxUserHandle = 64

// BeginRegistration starts registering a passkey for p under the passkey
// profiles that apply to p (profiles; none given: resolved from p's groups in
// the store, see Profiles). The credential will be admitted when any of them
// allows it. The user handle is the principal's anchor; the credential must
// be discoverable; user verification is required only when every profile
// requires it, and direct attestation is asked for when any profile enforces
// attestation or has an AAGUID list; the user's existing credentials are
// excluded. It returns the session ID to pass to FinishRegistration and the
// options for navigator.credentials.create(). It is PrepareRegistration with
// the session stored at once.
func (r *RelyingParty) BeginRegistration(ctx context.Context, p store.Principal, profiles ...Profile) (string, *protocol.CredentialCreation, error) {
	s, creation, err := r.PrepareRegistration(ctx, p, nil, profiles...)
	if err != nil {
		return "", nil, err
	}
	if err := r.st.CreateSession(ctx, s); err != nil {
		return "", nil, newErr(CodeInternal, "storing session", err)
	}
	return s.ID, creation, nil
}

// PrepareRegistration is BeginRegistration without the write: it returns the
// session, which the caller stores (store.Tx.CreateSession) in the
// transaction of the request's audit record. grant (may be nil) is what
// opened the ceremony, e.g. the hash of a temporary access pass: it comes
// back in PendingRegistration.Grant so that the caller spends it in the
// transaction that stores the passkey, and only then.
func (r *RelyingParty) PrepareRegistration(ctx context.Context, p store.Principal, grant []byte, profiles ...Profile) (store.Session, *protocol.CredentialCreation, error) {
	if p.Anchor == "" || len(p.Anchor) > maxUserHandle {
		return store.Session{}, nil, newErr(CodeInvalidPrincipal, "principal anchor empty or longer than 64 bytes", nil)
	}
	profiles, err := r.registrationProfiles(ctx, p, profiles)
	if err != nil {
		return store.Session{}, nil, err
	}
	if err := principalUsable(p, r.now()); err != nil {
		return store.Session{}, nil, err
	}
	u, err := r.user(ctx, p)
	if err != nil {
		return store.Session{}, nil, err
	}
	exclude := make([]protocol.CredentialDescriptor, len(u.creds))
	for i, c := range u.creds {
		exclude[i] = c.Descriptor()
	}
	creation, sd, err := r.wa.BeginRegistration(u,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   registrationUV(profiles),
		}),
		webauthn.WithExclusions(exclude),
		webauthn.WithConveyancePreference(registrationConveyance(profiles)),
	)
	if err != nil {
		return store.Session{}, nil, newErr(CodeInternal, "building creation options", err)
	}
	st := sessionState{WebAuthn: *sd, Profiles: profiles, Profile: &profiles[0], Grant: slicesClone(grant)}
	s, err := r.newSession(KindRegister, p.Anchor, st, nil)
	if err != nil {
		return store.Session{}, nil, err
	}
	return s, creation, nil
}

// registrationProfiles validates the profiles given to BeginRegistration, or
// resolves them when none is given. It refuses at once when every profile
// enforces attestation and no FIDO metadata is configured: nothing could pass.
func (r *RelyingParty) registrationProfiles(ctx context.Context, p store.Principal, profiles []Profile) ([]Profile, error) {
	if len(profiles) == 0 {
		var err error
		if profiles, err = r.Profiles(ctx, p.Anchor); err != nil {
			return nil, err
		}
	}
	for _, prof := range profiles {
		if err := prof.Validate(); err != nil {
			return nil, err
		}
	}
	if r.waMDS.Load() == nil && !slices.ContainsFunc(profiles, func(p Profile) bool { return !p.needsAttestedModel() }) {
		rs := make([]refusal, len(profiles))
		for i, prof := range profiles {
			rule := RuleAttestation
			if !prof.attestationEnforced() {
				rule = RuleAAGUIDAllow
			}
			rs[i] = refusal{prof.Name, rule, noMetadata}
		}
		return nil, refusalError(rs)
	}
	return slicesClone(profiles), nil
}

// noMetadata is the refusal of a profile enforcing attestation when passkdc
// has no FIDO metadata.
const noMetadata = "needs attested authenticator models but no FIDO metadata is configured"

// FinishRegistration verifies the authenticator's response (the JSON of a
// PublicKeyCredential from navigator.credentials.create()) for the session,
// admits it when any of the session's profiles allows it and stores the new
// credential, recording the admitting profile in store.Credential.Profile.
// The session is consumed whether or not registration succeeds. It is
// CheckRegistration then PendingRegistration.Record in a transaction of its
// own.
func (r *RelyingParty) FinishRegistration(ctx context.Context, sessionID string, body io.Reader) (store.Credential, error) {
	b, err := readBody(body, r.cfg.MaxBodyBytes)
	if err != nil {
		return store.Credential{}, err
	}
	pr, verr := r.CheckRegistration(ctx, sessionID, b)
	if !pr.burn {
		return store.Credential{}, verr
	}
	var rerr error
	err = r.st.WithTx(ctx, func(tx store.Tx) error {
		rerr = pr.Record(ctx, tx, nil)
		if rerr != nil && pr.verified && !SessionGone(rerr) {
			return rerr // the credential was not stored: roll back, consume below
		}
		return nil
	})
	if err != nil && err == rerr {
		err = r.st.WithTx(ctx, func(tx store.Tx) error { return pr.Consume(ctx, tx) })
	}
	switch {
	case SessionGone(rerr):
		return store.Credential{}, rerr
	case verr != nil:
		return store.Credential{}, verr
	case rerr != nil:
		return store.Credential{}, rerr
	case err != nil:
		return store.Credential{}, newErr(CodeInternal, "recording registration", err)
	}
	return pr.Credential, nil
}

// PendingRegistration is a registration checked by CheckRegistration, which
// writes nothing: the caller records it (Record) in the one store
// transaction of its decision, with its audit record.
type PendingRegistration struct {
	// Credential is the verified credential to store (zero when
	// CheckRegistration refused).
	Credential store.Credential
	// Claimed is the principal anchor the registration is for (the
	// session's), known also when CheckRegistration refused after reading
	// the session; for the audit record.
	Claimed string
	// Grant is what PrepareRegistration was given as having opened the
	// ceremony (nil: nothing).
	Grant []byte

	r         *RelyingParty
	sessionID string
	burn      bool // the session was found: the decision consumes it
	verified  bool // the credential is to be stored
}

// CheckRegistration runs every check of FinishRegistration on body without
// writing: it returns the pending registration (never nil) and, when it
// refuses, the *Error. Record must follow in the transaction of the
// decision, also after a refusal: it consumes the session of any attempt
// that got past parsing.
func (r *RelyingParty) CheckRegistration(ctx context.Context, sessionID string, body []byte) (*PendingRegistration, error) {
	pr := &PendingRegistration{r: r, sessionID: sessionID}
	if int64(len(body)) > r.cfg.MaxBodyBytes {
		return pr, newErr(CodeMalformedRequest, fmt.Sprintf("body larger than %d bytes", r.cfg.MaxBodyBytes), nil)
	}
	parsed, err := parseCreation(body)
	if err != nil {
		return pr, err
	}
	s, st, err := r.readSession(ctx, sessionID, KindRegister, &pr.burn)
	pr.Claimed = s.Principal
	if err != nil {
		return pr, err
	}
	pr.Grant = slicesClone(st.Grant)
	profiles := st.registrationProfiles()
	if len(profiles) == 0 {
		return pr, newErr(CodeInternal, "registration session without profile", nil)
	}
	cred, err := r.verifyRegistration(ctx, s, st.WebAuthn, profiles, parsed)
	if err != nil {
		return pr, err
	}
	pr.Credential, pr.verified = cred, true
	return pr, nil
}

// Record writes the registration in tx: it consumes the session (single
// use: CodeUnknownSession for the second of two attempts) and, for a
// verified credential, runs spend (nil: nothing; e.g. taking one use of the
// pass that opened the ceremony) and stores the credential. A refusal after
// spend or the credential was written leaves tx half-written: the caller
// must roll it back, then consume the session in a transaction of its own
// (Consume).
func (pr *PendingRegistration) Record(ctx context.Context, tx store.Tx, spend func(context.Context, store.Tx) error) error {
	if err := pr.Consume(ctx, tx); err != nil || !pr.verified {
		return err
	}
	if spend != nil {
		if err := spend(ctx, tx); err != nil {
			return err
		}
	}
	err := tx.CreateCredential(ctx, pr.Credential)
	switch {
	case errors.Is(err, store.ErrExists):
		return newErr(CodeCredentialExists, "credential is already registered", err)
	case errors.Is(err, store.ErrNotFound):
		return newErr(CodePrincipalDeleted, "principal disappeared from the store", err)
	case err != nil:
		return newErr(CodeInternal, "storing credential", err)
	}
	return nil
}

// Consume consumes the registration's session in tx and writes nothing
// else; nothing when the attempt was refused before its session was read.
func (pr *PendingRegistration) Consume(ctx context.Context, tx store.Tx) error {
	if !pr.burn {
		return nil
	}
	return consumeIn(ctx, tx, pr.sessionID, KindRegister, pr.r.now().UTC())
}

func (r *RelyingParty) verifyRegistration(ctx context.Context, s store.Session, sd webauthn.SessionData, profiles []Profile, parsed *protocol.ParsedCredentialCreationData) (store.Credential, error) {
	p, err := r.loadPrincipal(ctx, s.Principal)
	if err != nil {
		return store.Credential{}, err
	}
	if err := principalUsable(p, r.now()); err != nil {
		return store.Credential{}, err
	}
	if err := r.checkClientData(parsed.Response.CollectedClientData, protocol.CreateCeremony, sd.Challenge); err != nil {
		return store.Credential{}, err
	}
	authData := parsed.Response.AttestationObject.AuthData
	if err := r.checkAuthData(authData, r.cfg.RPID, sd.UserVerification == protocol.VerificationRequired); err != nil {
		var x *Error
		if errors.As(err, &x) && x.Code == CodeUVRequired { // every profile requires it: name them
			err = ruleFailure(profiles, RuleUserVerification, CodeUVRequired, x)
		}
		return store.Credential{}, err
	}
	wc, facts, err := r.createCredential(p, sd, profiles, parsed)
	if err != nil {
		return store.Credential{}, err
	}
	admitted, err := AdmitRegistration(profiles, facts)
	if err != nil {
		return store.Credential{}, err
	}
	c := r.newCredential(p, admitted, wc)
	// Attested only through a certificate path verified against the
	// metadata: a self attestation that the metadata check let pass is not.
	if facts.unattested() == "" {
		if v := r.waMDS.Load(); v != nil {
			c.AttestationVerified, c.AttestationStatement = true, v.statement(ctx, facts.AAGUID)
		}
	}
	return c, nil
}

// createCredential runs go-webauthn's verification and returns the facts the
// profiles look at.
func (r *RelyingParty) createCredential(p store.Principal, sd webauthn.SessionData, profiles []Profile, parsed *protocol.ParsedCredentialCreationData) (*webauthn.Credential, CredentialFacts, error) {
	u := &waUser{p: p}
	cred, problem, err := r.createWithMetadata(u, sd, profiles, parsed)
	if err != nil {
		return nil, CredentialFacts{}, err
	}
	if cred == nil {
		if cred, err = r.wa.CreateCredential(u, sd, parsed); err != nil {
			return nil, CredentialFacts{}, attestationFailure(profiles, classifyProtocol(err, CodeVerificationFailed))
		}
	}
	aaguid, err := uuid.FromBytes(cred.Authenticator.AAGUID)
	if err != nil {
		return nil, CredentialFacts{}, newErr(CodeMalformedRequest, "AAGUID is not 16 bytes", err)
	}
	return cred, CredentialFacts{
		AAGUID: aaguid, BackupEligible: cred.Flags.BackupEligible, UserVerified: cred.Flags.UserVerified,
		AttestationFmt: cred.AttestationFormat, AttestationType: cred.AttestationType,
		MetadataVerified: problem == "" && anyNeedsAttestedModel(profiles), MetadataProblem: problem,
	}, nil
}

// createWithMetadata verifies the response against the FIDO metadata when a
// profile enforces attestation. It returns the credential when that passed;
// nil and the reason when the attestation did not verify (or there is no
// metadata), so that the caller verifies again without metadata and a
// profile not enforcing attestation can still admit the credential while the
// enforcing ones refuse with the reason; nil and "" when no profile enforces
// attestation. Any other failure is returned as an error.
func (r *RelyingParty) createWithMetadata(u *waUser, sd webauthn.SessionData, profiles []Profile, parsed *protocol.ParsedCredentialCreationData) (*webauthn.Credential, string, error) {
	if !anyNeedsAttestedModel(profiles) {
		return nil, "", nil
	}
	v := r.waMDS.Load()
	if v == nil {
		return nil, noMetadata, nil
	}
	cred, err := v.wa.CreateCredential(u, sd, parsed)
	if err == nil {
		return cred, "", nil
	}
	x := classifyProtocol(err, CodeVerificationFailed)
	if x.Code != CodeAttestationRefused && x.Code != CodeProfileRefused {
		return nil, "", x
	}
	return nil, x.Message, nil
}

// attestationFailure names the profiles when the attestation statement does
// not verify at all: every profile refuses it.
func attestationFailure(profiles []Profile, x *Error) *Error {
	if x.Code != CodeAttestationRefused && x.Code != CodeProfileRefused {
		return x
	}
	return ruleFailure(profiles, RuleAttestation, CodeAttestationRefused, x)
}

// ruleFailure turns x, a failure every profile shares, into a refusal naming
// each profile with rule, under code.
func ruleFailure(profiles []Profile, rule, code string, x *Error) *Error {
	msgs := make([]string, len(profiles))
	for i, p := range profiles {
		msgs[i] = refusal{p.Name, rule, x.Message}.String()
	}
	return newErr(code, strings.Join(msgs, "; "), x.Err)
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
