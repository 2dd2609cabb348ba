package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/kdc/krbname"
	"github.com/passkdc/passkdc/server/tap"
	"github.com/passkdc/passkdc/store"
)

// The helpdesk page (/helpdesk) and its JSON endpoints under
// /v1/page/helpdesk/. Staff are members of the configured helpdesk groups,
// signed in to the page with their own passkey (a session opened with a
// temporary access pass is refused). They look a user up, issue and revoke
// passes and revoke passkeys; a user in a never-reveal group of the
// replication policy, or another helpdesk member (unless configured), is
// refused. Every request, allowed or refused, is one audit record whose
// principal is the subject (the actor when there is none yet) and whose
// detail names the actor.

// HelpdeskConfig says who the helpdesk staff are.
type HelpdeskConfig struct {
	// Groups are group SIDs ("S-1-…") or DNs; members, nested included,
	// are helpdesk staff. None: nobody is.
	Groups []string
	// MayActOnHelpdesk lets staff act on other helpdesk members.
	MayActOnHelpdesk bool
}

// helpdeskPassTTL is the lifetime of a pass the page issues when none is asked.
const helpdeskPassTTL = time.Hour

// helpdeskCall is one request of a staff member about a subject.
type helpdeskCall struct {
	ev    store.AuditRecord
	actor string // staff member, name@REALM
}

// isHelpdesk reports whether p is helpdesk staff (a member of a helpdesk group).
func (s *Server) isHelpdesk(ctx context.Context, p store.Principal) (bool, *apiError) {
	if len(s.cfg.Helpdesk.Groups) == 0 {
		return false, nil
	}
	groups, err := s.cfg.Store.TransitiveGroups(ctx, p.Anchor)
	if err != nil {
		return false, newError(CodeStoreUnavailable, "cannot read group membership right now")
	}
	for _, g := range groups {
		for _, want := range s.cfg.Helpdesk.Groups {
			if (g.SID != "" && strings.EqualFold(g.SID, want)) || (g.DN != "" && strings.EqualFold(g.DN, want)) {
				return true, nil
			}
		}
	}
	return false, nil
}

// staff runs h for a helpdesk member signed in with a passkey; anyone else
// is refused with one audit record.
func (w *web) staff(event string, h func(http.ResponseWriter, *http.Request, *pageSession, *helpdeskCall)) sessionHandler {
	return func(rw http.ResponseWriter, r *http.Request, ps *pageSession) {
		s := w.s
		hc := &helpdeskCall{ev: s.event(r, event), actor: principalName(ps.principal, s.cfg.Realm)}
		hc.ev.Principal = ps.principal.Name
		if ps.claims.via() != viaPasskey {
			w.helpdeskFail(r.Context(), rw, hc, newError(CodeHelpdeskPasskey,
				"the helpdesk page needs you signed in with your own passkey, not a temporary access pass"))
			return
		}
		member, e := s.isHelpdesk(r.Context(), ps.principal)
		if e == nil && !member {
			e = newError(CodeHelpdeskOnly, "the helpdesk page is for members of a helpdesk group (helpdesk.groups); %s is not one", hc.actor)
		}
		if e != nil {
			w.helpdeskFail(r.Context(), rw, hc, e)
			return
		}
		h(rw, r, ps, hc)
	}
}

// helpdeskFail records the refusal, naming the actor, and answers it.
func (w *web) helpdeskFail(ctx context.Context, rw http.ResponseWriter, hc *helpdeskCall, e *apiError) {
	ev := hc.ev
	refused(&ev, e)
	ev.Detail = e.Message + " (helpdesk: by " + hc.actor + ")"
	if _, err := w.s.decide(context.WithoutCancel(ctx), ev, nil); err != nil {
		e = newError(CodeAuditUnavailable, "the audit trail cannot be written; nothing was done")
	}
	writeError(rw, e)
}

// helpdeskOK commits writes with the success record, naming the actor.
func (w *web) helpdeskOK(ctx context.Context, rw http.ResponseWriter, hc *helpdeskCall, detail string, body any, writes writesFunc) {
	w.s.okWith(ctx, rw, hc.ev, detail+" (helpdesk: by "+hc.actor+")", body, writes)
}

// subject finds the user the staff member names and checks that they may act
// on them; the audit record then names the subject.
func (w *web) subject(ctx context.Context, hc *helpdeskCall, ps *pageSession, name string) (store.Principal, *apiError) {
	s := w.s
	n, err := krbname.InRealm(name, s.cfg.Realm)
	if err != nil {
		return store.Principal{}, newError(CodeWrongRealm, "%v", err)
	}
	p, err := s.cfg.Store.GetPrincipalByName(ctx, s.cfg.Realm, n)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return p, newError(CodeUnknownPrincipal, "no user %s@%s in passkdc's mirror of the directory", n, s.cfg.Realm)
	case err != nil:
		return p, newError(CodeStoreUnavailable, "cannot read the user right now")
	}
	return p, w.mayActOn(ctx, hc, ps, p)
}

// mayActOn refuses subjects in a never-reveal group and other helpdesk
// members (unless helpdesk.may_act_on_helpdesk); it names the subject in
// the audit record.
func (w *web) mayActOn(ctx context.Context, hc *helpdeskCall, ps *pageSession, p store.Principal) *apiError {
	s := w.s
	hc.ev.Principal = p.Name
	name := principalName(p, s.cfg.Realm)
	if el := s.cfg.Issuer.Eligibility(ctx, p); el.NeverReveal {
		return newError(CodeSubjectProtected, "%s is in a never-reveal group of the replication policy: the helpdesk cannot act on this account", name)
	}
	if p.Anchor == ps.principal.Anchor || s.cfg.Helpdesk.MayActOnHelpdesk {
		return nil
	}
	member, e := s.isHelpdesk(ctx, p)
	if e != nil {
		return e
	}
	if member {
		return newError(CodeSubjectHelpdesk, "%s is a helpdesk member: the helpdesk cannot act on another member (helpdesk.may_act_on_helpdesk)", name)
	}
	return nil
}

// userView is what the helpdesk learns about a user.
type userView struct {
	Principal   string           `json:"principal"`
	DisplayName string           `json:"display_name,omitempty"`
	State       string           `json:"state"`             // enabled, disabled, deleted, expired
	Eligible    bool             `json:"eligible"`          // may get tickets
	Why         string           `json:"why"`               // the rule that decided
	Refusal     string           `json:"refusal,omitempty"` // the refusal code when not eligible
	Profile     profileView      `json:"profile"`           // the passkey profile that applies
	Credentials []credentialView `json:"credentials"`       // active passkeys
	Passes      []passView       `json:"passes"`            // open passes (never the pass)
	Pass        *issuedPass      `json:"issued,omitempty"`  // only in the answer to an issue
	Revoked     string           `json:"revoked,omitempty"` // only in the answer to a revocation
	Helpdesk    bool             `json:"helpdesk_member"`   // the user is helpdesk staff
	Self        bool             `json:"self,omitempty"`    // the staff member themself
	Message     string           `json:"message,omitempty"` // what was done
	Actor       string           `json:"actor"`             // the staff member
}

// passView is an open pass as the helpdesk lists it.
type passView struct {
	ID        string    `json:"id"`
	UsesLeft  int       `json:"uses_left"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// issuedPass is a pass just issued: the only time it is shown.
type issuedPass struct {
	ID      string    `json:"id"`
	Pass    string    `json:"pass"`
	Uses    int       `json:"uses"`
	Expires time.Time `json:"expires"`
}

func accountState(p store.Principal, now time.Time) string {
	if pr := p.Problem(now); pr != "" {
		return strings.TrimPrefix(string(pr), "principal_")
	}
	return "enabled"
}

// describeUser reads what the helpdesk is shown about p.
func (w *web) describeUser(ctx context.Context, hc *helpdeskCall, ps *pageSession, p store.Principal) (userView, *apiError) {
	s := w.s
	el := s.cfg.Issuer.Eligibility(ctx, p)
	v := userView{Principal: principalName(p, s.cfg.Realm), DisplayName: p.DisplayName, State: accountState(p, s.cfg.Now()),
		Eligible: el.Allowed, Why: el.Rule, Refusal: el.Code, Actor: hc.actor, Self: p.Anchor == ps.principal.Anchor,
		Credentials: []credentialView{}, Passes: []passView{}}
	if profs, err := s.cfg.Profiles(ctx, p); err == nil {
		v.Profile = describeProfiles(profs)
	}
	member, e := s.isHelpdesk(ctx, p)
	if e != nil {
		return v, e
	}
	v.Helpdesk = member
	creds, err := s.cfg.Store.ListCredentials(ctx, p.Anchor)
	if err != nil {
		return v, newError(CodeStoreUnavailable, "cannot list the user's passkeys right now")
	}
	for _, c := range creds {
		if c.RevokedAt.IsZero() {
			v.Credentials = append(v.Credentials, credentialViewOf(c, ""))
		}
	}
	taps, err := s.cfg.Store.ListTAPs(ctx, p.Anchor)
	if err != nil {
		return v, newError(CodeStoreUnavailable, "cannot list the user's passes right now")
	}
	now := s.cfg.Now()
	for _, t := range taps {
		if now.Before(t.ExpiresAt) && t.UsesLeft > 0 {
			v.Passes = append(v.Passes, passView{ID: t.ID, UsesLeft: t.UsesLeft, Created: t.CreatedAt, Expires: t.ExpiresAt, CreatedBy: t.CreatedBy})
		}
	}
	return v, nil
}

// helpdeskLookup answers what the helpdesk may know about one user.
func (w *web) helpdeskLookup(rw http.ResponseWriter, r *http.Request, ps *pageSession, hc *helpdeskCall) {
	ctx := r.Context()
	p, e := w.subject(ctx, hc, ps, r.PathValue("name"))
	if e != nil {
		w.helpdeskFail(ctx, rw, hc, e)
		return
	}
	v, e := w.describeUser(ctx, hc, ps, p)
	if e != nil {
		w.helpdeskFail(ctx, rw, hc, e)
		return
	}
	w.helpdeskOK(ctx, rw, hc, "user looked up", v, nil)
}

type issuePassRequest struct {
	Uses       int `json:"uses"`
	TTLMinutes int `json:"ttl_minutes"`
}

// helpdeskIssue issues a temporary access pass for the user (shown once).
func (w *web) helpdeskIssue(rw http.ResponseWriter, r *http.Request, ps *pageSession, hc *helpdeskCall) {
	ctx := r.Context()
	s := w.s
	req := issuePassRequest{Uses: 1, TTLMinutes: int(helpdeskPassTTL / time.Minute)}
	if r.ContentLength != 0 {
		if e := decodeBody(rw, r, &req); e != nil {
			w.helpdeskFail(ctx, rw, hc, e)
			return
		}
	}
	p, e := w.subject(ctx, hc, ps, r.PathValue("name"))
	if e == nil {
		e = principalState(p, s.cfg.Now())
	}
	if e != nil {
		w.helpdeskFail(ctx, rw, hc, e)
		return
	}
	ttl := time.Duration(req.TTLMinutes) * time.Minute
	rec, pass, err := tap.Issue(p.Anchor, req.Uses, ttl, "helpdesk "+hc.actor, s.cfg.Now())
	if err != nil {
		w.helpdeskFail(ctx, rw, hc, newError(CodeInvalidPassOptions, "%v", err))
		return
	}
	v, e := w.describeUser(ctx, hc, ps, p)
	if e != nil {
		w.helpdeskFail(ctx, rw, hc, e)
		return
	}
	v.Passes = append(v.Passes, passView{ID: rec.ID, UsesLeft: rec.UsesLeft, Created: rec.CreatedAt, Expires: rec.ExpiresAt, CreatedBy: rec.CreatedBy})
	v.Pass = &issuedPass{ID: rec.ID, Pass: pass, Uses: rec.UsesLeft, Expires: rec.ExpiresAt}
	v.Message = fmt.Sprintf("Temporary access pass issued for %s.", v.Principal)
	w.helpdeskOK(ctx, rw, hc, fmt.Sprintf("pass %s issued: %d use(s), ttl %s", rec.ID, rec.UsesLeft, ttl), v,
		func(ctx context.Context, tx store.Tx) *apiError {
			if err := tx.CreateTAP(ctx, rec); err != nil {
				return newError(CodeStoreUnavailable, "the pass could not be stored")
			}
			return nil
		})
}

// helpdeskRevokePass revokes one open pass of a user.
func (w *web) helpdeskRevokePass(rw http.ResponseWriter, r *http.Request, ps *pageSession, hc *helpdeskCall) {
	ctx := r.Context()
	s := w.s
	id := r.PathValue("id")
	var t store.TAP
	err := s.cfg.Store.WithTx(ctx, func(tx store.Tx) error {
		var err error
		t, err = tap.Find(ctx, tx, id)
		return err
	})
	if err != nil {
		w.helpdeskFail(ctx, rw, hc, passLookupError(err))
		return
	}
	p, e := w.subjectByAnchor(ctx, hc, ps, t.Principal)
	if e != nil {
		w.helpdeskFail(ctx, rw, hc, e)
		return
	}
	w.revokeThen(ctx, rw, hc, ps, p, "pass "+id+" revoked", "Temporary access pass revoked.", id,
		func(ctx context.Context, tx store.Tx) *apiError {
			if _, err := tap.Revoke(ctx, tx, id); err != nil {
				return passLookupError(err)
			}
			return nil
		})
}

// helpdeskRevokeCredential revokes one passkey of a user: it signs in no more.
func (w *web) helpdeskRevokeCredential(rw http.ResponseWriter, r *http.Request, ps *pageSession, hc *helpdeskCall) {
	ctx := r.Context()
	s := w.s
	raw, err := decodeB64(r.PathValue("id"))
	var c store.Credential
	if err == nil && len(raw) > 0 {
		c, err = s.cfg.Store.GetCredential(ctx, raw)
	}
	switch {
	case err == nil && len(raw) > 0 && c.RevokedAt.IsZero():
	case err == nil || errors.Is(err, store.ErrNotFound):
		w.helpdeskFail(ctx, rw, hc, newErrorStatus(http.StatusNotFound, assertion.CodeUnknownCredential, "no such active passkey"))
		return
	default:
		w.helpdeskFail(ctx, rw, hc, newError(CodeStoreUnavailable, "cannot read the passkey right now"))
		return
	}
	hc.ev.CredentialID = b64(c.ID)
	p, e := w.subjectByAnchor(ctx, hc, ps, c.Principal)
	if e != nil {
		w.helpdeskFail(ctx, rw, hc, e)
		return
	}
	w.revokeThen(ctx, rw, hc, ps, p, "passkey revoked", "Passkey revoked: it can no longer sign in.", hc.ev.CredentialID,
		func(ctx context.Context, tx store.Tx) *apiError {
			if err := tx.RevokeCredential(ctx, c.ID, s.cfg.Now()); err != nil {
				return storeError(err, "passkey")
			}
			return nil
		})
}

// revokeThen commits a revocation with its record and answers the user's
// view after it.
func (w *web) revokeThen(ctx context.Context, rw http.ResponseWriter, hc *helpdeskCall, ps *pageSession, p store.Principal,
	detail, message, id string, writes writesFunc) {
	if e := w.s.commitOK(ctx, hc.ev, detail+" (helpdesk: by "+hc.actor+")", writes); e != nil {
		writeError(rw, e)
		return
	}
	v, e := w.describeUser(ctx, hc, ps, p)
	if e != nil {
		writeError(rw, e) // revoked and recorded; only the fresh view is missing
		return
	}
	v.Message, v.Revoked = message, id
	writeJSON(rw, http.StatusOK, v)
}

func (w *web) subjectByAnchor(ctx context.Context, hc *helpdeskCall, ps *pageSession, anchor string) (store.Principal, *apiError) {
	p, err := w.s.cfg.Store.GetPrincipal(ctx, anchor)
	if err != nil {
		return p, storeError(err, "user")
	}
	return p, w.mayActOn(ctx, hc, ps, p)
}

func passLookupError(err error) *apiError {
	if errors.Is(err, tap.ErrNotFound) || errors.Is(err, store.ErrNotFound) {
		return newError(CodeUnknownPass, "no such open temporary access pass")
	}
	return newError(CodeStoreUnavailable, "cannot read the passes right now")
}

// helpdeskPage serves the helpdesk page (its data needs a staff session).
func (w *web) helpdeskPage(rw http.ResponseWriter, r *http.Request) {
	securityHeaders(rw.Header())
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = rw.Write(w.helpdesk)
}

// helpdeskSession tells the page whether the session may use it.
func (w *web) helpdeskSession(rw http.ResponseWriter, r *http.Request, ps *pageSession, hc *helpdeskCall) {
	w.helpdeskOK(r.Context(), rw, hc, "helpdesk page opened", w.view(r.Context(), ps), nil)
}
