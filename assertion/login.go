package assertion

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

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
// dividing 8 on the curve and 4 on its twist have u = 0, 1, p-1 and two
// order-8 values, and 0 and 1 have a second encoding (p, p+1) below 2^255.
// This is what an ECDH with a throwaway key would detect (crypto/ecdh
// refuses an all-zero secret), without its two scalar multiplications on
// every sign-in; the seven encodings are compared in hex (little-endian, top
// bit clear), without allocating.
func lowOrderX25519(k []byte) bool {
	if len(k) != BindingKeySize {
		return false
	}
	var m [BindingKeySize]byte
	copy(m[:], k)
	m[BindingKeySize-1] &= 0x7f
	var h [2 * BindingKeySize]byte
	hex.Encode(h[:], m[:])
	switch string(h[:]) {
	case "0000000000000000000000000000000000000000000000000000000000000000", // 0
		"0100000000000000000000000000000000000000000000000000000000000000", // 1
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p-1
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", // order 8
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", // order 8
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p (0)
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f": // p+1 (1)
		return true
	}
	return false
}

// BeginLogin starts a sign-in. With hint nil (the default) the ceremony is
// discoverable (usernameless); with a hint, the session only accepts that
// principal's credentials. The options are the same either way (they list no
// credentials: every passkdc credential is discoverable), so that begin
// tells nobody which accounts exist or have passkeys. bindingKey is the
// client's ephemeral X25519 public key, returned by FinishLogin. It writes
// nothing: the session ID is a sealed challenge (challenge.go), whose single
// use the decision's transaction records.
func (r *RelyingParty) BeginLogin(ctx context.Context, hint *store.Principal, bindingKey []byte) (string, *protocol.CredentialAssertion, error) {
	principal := ""
	if hint != nil {
		if hint.Anchor == "" || len(hint.Anchor) > maxUserHandle {
			return "", nil, newErr(CodeInvalidPrincipal, "hinted principal has no usable anchor", nil)
		}
		principal = hint.Anchor
	}
	return r.beginLogin(ctx, principal, bindingKey)
}

// BeginUnknownLogin is BeginLogin for a name that names no principal: the
// same options and the same work as for a name that does, and a session
// bound to no principal, so that every finish is refused as it is for a
// passkey of another account (CodePrincipalMismatch).
func (r *RelyingParty) BeginUnknownLogin(ctx context.Context, bindingKey []byte) (string, *protocol.CredentialAssertion, error) {
	nobody, err := newSessionID()
	if err != nil {
		return "", nil, newErr(CodeInternal, "session id", err)
	}
	return r.beginLogin(ctx, noPrincipal+nobody[:22], bindingKey)
}

// noPrincipal starts the principal of a session for a name that names no
// one: no anchor starts with it, and the random rest matches nothing.
const noPrincipal = "!none:"

func (r *RelyingParty) beginLogin(ctx context.Context, principal string, bindingKey []byte) (string, *protocol.CredentialAssertion, error) {
	if err := ValidateBindingKey(bindingKey); err != nil {
		return "", nil, err
	}
	assertion, sd, err := r.wa.BeginDiscoverableLogin(
		webauthn.WithUserVerification(protocol.UserVerificationRequirement(r.cfg.UserVerification)),
	)
	if err != nil {
		return "", nil, newErr(CodeInternal, "building request options", err)
	}
	challenge, err := base64.RawURLEncoding.DecodeString(sd.Challenge)
	if err != nil {
		return "", nil, newErr(CodeInternal, "building request options", err)
	}
	id, err := r.sealToken(ctx, loginToken{challenge: challenge, expires: r.now().UTC().Add(r.cfg.SessionTTL),
		bindingKey: bindingKey, principal: principal})
	if err != nil {
		return "", nil, newErr(CodeInternal, "sealing the sign-in challenge", err)
	}
	return id, assertion, nil
}

// sessionData is the go-webauthn session of a sign-in challenge.
func (r *RelyingParty) sessionData(t loginToken) webauthn.SessionData {
	sd := webauthn.SessionData{Challenge: base64.RawURLEncoding.EncodeToString(t.challenge),
		UserVerification: protocol.UserVerificationRequirement(r.cfg.UserVerification)}
	if t.principal != "" {
		sd.UserID = []byte(t.principal)
	}
	return sd
}

// FinishLogin verifies the assertion (the JSON of a PublicKeyCredential from
// navigator.credentials.get()) for the session: single-use unexpired
// challenge, registered unrevoked credential, user handle, origin, RP ID,
// signature, user verification, sign counter, principal state and passkey
// profiles; then records the use. The session is consumed by any attempt
// that gets past parsing. It is CheckLogin then PendingLogin.Record in a
// transaction of its own.
func (r *RelyingParty) FinishLogin(ctx context.Context, sessionID string, body io.Reader) (LoginResult, error) {
	b, err := readBody(body, r.cfg.MaxBodyBytes)
	if err != nil {
		return LoginResult{}, err
	}
	pl, verr := r.CheckLoginFresh(ctx, sessionID, b)
	if !pl.burn {
		return LoginResult{}, verr
	}
	var rerr error
	err = r.st.WithTx(ctx, func(tx store.Tx) error {
		// A refusal by Record (session used or expired meanwhile, counter
		// moved) commits what it did: the session stays consumed.
		if rerr = pl.Record(ctx, tx); Code(rerr) == CodeInternal {
			return rerr
		}
		return nil
	})
	switch {
	case SessionGone(rerr):
		return LoginResult{}, rerr
	case verr != nil:
		return LoginResult{}, verr
	case err != nil:
		return LoginResult{}, err
	case rerr != nil:
		return LoginResult{}, rerr
	}
	return pl.Result, nil
}

// PendingLogin is a sign-in checked by CheckLogin, which writes nothing: the
// caller records it (Record) in the one store transaction of its decision,
// with its audit record, whether it issues or refuses.
type PendingLogin struct {
	// Result is the verified sign-in, the credential as it is once Record
	// has run (zero when CheckLogin refused).
	Result LoginResult
	// Groups are the principal's transitive groups as read for the profile
	// check; nil when CheckLogin refused before reading them. Live says they
	// (and Result.Principal) were read from the directory (WithDirectory),
	// so the caller need not read them again for the replication policy.
	Groups []store.Group
	Live   bool
	// Claimed is the principal anchor the attempt is about, known also when
	// CheckLogin refused: the session's hinted principal, else the stored
	// credential's; empty before the session was read. ClaimedCredential is
	// the ID of the stored credential used. They are for the audit record of
	// a refusal, not for decisions.
	Claimed           string
	ClaimedCredential []byte

	r     *RelyingParty
	token loginToken
	burn  bool           // the token is authentic: the decision consumes its challenge
	use   *credentialUse // the assertion was verified: the decision records the use
	// cached: decided on the relying party's copy of the credential (and
	// the view at markers), which Record confirms; markers are the store's
	// markers the credential was read with.
	cached  bool
	markers store.Markers
	// again: CheckLogin refused on the cached copy and decided again on the
	// store's credential.
	again bool
}

// Cached reports a sign-in decided on a copy of the credential kept from an
// earlier sign-in rather than read from the store: Record then records it
// only if the store still matches the copy (ErrStale otherwise), and a
// caller that would refuse it for a reason of its own decides again with
// CheckLoginFresh first, so that no refusal rests on the copy.
func (pl *PendingLogin) Cached() bool { return pl.cached }

// DecidedAgain reports a sign-in that CheckLogin would have refused on the
// cached copy of the credential and therefore decided again on the store's.
func (pl *PendingLogin) DecidedAgain() bool { return pl.again }

// credentialUse is the sign counter compare-and-set of a verified assertion.
type credentialUse struct {
	id                 []byte
	oldCount, newCount uint32
	backupState        bool
	at                 time.Time
}

// CheckLogin runs every check of FinishLogin on body (the JSON of a
// PublicKeyCredential) without writing: it returns the pending sign-in
// (never nil) and, when it refuses, the *Error. Record must follow, in the
// transaction of the decision, also after a refusal: it consumes the session
// of any attempt that got past parsing.
//
// It may decide on the copy of the credential an earlier sign-in left
// (PendingLogin.Cached), sparing the store's read; a refusal is always
// decided again on the store's credential before it is returned.
func (r *RelyingParty) CheckLogin(ctx context.Context, sessionID string, body []byte) (*PendingLogin, error) {
	pl, err := r.checkLogin(ctx, sessionID, body, true)
	if err != nil && pl.cached {
		r.creds.forget(pl.ClaimedCredential)
		pl, err = r.checkLogin(ctx, sessionID, body, false)
		pl.again = true
	}
	return pl, err
}

// CheckLoginFresh is CheckLogin on the credential as the store has it now
// (never the cached copy): for a decision to take again after ErrStale, and
// for callers that do not decide again.
func (r *RelyingParty) CheckLoginFresh(ctx context.Context, sessionID string, body []byte) (*PendingLogin, error) {
	return r.checkLogin(ctx, sessionID, body, false)
}

// checkLogin is CheckLogin, on the cached credential when cached is set and
// the cache holds it.
func (r *RelyingParty) checkLogin(ctx context.Context, sessionID string, body []byte, cached bool) (*PendingLogin, error) {
	pl := &PendingLogin{r: r}
	if int64(len(body)) > r.cfg.MaxBodyBytes {
		return pl, newErr(CodeMalformedRequest, fmt.Sprintf("body larger than %d bytes", r.cfg.MaxBodyBytes), nil)
	}
	parsed, err := parseAssertion(body)
	if err != nil {
		return pl, err
	}
	t, err := r.readToken(ctx, sessionID, &pl.burn)
	if err != nil {
		return pl, err
	}
	pl.token = t
	s := store.Session{Principal: t.principal, BindingKey: t.bindingKey}
	pl.Claimed = s.Principal
	cred, err := r.lookupCredential(ctx, pl, s, parsed, cached)
	if err == nil || cred.Principal != "" {
		if pl.Claimed == "" {
			pl.Claimed = cred.Principal
		}
		pl.ClaimedCredential = slicesClone(cred.ID)
	}
	if err != nil {
		return pl, err
	}
	p, err := r.verifyAssertion(ctx, r.sessionData(t), cred, pl.markers.Directory, parsed)
	if err != nil {
		return pl, err
	}
	return pl, r.acceptLogin(ctx, pl, s, p, cred, pl.markers.Directory, parsed)
}

// SessionGone reports a refusal by Record because the session was used (by
// a concurrent attempt) or expired by the time it was consumed. It answers
// for the attempt before any refusal of CheckLogin: the attempt is then a
// replay of a used session, whatever else CheckLogin found (a replayed
// assertion also fails the counter check once the first use is recorded,
// which must not read as a cloned authenticator).
func SessionGone(err error) bool {
	c := Code(err)
	return err != nil && (c == CodeUnknownSession || c == CodeSessionExpired)
}

// Record writes the sign-in in tx: it consumes the challenge (single use: of
// two attempts with one session only the first to record succeeds, the other
// gets CodeUnknownSession) and, for a verified assertion, records the use
// with the sign counter compare-and-set (CodeCounterConflict when another use
// moved the counter since CheckLogin). It writes nothing for an attempt
// refused before its session was read.
func (pl *PendingLogin) Record(ctx context.Context, tx store.Tx) error {
	if !pl.burn {
		return nil
	}
	if err := consumeChallenge(ctx, tx, pl.token, pl.r.now().UTC()); err != nil {
		return err
	}
	u := pl.use
	if u == nil {
		return nil
	}
	var err error
	if pl.cached {
		err = pl.recordCachedUse(ctx, tx)
	} else {
		err = tx.UpdateCredentialUse(ctx, u.id, u.oldCount, u.newCount, u.backupState, u.at)
	}
	switch {
	case errors.Is(err, ErrStale):
		pl.r.creds.forget(u.id)
		return ErrStale
	case errors.Is(err, store.ErrConflict):
		return newErr(CodeCounterConflict, "credential was used concurrently (replay or race)", err)
	case errors.Is(err, store.ErrNotFound):
		return newErr(CodeUnknownCredential, "credential disappeared", err)
	case err != nil:
		return newErr(CodeInternal, "recording credential use", err)
	}
	// Kept for the next sign-in with this credential before the commit: a
	// transaction that then fails leaves a copy ahead of the store, whose
	// next use fails the compare-and-set and is decided again.
	pl.r.creds.put(pl.Result.Credential, pl.markers)
	return nil
}

// recordCachedUse records the use of a sign-in decided on the cached copy
// of the credential: if the store still holds what the copy says (markers
// unchanged; then only uses can have changed the credential) and the
// counter is where the copy has it. A counter moved by a use elsewhere (another
// replica) is read in tx and the counter check made again on it, the one
// part of the decision that rests on it; anything else is ErrStale.
func (pl *PendingLogin) recordCachedUse(ctx context.Context, tx store.Tx) error {
	u := pl.use
	err := tx.UpdateCredentialUseIf(ctx, u.id, u.oldCount, u.newCount, u.backupState, u.at, pl.markers)
	if !errors.Is(err, store.ErrConflict) {
		if errors.Is(err, store.ErrNotFound) {
			return ErrStale
		}
		return err
	}
	now, m, err := tx.GetCredentialAndMarker(ctx, u.id)
	switch {
	case err != nil || m != pl.markers || !now.RevokedAt.IsZero():
		return ErrStale
	case counterRegressed(u.newCount, now.SignCount):
		return ErrStale // decided again: refused as a regression on the store's counter
	}
	if err := tx.UpdateCredentialUseIf(ctx, u.id, now.SignCount, u.newCount, u.backupState, u.at, pl.markers); err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			return ErrStale
		}
		return err
	}
	return nil
}

// counterRegressed is the sign counter rule: a counter that is not above
// the stored one, unless both are zero (an authenticator without one).
func counterRegressed(newCount, stored uint32) bool {
	return (newCount != 0 || stored != 0) && newCount <= stored
}

// consumeIn consumes the session in tx, the single-use rule of every
// ceremony: of two attempts with one session only the first succeeds.
func consumeIn(ctx context.Context, tx store.Tx, id, kind string, now time.Time) error {
	_, err := tx.ConsumeSession(ctx, id, kind, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return newErr(CodeUnknownSession, "unknown or already used session", err)
	case errors.Is(err, store.ErrExpired):
		return newErr(CodeSessionExpired, "session expired", err)
	case err != nil:
		return newErr(CodeInternal, "consuming session", err)
	}
	return nil
}

// lookupCredential finds the credential (the cached copy when cached is set
// and the cache holds one, else the store's) and checks it against the user
// handle and the session's principal. It sets pl.markers to the store's
// markers read with it: the principal and its groups are then read through
// the view as of the directory marker (never staler than the store at this
// read; for a cached copy, Record confirms that the store is still there).
func (r *RelyingParty) lookupCredential(ctx context.Context, pl *PendingLogin, s store.Session, parsed *protocol.ParsedCredentialAssertionData, cached bool) (store.Credential, error) {
	var cred store.Credential
	var ok bool
	if cached {
		cred, pl.markers, ok = r.creds.get(parsed.RawID)
		pl.cached = ok
	}
	if !ok {
		var err error
		cred, pl.markers, err = r.st.GetCredentialAndMarker(ctx, parsed.RawID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return cred, newErr(CodeUnknownCredential, "credential is not registered", err)
		case err != nil:
			return cred, newErr(CodeInternal, "reading credential", err)
		}
		r.creds.saw(pl.markers)
	}
	if !cred.RevokedAt.IsZero() {
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
func (r *RelyingParty) verifyAssertion(ctx context.Context, sd webauthn.SessionData, cred store.Credential, mark int64, parsed *protocol.ParsedCredentialAssertionData) (store.Principal, error) {
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
	p, err := r.principalAt(ctx, cred.Principal, mark)
	if err != nil {
		return p, err
	}
	// The user go-webauthn validates against holds the one credential used,
	// already looked up by ID and matched to this principal and the session:
	// listing all of the principal's credentials would cost a query and
	// change nothing.
	u := &waUser{p: p, creds: []webauthn.Credential{toWebAuthn(cred)}}
	if len(sd.UserID) > 0 {
		// The session's allow list holds every credential the principal had
		// at begin; go-webauthn wants the user to own all of them, but u
		// holds only the one used. Check membership here and leave the rest
		// of the validation to go-webauthn.
		if len(sd.AllowedCredentialIDs) > 0 {
			if !slices.ContainsFunc(sd.AllowedCredentialIDs, func(id []byte) bool { return bytes.Equal(id, parsed.RawID) }) {
				return p, newErr(CodeUnknownCredential, "credential is not in the session's allowed list", nil)
			}
			sd.AllowedCredentialIDs = nil
		}
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

// groupsOf returns the principal and its transitive groups as the profile
// check sees them: read live from the directory when one is configured
// (pl.Live is then set), else from the store through the view, as of change
// marker mark or later.
func (r *RelyingParty) groupsOf(ctx context.Context, pl *PendingLogin, p store.Principal, mark int64) (store.Principal, []store.Group, error) {
	if r.dir != nil {
		fresh, groups, err := r.dir.LiveGroups(ctx, p)
		if err != nil {
			return p, nil, newErr(CodeDirectoryUnavailable, "the directory could not be read to check the account", err)
		}
		pl.Live = true
		return fresh, groups, nil
	}
	groups, err := r.view.Groups(ctx, p.Anchor, mark)
	if err != nil {
		return p, nil, newErr(CodeInternal, "reading groups", err)
	}
	return p, groups, nil
}

// acceptLogin applies the counter, principal and profile checks and, when
// they pass, fills pl with the result and the use to record.
func (r *RelyingParty) acceptLogin(ctx context.Context, pl *PendingLogin, s store.Session, p store.Principal, cred store.Credential, mark int64, parsed *protocol.ParsedCredentialAssertionData) error {
	ad := parsed.Response.AuthenticatorData
	newCount := ad.Counter
	if counterRegressed(newCount, cred.SignCount) {
		return newErr(CodeCounterRegression,
			fmt.Sprintf("sign counter %d is not above the stored %d: possible cloned authenticator", newCount, cred.SignCount), nil)
	}
	now := r.now()
	p, groups, err := r.groupsOf(ctx, pl, p, mark)
	if err != nil {
		return err
	}
	if err := principalUsable(p, now); err != nil {
		return err
	}
	if groups == nil {
		groups = []store.Group{}
	}
	pl.Groups = groups
	aaguid, _ := uuid.FromBytes(cred.AAGUID) // unparseable: zero AAGUID, matches no allow list
	facts := CredentialFacts{AAGUID: aaguid, BackupEligible: ad.Flags.HasBackupEligible(), UserVerified: ad.Flags.UserVerified(),
		Attested: cred.AttestationVerified}
	if err := CheckLogin(r.profilesOf(groups), facts); err != nil {
		return err
	}
	bs := ad.Flags.HasBackupState()
	pl.use = &credentialUse{id: cred.ID, oldCount: cred.SignCount, newCount: newCount, backupState: bs, at: now.UTC()}
	cred.SignCount, cred.BackupState, cred.LastUsedAt = newCount, bs, now.UTC()
	pl.Result = LoginResult{Principal: p, Credential: cred, BindingKey: slicesClone(s.BindingKey), NewSignCount: newCount}
	return nil
}
