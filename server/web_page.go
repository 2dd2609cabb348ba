package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/kdc/binding"
	"github.com/passkdc/passkdc/store"
)

// maxCredentialName bounds a passkey label, in characters.
const maxCredentialName = 64

// sessionView is what the page learns about its session.
type sessionView struct {
	Principal    string      `json:"principal"`
	DisplayName  string      `json:"display_name,omitempty"`
	Via          string      `json:"via"` // "tap", "passkey" or "kerberos"
	CredentialID string      `json:"credential_id,omitempty"`
	Expires      time.Time   `json:"expires"`
	CSRFToken    string      `json:"csrf_token"`
	Profile      profileView `json:"profile"`
}

// profileView tells the user which passkeys their profile accepts.
type profileView struct {
	Name  string   `json:"name"`
	Rules []string `json:"rules"`
}

// credentialView is one passkey as the page lists it.
type credentialView struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	AAGUID   string     `json:"aaguid"`
	Model    string     `json:"model,omitempty"` // authenticator model, when known
	Synced   bool       `json:"synced"`          // backup eligible
	BackedUp bool       `json:"backed_up"`       // backup state at last use
	Profile  string     `json:"profile,omitempty"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	Current  bool       `json:"current"` // the page session signed in with it
}

func (w *web) view(ctx context.Context, ps *pageSession) sessionView {
	p := ps.principal
	v := sessionView{
		Principal: principalName(p, w.s.cfg.Realm), DisplayName: p.DisplayName, Via: ps.claims.via(),
		CredentialID: ps.claims.Credential, Expires: time.Unix(ps.claims.Expires, 0).UTC(), CSRFToken: ps.csrf,
	}
	if profs, err := w.s.cfg.Profiles(ctx, p); err == nil {
		v.Profile = describeProfiles(profs)
	}
	return v
}

// describeProfiles tells the rules of the user's profiles; with several, a
// passkey is accepted when any of them allows it.
func describeProfiles(profs []assertion.Profile) profileView {
	if len(profs) == 1 {
		return describeProfile(profs[0])
	}
	v := profileView{Rules: []string{"A passkey is accepted when any one of these profiles allows it."}}
	names := make([]string, len(profs))
	for i, p := range profs {
		names[i] = p.Name
		for _, rule := range describeProfile(p).Rules {
			v.Rules = append(v.Rules, p.Name+": "+rule)
		}
	}
	v.Name = strings.Join(names, " or ")
	return v
}

func describeProfile(p assertion.Profile) profileView {
	v := profileView{Name: p.Name}
	if p.UserVerification != assertion.UVPreferred {
		v.Rules = append(v.Rules, "Your device must verify you (PIN, fingerprint or face).")
	}
	if p.AllowSynced {
		v.Rules = append(v.Rules, "Synced passkeys (password managers, phone and cloud keychains) are allowed.")
	} else {
		v.Rules = append(v.Rules, "Only device-bound passkeys (such as security keys) are allowed; synced passkeys are refused.")
	}
	if p.Attestation == assertion.AttestationEnforced {
		v.Rules = append(v.Rules, "The authenticator must prove its model (attestation).")
	}
	if len(p.AAGUIDAllow) > 0 {
		v.Rules = append(v.Rules, "Only approved authenticator models are allowed.")
	}
	if len(p.AAGUIDBlock) > 0 {
		v.Rules = append(v.Rules, "Some authenticator models are blocked.")
	}
	return v
}

func (w *web) sessionInfo(rw http.ResponseWriter, r *http.Request, ps *pageSession) {
	writeJSON(rw, http.StatusOK, w.view(r.Context(), ps))
}

type tapRequest struct {
	TAP string `json:"tap"`
}

// tapSignIn opens a page session with a temporary access pass. The pass is
// not spent here: a use is taken when the page registers a passkey with it.
func (w *web) tapSignIn(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := w.s
	ev := s.event(r, "page.signin")
	var req tapRequest
	if e := decodeBody(rw, r, &req); e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	if strings.TrimSpace(req.TAP) == "" {
		s.fail(ctx, rw, ev, newErrorStatus(http.StatusBadRequest, CodeTAPRequired, "type the temporary access pass you were given"))
		return
	}
	// Checked, not spent: the pass is spent when a passkey is registered.
	tap, err := s.cfg.Store.GetTAP(ctx, HashTAP(req.TAP), s.cfg.Now())
	if err != nil {
		s.fail(ctx, rw, ev, tapError(err))
		return
	}
	p, err := s.cfg.Store.GetPrincipal(ctx, tap.Principal)
	if err != nil {
		s.fail(ctx, rw, ev, storeError(err, "principal of this pass"))
		return
	}
	ev.Principal = p.Name
	if e := principalState(p, s.cfg.Now()); e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	c := w.newClaims(p, "", tap.ID, tap.ExpiresAt)
	ps := &pageSession{claims: c, principal: p, csrf: w.csrfToken(c)}
	w.okWithCookie(ctx, rw, ev, "page session opened with a temporary access pass", c, w.view(ctx, ps), nil)
}

// loginBegin starts a discoverable passkey sign-in to the page. The page has
// no use for a ticket, so the binding key the relying party requires is an
// ephemeral one generated here and thrown away.
func (w *web) loginBegin(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := w.s
	ev := s.event(r, "page.signin.begin")
	if e := emptyBody(rw, r); e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	bk, err := binding.Generate()
	if err != nil {
		s.fail(ctx, rw, ev, newError(assertion.CodeInternal, "internal error"))
		return
	}
	id, opts, err := s.cfg.RP.BeginLogin(ctx, nil, bk.Public())
	if err != nil {
		s.fail(ctx, rw, ev, ceremonyError(err))
		return
	}
	s.ok(ctx, rw, ev, "page sign-in started", beginResponse{Session: id, PublicKey: opts.Response})
}

// loginFinish verifies the assertion and opens a page session for the
// credential's principal.
func (w *web) loginFinish(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := w.s
	ev := s.event(r, "page.signin")
	var req finishRequest
	if e := decodeBody(rw, r, &req); e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	// As the API's sign-in: checked without writing, then the session, the
	// credential use and the audit record (naming whose sign-in it was,
	// refused or not) in one transaction.
	pl, err := s.cfg.RP.CheckLoginFresh(ctx, req.Session, req.Credential)
	record := func(ctx context.Context, tx store.Tx) *apiError {
		if err := pl.Record(ctx, tx); err != nil {
			return ceremonyError(err)
		}
		return nil
	}
	if err != nil {
		s.attemptOf(ctx, &ev, pl)
		s.failWith(ctx, rw, ev, ceremonyError(err), record)
		return
	}
	res := pl.Result
	p := res.Principal
	ev.Principal, ev.CredentialID = p.Name, b64(res.Credential.ID)
	c := w.newClaims(p, b64(res.Credential.ID), "", time.Time{})
	ps := &pageSession{claims: c, principal: p, csrf: w.csrfToken(c)}
	w.okWithCookie(ctx, rw, ev, "page session opened with a passkey", c, w.view(ctx, ps), record)
}

func (w *web) logout(rw http.ResponseWriter, r *http.Request) {
	clearCookie(rw)
	writeJSON(rw, http.StatusOK, map[string]string{"status": "signed out"})
}

func (w *web) listCredentials(rw http.ResponseWriter, r *http.Request, ps *pageSession) {
	creds, err := w.s.cfg.Store.ListCredentials(r.Context(), ps.principal.Anchor)
	if err != nil {
		writeError(rw, newError(CodeStoreUnavailable, "cannot list your passkeys right now"))
		return
	}
	out := []credentialView{}
	for _, c := range creds {
		if c.RevokedAt.IsZero() {
			out = append(out, credentialViewOf(c, ps.claims.Credential))
		}
	}
	writeJSON(rw, http.StatusOK, map[string]any{"credentials": out})
}

func credentialViewOf(c store.Credential, current string) credentialView {
	id := b64(c.ID)
	v := credentialView{ID: id, Name: c.Name, Synced: c.BackupEligible, BackedUp: c.BackupState,
		Profile: c.Profile, Created: c.CreatedAt, Current: id == current}
	if u, err := uuid.FromBytes(c.AAGUID); err == nil {
		v.AAGUID = u.String()
		v.Model = AuthenticatorModel(u.String())
	}
	if !c.LastUsedAt.IsZero() {
		t := c.LastUsedAt
		v.LastUsed = &t
	}
	return v
}

// addBegin starts registering a passkey under the profile resolved for the user.
func (w *web) addBegin(rw http.ResponseWriter, r *http.Request, ps *pageSession) {
	ctx := r.Context()
	s := w.s
	ev := s.event(r, "page.register.begin")
	ev.Principal = ps.principal.Name
	if e := emptyBody(rw, r); e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	profs, err := s.cfg.Profiles(ctx, ps.principal)
	if err != nil {
		s.fail(ctx, rw, ev, ceremonyError(err))
		return
	}
	if ps.claims.Kerberos {
		var e *apiError
		if profs, e = kerberosProfiles(profs, s.cfg.Now().Sub(time.Unix(ps.claims.AuthTime, 0))); e != nil {
			s.fail(ctx, rw, ev, e)
			return
		}
	}
	grant, e := w.sessionGrant(ctx, ps)
	if e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	sess, opts, err := s.cfg.RP.PrepareRegistration(ctx, ps.principal, grant, profs...)
	if err != nil {
		s.fail(ctx, rw, ev, ceremonyError(err))
		return
	}
	name := describeProfiles(profs).Name
	s.okWith(ctx, rw, ev, "registration started under profile "+name,
		map[string]any{"session": sess.ID, "publicKey": opts.Response, "profile": name}, createSession(sess))
}

// sessionGrant is what a registration from this page session spends: for a
// session opened with a pass, one use of that pass (its hash); for one
// opened with a passkey, nothing.
func (w *web) sessionGrant(ctx context.Context, ps *pageSession) ([]byte, *apiError) {
	if ps.claims.Kerberos {
		return kerberosGrant, nil
	}
	if ps.claims.TAP == "" || ps.claims.Spent {
		return nil, nil
	}
	taps, err := w.s.cfg.Store.ListTAPs(ctx, ps.principal.Anchor)
	if err != nil {
		return nil, newError(CodeStoreUnavailable, "cannot check your temporary access pass right now; try again")
	}
	for _, t := range taps {
		if t.ID == ps.claims.TAP {
			if t.UsesLeft <= 0 {
				return nil, tapError(store.ErrExhausted)
			}
			return t.Hash, nil
		}
	}
	return nil, errNoSession()
}

type addFinishRequest struct {
	Session    string          `json:"session"`
	Credential json.RawMessage `json:"credential"`
	Name       string          `json:"name,omitempty"`
}

// addFinish verifies and stores the new passkey and labels it.
func (w *web) addFinish(rw http.ResponseWriter, r *http.Request, ps *pageSession) {
	ctx := r.Context()
	s := w.s
	ev := s.event(r, "register")
	ev.Principal = ps.principal.Name
	var req addFinishRequest
	if e := decodeBody(rw, r, &req); e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	name, e := credentialName(req.Name)
	if e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	pr, err := s.cfg.RP.CheckRegistration(ctx, req.Session, req.Credential)
	if err == nil && pr.Claimed != ps.principal.Anchor {
		err = &assertion.Error{Code: assertion.CodePrincipalMismatch, Message: "this registration was started by another account"}
	}
	if err != nil {
		s.failWith(ctx, rw, ev, ceremonyError(err), consumeRegistration(pr))
		return
	}
	cred := pr.Credential
	ev.CredentialID = b64(cred.ID)
	if name == "" {
		name = defaultCredentialName(cred)
	}
	cred.Name, pr.Credential.Name = name, name
	if e := s.commitOK(ctx, ev, "passkey registered from the web page under profile "+cred.Profile, s.recordRegistration(pr)); e != nil {
		writeError(rw, e)
		return
	}
	if pr.Grant != nil { // the session's pass is spent now: say so in its cookie
		c := ps.claims
		c.Spent = true
		if err := w.setCookie(rw, c); err != nil {
			s.cfg.Log.WithError(err).WithField("principal", ps.principal.Name).Warn("page cookie not renewed after a registration")
		}
	}
	writeJSON(rw, http.StatusOK, credentialViewOf(cred, ps.claims.Credential))
}

func defaultCredentialName(c store.Credential) string {
	if u, err := uuid.FromBytes(c.AAGUID); err == nil {
		if m := AuthenticatorModel(u.String()); m != "" {
			return m
		}
	}
	return "Passkey"
}

// credentialName trims and checks a user-chosen label ("" keeps the default).
func credentialName(s string) (string, *apiError) {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxCredentialName || !utf8.ValidString(s) {
		return "", newError(CodeInvalidName, "a passkey name has at most %d characters", maxCredentialName)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", newError(CodeInvalidName, "a passkey name cannot hold control characters")
		}
	}
	return s, nil
}

type renameRequest struct {
	Name string `json:"name"`
}

func (w *web) rename(rw http.ResponseWriter, r *http.Request, ps *pageSession) {
	ctx := r.Context()
	s := w.s
	ev := s.event(r, "cred.rename")
	ev.Principal = ps.principal.Name
	var req renameRequest
	if e := decodeBody(rw, r, &req); e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	name, e := credentialName(req.Name)
	if e == nil && name == "" {
		e = newError(CodeInvalidName, "a passkey needs a name")
	}
	if e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	cred, e := w.ownCredential(ctx, r.PathValue("id"), ps)
	if e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	ev.CredentialID = b64(cred.ID)
	if err := s.cfg.Store.RenameCredential(ctx, cred.ID, name); err != nil {
		s.fail(ctx, rw, ev, storeError(err, "passkey"))
		return
	}
	cred.Name = name
	s.ok(ctx, rw, ev, "passkey renamed from the web page", credentialViewOf(cred, ps.claims.Credential))
}

type removeRequest struct {
	// Confirm must be true to remove the passkey the page session signed in with.
	Confirm bool `json:"confirm"`
}

// remove revokes a passkey. Revocation (not deletion) keeps the credential
// for the audit trail and for administrators, and a later sign-in with it is
// refused as credential_revoked rather than as an unknown credential. The
// passkey the current session signed in with is removed only with an explicit
// confirmation, and removing it ends the session.
func (w *web) remove(rw http.ResponseWriter, r *http.Request, ps *pageSession) {
	ctx := r.Context()
	s := w.s
	ev := s.event(r, "cred.revoke")
	ev.Principal = ps.principal.Name
	var req removeRequest
	if r.ContentLength != 0 {
		if e := decodeBody(rw, r, &req); e != nil {
			s.fail(ctx, rw, ev, e)
			return
		}
	}
	cred, e := w.ownCredential(ctx, r.PathValue("id"), ps)
	if e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	ev.CredentialID = b64(cred.ID)
	current := ev.CredentialID == ps.claims.Credential
	if current && !req.Confirm {
		s.fail(ctx, rw, ev, newError(CodeConfirmation,
			"this is the passkey you signed in with; removing it signs you out of this page. Confirm to remove it"))
		return
	}
	if err := s.cfg.Store.RevokeCredential(ctx, cred.ID, s.cfg.Now()); err != nil {
		s.fail(ctx, rw, ev, storeError(err, "passkey"))
		return
	}
	if current {
		clearCookie(rw)
	}
	s.ok(ctx, rw, ev, "passkey removed (revoked) from the web page", map[string]any{"removed": ev.CredentialID, "signed_out": current})
}

// ownCredential finds an active credential of the session's principal; any
// other ID is "unknown", whoever it belongs to.
func (w *web) ownCredential(ctx context.Context, id string, ps *pageSession) (store.Credential, *apiError) {
	raw, err := decodeB64(id)
	if err != nil || len(raw) == 0 {
		return store.Credential{}, newErrorStatus(http.StatusNotFound, assertion.CodeUnknownCredential, "no such passkey")
	}
	c, err := w.s.cfg.Store.GetCredential(ctx, raw)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && (c.Principal != ps.principal.Anchor || !c.RevokedAt.IsZero())):
		return store.Credential{}, newErrorStatus(http.StatusNotFound, assertion.CodeUnknownCredential, "no such passkey")
	case err != nil:
		return store.Credential{}, newError(CodeStoreUnavailable, "cannot read the passkey right now")
	}
	return c, nil
}

// emptyBody accepts no body or an empty JSON object.
func emptyBody(rw http.ResponseWriter, r *http.Request) *apiError {
	if r.ContentLength == 0 {
		return nil
	}
	var empty struct{}
	return decodeBody(rw, r, &empty)
}
