package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/kdc"
	"github.com/passkdc/passkdc/kdc/issuer"
	"github.com/passkdc/passkdc/store"
)

// Browser sign-in for passkinit (DESIGN §1.4, RFC 8252 §7.3):
//
//  1. passkinit listens on a loopback port and opens
//     /signin?redirect_uri=http://127.0.0.1:PORT/callback&binding_key=K&state=S
//  2. the page runs a discoverable navigator.credentials.get through
//     /v1/page/signin/begin and /v1/page/signin/finish; begin records the
//     redirect URI, the state and the binding key server-side (a "signin"
//     store session), finish verifies the passkey and creates a one-time code
//     (a "code" store session: 60 s, single use, bound to K);
//  3. the page navigates to redirect_uri?code=C&state=S;
//  4. passkinit redeems C at POST /v1/login/redeem {code, binding_key}: the
//     ticket is issued only now, through the same checks as /v1/login/finish,
//     sealed to K with C as the HKDF salt. A code presented with another
//     binding key is refused (and burnt).

// Store session kinds of the browser flow.
const (
	KindSignin = "signin" // a browser sign-in between begin and finish
	KindCode   = "code"   // a one-time code between finish and redeem
)

const (
	codeTTL       = 60 * time.Second
	signinFlowTTL = assertion.DefaultSessionTTL
	maxRedirect   = 512
)

// signinFlow is the Data of a KindSignin session.
type signinFlow struct {
	Login       string `json:"login"` // the relying party's login session ID
	RedirectURI string `json:"redirect_uri"`
	State       string `json:"state"`
}

// codeGrant is the Data of a KindCode session.
type codeGrant struct {
	Credential string `json:"credential"` // base64url credential ID
}

// ValidateLoopbackRedirect checks a browser sign-in redirect URI: http, host
// 127.0.0.1 or [::1] (not "localhost", which a hosts file can point
// elsewhere), an explicit port, no user info, query or fragment.
func ValidateLoopbackRedirect(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("redirect_uri is required")
	}
	if len(raw) > maxRedirect {
		return nil, fmt.Errorf("redirect_uri is longer than %d bytes", maxRedirect)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("redirect_uri is not a URL: %w", err)
	}
	switch {
	case u.Scheme != "http":
		return nil, errors.New("redirect_uri must be an http:// loopback address")
	case u.Opaque != "" || u.User != nil:
		return nil, errors.New("redirect_uri must not carry user info")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, errors.New("redirect_uri must not carry a query or a fragment")
	case u.Hostname() != "127.0.0.1" && u.Hostname() != "::1":
		return nil, fmt.Errorf("redirect_uri host %q is not 127.0.0.1 or [::1]", u.Hostname())
	case u.Path != "" && !strings.HasPrefix(u.Path, "/"):
		return nil, errors.New("redirect_uri path must be absolute")
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil || port < 1 || port > 65535 || strconv.Itoa(port) != u.Port() {
		return nil, errors.New("redirect_uri needs an explicit port (1-65535)")
	}
	return u, nil
}

// validState accepts 8 to 256 unreserved URL characters.
func validState(s string) error {
	if len(s) < 8 || len(s) > 256 {
		return errors.New("state must be 8 to 256 characters")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
			return errors.New("state may hold only letters, digits and -._~")
		}
	}
	return nil
}

// signinParams are the query of /signin and the body of /v1/page/signin/begin.
type signinParams struct {
	RedirectURI string `json:"redirect_uri"`
	BindingKey  string `json:"binding_key"`
	State       string `json:"state"`
}

func (p signinParams) check() (*url.URL, []byte, *apiError) {
	u, err := ValidateLoopbackRedirect(p.RedirectURI)
	if err != nil {
		return nil, nil, newError(CodeInvalidRedirectURI, "%v", err)
	}
	if err := validState(p.State); err != nil {
		return nil, nil, newError(CodeInvalidState, "%v", err)
	}
	bk, err := decodeB64(p.BindingKey)
	if err == nil {
		err = assertion.ValidateBindingKey(bk)
	}
	if err != nil {
		return nil, nil, newError(assertion.CodeInvalidBindingKey, "binding_key must be a base64url X25519 public key")
	}
	return u, bk, nil
}

type signinPageData struct {
	Error    string
	Loopback string // host:port passkinit listens on
}

// signinPage serves the browser sign-in page, or explains why the link is
// not acceptable (never redirecting to an address it refused).
func (w *web) signinPage(rw http.ResponseWriter, r *http.Request) {
	securityHeaders(rw.Header())
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	q := r.URL.Query()
	p := signinParams{RedirectURI: q.Get("redirect_uri"), BindingKey: q.Get("binding_key"), State: q.Get("state")}
	var data signinPageData
	status := http.StatusOK
	if u, _, e := p.check(); e != nil {
		data.Error, status = e.Message, http.StatusBadRequest
	} else {
		data.Loopback = u.Host
	}
	var buf bytes.Buffer
	if err := w.signin.Execute(&buf, data); err != nil {
		http.Error(rw, "sign-in page unavailable", http.StatusInternalServerError)
		return
	}
	rw.WriteHeader(status)
	_, _ = rw.Write(buf.Bytes())
}

// browserBegin starts a discoverable sign-in bound to passkinit's binding key
// and loopback address.
func (w *web) browserBegin(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := w.s
	ev := s.event(r, "login.browser.begin")
	var p signinParams
	if e := decodeBody(rw, r, &p); e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	_, bk, e := p.check()
	if e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	loginID, opts, err := s.cfg.RP.BeginLogin(ctx, nil, bk)
	if err != nil {
		s.fail(ctx, rw, ev, ceremonyError(err))
		return
	}
	data, _ := json.Marshal(signinFlow{Login: loginID, RedirectURI: p.RedirectURI, State: p.State})
	flowID, err := s.newSession(ctx, KindSignin, "", data, bk, signinFlowTTL)
	if err != nil {
		s.fail(ctx, rw, ev, newError(CodeStoreUnavailable, "cannot start the sign-in right now"))
		return
	}
	s.ok(ctx, rw, ev, "browser sign-in started", map[string]any{"flow": flowID, "publicKey": opts.Response})
}

type browserFinishRequest struct {
	Flow       string          `json:"flow"`
	Credential json.RawMessage `json:"credential"`
}

// browserFinish verifies the passkey and returns where the page goes next:
// the loopback address with a one-time code. The flow's session, the
// sign-in's session and counter, the code and the audit record are one
// transaction; a refusal names the user it was about.
func (w *web) browserFinish(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := w.s
	ev := s.event(r, "login.browser")
	var req browserFinishRequest
	if e := decodeBody(rw, r, &req); e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	flowSess, flow, e := s.readFlow(ctx, req.Flow)
	if e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	pl, err := s.cfg.RP.CheckLoginFresh(ctx, flow.Login, req.Credential)
	record := func(ctx context.Context, tx store.Tx) *apiError {
		if _, e := s.consumeIn(ctx, tx, req.Flow, KindSignin); e != nil {
			return e
		}
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
	ev.Principal, ev.CredentialID = res.Principal.Name, b64(res.Credential.ID)
	if subtle.ConstantTimeCompare(res.BindingKey, flowSess.BindingKey) != 1 {
		s.failWith(ctx, rw, ev, newErrorStatus(http.StatusBadRequest, CodeBindingMismatch, "the sign-in does not belong to this flow"), record)
		return
	}
	data, _ := json.Marshal(codeGrant{Credential: ev.CredentialID})
	code, err := s.buildSession(KindCode, res.Principal.Anchor, data, flowSess.BindingKey, codeTTL)
	if err != nil {
		s.failWith(ctx, rw, ev, newError(assertion.CodeInternal, "cannot finish the sign-in right now"), record)
		return
	}
	q := url.Values{"code": {code.ID}, "state": {flow.State}}
	s.okWith(ctx, rw, ev, "passkey verified in the browser; one-time code issued",
		map[string]string{"redirect": flow.RedirectURI + "?" + q.Encode(), "principal": principalName(res.Principal, s.cfg.Realm)},
		func(ctx context.Context, tx store.Tx) *apiError {
			if e := record(ctx, tx); e != nil {
				return e
			}
			if err := tx.CreateSession(ctx, code); err != nil {
				return newError(CodeStoreUnavailable, "cannot finish the sign-in right now")
			}
			return nil
		})
}

// readFlow reads a browser sign-in flow without consuming it (the decision
// does, in its transaction).
func (s *Server) readFlow(ctx context.Context, id string) (store.Session, signinFlow, *apiError) {
	var f signinFlow
	if id == "" {
		return store.Session{}, f, newError(assertion.CodeMalformedRequest, "missing %s", KindSignin)
	}
	sess, err := s.cfg.Store.GetSession(ctx, id, KindSignin)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return sess, f, newError(CodeInvalidSignin, "unknown or already used %s", KindSignin)
	case err != nil:
		return sess, f, newError(CodeStoreUnavailable, "cannot read the %s right now", KindSignin)
	case !s.cfg.Now().Before(sess.ExpiresAt):
		return sess, f, newError(CodeSigninExpired, "the %s has expired; start again", KindSignin)
	}
	if err := json.Unmarshal(sess.Data, &f); err != nil || f.Login == "" {
		return sess, f, newError(assertion.CodeInternal, "sign-in flow is corrupt")
	}
	return sess, f, nil
}

// consume takes a single-use store session.
func (s *Server) consume(ctx context.Context, id, kind string) (store.Session, *apiError) {
	var sess store.Session
	var e *apiError
	err := s.cfg.Store.WithTx(ctx, func(tx store.Tx) error {
		sess, e = s.consumeIn(ctx, tx, id, kind)
		return nil
	})
	if err != nil && e == nil {
		e = newError(CodeStoreUnavailable, "cannot read the %s right now", kind)
	}
	return sess, e
}

// consumeIn takes a single-use store session in tx.
func (s *Server) consumeIn(ctx context.Context, tx store.Tx, id, kind string) (store.Session, *apiError) {
	if id == "" {
		return store.Session{}, newError(assertion.CodeMalformedRequest, "missing %s", kind)
	}
	sess, err := tx.ConsumeSession(ctx, id, kind, s.cfg.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return sess, newError("invalid_"+kind, "unknown or already used %s", kind)
	case errors.Is(err, store.ErrExpired):
		return sess, newError(kind+"_expired", "the %s has expired; start again", kind)
	case err != nil:
		return sess, newError(CodeStoreUnavailable, "cannot read the %s right now", kind)
	}
	if !s.cfg.Now().Before(sess.ExpiresAt) { // a backend that returned it anyway
		return sess, newError(kind+"_expired", "the %s has expired; start again", kind)
	}
	return sess, nil
}

// newSession stores a session with a fresh random ID and returns the ID.
func (s *Server) newSession(ctx context.Context, kind, principal string, data, bk []byte, ttl time.Duration) (string, error) {
	sess, err := s.buildSession(kind, principal, data, bk, ttl)
	if err != nil {
		return "", err
	}
	return sess.ID, s.cfg.Store.CreateSession(ctx, sess)
}

// buildSession is a session with a fresh random ID, not yet stored.
func (s *Server) buildSession(kind, principal string, data, bk []byte, ttl time.Duration) (store.Session, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return store.Session{}, err
	}
	now := s.cfg.Now().UTC()
	return store.Session{ID: b64(b), Kind: kind, Principal: principal, Data: data,
		BindingKey: bk, CreatedAt: now, ExpiresAt: now.Add(ttl)}, nil
}

type redeemRequest struct {
	Code       string `json:"code"`
	BindingKey string `json:"binding_key"`
}

// loginRedeem trades a one-time code from the browser sign-in for the sealed
// partial TGT, answering exactly like /v1/login/finish.
func (s *Server) loginRedeem(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ev := s.event(r, "login")
	var req redeemRequest
	if e := decodeBody(w, r, &req); e != nil {
		s.fail(ctx, w, ev, e)
		return
	}
	bk, err := decodeB64(req.BindingKey)
	if err != nil || assertion.ValidateBindingKey(bk) != nil {
		s.fail(ctx, w, ev, newError(assertion.CodeInvalidBindingKey, "binding_key must be a base64url X25519 public key"))
		return
	}
	// Consumed first: a code is burnt by any attempt, right or wrong.
	sess, e := s.consume(ctx, req.Code, KindCode)
	if e != nil {
		s.fail(ctx, w, ev, e)
		return
	}
	if subtle.ConstantTimeCompare(bk, sess.BindingKey) != 1 {
		s.fail(ctx, w, ev, newError(CodeBindingMismatch, "this code was issued to another client (binding key differs)"))
		return
	}
	p, cred, e := s.grantHolder(ctx, sess)
	if e != nil {
		s.fail(ctx, w, ev, e)
		return
	}
	ev.Principal, ev.CredentialID = p.Name, b64(cred.ID)
	s.issueSealed(ctx, w, ev, issuance{principal: p, bindingKey: bk, salt: req.Code, detail: "partial TGT issued (browser sign-in)"})
}

// grantHolder re-reads the principal and credential of a code: a passkey
// revoked since the browser step gets nothing.
func (s *Server) grantHolder(ctx context.Context, sess store.Session) (store.Principal, store.Credential, *apiError) {
	var g codeGrant
	if err := json.Unmarshal(sess.Data, &g); err != nil {
		return store.Principal{}, store.Credential{}, newError(assertion.CodeInternal, "code is corrupt")
	}
	id, err := decodeB64(g.Credential)
	if err != nil {
		return store.Principal{}, store.Credential{}, newError(assertion.CodeInternal, "code is corrupt")
	}
	cred, err := s.cfg.Store.GetCredential(ctx, id)
	switch {
	case err != nil:
		return store.Principal{}, cred, storeError(err, "credential")
	case !cred.RevokedAt.IsZero():
		return store.Principal{}, cred, newError(assertion.CodeCredentialRevoked, "credential was revoked")
	case cred.Principal != sess.Principal:
		return store.Principal{}, cred, newError(assertion.CodeUserHandleMismatch, "code does not match its credential")
	}
	p, err := s.cfg.Store.GetPrincipal(ctx, sess.Principal)
	if err != nil {
		return p, cred, storeError(err, "principal")
	}
	return p, cred, nil
}

// issuance is what issueSealed needs for one sign-in.
type issuance struct {
	principal  store.Principal
	groups     []store.Group // transitive groups just read (from the store, or live); nil: not read
	live       bool          // principal and groups were just read from the directory
	bindingKey []byte
	salt       string
	detail     string
	writes     writesFunc // the request's writes, committed with the decision's record
	// cached: decided on a cached credential (assertion.PendingLogin.Cached):
	// a refusal is not answered but decided again.
	cached bool
}

// refuse answers e to the sign-in of in, unless it was decided on a cached
// credential: then it writes nothing and returns true (decide again).
func (s *Server) refuse(ctx context.Context, w http.ResponseWriter, ev store.AuditRecord, in issuance, e *apiError) (again bool) {
	if in.cached {
		return true
	}
	s.failWith(ctx, w, ev, e, in.writes)
	return false
}

// issueSealed is the issuance tail shared by sign-in paths: the live
// directory check, the replication policy and the partial TGT (issuer), the
// KRB-CRED sealed to the binding key with the salt, and the audit record
// written, in one transaction with the request's writes, before the response
// leaves (no record, no ticket). It returns true, having written nothing,
// when the sign-in was decided on a cached credential and must be decided
// again: a refusal, or a store that no longer matches it when recorded.
func (s *Server) issueSealed(ctx context.Context, w http.ResponseWriter, ev store.AuditRecord, in issuance) (again bool) {
	p := in.principal
	var iss *kdc.Issued
	var err error
	switch {
	case in.live:
		iss, err = s.cfg.Issuer.IssueWithGroups(ctx, p, issuer.GroupSIDs(in.groups))
	case s.cfg.Refresher != nil:
		var groups []string
		if p, groups, err = s.cfg.Refresher.Refresh(ctx, p); err != nil {
			// The directory's answer, not the cached credential's: it stands.
			s.failWith(ctx, w, ev, newError(issuer.CodeDirectory, "%v", err), in.writes)
			return false
		}
		iss, err = s.cfg.Issuer.IssueWithGroups(ctx, p, groups)
	default:
		iss, err = s.cfg.Issuer.IssueWithStoreGroups(ctx, p, in.groups)
	}
	if err != nil {
		return s.refuse(ctx, w, ev, in, issueError(err))
	}
	sealed, err := issuer.Seal(iss, in.bindingKey, in.salt)
	if err != nil {
		s.failWith(ctx, w, ev, newError(assertion.CodeInternal, "sealing the ticket failed"), in.writes)
		return false
	}
	ev.KVNO = iss.KVNO
	if e := s.commitOK(ctx, ev, in.detail, in.writes); e != nil {
		if e == errDecideAgain {
			return true
		}
		writeError(w, e) // decided and recorded: a replay, or no audit trail
		return false
	}
	writeJSON(w, http.StatusOK, loginFinishResponse{
		Principal: principalName(p, s.cfg.Realm), KRBCred: b64(sealed.KRBCred),
		ServerKey: b64(sealed.ServerKey), Expires: sealed.Expires.UTC(), KDCProxy: s.advertisedProxy,
	})
	return false
}
