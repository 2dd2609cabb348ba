package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/passkdc/passkdc/kdc/binding"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/memory"
)

// TestSignInReadsPrincipalAndGroupsFromTheView: once a sign-in has read
// alice and her groups, the next reads neither from the store; a disable
// written to the store is refused by the very next sign-in.
func TestSignInReadsPrincipalAndGroupsFromTheView(t *testing.T) {
	var c *memory.ReadCounter
	bs := newBenchServer(t, func(s store.Store) store.Store { c = memory.CountReads(s); return c })
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
	p0, g0 := c.Reads()
	for i := 0; i < 3; i++ {
		if code := signIn(); code != http.StatusOK {
			t.Fatalf("sign-in %d: HTTP %d", i+2, code)
		}
	}
	if p, g := c.Reads(); p != p0 || g != g0 {
		t.Fatalf("three sign-ins after the first read the principal %d and the groups %d times, want 0", p-p0, g-g0)
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
