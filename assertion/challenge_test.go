package assertion

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/memory"
)

// TestChallengeTokens: a sign-in session is a sealed token that opens to
// what begin put in it; tokens for a known name, an unknown one and none
// have one length; a changed byte, a token of another store's key and a
// truncated token are all unknown sessions; two replicas of one store
// share the key.
func TestChallengeTokens(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	rp, err := New(Config{RPID: testRPID, Origins: []string{testOrigin}}, st)
	if err != nil {
		t.Fatal(err)
	}
	alice := store.Principal{Anchor: "7c1e0a52-93c8-4b8e-8f55-1f6f2b6c0a01", Name: "alice"}
	known, _, err := rp.BeginLogin(ctx, &alice, testBindingKey)
	if err != nil {
		t.Fatal(err)
	}
	unknown, _, err := rp.BeginUnknownLogin(ctx, testBindingKey)
	if err != nil {
		t.Fatal(err)
	}
	open, _, err := rp.BeginLogin(ctx, nil, testBindingKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(known) != len(unknown) || len(known) != len(open) {
		t.Fatalf("token lengths %d (known name), %d (unknown), %d (no name)", len(known), len(unknown), len(open))
	}
	tok, err := rp.openToken(ctx, known)
	if err != nil || tok.principal != alice.Anchor || string(tok.bindingKey) != string(testBindingKey) || len(tok.challenge) != challengeLen {
		t.Fatalf("opened %+v, %v", tok, err)
	}
	replica, err := New(Config{RPID: testRPID, Origins: []string{testOrigin}}, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replica.openToken(ctx, known); err != nil {
		t.Fatalf("another replica of the store cannot open the token: %v", err)
	}
	other, err := New(Config{RPID: testRPID, Origins: []string{testOrigin}}, memory.New())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(known)
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x01
		var burn bool
		if _, err := rp.readToken(ctx, base64.RawURLEncoding.EncodeToString(bad), &burn); Code(err) != CodeUnknownSession || burn {
			t.Fatalf("byte %d changed: %v (burn %v)", i, err, burn)
		}
	}
	for name, id := range map[string]string{"other store's key": known, "truncated": known[:len(known)-4], "not base64": "!!"} {
		r := rp
		if name == "other store's key" {
			r = other
		}
		var burn bool
		if _, err := r.readToken(ctx, id, &burn); Code(err) != CodeUnknownSession || burn {
			t.Fatalf("%s: %v (burn %v)", name, err, burn)
		}
	}
}
