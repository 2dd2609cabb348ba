// Package softkey is a software passkey: an ES256 (ECDSA P-256) WebAuthn
// authenticator whose key, credential ID, user handle and sign counter live in
// one 0600 file.
//
// It exists for automation and tests (passkinit --authenticator soft:PATH). It
// reports user verification because possession of the file, protected by the
// operating system account, is the only factor it has: administrators who do not
// accept that block its AAGUID (AAGUID below) in a passkey profile.
package softkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/fxamacker/cbor/v2"
	"github.com/go-webauthn/webauthn/protocol"
)

// AAGUID identifies passkdc's software authenticator
// (5e1f7a8c-2b4d-4c6e-9a1b-70a55c0de001) so passkey profiles can allow or block it.
var AAGUID = [16]byte{0x5e, 0x1f, 0x7a, 0x8c, 0x2b, 0x4d, 0x4c, 0x6e, 0x9a, 0x1b, 0x70, 0xa5, 0x5c, 0x0d, 0xe0, 0x01}

// AAGUIDString is AAGUID in its canonical text form.
const AAGUIDString = "5e1f7a8c-2b4d-4c6e-9a1b-70a55c0de001"

// Errors callers branch on.
var (
	ErrNotRegistered = errors.New("software passkey file holds no credential: register first (passkinit --register --tap CODE)")
	ErrInsecureFile  = errors.New("software passkey file is readable or writable by group or others")
	ErrWrongRP       = errors.New("software passkey belongs to another relying party")
	ErrNotAllowed    = errors.New("server does not allow this software passkey's credential")
)

// authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

// state is the file format (JSON, version 1).
type state struct {
	Version      int    `json:"version"`
	RPID         string `json:"rp_id"`
	CredentialID []byte `json:"credential_id"`
	UserHandle   []byte `json:"user_handle"`
	UserName     string `json:"user_name"`
	PrivateKey   []byte `json:"private_key"` // PKCS#8 DER
	SignCount    uint32 `json:"sign_count"`
}

// Authenticator is a software passkey bound to one file.
type Authenticator struct {
	path string
	st   state
	key  *ecdsa.PrivateKey
}

// Open loads the passkey file at path; a missing file gives an empty
// authenticator ready to Register. A file readable by group or others is refused.
func Open(path string) (*Authenticator, error) {
	a := &Authenticator{path: path}
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("software passkey %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: %w (mode %04o); fix with: chmod 600 %s", path, ErrInsecureFile, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("software passkey %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &a.st); err != nil {
		return nil, fmt.Errorf("software passkey %s: malformed file: %w", path, err)
	}
	if a.st.Version != 1 {
		return nil, fmt.Errorf("software passkey %s: unsupported version %d", path, a.st.Version)
	}
	k, err := x509.ParsePKCS8PrivateKey(a.st.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("software passkey %s: bad key: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("software passkey %s: key is not ECDSA P-256", path)
	}
	a.key = ek
	return a, nil
}

// Registered reports whether the file holds a credential.
func (a *Authenticator) Registered() bool { return a.key != nil }

// CredentialID returns the registered credential's ID.
func (a *Authenticator) CredentialID() []byte { return a.st.CredentialID }

// UserHandle returns the user handle the server assigned at registration.
func (a *Authenticator) UserHandle() []byte { return a.st.UserHandle }

// SignCount returns the current signature counter.
func (a *Authenticator) SignCount() uint32 { return a.st.SignCount }

// Register answers navigator.credentials.create() options with a new credential
// (attestation format "none") and saves it to the file before returning the
// response, so an acknowledged registration is never lost.
func (a *Authenticator) Register(opts protocol.PublicKeyCredentialCreationOptions, origin string) ([]byte, error) {
	if !supportsES256(opts.Parameters) {
		return nil, errors.New("server does not accept ES256 (-7) credentials")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	credID := make([]byte, 32)
	if _, err := rand.Read(credID); err != nil {
		return nil, fmt.Errorf("credential id: %w", err)
	}
	rpID := opts.RelyingParty.ID
	cose, err := coseKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	attested := make([]byte, 0, 18+len(credID)+len(cose))
	attested = append(attested, AAGUID[:]...)
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(credID)))
	attested = append(append(attested, credID...), cose...)
	authData := authenticatorData(rpID, flagUP|flagUV|flagAT, 0, attested)
	attObj, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, fmt.Errorf("encode attestation object: %w", err)
	}
	clientData, err := clientDataJSON("webauthn.create", opts.Challenge, origin)
	if err != nil {
		return nil, err
	}
	handle, err := userHandle(opts.User.ID)
	if err != nil {
		return nil, err
	}
	next := state{Version: 1, RPID: rpID, CredentialID: credID, UserHandle: handle, UserName: opts.User.Name, PrivateKey: der}
	if err := save(a.path, next); err != nil {
		return nil, err
	}
	a.st, a.key = next, key
	return json.Marshal(map[string]any{
		"id": b64(credID), "rawId": b64(credID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64(clientData), "attestationObject": b64(attObj), "transports": []string{"internal"},
		},
	})
}

// Assert answers navigator.credentials.get() options. The new counter is saved
// before the signature leaves, so the server never sees a counter go backwards
// even if the client crashes.
func (a *Authenticator) Assert(opts protocol.PublicKeyCredentialRequestOptions, origin string) ([]byte, error) {
	if a.key == nil {
		return nil, ErrNotRegistered
	}
	if opts.RelyingPartyID != "" && opts.RelyingPartyID != a.st.RPID {
		return nil, fmt.Errorf("%w: file is for %q, server asks for %q", ErrWrongRP, a.st.RPID, opts.RelyingPartyID)
	}
	if !allowed(opts.AllowedCredentials, a.st.CredentialID) {
		return nil, ErrNotAllowed
	}
	next := a.st
	next.SignCount++
	if err := save(a.path, next); err != nil {
		return nil, err
	}
	a.st = next
	authData := authenticatorData(a.st.RPID, flagUP|flagUV, a.st.SignCount, nil)
	clientData, err := clientDataJSON("webauthn.get", opts.Challenge, origin)
	if err != nil {
		return nil, err
	}
	cdHash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("sign assertion: %w", err)
	}
	return json.Marshal(map[string]any{
		"id": b64(a.st.CredentialID), "rawId": b64(a.st.CredentialID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64(clientData), "authenticatorData": b64(authData),
			"signature": b64(sig), "userHandle": b64(a.st.UserHandle),
		},
	})
}

// userHandle accepts the user ID as the server library holds it or as JSON
// decoding leaves it (a base64url string).
func userHandle(id any) ([]byte, error) {
	switch v := id.(type) {
	case []byte:
		return v, nil
	case protocol.URLEncodedBase64:
		return v, nil
	case string:
		var b protocol.URLEncodedBase64
		if err := b.UnmarshalJSON([]byte(strconv.Quote(v))); err != nil {
			return nil, fmt.Errorf("server sent a malformed user handle: %w", err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("server sent a user handle of type %T", id)
	}
}

func supportsES256(params []protocol.CredentialParameter) bool {
	if len(params) == 0 {
		return true // WebAuthn default: ES256 and RS256
	}
	for _, p := range params {
		if p.Algorithm == -7 {
			return true
		}
	}
	return false
}

func allowed(list []protocol.CredentialDescriptor, id []byte) bool {
	if len(list) == 0 {
		return true // discoverable sign-in
	}
	for _, d := range list {
		if string(d.CredentialID) == string(id) {
			return true
		}
	}
	return false
}

func authenticatorData(rpID string, flags byte, count uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := make([]byte, 0, 37+len(attested))
	out = append(append(out, h[:]...), flags)
	out = binary.BigEndian.AppendUint32(out, count)
	return append(out, attested...)
}

func clientDataJSON(typ string, challenge protocol.URLEncodedBase64, origin string) ([]byte, error) {
	if len(challenge) == 0 {
		return nil, errors.New("server sent no challenge")
	}
	return json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, b64(challenge), origin, false})
}

// coseKey encodes an EC2 P-256 public key as a COSE_Key (RFC 9053) for ES256.
func coseKey(pub *ecdsa.PublicKey) ([]byte, error) {
	ecdh, err := pub.ECDH()
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	raw := ecdh.Bytes() // 0x04 || X || Y
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	return enc.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
}

func save(path string, st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".softkey-*")
	if err != nil {
		return fmt.Errorf("save software passkey: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save software passkey: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save software passkey: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save software passkey: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save software passkey: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save software passkey: %w", err)
	}
	return nil
}

func b64(b []byte) string { return protocol.URLEncodedBase64(b).String() }
