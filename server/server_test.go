package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/internal/client"
	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/kdc/issuer"
	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/rodc"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/sqlite"
)

const (
	realm     = "CORP.EXAMPLE.TEST"
	domainSID = "S-1-5-21-1111-2222-3333"
)

type env struct {
	t     *testing.T
	st    store.Store
	url   string
	ca    string
	keys  *keytabs.KeySet
	hook  *test.Hook
	alice store.Principal
	admin store.Principal
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "passkdc.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st}
	e.seedDirectory(ctx)

	kp := keytabs.NewPrincipal(realm, "krbtgt_40000")
	key, _ := keytabs.StringToKey(18, "rodc", keytabs.ADUserSalt(realm, "krbtgt_40000"))
	kt := &keytabs.Keytab{Entries: []keytabs.Entry{{Principal: kp, KVNO: keytabs.EncodeKVNO(40000, 1), Key: key}}}
	if e.keys, err = kt.KeySet(kp); err != nil {
		t.Fatal(err)
	}
	policy := &rodc.RODC{Allow: []string{domainSID + "-571"}, Deny: []string{domainSID + "-572", "S-1-5-32-544"}}
	iss, err := issuer.New(issuer.Config{Realm: realm}, e.keys, policy, issuer.StoreGroups{Store: st}, nil)
	if err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "https://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	rp, err := assertion.New(assertion.Config{RPID: "localhost", Origins: []string{origin}}, st)
	if err != nil {
		t.Fatal(err)
	}
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	e.hook = hook
	srv, err := server.New(server.Config{Realm: realm, Store: st, RP: rp, Issuer: iss, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	tlsFiles, err := server.EnsureSelfSigned(dir, []string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(tlsFiles.CertFile, tlsFiles.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	e.url, e.ca = origin, tlsFiles.CertFile
	return e
}

func (e *env) seedDirectory(ctx context.Context) {
	t := e.t
	groups := []store.Group{
		{Anchor: "g-allowed", Name: "Allowed RODC Password Replication Group", SID: domainSID + "-571", Directory: "default"},
		{Anchor: "g-denied", Name: "Denied RODC Password Replication Group", SID: domainSID + "-572", Directory: "default"},
		{Anchor: "g-admins", Name: "Domain Admins", SID: domainSID + "-512", Directory: "default"},
	}
	for _, g := range groups {
		if _, err := e.st.UpsertGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	e.alice = store.Principal{Anchor: "7c1e0a52-93c8-4b8e-8f55-1f6f2b6c0a01", Directory: "default", Name: "alice", Realm: realm, SID: domainSID + "-1105", Enabled: true, SyncedAt: time.Now()}
	e.admin = store.Principal{Anchor: "7c1e0a52-93c8-4b8e-8f55-1f6f2b6c0a02", Directory: "default", Name: "root", Realm: realm, SID: domainSID + "-500", Enabled: true, SyncedAt: time.Now()}
	for _, p := range []store.Principal{e.alice, e.admin} {
		if _, err := e.st.UpsertPrincipal(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	must(t, e.st.SetMemberships(ctx, e.alice.Anchor, []string{"g-allowed"}))
	// root: allowed, but Domain Admins is nested in the never-reveal group.
	must(t, e.st.SetMemberships(ctx, e.admin.Anchor, []string{"g-allowed", "g-admins"}))
	must(t, e.st.SetMemberships(ctx, "g-admins", []string{"g-denied"}))
}

func (e *env) tap(p store.Principal, pass string, uses int) {
	e.t.Helper()
	err := e.st.CreateTAP(context.Background(), store.TAP{ID: pass + "-id", Principal: p.Anchor, Hash: server.HashTAP(pass),
		UsesLeft: uses, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
	must(e.t, err)
}

func (e *env) client() *client.Client {
	e.t.Helper()
	c, err := client.New(e.url, e.ca)
	must(e.t, err)
	return c
}

func (e *env) softkey(name string) *softkey.Authenticator {
	e.t.Helper()
	a, err := softkey.Open(filepath.Join(e.t.TempDir(), name))
	must(e.t, err)
	return a
}

func (e *env) audits() []store.AuditRecord {
	e.t.Helper()
	recs, err := e.st.ListAudit(context.Background(), 0, 1000)
	must(e.t, err)
	return recs
}

func TestEnrolAndSignInIssuesAPartialTGTBoundToTheClient(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.tap(e.alice, "ABCD-EFGH-JKLM", 1)
	c := e.client()
	key := e.softkey("alice.passkey")
	reg, err := c.Register(ctx, "abcd efgh jklm", "", key) // typed loosely: normalised
	if err != nil {
		t.Fatal(err)
	}
	if reg.Principal != "alice@"+realm || reg.CredentialID == "" {
		t.Fatalf("registered %+v", reg)
	}
	si, err := c.Login(ctx, "", key) // discoverable: no name typed
	if err != nil {
		t.Fatal(err)
	}
	if si.Principal != "alice@"+realm {
		t.Fatalf("principal %q", si.Principal)
	}
	var tkt messages.Ticket
	must(t, tkt.Unmarshal(si.Cred.Tickets[0]))
	cur, _ := e.keys.Current(18)
	if err := tkt.Decrypt(cur.Key); err != nil {
		t.Fatalf("partial TGT not under the RODC key: %v", err)
	}
	if tkt.DecryptedEncPart.CName.PrincipalNameString() != "alice" ||
		string(tkt.DecryptedEncPart.Key.KeyValue) != string(si.Cred.Infos[0].Key.KeyValue) {
		t.Fatal("KRB-CRED session key does not match the ticket")
	}
	if _, err := client.PartialCCache(si); err != nil {
		t.Fatal(err)
	}
	// With a principal hint, too.
	if _, err := c.Login(ctx, "alice@"+realm, key); err != nil {
		t.Fatal(err)
	}
	recs := e.audits()
	var issued int
	for _, r := range recs {
		if r.Event == "login" && r.Result == "ok" {
			issued++
			if r.Principal != "alice" || r.KVNO != keytabs.EncodeKVNO(40000, 1) || r.CredentialID != reg.CredentialID {
				t.Fatalf("issuance audit record %+v", r)
			}
		}
	}
	if issued != 2 {
		t.Fatalf("%d issuance audit records, want 2", issued)
	}
}

func TestRefusalsCarryStableCodesAndAreAudited(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client()
	e.tap(e.alice, "ONCE-ONLY-PASS", 1)
	aliceKey := e.softkey("a")
	if _, err := c.Register(ctx, "ONCE-ONLY-PASS", "", aliceKey); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		do   func() error
		code string
	}{
		{"tap used up", func() error { _, err := c.Register(ctx, "ONCE-ONLY-PASS", "", e.softkey("b")); return err }, "tap_used"},
		{"tap unknown", func() error { _, err := c.Register(ctx, "NOPE-NOPE-NOPE", "", e.softkey("c")); return err }, "tap_invalid"},
		{"never-reveal admin", func() error {
			e.tap(e.admin, "ROOT-ROOT-ROOT", 1)
			k := e.softkey("root")
			if _, err := c.Register(ctx, "ROOT-ROOT-ROOT", "", k); err != nil {
				return err
			}
			_, err := c.Login(ctx, "", k)
			return err
		}, issuer.CodeReplicationPolicy},
		// Refused at finish as a passkey of another account is: begin
		// answered as for a name that exists.
		{"unknown principal hint", func() error { _, err := c.Login(ctx, "mallory", aliceKey); return err }, assertion.CodePrincipalMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.audits())
			err := tc.do()
			if !client.IsAPIError(err, tc.code) {
				t.Fatalf("err = %v, want code %s", err, tc.code)
			}
			after := e.audits()
			last := after[len(after)-1]
			if len(after) <= before || last.Result == "ok" || last.Reason != tc.code {
				t.Fatalf("last audit record %+v, want a refusal with reason %s", last, tc.code)
			}
			if tc.code == issuer.CodeReplicationPolicy {
				// The user reads a sentence; the policy's detail is the audit's.
				if strings.Contains(err.Error(), "reveal") || strings.Contains(err.Error(), "S-1-") || !strings.Contains(last.Detail, "never-reveal") {
					t.Fatalf("user message %q, audit detail %q", err, last.Detail)
				}
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(e.ca)
	must(t, err)
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(e.url + "/healthz")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
