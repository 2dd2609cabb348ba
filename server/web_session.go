package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/store"
)

// Page sessions.
//
// A page session is a cookie holding signed claims (principal anchor, how the
// user signed in, expiry), MACed with HMAC-SHA256 under a key generated at
// server start. Nothing is stored server-side, so a restart signs everyone out,
// and several replicas behind one name need sticky sessions. The claims are
// re-checked against the store on every request: the principal must still be
// enabled, the passkey the session signed in with must still be active, and
// the temporary access pass must still exist (deleting a pass or removing the
// passkey ends the sessions that rode on it). Expiry is absolute.
//
// The cookie is __Host-prefixed (Secure, Path=/, no Domain), HttpOnly and
// SameSite=Strict. State-changing requests also need the per-session CSRF
// token (an HMAC of the session's nonce) in the X-CSRF-Token header and a
// same-origin Origin header.

const (
	pageCookie     = "__Host-passkdc-page"
	csrfHeader     = "X-CSRF-Token"
	pageSessionTTL = 15 * time.Minute
	cookieLabel    = "passkdc page session v1\x00"
	csrfLabel      = "passkdc csrf v1\x00"
)

// How a page session was opened.
const (
	viaTAP      = "tap"
	viaPasskey  = "passkey"
	viaKerberos = "kerberos"
)

// pageClaims is the signed content of the page cookie.
type pageClaims struct {
	Principal  string `json:"p"`           // anchor
	Credential string `json:"c,omitempty"` // base64url ID of the passkey signed in with
	TAP        string `json:"t,omitempty"` // ID of the pass signed in with
	// Spent says that a passkey registered in this session took its use
	// of the pass: more passkeys added in the same session take none.
	Spent bool `json:"s,omitempty"`
	// Kerberos says the session was opened with a Negotiate ticket whose
	// authtime was AuthTime (Unix seconds): it lasts while the user has no
	// active passkey (Kerberos only bootstraps the first one).
	Kerberos bool   `json:"k,omitempty"`
	AuthTime int64  `json:"at,omitempty"`
	Issued   int64  `json:"iat"`
	Expires  int64  `json:"exp"`
	Nonce    string `json:"n"`
}

// pageSession is a verified page session.
type pageSession struct {
	claims    pageClaims
	principal store.Principal
	csrf      string
}

func (c pageClaims) via() string {
	if c.Kerberos {
		return viaKerberos
	}
	if c.Credential != "" {
		return viaPasskey
	}
	return viaTAP
}

func (w *web) mac(label, data string) []byte {
	m := hmac.New(sha256.New, w.key)
	m.Write([]byte(label))
	m.Write([]byte(data))
	return m.Sum(nil)
}

// encodeCookie signs claims: base64url(JSON) "." base64url(HMAC).
func (w *web) encodeCookie(c pageClaims) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(w.mac(cookieLabel, payload)), nil
}

var errBadCookie = errors.New("page session cookie is not valid")

// decodeCookie verifies the MAC and the expiry.
func (w *web) decodeCookie(v string, now time.Time) (pageClaims, error) {
	var c pageClaims
	payload, sig, ok := strings.Cut(v, ".")
	if !ok || len(v) > 4096 {
		return c, errBadCookie
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, w.mac(cookieLabel, payload)) {
		return c, errBadCookie
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Principal == "" || c.Nonce == "" {
		return c, errBadCookie
	}
	if now.Unix() >= c.Expires {
		return c, errBadCookie
	}
	return c, nil
}

func (w *web) csrfToken(c pageClaims) string {
	return base64.RawURLEncoding.EncodeToString(w.mac(csrfLabel, c.Nonce))
}

// newClaims opens a session for p, expiring after the page TTL or at notAfter
// when that is earlier (the expiry of the pass it was opened with).
func (w *web) newClaims(p store.Principal, credential, tap string, notAfter time.Time) pageClaims {
	now := w.s.cfg.Now()
	exp := now.Add(w.pageTTL)
	if !notAfter.IsZero() && notAfter.Before(exp) {
		exp = notAfter
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce) // never fails (crypto/rand)
	return pageClaims{Principal: p.Anchor, Credential: credential, TAP: tap,
		Issued: now.Unix(), Expires: exp.Unix(), Nonce: base64.RawURLEncoding.EncodeToString(nonce)}
}

func (w *web) setCookie(rw http.ResponseWriter, c pageClaims) error {
	v, err := w.encodeCookie(c)
	if err != nil {
		return err
	}
	http.SetCookie(rw, &http.Cookie{
		Name: pageCookie, Value: v, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(c.Expires - w.s.cfg.Now().Unix()),
	})
	return nil
}

func clearCookie(rw http.ResponseWriter) {
	http.SetCookie(rw, &http.Cookie{Name: pageCookie, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

func errNoSession() *apiError {
	return newError(CodePageSession, "sign in to this page first")
}

// session verifies the cookie and re-checks it against the store.
func (w *web) session(r *http.Request) (*pageSession, *apiError) {
	ck, err := r.Cookie(pageCookie)
	if err != nil {
		return nil, errNoSession()
	}
	now := w.s.cfg.Now()
	c, err := w.decodeCookie(ck.Value, now)
	if err != nil {
		return nil, errNoSession()
	}
	ctx := r.Context()
	p, err := w.s.cfg.Store.GetPrincipal(ctx, c.Principal)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNoSession()
		}
		return nil, newError(CodeStoreUnavailable, "cannot check the page session right now")
	}
	if e := principalState(p, now); e != nil {
		return nil, e
	}
	if e := w.sessionFactorActive(ctx, c, now); e != nil {
		return nil, e
	}
	return &pageSession{claims: c, principal: p, csrf: w.csrfToken(c)}, nil
}

// sessionFactorActive checks that what the session was opened with is still
// there: an active passkey of the principal, or an unexpired pass.
func (w *web) sessionFactorActive(ctx context.Context, c pageClaims, now time.Time) *apiError {
	st := w.s.cfg.Store
	if c.Kerberos {
		if e := noActivePasskey(ctx, st.ListCredentials, c.Principal); e != nil {
			if e.Code == CodeKerberosHasPasskey {
				return errNoSession() // sign in with the passkey now
			}
			return e
		}
		return nil
	}
	if c.Credential != "" {
		id, err := decodeB64(c.Credential)
		if err != nil {
			return errNoSession()
		}
		cred, err := st.GetCredential(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return errNoSession()
		case err != nil:
			return newError(CodeStoreUnavailable, "cannot check the page session right now")
		case cred.Principal != c.Principal || !cred.RevokedAt.IsZero():
			return errNoSession()
		}
		return nil
	}
	taps, err := st.ListTAPs(ctx, c.Principal)
	if err != nil {
		return newError(CodeStoreUnavailable, "cannot check the page session right now")
	}
	for _, t := range taps {
		if t.ID == c.TAP && now.Before(t.ExpiresAt) {
			return nil
		}
	}
	return errNoSession()
}

// principalState refuses principals that may not use the page.
func principalState(p store.Principal, now time.Time) *apiError {
	if pr := p.Problem(now); pr != "" {
		return newError(string(pr), "%s", pr.Describe(p))
	}
	return nil
}

// sessionHandler is a handler that runs inside a verified page session.
type sessionHandler func(http.ResponseWriter, *http.Request, *pageSession)

// signedIn runs h with the verified page session, or answers 401 and clears a
// stale cookie.
func (w *web) signedIn(h sessionHandler) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		securityHeaders(rw.Header())
		ps, e := w.session(r)
		if e != nil {
			if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
				clearCookie(rw)
			}
			writeError(rw, e)
			return
		}
		h(rw, r, ps)
	}
}

// csrf runs h in a verified page session whose CSRF token the request carries.
func (w *web) csrf(h sessionHandler) http.HandlerFunc {
	return w.signedIn(func(rw http.ResponseWriter, r *http.Request, ps *pageSession) {
		got := r.Header.Get(csrfHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(ps.csrf)) != 1 {
			ev := w.s.event(r, "page.csrf")
			ev.Principal = ps.principal.Name
			w.s.fail(r.Context(), rw, ev, newError(CodeCSRFInvalid, "missing or wrong %s header; reload the page", csrfHeader))
			return
		}
		h(rw, r, ps)
	})
}

// okWithCookie audits a success, then sets the session cookie and writes
// body: no audit record, no session.
func (w *web) okWithCookie(ctx context.Context, rw http.ResponseWriter, ev store.AuditRecord, detail string, c pageClaims, body any, writes writesFunc) {
	ev.Result, ev.Detail = "ok", detail
	refusal, err := w.s.decide(ctx, ev, writes)
	if err != nil {
		writeError(rw, newError(CodeAuditUnavailable, "the audit trail cannot be written; you were not signed in"))
		return
	}
	if refusal != nil { // the writes refused (a session used meanwhile): recorded as such
		writeError(rw, refusal)
		return
	}
	if err := w.setCookie(rw, c); err != nil {
		writeError(rw, newError(assertion.CodeInternal, "page session could not be created"))
		return
	}
	writeJSON(rw, http.StatusOK, body)
}
