package assertion

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/passkdc/passkdc/store"
)

// BindingKeySize is the size of an X25519 public key.
const BindingKeySize = 32

// LoginResult is a verified sign-in. The caller still applies the replication
// policy before issuing anything.
type LoginResult struct {
	Principal    store.Principal
	Credential   store.Credential // as stored after this use
	BindingKey   []byte           // the client's X25519 public key registered at begin
	NewSignCount uint32
}

// ValidateBindingKey checks that k is a usable X25519 public key: 32 bytes,
// not all zero and not a low-order point (which would make the shared secret
// predictable).
func ValidateBindingKey(k []byte) error {
	if len(k) != BindingKeySize {
		return newErr(CodeInvalidBindingKey, fmt.Sprintf("binding key is %d bytes, want %d", len(k), BindingKeySize), nil)
	}
	if bytes.Equal(k, make([]byte, BindingKeySize)) {
		return newErr(CodeInvalidBindingKey, "binding key is all zero", nil)
	}
	if _, err := ecdh.X25519().NewPublicKey(k); err != nil {
		return newErr(CodeInvalidBindingKey, "binding key is not an X25519 key", err)
	}
	if lowOrderX25519(k) {
		return newErr(CodeInvalidBindingKey, "binding key is a low-order point", nil)
	}
	return nil
}

// lowOrderX25519 reports whether the X25519 public key k (32 bytes) is a
// point of small order, with which every shared secret is zero. X25519
// ignores the top bit and reduces u modulo p = 2^255-19; the points of order
// dividing 8 on the curve and 4 on its twist have u = 0, 1, p-1 and the two
// order-8 values below. This is what an ECDH with a throwaway key would
// detect (crypto/ecdh refuses an all-zero secret), without its two scalar
// multiplications on every sign-in.
func lowOrderX25519(k []byte) bool {
	le := make([]byte, len(k))
	for i, b := range k {
		le[len(k)-1-i] = b // big.Int wants big-endian
	}
	le[0] &= 0x7f
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	u := new(big.Int).SetBytes(le)
	u.Mod(u, p)
	if u.Sign() == 0 || u.Cmp(big.NewInt(1)) == 0 || u.Cmp(new(big.Int).Sub(p, big.NewInt(1))) == 0 {
		return true
	}
	for _, s := range []string{
		"325606250916557431795983626356110631294008115727848805560023387167927233504",
		"39382357235489614581723060781553021112529911719440698176882885853963445705823",
	} {
		o, _ := new(big.Int).SetString(s, 10)
		if u.Cmp(o) == 0 {
			return true
		}
	}
	return false
}

// BeginLogin starts a sign-in. With hint nil (the default) the ceremony is
// discoverable (usernameless); with a hint, the options list that principal's
// active credentials and the session only accepts that principal. bindingKey
// is the client's ephemeral X25519 public key, returned by FinishLogin.
func (r *RelyingParty) BeginLogin(ctx context.Context, hint *store.Principal, bindingKey []byte) (string, *protocol.CredentialAssertion, error) {
	if err := ValidateBindingKey(bindingKey); err != nil {
		return "", nil, err
	}
	var allow []protocol.CredentialDescriptor
	principal := ""
	if hint != nil {
		if hint.Anchor == "" || len(hint.Anchor) > maxUserHandle {
			return "", nil, newErr(CodeInvalidPrincipal, "hinted principal has no usable anchor", nil)
		}
		principal = hint.Anchor
		creds, err := r.st.ListCredentials(ctx, principal)
		if err != nil {
			return "", nil, newErr(CodeInternal, "listing credentials", err)
		}
		for _, c := range creds {
			if c.RevokedAt.IsZero() {
				wc := toWebAuthn(c)
				allow = append(allow, wc.Descriptor())
			}
		}
	}
	// A hinted principal without credentials still gets a challenge, so
	// that begin does not tell who has passkeys; finish will refuse.
	assertion, sd, err := r.wa.BeginDiscoverableLogin(
		webauthn.WithAllowedCredentials(allow),
		webauthn.WithUserVerification(protocol.UserVerificationRequirement(r.cfg.UserVerification)),
	)
	if err != nil {
		return "", nil, newErr(CodeInternal, "building request options", err)
	}
	if principal != "" {
		sd.UserID = []byte(principal)
	}
	id, err := r.createSession(ctx, KindLogin, principal, sessionState{WebAuthn: *sd}, bindingKey)
	if err != nil {
		return "", nil, err
	}
	return id, assertion, nil
}

// FinishLogin verifies the assertion (the JSON of a PublicKeyCredential from
// navigator.credentials.get()) for the session: single-use unexpired
// challenge, registered unrevoked credential, user handle, origin, RP ID,
// signature, user verification, sign counter, principal state and passkey
// profiles; then records the use. The session is consumed by any attempt
// that gets past parsing.
func (r *RelyingParty) FinishLogin(ctx context.Context, sessionID string, body io.Reader) (LoginResult, error) {
	b, err := readBody(body, r.cfg.MaxBodyBytes)
	if err != nil {
		return LoginResult{}, err
	}
	parsed, err := parseAssertion(b)
	if err != nil {
		return LoginResult{}, err
	}
	s, st, err := r.consumeSession(ctx, sessionID, KindLogin)
	if err != nil {
		return LoginResult{}, err
	}
	cred, err := r.lookupCredential(ctx, s, parsed)
	if err != nil {
		return LoginResult{}, err
	}
	p, err := r.verifyAssertion(ctx, st.WebAuthn, cred, parsed)
	if err != nil {
		return LoginResult{}, err
	}
	return r.acceptLogin(ctx, s, p, cred, parsed)
}

// lookupCredential finds the credential and checks it against the user
// handle and the session's principal.
func (r *RelyingParty) lookupCredential(ctx context.Context, s store.Session, parsed *protocol.ParsedCredentialAssertionData) (store.Credential, error) {
	cred, err := r.st.GetCredential(ctx, parsed.RawID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return cred, newErr(CodeUnknownCredential, "credential is not registered", err)
	case err != nil:
		return cred, newErr(CodeInternal, "reading credential", err)
	case !cred.RevokedAt.IsZero():
		return cred, newErr(CodeCredentialRevoked, "credential was revoked", nil)
	}
	handle := parsed.Response.UserHandle
	switch {
	case len(handle) == 0 && s.Principal == "":
		return cred, newErr(CodeUserHandleMismatch, "discoverable sign-in without a user handle", nil)
	case len(handle) > 0 && string(handle) != cred.Principal:
		return cred, newErr(CodeUserHandleMismatch, "user handle is not the credential's principal", nil)
	case s.Principal != "" && s.Principal != cred.Principal:
		return cred, newErr(CodePrincipalMismatch, "credential belongs to another principal than the one named at begin", nil)
	}
	return cred, nil
}

// verifyAssertion runs our checks, then go-webauthn's full verification.
func (r *RelyingParty) verifyAssertion(ctx context.Context, sd webauthn.SessionData, cred store.Credential, parsed *protocol.ParsedCredentialAssertionData) (store.Principal, error) {
	if err := r.checkClientData(parsed.Response.CollectedClientData, protocol.AssertCeremony, sd.Challenge); err != nil {
		return store.Principal{}, err
	}
	ad := parsed.Response.AuthenticatorData
	if err := r.checkAuthData(ad, r.cfg.RPID, sd.UserVerification == protocol.VerificationRequired); err != nil {
		return store.Principal{}, err
	}
	if ad.Flags.HasBackupEligible() != cred.BackupEligible {
		return store.Principal{}, newErr(CodeBackupFlagsInvalid, "backup eligibility differs from registration", nil)
	}
	p, err := r.loadPrincipal(ctx, cred.Principal)
	if err != nil {
		return p, err
	}
	// The user go-webauthn validates against holds the one credential used,
	// already looked up by ID and matched to this principal and the session:
	// listing all of the principal's credentials would cost a query and
	// change nothing.
	u := &waUser{p: p, creds: []webauthn.Credential{toWebAuthn(cred)}}
	if len(sd.UserID) > 0 {
		_, err = r.wa.ValidateLogin(u, sd, parsed)
	} else {
		_, err = r.wa.ValidateDiscoverableLogin(func(_, handle []byte) (webauthn.User, error) {
			if !bytes.Equal(handle, u.WebAuthnID()) {
				return nil, errors.New("user handle mismatch")
			}
			return u, nil
		}, sd, parsed)
	}
	if err != nil {
		return p, classifyProtocol(err, CodeVerificationFailed)
	}
	return p, nil
}

// acceptLogin applies the counter, principal and profile checks and records
// the use. Nothing is written when any check refuses.
func (r *RelyingParty) acceptLogin(ctx context.Context, s store.Session, p store.Principal, cred store.Credential, parsed *protocol.ParsedCredentialAssertionData) (LoginResult, error) {
	ad := parsed.Response.AuthenticatorData
	newCount := ad.Counter
	if (newCount != 0 || cred.SignCount != 0) && newCount <= cred.SignCount {
		return LoginResult{}, newErr(CodeCounterRegression,
			fmt.Sprintf("sign counter %d is not above the stored %d: possible cloned authenticator", newCount, cred.SignCount), nil)
	}
	now := r.now()
	if err := principalUsable(p, now); err != nil {
		return LoginResult{}, err
	}
	profiles, err := r.Profiles(ctx, p.Anchor)
	if err != nil {
		return LoginResult{}, err
	}
	aaguid, _ := uuid.FromBytes(cred.AAGUID) // unparseable: zero AAGUID, matches no allow list
	facts := CredentialFacts{AAGUID: aaguid, BackupEligible: ad.Flags.HasBackupEligible(), UserVerified: ad.Flags.UserVerified()}
	if err := CheckLogin(profiles, facts); err != nil {
		return LoginResult{}, err
	}
	bs := ad.Flags.HasBackupState()
	err = r.st.UpdateCredentialUse(ctx, cred.ID, cred.SignCount, newCount, bs, now.UTC())
	switch {
	case errors.Is(err, store.ErrConflict):
		return LoginResult{}, newErr(CodeCounterConflict, "credential was used concurrently (replay or race)", err)
	case errors.Is(err, store.ErrNotFound):
		return LoginResult{}, newErr(CodeUnknownCredential, "credential disappeared", err)
	case err != nil:
		return LoginResult{}, newErr(CodeInternal, "recording credential use", err)
	}
	cred.SignCount, cred.BackupState, cred.LastUsedAt = newCount, bs, now.UTC()
	return LoginResult{Principal: p, Credential: cred, BindingKey: slicesClone(s.BindingKey), NewSignCount: newCount}, nil
}
