// Package server is passkdc's HTTP API: enrolment with a temporary access pass,
// passkey sign-in that returns a partial TGT, and health. It is glue: WebAuthn
// lives in assertion, tickets in kdc and issuer, state in store.
package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/kdc/issuer"
	"github.com/passkdc/passkdc/kdc/krbname"
	"github.com/passkdc/passkdc/server/tap"
	"github.com/passkdc/passkdc/store"
)

// Refresher re-reads a principal and its transitive group SIDs from the
// directory at sign-in (the live check); it fails closed when the directory is
// down past the staleness bound.
type Refresher interface {
	Refresh(ctx context.Context, p store.Principal) (store.Principal, []string, error)
}

// ProfileResolver returns the passkey profiles that apply to a principal
// (config order; at least one): a passkey is registered when any allows it.
type ProfileResolver func(ctx context.Context, p store.Principal) ([]assertion.Profile, error)

// Config wires a server.
type Config struct {
	Realm     string
	Store     store.Store
	RP        *assertion.RelyingParty
	Issuer    *issuer.Issuer
	Refresher Refresher       // optional: nil serves from the synced mirror
	Profiles  ProfileResolver // optional: nil uses the relying party's (groups, exclusions, default)
	Log       logrus.FieldLogger
	Now       func() time.Time
	// Limits: body cap, rate limits, session bounds, request timeout (zero
	// fields take DefaultLimits).
	Limits Limits
	// Readiness are the checks /readyz runs besides the store's (keytab,
	// directory); /healthz stays a liveness check of the process and store.
	Readiness []ReadyCheck
	// MetricsElsewhere keeps /metrics off the API handler: the caller serves
	// MetricsHandler on a listener of its own (config metrics_listen).
	MetricsElsewhere bool
	// KDCProxy, when set, serves POST /KdcProxy (MS-KKDCP).
	KDCProxy *KDCProxyConfig
	// Helpdesk says who may use the helpdesk page (none: nobody).
	Helpdesk HelpdeskConfig
	// Kerberos, when set, lets register/begin take Authorization: Negotiate
	// (Kerberos enrolment, for profiles whose enrol_with lists kerberos).
	Kerberos *KerberosConfig
}

// Server serves the API.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	limits  *limits
	metrics *Metrics
	proxy   *kdcProxy // nil: no /KdcProxy
	// advertisedProxy is the KDC proxy URL sign-in answers carry ("": none).
	advertisedProxy string
	// readiness caches the last /readyz answer.
	readiness readiness
	// krbKeys is the HTTP service keytab (Config.Kerberos), swapped by
	// SetKerberosKeytab.
	krbKeys atomic.Pointer[keytab.Keytab]
}

// New builds a server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.RP == nil || cfg.Issuer == nil || cfg.Realm == "" {
		return nil, errors.New("server: realm, store, relying party and issuer are required")
	}
	if cfg.Log == nil {
		cfg.Log = logrus.StandardLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Profiles == nil {
		cfg.Profiles = applicableProfiles(cfg.RP)
	}
	cfg.Limits = limitsWithDefaults(cfg.Limits)
	s := &Server{cfg: cfg, mux: http.NewServeMux(), limits: newLimits(cfg.Limits), metrics: newMetrics(cfg.Now)}
	w, err := newWeb(s)
	if err != nil {
		return nil, fmt.Errorf("server: the web page cannot be built: %w", err)
	}
	if cfg.Kerberos != nil {
		s.krbKeys.Store(cfg.Kerberos.Keytab)
	}
	s.routes(w)
	return s, nil
}

// SetKerberosKeytab replaces the HTTP service keytab (a rotation by `passkdc
// rodc http-spn`); requests in flight finish with the keys they started with.
func (s *Server) SetKerberosKeytab(kt *keytab.Keytab) {
	if kt != nil {
		s.krbKeys.Store(kt)
	}
}

// routes is the one route table: the API, the web page and its JSON
// endpoints, health, metrics and the KDC proxy.
func (s *Server) routes(w *web) {
	m := s.mux
	// The API (passkinit and other clients).
	m.HandleFunc("POST /v1/register/begin", s.registerBegin)
	m.HandleFunc("POST /v1/register/finish", s.registerFinish)
	m.HandleFunc("POST "+loginBeginPath, s.loginBegin)
	m.HandleFunc("POST /v1/login/finish", s.loginFinish)
	// Called by passkinit after a browser sign-in, not by a browser: no Origin, no cookie.
	m.HandleFunc("POST /v1/login/redeem", s.loginRedeem)
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /readyz", s.readyz)
	if !s.cfg.MetricsElsewhere {
		m.Handle("GET /metrics", s.metrics.Handler())
	}
	// The Security info page and the browser sign-in page.
	m.HandleFunc("GET /{$}", w.page)
	m.HandleFunc("GET /signin", w.signinPage)
	m.HandleFunc("GET /static/{name}", w.asset)
	m.HandleFunc("GET /v1/page/session", w.signedIn(w.sessionInfo))
	m.HandleFunc("POST /v1/page/tap", w.sameOrigin(w.tapSignIn))
	m.HandleFunc("POST /v1/page/kerberos", w.sameOrigin(w.kerberosSignIn))
	m.HandleFunc("POST /v1/page/login/begin", w.sameOrigin(w.loginBegin))
	m.HandleFunc("POST /v1/page/login/finish", w.sameOrigin(w.loginFinish))
	m.HandleFunc("POST /v1/page/logout", w.sameOrigin(w.logout))
	m.HandleFunc("GET /v1/page/credentials", w.signedIn(w.listCredentials))
	m.HandleFunc("POST /v1/page/credentials/begin", w.sameOrigin(w.csrf(w.addBegin)))
	m.HandleFunc("POST /v1/page/credentials/finish", w.sameOrigin(w.csrf(w.addFinish)))
	m.HandleFunc("PATCH /v1/page/credentials/{id}", w.sameOrigin(w.csrf(w.rename)))
	m.HandleFunc("DELETE /v1/page/credentials/{id}", w.sameOrigin(w.csrf(w.remove)))
	m.HandleFunc("POST /v1/page/signin/begin", w.sameOrigin(w.browserBegin))
	m.HandleFunc("POST /v1/page/signin/finish", w.sameOrigin(w.browserFinish))
	// The helpdesk page.
	m.HandleFunc("GET /helpdesk", w.helpdeskPage)
	m.HandleFunc("GET /v1/page/helpdesk/session", w.signedIn(w.staff("helpdesk.open", w.helpdeskSession)))
	m.HandleFunc("GET /v1/page/helpdesk/users/{name}", w.signedIn(w.staff("helpdesk.lookup", w.helpdeskLookup)))
	m.HandleFunc("POST /v1/page/helpdesk/users/{name}/passes", w.sameOrigin(w.csrf(w.staff("helpdesk.tap.issue", w.helpdeskIssue))))
	m.HandleFunc("DELETE /v1/page/helpdesk/passes/{id}", w.sameOrigin(w.csrf(w.staff("helpdesk.tap.revoke", w.helpdeskRevokePass))))
	m.HandleFunc("DELETE /v1/page/helpdesk/credentials/{id}", w.sameOrigin(w.csrf(w.staff("helpdesk.cred.revoke", w.helpdeskRevokeCredential))))
	// MS-KKDCP, when configured.
	s.registerKDCProxy(s.cfg.KDCProxy)
}

// Handler returns the HTTP handler with security headers, the per-address
// rate limit, the body cap, the request timeout and latency metrics.
func (s *Server) Handler() http.Handler {
	// Every response shares these value slices (Header.Set would make one
	// per header per request): nothing writes into a header's values in
	// place, and Set, Add and Del replace, copy (cap = len) or drop them.
	nosniff, noStore, noReferrer := []string{"nosniff"}, []string{"no-store"}, []string{"no-referrer"}
	hsts := []string{"max-age=31536000"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h["X-Content-Type-Options"] = nosniff
		h["Cache-Control"] = noStore
		h["Referrer-Policy"] = noReferrer
		if r.TLS != nil {
			h["Strict-Transport-Security"] = hsts
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		r, cancel, ok := s.limitRequest(sw, r)
		defer cancel()
		if ok {
			s.mux.ServeHTTP(sw, r)
		}
		s.metrics.observe(r.Pattern, sw.code, time.Since(start))
	})
}

// MetricsHandler serves the Prometheus exposition (for a metrics-only listener).
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.Handler())
	return mux
}

// Metrics returns the server's metrics (serve records syncs and key loads).
func (s *Server) Metrics() *Metrics { return s.metrics }

// statusWriter remembers the status code for the latency metric.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type beginResponse struct {
	Session   string `json:"session"`
	PublicKey any    `json:"publicKey"`
}

type finishRequest struct {
	Session    string          `json:"session"`
	Credential json.RawMessage `json:"credential"`
}

// HashTAP is how a temporary access pass is stored and looked up (tap.Hash).
func HashTAP(pass string) []byte { return tap.Hash(pass) }

// registerBeginRequest optionally names the account the caller means to
// enrol: a pass issued for another account is then refused before anything
// is registered.
type registerBeginRequest struct {
	Principal string `json:"principal,omitempty"`
}

// registerBegin checks the temporary access pass without spending it: the
// pass is spent at register/finish, in the transaction that stores the
// passkey, so a begin that any limit or check refuses leaves it as it was.
func (s *Server) registerBegin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Negotiate "); ok {
		s.registerBeginKerberos(w, r, token)
		return
	}
	ev := s.event(r, "register.begin")
	pass, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(pass) == "" {
		s.negotiateChallenge(w)
		s.fail(ctx, w, ev, newError(CodeTAPRequired, "send the temporary access pass as Authorization: Bearer <pass>"))
		return
	}
	var req registerBeginRequest
	if r.ContentLength != 0 {
		if e := decodeBody(w, r, &req); e != nil {
			s.fail(ctx, w, ev, e)
			return
		}
	}
	hash := HashTAP(pass)
	tap, err := s.cfg.Store.GetTAP(ctx, hash, s.cfg.Now())
	if err != nil {
		s.fail(ctx, w, ev, tapError(err))
		return
	}
	p, err := s.cfg.Store.GetPrincipal(ctx, tap.Principal)
	if err != nil {
		s.fail(ctx, w, ev, storeError(err, "principal of this pass"))
		return
	}
	ev.Principal = p.Name
	profs, e := s.registrationProfiles(ctx, w, r, p, req.Principal)
	if e != nil {
		s.fail(ctx, w, ev, e)
		return
	}
	sess, opts, err := s.cfg.RP.PrepareRegistration(ctx, p, hash, profs...)
	if err != nil {
		s.fail(ctx, w, ev, ceremonyError(err))
		return
	}
	s.okWith(ctx, w, ev, "registration started", beginResponse{Session: sess.ID, PublicKey: opts.Response}, createSession(sess))
}

// registrationProfiles is what every register/begin checks once it knows
// whose ceremony it is (by pass or by Kerberos): the account the caller
// named, the begin limits, and the profiles that apply.
func (s *Server) registrationProfiles(ctx context.Context, w http.ResponseWriter, r *http.Request, p store.Principal, named string) ([]assertion.Profile, *apiError) {
	if e := s.passFor(p, named); e != nil {
		return nil, e
	}
	if e := s.beginAllowed(ctx, w, r, p.Anchor, assertion.KindRegister); e != nil {
		return nil, e
	}
	profs, err := s.cfg.Profiles(ctx, p)
	if err != nil {
		return nil, ceremonyError(err)
	}
	return profs, nil
}

// passFor refuses a pass used for another account than the one the caller
// named (empty: not named).
func (s *Server) passFor(p store.Principal, named string) *apiError {
	if named == "" {
		return nil
	}
	name, realm := krbname.Split(named, s.cfg.Realm)
	if strings.EqualFold(realm, s.cfg.Realm) && strings.EqualFold(name, p.Name) {
		return nil
	}
	return newError(CodeTAPOtherAccount,
		"this temporary access pass was issued for another account than %s; nothing was registered", named)
}

// createSession is the write of a begin: its session, stored with its audit record.
func createSession(sess store.Session) writesFunc {
	return func(ctx context.Context, tx store.Tx) *apiError {
		if err := tx.CreateSession(ctx, sess); err != nil {
			return newError(CodeStoreUnavailable, "cannot start the ceremony right now; try again")
		}
		return nil
	}
}

// registerFinish verifies the new passkey without writing, then stores it,
// consumes the session and spends the pass in one transaction with the
// audit record: either all of them happen or none does (the session is
// still consumed by a refused attempt).
func (s *Server) registerFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ev := s.event(r, "register")
	var req finishRequest
	if e := decodeBody(w, r, &req); e != nil {
		s.fail(ctx, w, ev, e)
		return
	}
	pr, err := s.cfg.RP.CheckRegistration(ctx, req.Session, req.Credential)
	s.claimOf(ctx, &ev, pr.Claimed)
	if err != nil {
		s.failWith(ctx, w, ev, ceremonyError(err), consumeRegistration(pr))
		return
	}
	ev.CredentialID = b64(pr.Credential.ID)
	body := map[string]string{"credential_id": ev.CredentialID, "principal": s.nameOf(ctx, pr.Claimed)}
	s.okWith(ctx, w, ev, "passkey registered under profile "+pr.Credential.Profile, body, s.recordRegistration(pr))
}

// recordRegistration is the write of a verified registration: session,
// pass and credential; a refusal after any of them was written rolls the
// transaction back and consumes only the session.
func (s *Server) recordRegistration(pr *assertion.PendingRegistration) writesFunc {
	spend := func(ctx context.Context, tx store.Tx) error {
		return s.spendGrant(ctx, tx, pr.Grant, pr.Claimed)
	}
	return func(ctx context.Context, tx store.Tx) *apiError {
		err := pr.Record(ctx, tx, spend)
		if err == nil {
			return nil
		}
		e := registrationWriteError(err)
		if e.Code != assertion.CodeUnknownSession && e.Code != assertion.CodeSessionExpired {
			e = e.undoing(consumeRegistration(pr))
		}
		return e
	}
}

// consumeRegistration is the write of a refused registration: its session.
func consumeRegistration(pr *assertion.PendingRegistration) writesFunc {
	return func(ctx context.Context, tx store.Tx) *apiError {
		if err := pr.Consume(ctx, tx); err != nil {
			return registrationWriteError(err)
		}
		return nil
	}
}

// registrationWriteError is the answer to a registration whose writes
// failed: the refusal they name, or the store being unavailable.
func registrationWriteError(err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	if assertion.Code(err) == assertion.CodeInternal {
		return newError(CodeStoreUnavailable, "the passkey cannot be saved right now; nothing was registered, try again")
	}
	return ceremonyError(err)
}

// claimOf names in ev the principal (anchor) a ceremony is about.
func (s *Server) claimOf(ctx context.Context, ev *store.AuditRecord, anchor string) {
	if anchor == "" {
		return
	}
	if p, err := s.cfg.Store.GetPrincipal(ctx, anchor); err == nil {
		ev.Principal = p.Name
	}
}

// nameOf is the principal name@REALM of an anchor ("" when unknown).
func (s *Server) nameOf(ctx context.Context, anchor string) string {
	p, err := s.cfg.Store.GetPrincipal(ctx, anchor)
	if err != nil {
		return ""
	}
	return principalName(p, s.cfg.Realm)
}

// loginBeginPath is the API's sign-in begin, which stores nothing.
const loginBeginPath = "/v1/login/begin"

type loginBeginRequest struct {
	Principal  string `json:"principal,omitempty"`
	BindingKey string `json:"binding_key"`
}

func (s *Server) loginBegin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ev := s.event(r, "login.begin")
	var req loginBeginRequest
	if e := decodeBody(w, r, &req); e != nil {
		s.fail(ctx, w, ev, e)
		return
	}
	bk, err := decodeB64(req.BindingKey)
	if err != nil {
		s.fail(ctx, w, ev, newError(assertion.CodeInvalidBindingKey, "binding_key must be base64url: %v", err))
		return
	}
	sess, opts, e := s.prepareLogin(ctx, w, r, &ev, req.Principal, bk)
	if e != nil {
		s.fail(ctx, w, ev, e)
		return
	}
	// No write: the session is a sealed challenge (assertion.BeginLogin),
	// its single use recorded by the finish's transaction. A begin decides
	// nothing (anyone may ask for one): no audit record, only its refusals.
	s.metrics.decision(ev.Event, "ok", "")
	writeJSON(w, http.StatusOK, &beginResponse{Session: sess, PublicKey: &opts.Response}) // pointers: no copies boxed
}

// prepareLogin builds the sign-in session: discoverable without a name;
// with one, bound to the principal it names, or to nobody when it names
// none. Known and unknown names get the same answer, the same limits (keyed
// by the name as typed, not by whether it exists) and the same store work,
// so that begin reveals no account.
func (s *Server) prepareLogin(ctx context.Context, w http.ResponseWriter, r *http.Request, ev *store.AuditRecord, named string, bk []byte) (string, *protocol.CredentialAssertion, *apiError) {
	if named == "" {
		sess, opts, err := s.cfg.RP.BeginLogin(ctx, nil, bk)
		return sess, opts, ceremonyErrorOrNil(err)
	}
	ev.Principal = named
	name, realm := krbname.Split(named, s.cfg.Realm)
	if !strings.EqualFold(realm, s.cfg.Realm) {
		return "", nil, newError(CodeWrongRealm, "this server issues tickets for %s only", s.cfg.Realm)
	}
	if e := s.beginAllowed(ctx, w, r, "name:"+strings.ToLower(name), assertion.KindLogin); e != nil {
		return "", nil, e
	}
	p, err := s.cfg.Store.GetPrincipalByName(ctx, s.cfg.Realm, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		sess, opts, err := s.cfg.RP.BeginUnknownLogin(ctx, bk)
		return sess, opts, ceremonyErrorOrNil(err)
	case err != nil:
		return "", nil, newError(CodeStoreUnavailable, "cannot start the sign-in right now; try again")
	}
	sess, opts, err := s.cfg.RP.BeginLogin(ctx, &p, bk)
	return sess, opts, ceremonyErrorOrNil(err)
}

// ceremonyErrorOrNil is ceremonyError, nil for no error.
func ceremonyErrorOrNil(err error) *apiError {
	if err == nil {
		return nil
	}
	return ceremonyError(err)
}

type loginFinishResponse struct {
	Principal string    `json:"principal"`
	KRBCred   string    `json:"krb_cred"`
	ServerKey string    `json:"server_key"`
	Expires   time.Time `json:"expires"`
	KDCProxy  string    `json:"kdc_proxy,omitempty"` // kdc_proxy.advertise_url
}

func (s *Server) loginFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ev := s.event(r, "login")
	var req finishRequest
	if e := decodeBody(w, r, &req); e != nil {
		s.fail(ctx, w, ev, e)
		return
	}
	// Decided first on the credential as an earlier sign-in left it, when
	// the relying party kept it; a decision on that copy that would refuse,
	// or that the store no longer matches when it is recorded, is taken
	// again on the store's credential (nothing of it was written).
	var allowed string
	if s.finishLogin(ctx, w, ev, &req, s.cfg.RP.CheckLogin, &allowed) {
		s.metrics.copyAgain.Inc()
		s.finishLogin(ctx, w, ev, &req, s.cfg.RP.CheckLoginFresh, &allowed)
	}
}

// finishLogin decides a sign-in checked by check. It returns true, having
// written nothing, when the decision was made on a cached credential and
// must be taken again with a fresh check. *allowed is the principal whose
// sign-in budget this request already spent (principalAllowed), so that a
// decision taken again does not spend it twice.
func (s *Server) finishLogin(ctx context.Context, w http.ResponseWriter, ev store.AuditRecord, req *finishRequest,
	check func(ctx context.Context, session string, body []byte) (*assertion.PendingLogin, error), allowed *string) (again bool) {
	// Checked without writing; the session, the credential use and the audit
	// record are then written in one transaction, whatever the decision.
	pl, err := check(ctx, req.Session, req.Credential)
	switch {
	case pl.DecidedAgain():
		s.metrics.copyAgain.Inc()
	case pl.Cached():
		defer func() {
			if !again {
				s.metrics.copyUsed.Inc()
			}
		}()
	}
	record := func(ctx context.Context, tx store.Tx) *apiError {
		err := pl.Record(ctx, tx)
		switch {
		case errors.Is(err, assertion.ErrStale):
			return errDecideAgain
		case err != nil:
			return ceremonyError(err)
		}
		return nil
	}
	if err != nil {
		s.attemptOf(ctx, &ev, pl)
		s.failWith(ctx, w, ev, ceremonyError(err), record)
		return false
	}
	res := pl.Result
	ev.Principal, ev.CredentialID = res.Principal.Name, b64(res.Credential.ID)
	if anchor := res.Principal.Anchor; anchor != *allowed {
		// A budget, not a fact about the credential: its refusal stands.
		if e := s.principalAllowed(w, anchor); e != nil {
			s.failWith(ctx, w, ev, e, record)
			return false
		}
		*allowed = anchor
	}
	return s.issueSealed(ctx, w, ev, issuance{principal: res.Principal, groups: pl.Groups, live: pl.Live, bindingKey: res.BindingKey,
		salt: req.Session, detail: "partial TGT issued", writes: record, cached: pl.Cached()})
}

// attemptOf names in ev the principal and credential a refused sign-in was
// about, so that its audit record says whose sign-in was refused.
func (s *Server) attemptOf(ctx context.Context, ev *store.AuditRecord, pl *assertion.PendingLogin) {
	if len(pl.ClaimedCredential) > 0 {
		ev.CredentialID = b64(pl.ClaimedCredential)
	}
	if pl.Claimed == "" {
		return
	}
	if p, err := s.cfg.Store.GetPrincipal(ctx, pl.Claimed); err == nil {
		ev.Principal = p.Name
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "store": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// event starts the audit record of one request.
func (s *Server) event(r *http.Request, name string) store.AuditRecord {
	return store.AuditRecord{Event: name, Remote: remoteHost(r)}
}

// remoteHost is the peer's address without the port. passkdc does not trust
// X-Forwarded-For: behind a proxy every client shares the proxy's limit.
func remoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// writesFunc is a request's own store writes, run in the transaction of its
// decision, before the audit record. It may turn the decision into a refusal
// (the changes it made before refusing are committed with the refusal's
// record: a consumed session stays consumed).
type writesFunc func(ctx context.Context, tx store.Tx) *apiError

// ok audits a success and writes the response. When the audit record cannot be
// stored, the client gets an error instead of the result (fail closed).
func (s *Server) ok(ctx context.Context, w http.ResponseWriter, ev store.AuditRecord, detail string, body any) bool {
	return s.okWith(ctx, w, ev, detail, body, nil)
}

// okWith is ok with the request's writes in the same transaction as the
// audit record: nothing is answered before both are committed, and when
// writes refuse, the client gets that refusal.
func (s *Server) okWith(ctx context.Context, w http.ResponseWriter, ev store.AuditRecord, detail string, body any, writes writesFunc) bool {
	if e := s.commitOK(ctx, ev, detail, writes); e != nil {
		writeError(w, e)
		return false
	}
	writeJSON(w, http.StatusOK, body)
	return true
}

// commitOK commits a success's writes and audit record; it returns the
// error to answer with when they were not committed (nil: committed).
func (s *Server) commitOK(ctx context.Context, ev store.AuditRecord, detail string, writes writesFunc) *apiError {
	ev.Result, ev.Detail = "ok", detail
	refusal, err := s.decide(ctx, ev, writes)
	switch {
	case refusal != nil:
		return refusal
	case errors.Is(err, errOutcomeUnknown):
		return newError(CodeOutcomeUnknown, "passkdc lost its database while saving this and cannot tell whether it was saved; try again in a moment")
	case err != nil:
		return newError(CodeAuditUnavailable, "the audit trail cannot be written; nothing was issued")
	}
	return nil
}

// fail audits a refusal and writes the error.
func (s *Server) fail(ctx context.Context, w http.ResponseWriter, ev store.AuditRecord, e *apiError) {
	s.failWith(ctx, w, ev, e, nil)
}

// failWith is fail with the request's writes (a burnt session) in the
// transaction of the refusal's record. The record is written even when the
// request's context has ended.
func (s *Server) failWith(ctx context.Context, w http.ResponseWriter, ev store.AuditRecord, e *apiError, writes writesFunc) {
	refused(&ev, e)
	var keep writesFunc
	if writes != nil {
		keep = func(ctx context.Context, tx store.Tx) *apiError {
			// Already refused: that refusal stands, unless the session
			// turns out used or expired when consumed (a replay).
			if r := writes(ctx, tx); r != nil && (r.Code == assertion.CodeUnknownSession || r.Code == assertion.CodeSessionExpired) {
				return r
			}
			return nil
		}
	}
	if r, _ := s.decide(context.WithoutCancel(ctx), ev, keep); r != nil {
		e = r
	}
	writeError(w, e)
}

// refused turns ev into the record of refusal e.
func refused(ev *store.AuditRecord, e *apiError) {
	ev.Result, ev.Reason, ev.Detail = "refused", e.Code, e.Message
	if e.Status >= 500 {
		ev.Result = "error"
	}
}

// decide commits one decision: writes (nil: none) and the audit record of ev
// in one store transaction, then one structured log line. It returns the
// refusal of writes, if any (the record then says so), and the error that
// kept the record from being stored. A refusal whose writes must not be kept
// (apiError.undo) rolls the transaction back and commits undo's writes with
// the refusal's record instead. A commit whose outcome the store could not
// tell (the connection lost during COMMIT) is resolved by reading the record
// back: stored means the decision holds; unreadable is errOutcomeUnknown.
func (s *Server) decide(ctx context.Context, ev store.AuditRecord, writes writesFunc) (*apiError, error) {
	ev.Time = s.cfg.Now().UTC()
	d := &decisionTx{ctx: ctx, ev: ev, writes: writes} // one allocation for all the transaction's state
	err := s.cfg.Store.WithTx(ctx, d.run)
	refusal, rec, id, written := d.refusal, d.rec, d.id, d.written
	switch {
	case refusal == errDecideAgain:
		return refusal, nil // rolled back: nothing to record
	case errors.Is(err, errUndo):
		then := refusal.undo
		r := refusal.undoing(nil)
		refused(&ev, r)
		again, err := s.decide(ctx, ev, func(ctx context.Context, tx store.Tx) *apiError {
			if then != nil {
				return then(ctx, tx)
			}
			return nil
		})
		if again != nil && (again.Code == assertion.CodeUnknownSession || again.Code == assertion.CodeSessionExpired) {
			r = again // a replay: that is the answer
		}
		return r, err
	case err != nil && written:
		err = s.confirm(ctx, id, rec, err)
	}
	if refusal != nil {
		refused(&ev, refusal)
	}
	s.logDecision(ev, err)
	return refusal, err
}

// errDecideAgain is the refusal of a request's writes that found its
// decision made on a cached copy the store no longer matches
// (assertion.ErrStale): decide rolls the transaction back and writes no
// record; the caller decides again.
var errDecideAgain = &apiError{Status: http.StatusInternalServerError, Code: assertion.CodeInternal, Message: "internal error"}

// decisionTx is one attempt of decide's transaction: its input and what
// the last run of it (the store may retry) left.
type decisionTx struct {
	ctx     context.Context
	ev      store.AuditRecord
	writes  writesFunc
	rec     store.AuditRecord
	refusal *apiError
	id      int64
	written bool
}

// run is the transaction: the request's writes, then the audit record of
// their outcome.
func (d *decisionTx) run(tx store.Tx) error {
	d.rec, d.refusal, d.written = d.ev, nil, false
	if d.writes != nil {
		if d.refusal = d.writes(d.ctx, tx); d.refusal != nil {
			if d.refusal == errDecideAgain {
				return errUndo
			}
			if d.refusal.undo != nil {
				return errUndo
			}
			refused(&d.rec, d.refusal)
		}
	}
	var err error
	if d.id, err = tx.AppendAudit(d.ctx, d.rec); err != nil {
		return err
	}
	d.written = true
	return nil
}

// errUndo rolls a decision's transaction back (apiError.undo).
var errUndo = errors.New("server: decision undone")

// errOutcomeUnknown: the commit may or may not have happened.
var errOutcomeUnknown = errors.New("server: the store could not confirm whether the decision was committed")

// confirm resolves a failed commit of the transaction that wrote rec with ID
// id: nil when the record is stored (the commit happened), commitErr when
// it is not, errOutcomeUnknown (wrapping both errors) when the store cannot
// be read either. It retries the read for a few seconds, bounded.
func (s *Server) confirm(ctx context.Context, id int64, rec store.AuditRecord, commitErr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), confirmFor)
	defer cancel()
	var readErr error
	for wait := 50 * time.Millisecond; ; wait *= 2 {
		// One record by its ID: no paging, so no wait for other appends
		// in progress (ListAudit may wait for them on PostgreSQL).
		var got store.AuditRecord
		got, readErr = s.cfg.Store.GetAudit(ctx, id)
		if errors.Is(readErr, store.ErrNotFound) {
			return commitErr
		}
		if readErr == nil {
			if sameRecord(got, id, rec) {
				s.cfg.Log.WithError(commitErr).WithField("audit_id", id).Warn("commit reported an error but the decision was stored")
				return nil
			}
			return commitErr
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: commit: %w; reading back: %w", errOutcomeUnknown, commitErr, readErr)
		case <-time.After(wait):
		}
	}
}

// confirmFor bounds how long confirm keeps asking the store.
const confirmFor = 3 * time.Second

// sameRecord reports whether got is the record rec written with ID id (an
// ID alone could be reused after a rollback by some backends).
func sameRecord(got store.AuditRecord, id int64, rec store.AuditRecord) bool {
	return got.ID == id && got.Event == rec.Event && got.Result == rec.Result && got.Principal == rec.Principal &&
		got.CredentialID == rec.CredentialID && got.Remote == rec.Remote && got.Time.Equal(rec.Time)
}

// logDecision counts a decision and writes its structured log line.
func (s *Server) logDecision(ev store.AuditRecord, err error) {
	s.metrics.decision(ev.Event, ev.Result, ev.Reason)
	fields := logrus.Fields{
		"audit": true, "event": ev.Event, "result": ev.Result, "reason": ev.Reason,
		"principal": ev.Principal, "credential_id": ev.CredentialID, "kvno": ev.KVNO, "remote": ev.Remote,
	}
	entry := s.auditEntry(fields)
	switch {
	case errors.Is(err, errOutcomeUnknown):
		entry.WithError(err).Error("audit record outcome unknown: the commit may have happened; check the audit log")
	case err != nil:
		entry.WithError(err).Error("audit record not stored")
	case ev.Result == "ok":
		entry.Info(ev.Detail)
	default:
		entry.Warn(ev.Detail)
	}
}

// auditEntry is the log entry of an audit line's fields: the map itself
// when the logger is a *logrus.Logger (WithFields would copy it into a new
// map, checking every value for a func; these are strings, a bool and an int).
func (s *Server) auditEntry(fields logrus.Fields) *logrus.Entry {
	if l, ok := s.cfg.Log.(*logrus.Logger); ok {
		return &logrus.Entry{Logger: l, Data: fields}
	}
	return s.cfg.Log.WithFields(fields)
}

// applicableProfiles returns every profile that targets the principal and
// does not exclude it (config order), or the default profile.
func applicableProfiles(rp *assertion.RelyingParty) ProfileResolver {
	return func(ctx context.Context, p store.Principal) ([]assertion.Profile, error) {
		profs, err := rp.Profiles(ctx, p.Anchor)
		if err != nil {
			return nil, err
		}
		if len(profs) == 0 {
			return []assertion.Profile{assertion.DefaultProfile()}, nil
		}
		return profs, nil
	}
}

func ceremonyError(err error) *apiError {
	var ae *assertion.Error
	if errors.As(err, &ae) {
		return &apiError{Status: statusOf(ae.Code), Code: ae.Code, Message: ae.Message}
	}
	return newError(assertion.CodeInternal, "internal error")
}

func issueError(err error) *apiError {
	var r *issuer.Refusal
	if errors.As(err, &r) {
		return &apiError{Status: statusOf(r.Code), Code: r.Code, Message: r.Message}
	}
	return newError(assertion.CodeInternal, "ticket issuance failed")
}

func tapError(err error) *apiError {
	switch {
	case errors.Is(err, store.ErrExpired):
		return newError(CodeTAPExpired, "the temporary access pass has expired; ask for a new one")
	case errors.Is(err, store.ErrExhausted):
		return newError(CodeTAPUsed, "the temporary access pass has been used up; ask for a new one")
	case errors.Is(err, store.ErrNotFound):
		return newError(CodeTAPInvalid, "the temporary access pass is not valid")
	}
	return newError(CodeStoreUnavailable, "cannot check the pass right now")
}

func storeError(err error, what string) *apiError {
	if errors.Is(err, store.ErrNotFound) {
		return newError(assertion.CodeUnknownCredential, "unknown %s", what)
	}
	return newError(CodeStoreUnavailable, "cannot read the %s right now", what)
}

func principalName(p store.Principal, realm string) string {
	if p.Name == "" {
		return ""
	}
	return p.Name + "@" + realm
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// decodeB64 decodes base64url as go-webauthn's URLEncodedBase64 reads a
// JSON string (padding optional). A value of the base64url alphabet alone
// (every client's) is decoded directly, with the same result and error as
// going through JSON; anything else takes go-webauthn's path.
func decodeB64(s string) ([]byte, error) {
	if plainBase64URL(s) {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	var b protocol.URLEncodedBase64
	err := b.UnmarshalJSON([]byte(`"` + s + `"`))
	return b, err
}

// plainBase64URL reports whether s holds only base64url characters and '='
// (nothing a JSON string would unescape).
func plainBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '=':
		default:
			return false
		}
	}
	return true
}
