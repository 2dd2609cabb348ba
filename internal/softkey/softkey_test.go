package softkey

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

type user struct {
	id    []byte
	creds []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.id }
func (u *user) WebAuthnName() string                       { return "alice" }
func (u *user) WebAuthnDisplayName() string                { return "Alice" }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

const origin = "https://localhost:8443"

func newRP(t *testing.T) *webauthn.WebAuthn {
	t.Helper()
	rp, err := webauthn.New(&webauthn.Config{RPID: "localhost", RPDisplayName: "passkdc", RPOrigins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// roundTrip passes options through JSON, as they travel from server to client.
func roundTrip[T any](t *testing.T, v any) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func register(t *testing.T, rp *webauthn.WebAuthn, u *user, path string) *Authenticator {
	t.Helper()
	creation, sess, err := rp.BeginRegistration(u, webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired))
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Register(roundTrip[protocol.CredentialCreation](t, creation).Response, origin)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(resp)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := rp.CreateCredential(u, *sess, parsed)
	if err != nil {
		t.Fatalf("go-webauthn refused the software registration: %v", err)
	}
	if !bytes.Equal(cred.Authenticator.AAGUID, AAGUID[:]) || !cred.Flags.UserVerified {
		t.Fatalf("aaguid %x uv %v", cred.Authenticator.AAGUID, cred.Flags.UserVerified)
	}
	u.creds = append(u.creds, *cred)
	return a
}

func login(t *testing.T, rp *webauthn.WebAuthn, u *user, a *Authenticator) (*webauthn.Credential, error) {
	t.Helper()
	assertion, sess, err := rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Assert(roundTrip[protocol.CredentialAssertion](t, assertion).Response, origin)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(resp)
	if err != nil {
		t.Fatal(err)
	}
	return rp.ValidateDiscoverableLogin(func(raw, handle []byte) (webauthn.User, error) {
		if !bytes.Equal(handle, u.id) {
			return nil, errors.New("unknown user handle")
		}
		return u, nil
	}, *sess, parsed)
}

func TestRegisterAndSignInWithGoWebAuthn(t *testing.T) {
	rp := newRP(t)
	u := &user{id: []byte("0b5c3e7e-8a1f-4f6a-9d2c-1e2f3a4b5c6d")}
	path := filepath.Join(t.TempDir(), "alice.passkey")
	register(t, rp, u, path)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("passkey file mode: %v %v", fi.Mode(), err)
	}
	for i := uint32(1); i <= 3; i++ {
		// Reopen each time: the counter must survive in the file.
		a2, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := login(t, rp, u, a2)
		if err != nil {
			t.Fatalf("sign-in %d: %v", i, err)
		}
		if cred.Authenticator.SignCount != i {
			t.Fatalf("sign count %d, want %d", cred.Authenticator.SignCount, i)
		}
		u.creds[0].Authenticator.SignCount = cred.Authenticator.SignCount
	}
}

func TestAssertRefusesWhatItCannotAnswer(t *testing.T) {
	dir := t.TempDir()
	empty, err := Open(filepath.Join(dir, "none"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := empty.Assert(protocol.PublicKeyCredentialRequestOptions{Challenge: []byte("c")}, origin); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("unregistered: %v", err)
	}
	rp := newRP(t)
	a := register(t, rp, &user{id: []byte("h")}, filepath.Join(dir, "a"))
	if _, err := a.Assert(protocol.PublicKeyCredentialRequestOptions{Challenge: []byte("c"), RelyingPartyID: "evil.example"}, origin); !errors.Is(err, ErrWrongRP) {
		t.Fatalf("wrong rp: %v", err)
	}
	other := []protocol.CredentialDescriptor{{Type: "public-key", CredentialID: []byte("other")}}
	if _, err := a.Assert(protocol.PublicKeyCredentialRequestOptions{Challenge: []byte("c"), AllowedCredentials: other}, origin); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("not allowed: %v", err)
	}
}

func TestOpenRefusesInsecureOrMalformedFiles(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose")
	if err := os.WriteFile(loose, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(loose); !errors.Is(err, ErrInsecureFile) {
		t.Fatalf("0644 file: %v", err)
	}
	for name, body := range map[string]string{"garbage": "not json", "version": `{"version":2}`, "key": `{"version":1,"private_key":"AAAA"}`} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(p); err == nil {
			t.Fatalf("%s: malformed file accepted", name)
		}
	}
}
