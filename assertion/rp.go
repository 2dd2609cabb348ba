// Package assertion is passkdc's WebAuthn relying party, built on go-webauthn:
// registration and sign-in ceremonies with server-side, single-use, expiring
// challenge sessions; passkey profiles (user verification, attestation,
// AAGUID allow/block, synced or device-bound); clone detection by sign
// counter; and the principal checks that need no replication policy.
//
// It knows nothing of Kerberos: the caller turns a LoginResult into a ticket
// after its own policy checks.
package assertion

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/view"
)

// Session kinds stored in store.Session.Kind.
const (
	KindRegister = "register"
	KindLogin    = "login"
)

// Defaults.
const (
	DefaultSessionTTL   = 5 * time.Minute
	DefaultMaxBodyBytes = 64 << 10
)

// Config is the relying party's configuration.
type Config struct {
	RPID          string   // WebAuthn RP ID (a domain, e.g. "localhost")
	RPDisplayName string   // shown by authenticators; defaults to RPID
	Origins       []string // allowed origins, e.g. "https://localhost:8443"
	// SessionTTL bounds a ceremony from begin to finish (default 5 min).
	SessionTTL time.Duration
	// UserVerification requested at sign-in: "required" (default),
	// "preferred" or "discouraged". With a weaker value, the user's passkey
	// profiles still require UV where they say so.
	UserVerification string
	// Timeout is the client-side ceremony timeout sent in the options
	// (default SessionTTL).
	Timeout time.Duration
	// MaxBodyBytes bounds a finish body (default 64 KiB).
	MaxBodyBytes int64
}

// Option adjusts a RelyingParty.
type Option func(*RelyingParty) error

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(r *RelyingParty) error {
		if now == nil {
			return errors.New("nil clock")
		}
		r.now = now
		return nil
	}
}

// WithProfiles sets the passkey profiles resolved from the user's groups at
// sign-in (and at registration when BeginRegistration is given none), and the
// default profile for users no profile targets.
func WithProfiles(profiles []Profile, defaultProfile Profile) Option {
	return func(r *RelyingParty) error {
		for _, p := range append(slicesClone(profiles), defaultProfile) {
			if err := p.Validate(); err != nil {
				return err
			}
		}
		r.profiles = slicesClone(profiles)
		r.defaultProfile = defaultProfile
		return nil
	}
}

// WithMetadata sets the FIDO metadata used by profiles that enforce attestation.
func WithMetadata(md *Metadata) Option {
	return func(r *RelyingParty) error {
		if md == nil || md.provider == nil {
			return errors.New("nil metadata")
		}
		r.md = md
		return nil
	}
}

// Directory re-reads a principal and every group it belongs to, transitively,
// from the directory at sign-in (sync.live_check): a disable or a move into
// another group is judged at once, by the same group view the replication
// policy uses.
type Directory interface {
	LiveGroups(ctx context.Context, p store.Principal) (store.Principal, []store.Group, error)
}

// WithDirectory makes sign-in resolve the user's profiles (and the account
// state) from d instead of the synced mirror.
func WithDirectory(d Directory) Option {
	return func(r *RelyingParty) error {
		if d == nil {
			return errors.New("nil directory")
		}
		r.dir = d
		return nil
	}
}

// WithView makes sign-in read principals and groups through v (a view of
// the same store shared with the issuer); without it the relying party keeps
// a view of its own.
func WithView(v *view.View) Option {
	return func(r *RelyingParty) error {
		if v == nil {
			return errors.New("nil view")
		}
		r.view = v
		return nil
	}
}

func slicesClone[T any](s []T) []T { return append([]T(nil), s...) }

// RelyingParty runs WebAuthn ceremonies against a store.
type RelyingParty struct {
	cfg            Config
	st             store.Store
	now            func() time.Time
	wa             *webauthn.WebAuthn          // no metadata: attestation "none" profiles and sign-in
	waMDS          atomic.Pointer[mdsVerifier] // with metadata: attestation "enforced" profiles (SetMetadata swaps it)
	md             *Metadata
	profiles       []Profile
	defaultProfile Profile
	dir            Directory  // nil: groups from the store
	view           *view.View // principals and groups for sign-in, valid by the store's change marker
	tokens         tokenKey   // seals the sign-in challenges (challenge.go)
	creds          *credCache // credentials of recent sign-ins (credcache.go)
}

// New builds a relying party. st is where sessions and credentials live.
func New(cfg Config, st store.Store, opts ...Option) (*RelyingParty, error) {
	if st == nil {
		return nil, newErr(CodeInvalidConfiguration, "nil store", nil)
	}
	cfg = withDefaults(cfg)
	switch protocol.UserVerificationRequirement(cfg.UserVerification) {
	case protocol.VerificationRequired, protocol.VerificationPreferred, protocol.VerificationDiscouraged:
	default:
		return nil, newErr(CodeInvalidConfiguration, fmt.Sprintf("user verification %q", cfg.UserVerification), nil)
	}
	r := &RelyingParty{cfg: cfg, st: st, now: time.Now, defaultProfile: DefaultProfile(), creds: newCredCache()}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, newErr(CodeInvalidConfiguration, "option", err)
		}
	}
	if r.view == nil {
		r.view = view.New(st, 0)
	}
	var err error
	if r.wa, err = webauthn.New(r.webauthnConfig()); err != nil {
		return nil, newErr(CodeInvalidConfiguration, "webauthn config", err)
	}
	if r.md != nil {
		if err := r.SetMetadata(r.md); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// SetMetadata replaces the FIDO metadata that profiles enforcing attestation
// verify against (a reloaded blob); ceremonies in flight keep the one they
// started verifying with.
func (r *RelyingParty) SetMetadata(md *Metadata) error {
	if md == nil || md.provider == nil {
		return newErr(CodeInvalidConfiguration, "nil metadata", nil)
	}
	c := r.webauthnConfig()
	c.MDS = md.provider
	wa, err := webauthn.New(c)
	if err != nil {
		return newErr(CodeInvalidConfiguration, "webauthn config with metadata", err)
	}
	r.waMDS.Store(&mdsVerifier{wa: wa, md: md})
	return nil
}

// mdsVerifier is a WebAuthn verifier backed by one metadata blob.
type mdsVerifier struct {
	wa *webauthn.WebAuthn
	md *Metadata
}

// statement names the metadata statement of aaguid: its description and
// the blob's serial number.
func (v *mdsVerifier) statement(ctx context.Context, aaguid uuid.UUID) string {
	desc := "AAGUID " + aaguid.String()
	if e, err := v.md.provider.GetEntry(ctx, aaguid); err == nil && e != nil && e.MetadataStatement.Description != "" {
		desc = e.MetadataStatement.Description
	}
	return fmt.Sprintf("%s (MDS3 blob %d)", desc, v.md.Number)
}

func withDefaults(cfg Config) Config {
	if cfg.RPDisplayName == "" {
		cfg.RPDisplayName = cfg.RPID
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Timeout <= 0 || cfg.Timeout > cfg.SessionTTL {
		cfg.Timeout = cfg.SessionTTL
	}
	if cfg.UserVerification == "" {
		cfg.UserVerification = string(protocol.VerificationRequired)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	cfg.Origins = slicesClone(cfg.Origins)
	return cfg
}

func (r *RelyingParty) webauthnConfig() *webauthn.Config {
	t := webauthn.TimeoutConfig{Timeout: r.cfg.Timeout, TimeoutUVD: r.cfg.Timeout}
	return &webauthn.Config{
		RPID:                  r.cfg.RPID,
		RPDisplayName:         r.cfg.RPDisplayName,
		RPOrigins:             r.cfg.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		// Expiry is enforced by the store with our clock, not by go-webauthn.
		Timeouts: webauthn.TimeoutsConfig{Login: t, Registration: t},
	}
}

// Profiles returns the passkey profiles that apply to principal anchor,
// resolved from its transitive groups in the store.
func (r *RelyingParty) Profiles(ctx context.Context, anchor string) ([]Profile, error) {
	groups, err := r.st.TransitiveGroups(ctx, anchor)
	if err != nil {
		return nil, newErr(CodeInternal, "reading groups", err)
	}
	return r.profilesOf(groups), nil
}

// profilesOf returns the passkey profiles that apply to a member of groups.
func (r *RelyingParty) profilesOf(groups []store.Group) []Profile {
	return ResolveProfiles(r.profiles, r.defaultProfile, GroupIDs(groups))
}

// GroupIDs are the identifiers of groups that profiles' target and exclude
// lists match (SIDs, DNs, anchors), for ResolveProfiles.
func GroupIDs(groups []store.Group) []string {
	ids := make([]string, 0, 3*len(groups))
	for _, g := range groups {
		for _, id := range []string{g.SID, g.DN, g.Anchor} {
			if id != "" {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// sessionState is the JSON kept in store.Session.Data.
type sessionState struct {
	WebAuthn webauthn.SessionData `json:"webauthn"`
	// Profiles are the passkey profiles that applied to the user at begin
	// (registration only); the credential is admitted when any allows it.
	Profiles []Profile `json:"profiles,omitempty"`
	// Profile is the first of Profiles, kept for sessions written or read by
	// versions that knew a single registration profile.
	Profile *Profile `json:"profile,omitempty"`
	// Grant is what the caller says opened a registration (PrepareRegistration),
	// handed back with the pending registration (e.g. the hash of the
	// temporary access pass, spent only when the passkey is stored).
	Grant []byte `json:"grant,omitempty"`
}

// registrationProfiles returns the session's profiles, falling back to the
// single profile of older sessions.
func (st sessionState) registrationProfiles() []Profile {
	if len(st.Profiles) > 0 {
		return st.Profiles
	}
	if st.Profile != nil {
		return []Profile{*st.Profile}
	}
	return nil
}

func newSessionID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (r *RelyingParty) createSession(ctx context.Context, kind, principal string, st sessionState, binding []byte) (string, error) {
	s, err := r.newSession(kind, principal, st, binding)
	if err != nil {
		return "", err
	}
	if err := r.st.CreateSession(ctx, s); err != nil {
		return "", newErr(CodeInternal, "storing session", err)
	}
	return s.ID, nil
}

// newSession builds a session with a fresh random ID, not yet stored.
func (r *RelyingParty) newSession(kind, principal string, st sessionState, binding []byte) (store.Session, error) {
	id, err := newSessionID()
	if err != nil {
		return store.Session{}, newErr(CodeInternal, "session id", err)
	}
	data, err := json.Marshal(st)
	if err != nil {
		return store.Session{}, newErr(CodeInternal, "encoding session", err)
	}
	now := r.now().UTC()
	return store.Session{ID: id, Kind: kind, Principal: principal, Data: data,
		BindingKey: slicesClone(binding), CreatedAt: now, ExpiresAt: now.Add(r.cfg.SessionTTL)}, nil
}

// readSession reads a session without consuming it (the pending decision's
// Record does) and checks its expiry; it sets *burn once the session is
// found, so that the decision consumes it whatever else it finds.
func (r *RelyingParty) readSession(ctx context.Context, id, kind string, burn *bool) (store.Session, sessionState, error) {
	var st sessionState
	if id == "" {
		return store.Session{}, st, newErr(CodeUnknownSession, "no session id", nil)
	}
	s, err := r.st.GetSession(ctx, id, kind)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return s, st, newErr(CodeUnknownSession, "unknown or already used session", err)
	case err != nil:
		return s, st, newErr(CodeInternal, "reading session", err)
	}
	*burn = true
	if !r.now().Before(s.ExpiresAt) {
		return s, st, newErr(CodeSessionExpired, "session expired", nil)
	}
	if err := json.Unmarshal(s.Data, &st); err != nil {
		return s, st, newErr(CodeInternal, "decoding session", err)
	}
	return s, st, nil
}

// principalUsable applies the checks that need no policy.
func principalUsable(p store.Principal, now time.Time) error {
	if pr := p.Problem(now); pr != "" {
		return newErr(string(pr), pr.Describe(p), nil)
	}
	return nil
}

func (r *RelyingParty) loadPrincipal(ctx context.Context, anchor string) (store.Principal, error) {
	p, err := r.st.GetPrincipal(ctx, anchor)
	return p, principalError(err)
}

// principalAt is loadPrincipal through the view, as of change marker mark
// or later.
func (r *RelyingParty) principalAt(ctx context.Context, anchor string, mark int64) (store.Principal, error) {
	p, err := r.view.Principal(ctx, anchor, mark)
	return p, principalError(err)
}

// principalError is the refusal for a failed principal read (nil for none).
func principalError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return newErr(CodePrincipalDeleted, "principal is not in the store", err)
	case err != nil:
		return newErr(CodeInternal, "reading principal", err)
	}
	return nil
}

// waUser adapts a principal and its credentials to webauthn.User.
type waUser struct {
	p     store.Principal
	creds []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte { return []byte(u.p.Anchor) }

func (u *waUser) WebAuthnName() string {
	if u.p.Name != "" {
		return u.p.Name
	}
	return u.p.UPN
}

func (u *waUser) WebAuthnDisplayName() string {
	if u.p.DisplayName != "" {
		return u.p.DisplayName
	}
	return u.WebAuthnName()
}

func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func toWebAuthn(c store.Credential) webauthn.Credential {
	tr := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		tr[i] = protocol.AuthenticatorTransport(t)
	}
	var raw protocol.AuthenticatorFlags = protocol.FlagUserPresent
	if c.UserVerified {
		raw |= protocol.FlagUserVerified
	}
	if c.BackupEligible {
		raw |= protocol.FlagBackupEligible
	}
	if c.BackupState {
		raw |= protocol.FlagBackupState
	}
	return webauthn.Credential{
		ID: c.ID, PublicKey: c.PublicKey, AttestationType: c.AttestationType,
		AttestationFormat: c.AttestationFmt, Transport: tr,
		Flags:         webauthn.NewCredentialFlags(raw),
		Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount},
	}
}

func (r *RelyingParty) user(ctx context.Context, p store.Principal) (*waUser, error) {
	creds, err := r.st.ListCredentials(ctx, p.Anchor)
	if err != nil {
		return nil, newErr(CodeInternal, "listing credentials", err)
	}
	u := &waUser{p: p}
	for _, c := range creds {
		u.creds = append(u.creds, toWebAuthn(c))
	}
	return u, nil
}
