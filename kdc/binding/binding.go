// Package binding derives the key that protects a KRB-CRED on its way from
// passkdc to the client that started the sign-in ceremony (DESIGN §1.4).
//
// The client generates an ephemeral X25519 key pair and sends its public half
// (binding_key) with /v1/login/begin. At /v1/login/finish the server generates
// its own ephemeral pair, computes the shared secret, and expands it with
// HKDF-SHA256 into an aes256-cts-hmac-sha1-96 key that encrypts the KRB-CRED
// enc-part; it returns its public half as server_key. Only the holder of the
// client's private key can derive the same key, so a captured response, or a
// session hijacked between begin and finish, yields no session key.
//
// X25519 is RFC 7748's: a key pair is 32 random bytes and the public key is
// computed once, with filippo.io/edwards25519's fixed-base multiplication on
// the equivalent Edwards curve; the shared secret is the RFC's constant-time
// Montgomery ladder over that module's field arithmetic (the code the
// standard library's crypto/ecdh runs internally). Any 32 bytes are a valid
// peer key; one of low order, whose shared secret is all zeros, is refused.
package binding

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// KeySize is the length of an X25519 public key in bytes.
const KeySize = 32

// info labels the derived key; both public keys follow it so the key is bound to
// this exact exchange.
const info = "passkdc/v1 krb-cred binding aes256-cts-hmac-sha1-96"

// ErrBadKey reports a binding key that is not a valid X25519 public key.
var ErrBadKey = errors.New("binding key must be a 32-byte X25519 public key")

// PrivateKey is one side's ephemeral key: the random scalar and its public
// key, computed once.
type PrivateKey struct {
	scalar [KeySize]byte
	public [KeySize]byte
}

// Generate makes a fresh ephemeral key pair.
func Generate() (*PrivateKey, error) {
	var scalar [KeySize]byte
	if _, err := rand.Read(scalar[:]); err != nil {
		return nil, fmt.Errorf("generate X25519 key: %w", err)
	}
	return newPrivateKey(&scalar)
}

// newPrivateKey is the key pair of scalar. The public key is X25519(scalar, 9)
// computed on the birationally equivalent Edwards curve: the clamped scalar
// times the Ed25519 base point (a fixed-base multiplication over precomputed
// tables), mapped to its Montgomery u-coordinate. The base point has prime
// order, so the scalar's reduction modulo that order changes nothing.
func newPrivateKey(scalar *[KeySize]byte) (*PrivateKey, error) {
	p := &PrivateKey{scalar: *scalar}
	s, err := new(edwards25519.Scalar).SetBytesWithClamping(p.scalar[:])
	if err != nil { // only for a length other than 32
		return nil, fmt.Errorf("generate X25519 key: %w", err)
	}
	copy(p.public[:], new(edwards25519.Point).ScalarBaseMult(s).BytesMontgomery())
	return p, nil
}

// Public returns the 32-byte public key to send to the peer (a copy).
func (p *PrivateKey) Public() []byte {
	b := p.public
	return b[:]
}

// ValidatePublic checks that b can be used as a peer's binding key.
func ValidatePublic(b []byte) error {
	_, err := parsePublic(b)
	return err
}

// parsePublic is a peer's binding key: any 32 bytes are an X25519 public key
// (RFC 7748 §5; the top bit is ignored and non-canonical values are reduced).
// A low-order key is refused later, by its all-zero shared secret.
func parsePublic(b []byte) (*[KeySize]byte, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("%w (got %d bytes)", ErrBadKey, len(b))
	}
	return (*[KeySize]byte)(b), nil
}

// ServerKey derives the KRB-CRED key on the server side from the client's
// binding key; salt is the ceremony session ID.
func (p *PrivateKey) ServerKey(clientPublic []byte, salt string) (types.EncryptionKey, error) {
	return p.derive(clientPublic, clientPublic, p.public[:], salt)
}

// ClientKey derives the same key on the client side from the server's key.
func (p *PrivateKey) ClientKey(serverPublic []byte, salt string) (types.EncryptionKey, error) {
	return p.derive(serverPublic, p.public[:], serverPublic, salt)
}

func (p *PrivateKey) derive(peer, clientPub, serverPub []byte, salt string) (types.EncryptionKey, error) {
	pub, err := parsePublic(peer)
	if err != nil {
		return types.EncryptionKey{}, err
	}
	var secret [KeySize]byte
	if err := x25519(&secret, &p.scalar, pub); err != nil {
		return types.EncryptionKey{}, err
	}
	return keyFrom(secret[:], clientPub, serverPub, salt), nil
}

// keyFrom expands an X25519 shared secret into the KRB-CRED key, bound to both
// public keys and the session.
func keyFrom(secret, clientPub, serverPub []byte, salt string) types.EncryptionKey {
	var label [len(info) + 2*KeySize + 1]byte
	okm := hkdfSHA256(secret, salt, append(append(append(label[:0], info...), clientPub...), serverPub...))
	return types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: okm[:]}
}

// hkdfSHA256 is HKDF-SHA256 (RFC 5869) of secret with salt and label, 32
// bytes long: one extract and one expand block, each an HMAC-SHA256 (RFC
// 2104) over a buffer on the stack. It gives what crypto/hkdf.Key gives
// (tested) without its two dozen allocations per sign-in. label has room
// for the block counter after it (cap > len).
func hkdfSHA256(secret []byte, salt string, label []byte) [sha256.Size]byte {
	prk := hmacSHA256([]byte(salt), secret)
	return hmacSHA256(prk[:], append(label, 1))
}

// hmacSHA256 is HMAC-SHA256 of msg under key (RFC 2104).
func hmacSHA256(key, msg []byte) [sha256.Size]byte {
	const block = 64
	var k [block]byte
	if len(key) > block {
		h := sha256.Sum256(key)
		copy(k[:], h[:])
	} else {
		copy(k[:], key)
	}
	var buf [block + 256]byte
	in := buf[:0]
	for _, c := range k {
		in = append(in, c^0x36)
	}
	inner := sha256.Sum256(append(in, msg...))
	out := buf[:0]
	for _, c := range k {
		out = append(out, c^0x5c)
	}
	return sha256.Sum256(append(out, inner[:]...))
}
