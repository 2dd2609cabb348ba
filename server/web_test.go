package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/internal/client"
	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/kdc/binding"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
)

const wantCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'"

func TestWebPagesCarryAStrictCSPAndNoInlineCode(t *testing.T) {
	e := newWebEnv(t, webOpts{})
	b := e.browser()
	for _, tc := range []struct{ path, ctype string }{
		{"/", "text/html"},
		{"/static/page.js", "text/javascript"},
		{"/helpdesk", "text/html"},
		{"/static/helpdesk.js", "text/javascript"},
		{"/static/dom.js", "text/javascript"},
		{"/static/webauthn.js", "text/javascript"},
		{"/static/signin.js", "text/javascript"},
		{"/static/app.css", "text/css"},
		{"/static/icon.svg", "image/svg+xml"},
		{"/signin?redirect_uri=http://127.0.0.1:5000/callback&state=abcdefgh12345678&binding_key=" + b64key(t), "text/html"},
	} {
		r := b.do("GET", tc.path, nil, nil)
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), tc.ctype) {
			t.Errorf("%s: %d %s", tc.path, r.status, r.header.Get("Content-Type"))
		}
		if got := r.header.Get("Content-Security-Policy"); got != wantCSP {
			t.Errorf("%s: CSP %q", tc.path, got)
		}
		if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("X-Content-Type-Options") != "nosniff" ||
			r.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", tc.path, r.header)
		}
	}
	for _, p := range []string{"/static/index.html", "/static/", "/static/..%2fweb.go", "/static/.hidden.js", "/nope"} {
		if r := b.do("GET", p, nil, nil); r.status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, r.status)
		}
	}
	// The embedded HTML has no inline script, style, event handler or remote asset.
	inline := regexp.MustCompile(`(?i)\sstyle=|\son[a-z]+=|<style|https?://|javascript:`)
	script := regexp.MustCompile(`(?i)<script([^>]*)>([^<]*)</script>`)
	must(t, fs.WalkDir(os.DirFS("static"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".html") {
			return err
		}
		b, err := os.ReadFile("static/" + p)
		if err != nil {
			return err
		}
		if m := inline.Find(b); m != nil {
			t.Errorf("%s: inline code or remote asset %q", p, m)
		}
		tags := script.FindAllSubmatch(b, -1)
		if len(tags) != strings.Count(strings.ToLower(string(b)), "<script") {
			t.Errorf("%s: a script tag is not of the form <script src=...></script>", p)
		}
		for _, m := range tags {
			if !strings.Contains(string(m[1]), `src="/static/`) || strings.TrimSpace(string(m[2])) != "" {
				t.Errorf("%s: inline script %q", p, m[0])
			}
		}
		return nil
	}))
}

func b64key(t *testing.T) string {
	k, err := binding.Generate()
	must(t, err)
	return b64u(k.Public())
}

func TestWebTAPSignInSetsAHostOnlyStrictCookie(t *testing.T) {
	e := newWebEnv(t, webOpts{})
	e.tap(e.alice, "ABCD-EFGH-JKLM", 1)
	b := e.browser()
	if r := b.do("GET", "/v1/page/session", nil, nil); r.status != http.StatusUnauthorized || r.code() != "page_session_required" {
		t.Fatalf("no session: %d %s", r.status, r.body)
	}
	r := b.do("POST", "/v1/page/tap", map[string]string{"tap": "abcd efgh jklm"}, nil)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	sc := r.header.Values("Set-Cookie")
	if len(sc) != 1 {
		t.Fatalf("Set-Cookie %q", sc)
	}
	c := sc[0]
	for _, want := range []string{"__Host-passkdc-page=", "Path=/", "Secure", "HttpOnly", "SameSite=Strict", "Max-Age=900"} {
		if !strings.Contains(c, want) {
			t.Errorf("cookie %q lacks %s", c, want)
		}
	}
	if strings.Contains(strings.ToLower(c), "domain=") {
		t.Errorf("cookie %q has a Domain", c)
	}
	var s sessionInfo
	r.decode(t, &s)
	if s.Principal != "alice@"+realm || s.Via != "tap" || s.CSRFToken == "" || s.Profile.Name != "default" {
		t.Fatalf("session %+v", s)
	}
	if r := b.do("GET", "/v1/page/session", nil, nil); r.status != http.StatusOK {
		t.Fatalf("session after sign-in: %d", r.status)
	}
	last := e.audits()
	if a := last[len(last)-1]; a.Event != "page.signin" || a.Result != "ok" || a.Principal != "alice" {
		t.Fatalf("audit %+v", a)
	}
	// Signing in does not spend the pass: registering a passkey does.
	if uses := tapUses(t, e, e.alice); uses != 1 {
		t.Fatalf("uses left after sign-in %d, want 1", uses)
	}
}

// tapUses is the uses left of p's only pass.
func tapUses(t *testing.T, e *webEnv, p store.Principal) int {
	t.Helper()
	taps, err := e.st.ListTAPs(t.Context(), p.Anchor)
	must(t, err)
	if len(taps) != 1 {
		t.Fatalf("%d passes, want 1", len(taps))
	}
	return taps[0].UsesLeft
}

// TestWebTAPIsSpentByTheFirstPasskeyOfTheSession: a one-use pass opens page
// sessions until a passkey is registered with it; that session may add more
// passkeys without spending more; afterwards the pass opens nothing.
func TestWebTAPIsSpentByTheFirstPasskeyOfTheSession(t *testing.T) {
	e := newWebEnv(t, webOpts{})
	e.tap(e.alice, "ABCD-EFGH-JKLM", 1)
	other := e.browser()
	other.signInTAP("ABCD-EFGH-JKLM")
	var begun struct {
		Session   string                                      `json:"session"`
		PublicKey protocol.PublicKeyCredentialCreationOptions `json:"publicKey"`
	}
	other.do("POST", "/v1/page/credentials/begin", struct{}{}, nil).decode(t, &begun)
	b := e.browser()
	b.signInTAP("ABCD-EFGH-JKLM")
	if r := b.addPasskey(e.softkey("a1"), "first"); r.status != http.StatusOK {
		t.Fatalf("first passkey: %d %s", r.status, r.body)
	}
	if uses := tapUses(t, e, e.alice); uses != 0 {
		t.Fatalf("uses left after the first passkey %d, want 0", uses)
	}
	if r := b.addPasskey(e.softkey("a2"), "second"); r.status != http.StatusOK {
		t.Fatalf("second passkey of the same session: %d %s", r.status, r.body)
	}
	// The other session, begun before the pass was spent, cannot spend it
	// again at finish, nor begin anew.
	resp, err := e.softkey("a3").Register(begun.PublicKey, e.url)
	must(t, err)
	r := other.do("POST", "/v1/page/credentials/finish", map[string]any{"session": begun.Session, "credential": json.RawMessage(resp)}, nil)
	if r.code() != "tap_used" {
		t.Fatalf("other session's finish: %d %s", r.status, r.body)
	}
	if r := other.do("POST", "/v1/page/credentials/begin", struct{}{}, nil); r.code() != "tap_used" {
		t.Fatalf("other session's begin: %d %s", r.status, r.body)
	}
	if r := e.browser().do("POST", "/v1/page/tap", map[string]string{"tap": "ABCD-EFGH-JKLM"}, nil); r.code() != "tap_used" {
		t.Fatalf("sign-in with the spent pass: %d %s", r.status, r.body)
	}
	creds, err := e.st.ListCredentials(t.Context(), e.alice.Anchor)
	must(t, err)
	if len(creds) != 2 {
		t.Fatalf("%d credentials, want 2", len(creds))
	}
}

func TestWebStateChangesNeedCSRFTokenAndSameOrigin(t *testing.T) {
	e := newWebEnv(t, webOpts{})
	e.tap(e.alice, "PASS-PASS-PASS", 5)
	b := e.browser()
	b.signInTAP("PASS-PASS-PASS")
	cases := []struct {
		name string
		hdr  map[string]string
		code string
	}{
		{"no token", map[string]string{"X-CSRF-Token": ""}, "csrf_token_invalid"},
		{"wrong token", map[string]string{"X-CSRF-Token": "AAAA"}, "csrf_token_invalid"},
		{"no origin", map[string]string{"Origin": ""}, "cross_origin"},
		{"foreign origin", map[string]string{"Origin": "https://evil.example"}, "cross_origin"},
		{"http origin over https", map[string]string{"Origin": strings.Replace(e.url, "https:", "http:", 1)}, "cross_origin"},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, "cross_origin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := b.do("POST", "/v1/page/credentials/begin", struct{}{}, tc.hdr)
			if r.status != http.StatusForbidden || r.code() != tc.code {
				t.Fatalf("%d %s, want 403 %s", r.status, r.body, tc.code)
			}
		})
	}
	if r := b.do("POST", "/v1/page/credentials/begin", struct{}{}, nil); r.status != http.StatusOK {
		t.Fatalf("with token and origin: %d %s", r.status, r.body)
	}
	// Login CSRF: a foreign page cannot spend a pass to sign the victim in.
	e.tap(e.alice, "ONCE-ONCE-ONCE", 1)
	other := e.browser()
	other.origin = "https://evil.example"
	if r := other.do("POST", "/v1/page/tap", map[string]string{"tap": "ONCE-ONCE-ONCE"}, nil); r.code() != "cross_origin" ||
		len(r.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("cross-origin TAP sign-in: %d %s", r.status, r.body)
	}
	if s := e.browser().signInTAP("ONCE-ONCE-ONCE"); s.Principal == "" { // the pass was not spent
		t.Fatal("pass spent by a refused request")
	}
}

func TestWebSessionCookieIsVerifiedEveryTime(t *testing.T) {
	e := newWebEnv(t, webOpts{})
	e.tap(e.alice, "PASS-PASS-PASS", 3)
	cases := []struct {
		name   string
		spoil  func(b *browser)
		status int
	}{
		{"tampered payload", func(b *browser) {
			u, _ := url.Parse(e.url)
			ck := b.hc.Jar.Cookies(u)[0]
			payload, sig, _ := strings.Cut(ck.Value, ".")
			raw, _ := decodeB64u(payload)
			forged := strings.Replace(string(raw), e.alice.Anchor, e.root.Anchor, 1)
			ck.Value = b64u([]byte(forged)) + "." + sig
			b.hc.Jar.SetCookies(u, []*http.Cookie{ck})
		}, http.StatusUnauthorized},
		{"expired", func(*browser) { e.clock.Advance(16 * time.Minute) }, http.StatusUnauthorized},
		{"pass deleted", func(*browser) { must(t, e.st.DeleteTAP(context.Background(), "PASS-PASS-PASS-id")) }, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			b.signInTAP("PASS-PASS-PASS")
			tc.spoil(b)
			r := b.do("GET", "/v1/page/credentials", nil, nil)
			if r.status != tc.status || r.code() != "page_session_required" {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if sc := r.header.Get("Set-Cookie"); !strings.Contains(sc, "Max-Age=0") {
				t.Fatalf("stale cookie not cleared: %q", sc)
			}
		})
	}
}

func TestWebPasskeyLifecycle(t *testing.T) {
	e := newWebEnv(t, webOpts{})
	e.tap(e.alice, "PASS-PASS-PASS", 1)
	e.tap(e.root, "ROOT-ROOT-ROOT", 1)
	b := e.browser()
	b.signInTAP("PASS-PASS-PASS")
	key := e.softkey("alice")
	var added credView
	b.addPasskey(key, "").decode(t, &added)
	if added.Name != "passkdc software passkey" || added.Model != "passkdc software passkey" ||
		added.AAGUID != softkey.AAGUIDString || added.Synced || added.Profile != "default" {
		t.Fatalf("added %+v", added)
	}
	// Rename, with bad names refused.
	for _, bad := range []string{"", "   ", "tab\there", strings.Repeat("x", 65)} {
		if r := b.do("PATCH", "/v1/page/credentials/"+added.ID, map[string]string{"name": bad}, nil); r.code() != "invalid_name" {
			t.Errorf("name %q: %d %s", bad, r.status, r.body)
		}
	}
	var renamed credView
	b.do("PATCH", "/v1/page/credentials/"+added.ID, map[string]string{"name": "  Work laptop "}, nil).decode(t, &renamed)
	if renamed.Name != "Work laptop" {
		t.Fatalf("renamed %+v", renamed)
	}
	list := b.credentials()
	if len(list) != 1 || list[0].Name != "Work laptop" || list[0].LastUsed != nil || list[0].Current {
		t.Fatalf("list %+v", list)
	}
	// Another user cannot see, rename or remove it.
	rb := e.browser()
	rb.signInTAP("ROOT-ROOT-ROOT")
	if len(rb.credentials()) != 0 {
		t.Fatal("root sees alice's passkey")
	}
	for m, body := range map[string]any{"PATCH": map[string]string{"name": "mine"}, "DELETE": map[string]bool{"confirm": true}} {
		if r := rb.do(m, "/v1/page/credentials/"+added.ID, body, nil); r.status != http.StatusNotFound {
			t.Fatalf("%s by root: %d %s", m, r.status, r.body)
		}
	}

	// Sign in to the page with the passkey.
	if r := b.do("POST", "/v1/page/logout", struct{}{}, nil); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	pb := e.browser()
	s := pb.signInPasskey(key)
	if s.Principal != "alice@"+realm || s.Via != "passkey" || s.CredentialID != added.ID {
		t.Fatalf("passkey session %+v", s)
	}
	list = pb.credentials()
	if len(list) != 1 || !list[0].Current || list[0].LastUsed == nil {
		t.Fatalf("list %+v", list)
	}
	// Removing the passkey the session rides on needs a confirmation.
	oldCookie := sessionCookie(t, pb)
	r := pb.do("DELETE", "/v1/page/credentials/"+added.ID, nil, nil)
	if r.status != http.StatusConflict || r.code() != "confirmation_required" {
		t.Fatalf("unconfirmed removal: %d %s", r.status, r.body)
	}
	r = pb.do("DELETE", "/v1/page/credentials/"+added.ID, map[string]bool{"confirm": true}, nil)
	if r.status != http.StatusOK || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("confirmed removal: %d %s %v", r.status, r.body, r.header)
	}
	cred, err := e.st.GetCredential(context.Background(), mustB64(t, added.ID))
	must(t, err)
	if cred.RevokedAt.IsZero() {
		t.Fatal("credential not revoked")
	}
	// The session rode on it: gone, even with the cookie kept.
	pb.hc.Jar.SetCookies(mustURL(t, e.url), []*http.Cookie{{Name: "__Host-passkdc-page", Value: oldCookie}})
	if r := pb.do("GET", "/v1/page/credentials", nil, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("after removal: %d", r.status)
	}
	// And the passkey no longer signs in.
	var begin struct {
		Session   string                                     `json:"session"`
		PublicKey protocol.PublicKeyCredentialRequestOptions `json:"publicKey"`
	}
	e.browser().do("POST", "/v1/page/login/begin", struct{}{}, nil).decode(t, &begin)
	resp, err := key.Assert(begin.PublicKey, e.url)
	must(t, err)
	if r := e.browser().do("POST", "/v1/page/login/finish", map[string]any{"session": begin.Session, "credential": json.RawMessage(resp)}, nil); r.code() != assertion.CodeCredentialRevoked {
		t.Fatalf("revoked passkey: %d %s", r.status, r.body)
	}
	events := map[string]int{}
	for _, a := range e.audits() {
		if a.Result == "ok" {
			events[a.Event]++
		}
	}
	if events["register"] != 1 || events["cred.rename"] != 1 || events["cred.revoke"] != 1 || events["page.signin"] != 3 {
		t.Fatalf("audit events %v", events)
	}
}

// sessionCookie returns whatever page cookie b holds (possibly none).
func sessionCookie(t *testing.T, b *browser) string {
	for _, c := range b.hc.Jar.Cookies(mustURL(t, b.e.url)) {
		if c.Name == "__Host-passkdc-page" {
			return c.Value
		}
	}
	return "none"
}

func TestWebRegistrationUnderTheUsersProfile(t *testing.T) {
	strict := assertion.Profile{Name: "no-soft-keys", TargetGroups: []string{domainSID + "-571"},
		UserVerification: assertion.UVRequired, AAGUIDBlock: []string{softkey.AAGUIDString}, AllowSynced: true}
	e := newWebEnv(t, webOpts{profiles: []assertion.Profile{strict}})
	e.tap(e.alice, "PASS-PASS-PASS", 1)
	b := e.browser()
	s := b.signInTAP("PASS-PASS-PASS")
	if s.Profile.Name != "no-soft-keys" || len(s.Profile.Rules) == 0 {
		t.Fatalf("profile %+v", s.Profile)
	}
	r := b.addPasskey(e.softkey("alice"), "mine")
	if r.status != http.StatusForbidden || r.code() != assertion.CodeProfileRefused ||
		!strings.Contains(string(r.body), `profile \"no-soft-keys\" rule aaguid_block`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if len(b.credentials()) != 0 {
		t.Fatal("refused passkey stored")
	}
}

func TestWebRedirectURIValidation(t *testing.T) {
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"http://127.0.0.1:49152/callback", true},
		{"http://127.0.0.1:8080", true},
		{"http://[::1]:49152/callback", true},
		{"http://localhost:49152/callback", false},
		{"https://127.0.0.1:49152/callback", false},
		{"http://127.0.0.1/callback", false},
		{"http://127.0.0.1:0/callback", false},
		{"http://127.0.0.1:65536/callback", false},
		{"http://127.0.0.1:080/callback", false},
		{"http://127.0.0.2:49152/callback", false},
		{"http://evil.example:49152/callback", false},
		{"http://127.0.0.1.evil.example:49152/", false},
		{"http://user@127.0.0.1:49152/callback", false},
		{"http://127.0.0.1:49152/callback?x=1", false},
		{"http://127.0.0.1:49152/callback#frag", false},
		{"http://127.0.0.1:49152/callback?", false},
		{"javascript:alert(1)", false},
		{"//127.0.0.1:49152/callback", false},
		{"", false},
		{"http://127.0.0.1:49152/" + strings.Repeat("a", 600), false},
	} {
		_, err := server.ValidateLoopbackRedirect(tc.uri)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.uri, err, tc.ok)
		}
	}
	// The page refuses a bad link itself, with a reason and without redirecting.
	e := newWebEnv(t, webOpts{})
	r := e.browser().do("GET", "/signin?redirect_uri="+url.QueryEscape("http://evil.example:5000/cb")+"&state=abcdefgh12345678&binding_key="+b64key(t), nil, nil)
	if r.status != http.StatusBadRequest || r.header.Get("Location") != "" || !strings.Contains(string(r.body), "is not 127.0.0.1 or [::1]") ||
		strings.Contains(string(r.body), "signin.js") {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
	b := e.browser()
	r = b.do("POST", "/v1/page/signin/begin", map[string]string{"redirect_uri": "http://localhost:5000/cb", "state": "abcdefgh12345678", "binding_key": b64key(t)}, nil)
	if r.code() != "invalid_redirect_uri" {
		t.Fatalf("begin: %d %s", r.status, r.body)
	}
	r = b.do("POST", "/v1/page/signin/begin", map[string]string{"redirect_uri": "http://127.0.0.1:5000/cb", "state": "short", "binding_key": b64key(t)}, nil)
	if r.code() != "invalid_state" {
		t.Fatalf("begin: %d %s", r.status, r.body)
	}
	r = b.do("POST", "/v1/page/signin/begin", map[string]string{"redirect_uri": "http://127.0.0.1:5000/cb", "state": "abcdefgh12345678", "binding_key": b64u(make([]byte, 32))}, nil)
	if r.code() != assertion.CodeInvalidBindingKey {
		t.Fatalf("begin: %d %s", r.status, r.body)
	}
}

// browserFlow runs the page side of the browser sign-in with a software
// passkey and returns the loopback redirect it ends with.
func browserFlow(t *testing.T, e *webEnv, key *softkey.Authenticator, bk []byte, state string) *url.URL {
	t.Helper()
	b := e.browser()
	var begin struct {
		Flow      string                                     `json:"flow"`
		PublicKey protocol.PublicKeyCredentialRequestOptions `json:"publicKey"`
	}
	b.do("POST", "/v1/page/signin/begin", map[string]string{"redirect_uri": "http://127.0.0.1:5000/callback", "state": state, "binding_key": b64u(bk)}, nil).decode(t, &begin)
	resp, err := key.Assert(begin.PublicKey, e.url)
	must(t, err)
	var fin struct {
		Redirect  string `json:"redirect"`
		Principal string `json:"principal"`
	}
	b.do("POST", "/v1/page/signin/finish", map[string]any{"flow": begin.Flow, "credential": json.RawMessage(resp)}, nil).decode(t, &fin)
	u, err := url.Parse(fin.Redirect)
	must(t, err)
	if u.Host != "127.0.0.1:5000" || u.Path != "/callback" || u.Query().Get("state") != state || u.Query().Get("code") == "" || fin.Principal != "alice@"+realm {
		t.Fatalf("redirect %s principal %s", fin.Redirect, fin.Principal)
	}
	return u
}

func redeem(t *testing.T, e *webEnv, code string, bk []byte) reply {
	t.Helper()
	b := e.browser()
	return b.do("POST", "/v1/login/redeem", map[string]string{"code": code, "binding_key": b64u(bk)}, map[string]string{"Origin": "", "Sec-Fetch-Site": ""})
}

func TestWebBrowserCodeIsSingleUseShortLivedAndBound(t *testing.T) {
	e := newWebEnv(t, webOpts{})
	e.tap(e.alice, "PASS-PASS-PASS", 1)
	key := e.softkey("alice")
	c, err := client.New(e.url, e.ca)
	must(t, err)
	if _, err := c.Register(context.Background(), "PASS-PASS-PASS", "", key); err != nil {
		t.Fatal(err)
	}
	bk, err := binding.Generate()
	must(t, err)
	thief, err := binding.Generate()
	must(t, err)

	// A stolen code with another binding key is refused, and burnt.
	code := browserFlow(t, e, key, bk.Public(), "state-one-0123456789").Query().Get("code")
	if r := redeem(t, e, code, thief.Public()); r.status != http.StatusForbidden || r.code() != "binding_mismatch" {
		t.Fatalf("thief: %d %s", r.status, r.body)
	}
	if r := redeem(t, e, code, bk.Public()); r.code() != "invalid_code" {
		t.Fatalf("after theft attempt: %d %s", r.status, r.body)
	}

	// The right client gets the same answer as /v1/login/finish, once.
	code = browserFlow(t, e, key, bk.Public(), "state-two-0123456789").Query().Get("code")
	var fin struct {
		Principal string `json:"principal"`
		KRBCred   string `json:"krb_cred"`
		ServerKey string `json:"server_key"`
		Expires   time.Time
	}
	redeem(t, e, code, bk.Public()).decode(t, &fin)
	si, err := client.Open(bk, code, fin.Principal, fin.KRBCred, fin.ServerKey)
	must(t, err)
	var tkt messages.Ticket
	must(t, tkt.Unmarshal(si.Cred.Tickets[0]))
	cur, _ := e.keys.Current(18)
	must(t, tkt.Decrypt(cur.Key))
	if si.Principal != "alice@"+realm || tkt.DecryptedEncPart.CName.PrincipalNameString() != "alice" {
		t.Fatalf("signed in %+v", si)
	}
	if _, err := client.Open(thief, code, fin.Principal, fin.KRBCred, fin.ServerKey); err == nil {
		t.Fatal("KRB-CRED opened with another binding key")
	}
	if r := redeem(t, e, code, bk.Public()); r.code() != "invalid_code" {
		t.Fatalf("second redeem: %d %s", r.status, r.body)
	}

	// Codes expire after 60 s.
	code = browserFlow(t, e, key, bk.Public(), "state-three-0123456789").Query().Get("code")
	e.clock.Advance(61 * time.Second)
	if r := redeem(t, e, code, bk.Public()); r.code() != "code_expired" {
		t.Fatalf("late redeem: %d %s", r.status, r.body)
	}

	// A passkey revoked between the browser step and redemption gets nothing.
	code = browserFlow(t, e, key, bk.Public(), "state-four-0123456789").Query().Get("code")
	must(t, e.st.RevokeCredential(context.Background(), key.CredentialID(), e.clock.Now()))
	if r := redeem(t, e, code, bk.Public()); r.code() != assertion.CodeCredentialRevoked {
		t.Fatalf("revoked: %d %s", r.status, r.body)
	}
	var issued, refused int
	for _, a := range e.audits() {
		if a.Event == "login" {
			if a.Result == "ok" {
				issued++
			} else {
				refused++
			}
		}
	}
	if issued != 1 || refused != 5 {
		t.Fatalf("login audit: %d issued, %d refused", issued, refused)
	}
}

// TestWebBrowserLoginClient drives client.BrowserLogin with an HTTP "browser"
// that answers with a software passkey: the loopback listener, the state
// check and the redemption, without Chromium.
func TestWebBrowserLoginClient(t *testing.T) {
	e := newWebEnv(t, webOpts{})
	e.tap(e.alice, "PASS-PASS-PASS", 1)
	key := e.softkey("alice")
	c, err := client.New(e.url, e.ca)
	must(t, err)
	if _, err := c.Register(context.Background(), "PASS-PASS-PASS", "", key); err != nil {
		t.Fatal(err)
	}
	open := func(raw string) error {
		go softBrowser(t, e, key, raw)
		return nil
	}
	si, err := c.BrowserLogin(context.Background(), open, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if si.Principal != "alice@"+realm || len(si.Cred.Tickets) != 1 {
		t.Fatalf("%+v", si)
	}
	if _, err := client.PartialCCache(si); err != nil {
		t.Fatal(err)
	}
	// Nobody comes back: a timeout, not a hang.
	_, err = c.BrowserLogin(context.Background(), func(string) error { return nil }, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), client.ErrBrowserTimeout.Error()) {
		t.Fatalf("timeout: %v", err)
	}
}

// softBrowser plays the sign-in page: it checks the page, runs the ceremony
// with key, then follows the redirect (first with a forged state).
func softBrowser(t *testing.T, e *webEnv, key *softkey.Authenticator, raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		t.Error(err)
		return
	}
	b := e.browser()
	if r := b.do("GET", u.RequestURI(), nil, nil); r.status != http.StatusOK {
		t.Errorf("sign-in page: %d %s", r.status, r.body)
		return
	}
	q := u.Query()
	var begin struct {
		Flow      string                                     `json:"flow"`
		PublicKey protocol.PublicKeyCredentialRequestOptions `json:"publicKey"`
	}
	b.do("POST", "/v1/page/signin/begin", map[string]string{"redirect_uri": q.Get("redirect_uri"), "state": q.Get("state"), "binding_key": q.Get("binding_key")}, nil).decode(t, &begin)
	resp, err := key.Assert(begin.PublicKey, e.url)
	if err != nil {
		t.Error(err)
		return
	}
	var fin struct {
		Redirect string `json:"redirect"`
	}
	b.do("POST", "/v1/page/signin/finish", map[string]any{"flow": begin.Flow, "credential": json.RawMessage(resp)}, nil).decode(t, &fin)
	forged, _ := url.Parse(fin.Redirect)
	fq := forged.Query()
	fq.Set("state", "forged-state-0000")
	forged.RawQuery = fq.Encode()
	if resp, err := http.Get(forged.String()); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("forged state accepted: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	resp2, err := http.Get(fin.Redirect)
	if err != nil {
		t.Error(err)
		return
	}
	defer resp2.Body.Close()
	if resp2.StatusCode != http.StatusOK {
		t.Errorf("callback: %d", resp2.StatusCode)
	}
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decodeB64u(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func mustB64(t *testing.T, s string) []byte {
	b, err := decodeB64u(s)
	must(t, err)
	return b
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	must(t, err)
	return u
}

// TestWebBrowserSignInRefusalNamesTheUserAndBurnsTheFlow: a browser sign-in
// with a revoked passkey is refused with one audit record naming alice and
// her credential; the flow is consumed (a retry is invalid_signin) and no
// code is created.
func TestWebBrowserSignInRefusalNamesTheUserAndBurnsTheFlow(t *testing.T) {
	e := newWebEnv(t, webOpts{})
	e.tap(e.alice, "PASS-PASS-PASS", 1)
	key := e.softkey("alice")
	c, err := client.New(e.url, e.ca)
	must(t, err)
	reg, err := c.Register(context.Background(), "PASS-PASS-PASS", "", key)
	must(t, err)
	id, err := decodeB64u(reg.CredentialID)
	must(t, err)
	must(t, e.st.RevokeCredential(context.Background(), id, e.clock.Now()))
	bk, err := binding.Generate()
	must(t, err)
	b := e.browser()
	var begin struct {
		Flow      string                                     `json:"flow"`
		PublicKey protocol.PublicKeyCredentialRequestOptions `json:"publicKey"`
	}
	b.do("POST", "/v1/page/signin/begin", map[string]string{"redirect_uri": "http://127.0.0.1:5000/callback", "state": "state-refused-0123", "binding_key": b64u(bk.Public())}, nil).decode(t, &begin)
	resp, err := key.Assert(begin.PublicKey, e.url)
	must(t, err)
	before := len(e.audits())
	body := map[string]any{"flow": begin.Flow, "credential": json.RawMessage(resp)}
	if r := b.do("POST", "/v1/page/signin/finish", body, nil); r.code() != assertion.CodeCredentialRevoked {
		t.Fatalf("revoked passkey: %d %s", r.status, r.body)
	}
	recs := e.audits()[before:]
	if len(recs) != 1 || recs[0].Principal != "alice" || recs[0].CredentialID != reg.CredentialID || recs[0].Reason != assertion.CodeCredentialRevoked {
		t.Fatalf("audit records %+v, want one refusal naming alice and her passkey", recs)
	}
	if r := b.do("POST", "/v1/page/signin/finish", body, nil); r.code() != server.CodeInvalidSignin {
		t.Fatalf("retried flow: %d %s", r.status, r.body)
	}
	if n, err := e.st.CountSessions(context.Background(), e.alice.Anchor, server.KindCode, e.clock.Now()); err != nil || n != 0 {
		t.Fatalf("%d codes created (%v)", n, err)
	}
}

func TestSoftkeyModelIsNamed(t *testing.T) {
	if server.SoftkeyAAGUID != softkey.AAGUIDString || server.AuthenticatorModel(softkey.AAGUIDString) == "" {
		t.Fatalf("the software passkey's AAGUID %s is not server's %s", softkey.AAGUIDString, server.SoftkeyAAGUID)
	}
}
