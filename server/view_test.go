package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/passkdc/passkdc/kdc/binding"
	"github.com/passkdc/passkdc/store"
)

// readCounter counts the principal and group queries that reach the store.
type readCounter struct {
	store.Store
	principals, groups atomic.Int64
}

func (c *readCounter) GetPrincipal(ctx context.Context, anchor string) (store.Principal, error) {
	c.principals.Add(1)
	return c.Store.GetPrincipal(ctx, anchor)
}

func (c *readCounter) TransitiveGroups(ctx context.Context, member string) ([]store.Group, error) {
	c.groups.Add(1)
	return c.Store.TransitiveGroups(ctx, member)
}

// TestSignInReadsPrincipalAndGroupsFromTheView: once a sign-in has read
// alice and her groups, the next reads neither from the store; a disable
// written to the store is refused by the very next sign-in.
func TestSignInReadsPrincipalAndGroupsFromTheView(t *testing.T) {
	var c *readCounter
	bs := newBenchServer(t, func(s store.Store) store.Store { c = &readCounter{Store: s}; return c })
	signIn := func() int {
		t.Helper()
		bk, err := binding.Generate()
		mustTB(t, err)
		body, _ := json.Marshal(map[string]string{"binding_key": b64u(bk.Public())})
		var begin struct {
			Session   string                                     `json:"session"`
			PublicKey protocol.PublicKeyCredentialRequestOptions `json:"publicKey"`
		}
		bs.post(t, "/v1/login/begin", "", body, &begin)
		cred, err := bs.key.Assert(begin.PublicKey, benchOrigin)
		mustTB(t, err)
		fin, _ := json.Marshal(map[string]any{"session": begin.Session, "credential": json.RawMessage(cred)})
		return bs.send("/v1/login/finish", "", fin, nil)
	}
	if code := signIn(); code != http.StatusOK {
		t.Fatalf("first sign-in: HTTP %d", code)
	}
	p0, g0 := c.principals.Load(), c.groups.Load()
	for i := 0; i < 3; i++ {
		if code := signIn(); code != http.StatusOK {
			t.Fatalf("sign-in %d: HTTP %d", i+2, code)
		}
	}
	if p, g := c.principals.Load()-p0, c.groups.Load()-g0; p != 0 || g != 0 {
		t.Fatalf("three sign-ins after the first read the principal %d and the groups %d times, want 0", p, g)
	}
	ctx := context.Background()
	alice, err := c.GetPrincipalByName(ctx, realm, "alice")
	mustTB(t, err)
	alice.Enabled = false
	_, err = c.UpsertPrincipal(ctx, alice)
	mustTB(t, err)
	if code := signIn(); code == http.StatusOK {
		t.Fatal("the sign-in after the disable was issued")
	}
	recs, err := c.ListAudit(ctx, 0, 0)
	mustTB(t, err)
	last := recs[len(recs)-1]
	if last.Event != "login" || last.Result != "refused" || last.Reason != "principal_disabled" {
		t.Fatalf("last audit record %+v, want a login refused as principal_disabled", last)
	}
}
