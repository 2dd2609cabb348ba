package server

import (
	"bytes"
	"crypto/rand"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// The "Security info" web page and the browser sign-in page for passkinit.
//
// Everything the browser loads is embedded (static/) and served by passkdc:
// no third-party CDN, no inline script or style, so the Content-Security-Policy
// allows 'self' only. The JSON endpoints the pages call live under /v1/page/.
//
// Page sessions are signed, expiring cookies (see web_session.go), not store
// sessions: the store's sessions are single use (ConsumeSession deletes), which
// does not fit a session read by every request of a page.

//go:embed static
var staticFiles embed.FS

// contentSecurityPolicy is sent with every response of the web handlers.
// require-trusted-types-for makes any use of innerHTML and friends fail: the
// scripts build the DOM with textContent only.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'"

// web holds the state of the web page: the handlers are its methods.
type web struct {
	s      *Server
	key    []byte // HMAC key of page cookies and CSRF tokens, random per process
	static fs.FS
	index  []byte
	// helpdesk is the helpdesk page.
	helpdesk []byte
	signin   *template.Template
	pageTTL  time.Duration
}

func newWeb(s *Server) (*web, error) {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, fmt.Errorf("embedded assets: %w", err)
	}
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		return nil, fmt.Errorf("embedded index: %w", err)
	}
	helpdesk, err := fs.ReadFile(sub, "helpdesk.html")
	if err != nil {
		return nil, fmt.Errorf("embedded helpdesk page: %w", err)
	}
	if s.cfg.Kerberos != nil {
		// The page offers the Windows (Kerberos) sign-in.
		index = bytes.Replace(index, []byte("<body>"), []byte(`<body data-kerberos="on">`), 1)
	}
	signin, err := template.ParseFS(sub, "signin.html")
	if err != nil {
		return nil, fmt.Errorf("embedded sign-in template: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("page session key: %w", err)
	}
	return &web{s: s, key: key, static: sub, index: index, helpdesk: helpdesk, signin: signin, pageTTL: pageSessionTTL}, nil
}

// securityHeaders are set on every response of the web handlers (on top of
// the ones Server.Handler sets on everything).
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "publickey-credentials-get=(self), publickey-credentials-create=(self), camera=(), microphone=(), geolocation=()")
}

func (w *web) page(rw http.ResponseWriter, r *http.Request) {
	securityHeaders(rw.Header())
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = rw.Write(w.index)
}

// assetType is the content type of the only kinds of file /static/ serves.
func assetType(name string) (string, bool) {
	switch path.Ext(name) {
	case ".css":
		return "text/css; charset=utf-8", true
	case ".js":
		return "text/javascript; charset=utf-8", true
	case ".svg":
		return "image/svg+xml", true
	}
	return "", false
}

func (w *web) asset(rw http.ResponseWriter, r *http.Request) {
	securityHeaders(rw.Header())
	name := r.PathValue("name")
	ctype, ok := assetType(name)
	if !ok || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		http.NotFound(rw, r)
		return
	}
	b, err := fs.ReadFile(w.static, name)
	if err != nil {
		http.NotFound(rw, r)
		return
	}
	rw.Header().Set("Content-Type", ctype)
	http.ServeContent(rw, r, name, time.Time{}, bytes.NewReader(b))
}

// sameOrigin refuses a state-changing request that a browser did not send from
// this server's own pages: the Origin header must be present and name this
// host, and Sec-Fetch-Site, when sent, must be same-origin. This is the login
// CSRF defence for the endpoints that run before a page session exists, and a
// second layer under the CSRF token for the others.
func (w *web) sameOrigin(h http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		securityHeaders(rw.Header())
		if e := checkOrigin(r); e != nil {
			ev := w.s.event(r, "page.origin")
			w.s.fail(r.Context(), rw, ev, e)
			return
		}
		h(rw, r)
	}
}

func checkOrigin(r *http.Request) *apiError {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return newError(CodeCrossOrigin, "request from another site (Sec-Fetch-Site: %s) refused", site)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return newError(CodeCrossOrigin, "request without an Origin header refused")
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" ||
		!strings.EqualFold(u.Host, r.Host) {
		return newError(CodeCrossOrigin, "request from origin %q refused", origin)
	}
	if r.TLS != nil && u.Scheme != "https" {
		return newError(CodeCrossOrigin, "request from origin %q refused", origin)
	}
	return nil
}
