package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/internal/client"
	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/kdc/issuer"
	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
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

// newEnv is the test environment over TLS with the directory of
// seedDirectory (alice may have tickets, root may not).
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t}
	te := newTestEnv(t, withTLS(), withSeed(func(te *testEnv) { e.alice, e.admin = seedDirectory(te) }))
	e.st, e.url, e.ca, e.keys, e.hook = te.st, te.url, te.ca, te.keys, te.hook
	return e
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
