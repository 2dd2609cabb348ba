package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/fxamacker/cbor/v2"
)

// passkey is an in-memory ES256 passkey for the load: like softkey's, but
// its counter lives in memory, so that the load generator does not write a
// file (and fsync) per sign-in. A passkey is used by one worker at a time.
type passkey struct {
	key    *ecdsa.PrivateKey
	credID []byte
	handle []byte // user handle: the principal's anchor
	count  uint32
	rpHash [32]byte
}

// newPasskey makes a passkey with a fresh key and credential ID for handle.
func newPasskey(rpID string, handle []byte) (*passkey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	return &passkey{key: k, credID: id, handle: handle, rpHash: sha256.Sum256([]byte(rpID))}, nil
}

// softkeyFile is the part of internal/softkey's file format the bench reads
// to take over a passkey registered through the API.
type softkeyFile struct {
	RPID         string `json:"rp_id"`
	CredentialID []byte `json:"credential_id"`
	UserHandle   []byte `json:"user_handle"`
	PrivateKey   []byte `json:"private_key"`
	SignCount    uint32 `json:"sign_count"`
}

// passkeyFromSoftkey loads a passkey registered by softkey.
func passkeyFromSoftkey(path string) (*passkey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f softkeyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(f.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key", path)
	}
	return &passkey{key: ek, credID: f.CredentialID, handle: f.UserHandle, count: f.SignCount,
		rpHash: sha256.Sum256([]byte(f.RPID))}, nil
}

// coseKey is the ES256 COSE_Key (RFC 9053) of the passkey's public key.
func (p *passkey) coseKey() ([]byte, error) {
	pub, err := p.key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	raw := pub.Bytes() // 0x04 || X || Y
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	return em.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
}

var b64 = base64.RawURLEncoding

// assert answers a discoverable sign-in challenge (the base64url challenge
// of the request options) for origin: the JSON of a PublicKeyCredential with
// user presence and verification, the next counter value, and the user handle.
func (p *passkey) assert(challenge, origin string) ([]byte, error) {
	if challenge == "" {
		return nil, errors.New("no challenge")
	}
	p.count++
	ad := make([]byte, 0, 37)
	ad = append(ad, p.rpHash[:]...)
	ad = append(ad, 0x01|0x04) // UP | UV
	ad = binary.BigEndian.AppendUint32(ad, p.count)
	cd, err := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{"webauthn.get", challenge, origin, false})
	if err != nil {
		return nil, err
	}
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, p.key, digest[:])
	if err != nil {
		return nil, err
	}
	id := b64.EncodeToString(p.credID)
	return json.Marshal(map[string]any{
		"id": id, "rawId": id, "type": "public-key",
		"response": map[string]string{
			"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(p.handle),
		},
	})
}
