package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
)

// clock is the real time plus an offset that tests advance; the server and
// the relying party share it.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset).UTC()
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// webEnv is a passkdc server over TLS on https://localhost:PORT with the
// directory of server_test.go (alice may have tickets, root may not).
type webEnv struct {
	t      *testing.T
	st     store.Store
	url    string // origin, https://localhost:PORT
	ca     string // PEM file of the self-signed certificate
	spki   string // base64 SHA-256 of its SubjectPublicKeyInfo (Chromium's pin list)
	keys   *keytabs.KeySet
	clock  *clock
	hook   *test.Hook
	alice  store.Principal
	root   store.Principal
	caPool *x509.CertPool
	// With webOpts.helpdesk: hd and hd2 are helpdesk members (group
	// helpdeskSID), bob a user who may have tickets.
	hd, hd2, bob store.Principal
}

type webOpts struct {
	profiles       []assertion.Profile
	defaultProfile *assertion.Profile
	helpdesk       *server.HelpdeskConfig
	kerberos       *server.KerberosConfig
}

// helpdeskSID is the helpdesk group of the test directory.
const helpdeskSID = domainSID + "-1200"

func newWebEnv(t *testing.T, o webOpts) *webEnv {
	t.Helper()
	e := &webEnv{t: t, clock: &clock{}}
	opts := []envOption{withTLS(), withClock(e.clock.Now), withSeed(func(te *testEnv) { e.alice, e.root = seedDirectory(te) })}
	if o.profiles != nil || o.defaultProfile != nil {
		def := assertion.DefaultProfile()
		if o.defaultProfile != nil {
			def = *o.defaultProfile
		}
		opts = append(opts, withRP(assertion.WithProfiles(o.profiles, def)))
	}
	if o.helpdesk != nil {
		opts = append(opts, withSeed(e.seedHelpdesk))
	}
	opts = append(opts, withServer(func(c *server.Config) {
		if o.helpdesk != nil {
			c.Helpdesk = *o.helpdesk
		}
		c.Kerberos = o.kerberos
	}))
	te := newTestEnv(t, opts...)
	e.st, e.url, e.ca, e.keys, e.hook = te.st, te.url, te.ca, te.keys, te.hook
	e.spki = spkiHash(t, e.ca)
	e.caPool = x509.NewCertPool()
	pemBytes, err := os.ReadFile(e.ca)
	must(t, err)
	e.caPool.AppendCertsFromPEM(pemBytes)
	return e
}

func spkiHash(t *testing.T, certFile string) string {
	t.Helper()
	b, err := os.ReadFile(certFile)
	must(t, err)
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM in certificate file")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	must(t, err)
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(h[:])
}

// seedHelpdesk adds the helpdesk group (helpdeskSID), two members and bob.
func (e *webEnv) seedHelpdesk(te *testEnv) {
	t, ctx := e.t, context.Background()
	_, err := te.st.UpsertGroup(ctx, store.Group{Anchor: "g-helpdesk", Name: "Helpdesk", SID: helpdeskSID,
		DN: "CN=Helpdesk,CN=Users,DC=corp,DC=example,DC=test", Directory: "default"})
	must(t, err)
	now := e.clock.Now()
	mk := func(n, name, rid, display string) store.Principal {
		return store.Principal{Anchor: "7c1e0a52-93c8-4b8e-8f55-1f6f2b6c0b0" + n, Directory: "default", Name: name, Realm: realm,
			SID: domainSID + "-" + rid, DisplayName: display, Enabled: true, SyncedAt: now}
	}
	e.hd, e.hd2, e.bob = mk("1", "hd", "1301", "Harriet Desk"), mk("2", "hd2", "1302", "Henry Desk"), mk("3", "bob", "1303", "Bob Builder")
	for _, p := range []store.Principal{e.hd, e.hd2, e.bob} {
		_, err := te.st.UpsertPrincipal(ctx, p)
		must(t, err)
		groups := []string{"g-allowed"}
		if p.Anchor != e.bob.Anchor {
			groups = append(groups, "g-helpdesk")
		}
		must(t, te.st.SetMemberships(ctx, p.Anchor, groups))
	}
}

func (e *webEnv) tap(p store.Principal, pass string, uses int) {
	e.t.Helper()
	now := e.clock.Now()
	must(e.t, e.st.CreateTAP(context.Background(), store.TAP{ID: pass + "-id", Principal: p.Anchor, Hash: server.HashTAP(pass),
		UsesLeft: uses, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
}

func (e *webEnv) softkey(name string) *softkey.Authenticator {
	e.t.Helper()
	a, err := softkey.Open(filepath.Join(e.t.TempDir(), name))
	must(e.t, err)
	return a
}

func (e *webEnv) audits() []store.AuditRecord {
	e.t.Helper()
	recs, err := e.st.ListAudit(context.Background(), 0, 0)
	must(e.t, err)
	return recs
}

// browser is an HTTP client that behaves like the page's fetch calls: a
// cookie jar, the Origin header on state changes and the CSRF token once
// signed in.
type browser struct {
	e      *webEnv
	hc     *http.Client
	origin string
	csrf   string
}

func (e *webEnv) browser() *browser {
	jar, err := cookiejar.New(nil)
	must(e.t, err)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.caPool}}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &browser{e: e, origin: e.url, hc: &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) code() string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	must(t, json.Unmarshal(r.body, v))
}

// do sends a request; hdr overrides the default headers ("" deletes).
func (b *browser) do(method, path string, body any, hdr map[string]string) reply {
	b.e.t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		must(b.e.t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.e.url+path, rd)
	must(b.e.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		req.Header.Set("Origin", b.origin)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if b.csrf != "" {
		req.Header.Set("X-CSRF-Token", b.csrf)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := b.hc.Do(req)
	must(b.e.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	must(b.e.t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: out}
}

type sessionInfo struct {
	Principal    string `json:"principal"`
	Via          string `json:"via"`
	CredentialID string `json:"credential_id"`
	CSRFToken    string `json:"csrf_token"`
	Profile      struct {
		Name  string   `json:"name"`
		Rules []string `json:"rules"`
	} `json:"profile"`
}

type credView struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	AAGUID   string     `json:"aaguid"`
	Model    string     `json:"model"`
	Synced   bool       `json:"synced"`
	Profile  string     `json:"profile"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used"`
	Current  bool       `json:"current"`
}

func (b *browser) signInTAP(pass string) sessionInfo {
	b.e.t.Helper()
	var s sessionInfo
	b.do("POST", "/v1/page/tap", map[string]string{"tap": pass}, nil).decode(b.e.t, &s)
	b.csrf = s.CSRFToken
	return s
}

func (b *browser) signInPasskey(key *softkey.Authenticator) sessionInfo {
	b.e.t.Helper()
	var s sessionInfo
	b.loginReply(key).decode(b.e.t, &s)
	b.csrf = s.CSRFToken
	return s
}

// loginReply runs a page sign-in with key and returns the finish answer.
func (b *browser) loginReply(key *softkey.Authenticator) reply {
	b.e.t.Helper()
	var begin struct {
		Session   string                                     `json:"session"`
		PublicKey protocol.PublicKeyCredentialRequestOptions `json:"publicKey"`
	}
	b.do("POST", "/v1/page/login/begin", struct{}{}, nil).decode(b.e.t, &begin)
	resp, err := key.Assert(begin.PublicKey, b.e.url)
	must(b.e.t, err)
	return b.do("POST", "/v1/page/login/finish", map[string]any{"session": begin.Session, "credential": json.RawMessage(resp)}, nil)
}

// addPasskey registers key from the page and returns the server's reply.
func (b *browser) addPasskey(key *softkey.Authenticator, name string) reply {
	b.e.t.Helper()
	var begin struct {
		Session   string                                      `json:"session"`
		PublicKey protocol.PublicKeyCredentialCreationOptions `json:"publicKey"`
		Profile   string                                      `json:"profile"`
	}
	b.do("POST", "/v1/page/credentials/begin", struct{}{}, nil).decode(b.e.t, &begin)
	resp, err := key.Register(begin.PublicKey, b.e.url)
	must(b.e.t, err)
	return b.do("POST", "/v1/page/credentials/finish", map[string]any{"session": begin.Session, "credential": json.RawMessage(resp), "name": name}, nil)
}

func (b *browser) credentials() []credView {
	b.e.t.Helper()
	var out struct {
		Credentials []credView `json:"credentials"`
	}
	b.do("GET", "/v1/page/credentials", nil, nil).decode(b.e.t, &out)
	return out.Credentials
}
