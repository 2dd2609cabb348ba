// Package aescts is the RFC 3962 encryption of Kerberos (aes128- and
// aes256-cts-hmac-sha1-96) with the usage keys derived once per key and
// usage (RFC 3961 §5.3 DK with n-fold): issuing derives them once per RODC
// key version and once per sealed KRB-CRED, instead of on every call as
// gokrb5 does. Decryption stays with gokrb5.
package aescts

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
)

// The AES etypes (RFC 3962) and their key sizes.
const (
	AES128 = 17
	AES256 = 18
)

// macSize is the truncated HMAC-SHA1 (96 bits).
const macSize = 12

// Keys are the encryption key schedule and the integrity key of one key
// and key usage.
type Keys struct {
	ke    cipher.Block
	ki    []byte
	etype int32
}

// Supported reports whether etype is one this package encrypts with.
func Supported(etype int32) bool { return etype == AES128 || etype == AES256 }

// Derive derives Ke and Ki of key for usage.
func Derive(etype int32, key []byte, usage uint32) (Keys, error) {
	if !Supported(etype) || (etype == AES128) != (len(key) == 16) || (etype == AES256) != (len(key) == 32) {
		return Keys{}, fmt.Errorf("aescts: etype %d with a %d-byte key", etype, len(key))
	}
	ce, ci := usageConstant(usage, 0xaa), usageConstant(usage, 0x55)
	ke, err := DK(key, ce[:])
	if err != nil {
		return Keys{}, err
	}
	ki, err := DK(key, ci[:])
	if err != nil {
		return Keys{}, err
	}
	block, err := aes.NewCipher(ke)
	if err != nil {
		return Keys{}, err
	}
	return Keys{ke: block, ki: ki, etype: etype}, nil
}

// usageConstant is the 5-byte well-known constant of a key usage: the usage
// big-endian, then 0xAA (Ke), 0x55 (Ki) or 0x99 (Kc).
func usageConstant(usage uint32, kind byte) [5]byte {
	var c [5]byte
	binary.BigEndian.PutUint32(c[:], usage)
	c[4] = kind
	return c
}

// DK is RFC 3961's DK(key, constant) for AES, whose random-to-key is the
// identity: the blocks E(n-fold(constant)), E(E(n-fold(constant))), ...
// concatenated to the key's length.
func DK(key, constant []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(key)+aes.BlockSize)
	c := NFold(constant, aes.BlockSize)
	for len(out) < len(key) {
		block.Encrypt(c, c)
		out = append(out, c...)
	}
	return out[:len(key)], nil
}

// NFold is RFC 3961's n-fold of in to n bytes: copies of in, each rotated
// right by 13 bits more than the one before, fill lcm(len(in), n) bytes,
// which are added as n-byte big-endian numbers with end-around carry.
func NFold(in []byte, n int) []byte {
	l := len(in)
	lcm := l * n / gcd(l, n)
	bits := 8 * l
	var small [128]byte // lcm(5, 16) = 80 for the usage constants
	var buf []byte
	if lcm <= len(small) {
		buf = small[:lcm]
	} else {
		buf = make([]byte, lcm)
	}
	for k := 0; k < lcm/l; k++ {
		for p := 0; p < bits; p++ {
			src := ((p-13*k)%bits + bits) % bits
			if in[src/8]&(0x80>>(src%8)) != 0 {
				buf[k*l+p/8] |= 0x80 >> (p % 8)
			}
		}
	}
	out := make([]byte, n)
	for off := 0; off < lcm; off += n {
		carry := 0
		for i := n - 1; i >= 0; i-- {
			s := int(out[i]) + int(buf[off+i]) + carry
			out[i], carry = byte(s), s>>8
		}
		for i := n - 1; carry != 0 && i >= 0; i-- { // end-around carry
			s := int(out[i]) + carry
			out[i], carry = byte(s), s>>8
		}
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Encrypt encrypts plain as RFC 3962 specifies: a random confounder block,
// AES-CTS with Ke and a zero IV, then HMAC-SHA1-96 with Ki over
// confounder || plain.
func (k Keys) Encrypt(plain []byte) ([]byte, error) {
	p := make([]byte, aes.BlockSize+len(plain))
	if _, err := rand.Read(p[:aes.BlockSize]); err != nil {
		return nil, fmt.Errorf("aescts: confounder: %w", err)
	}
	copy(p[aes.BlockSize:], plain)
	ct := CTSEncrypt(k.ke, p)
	mac := HMACSHA1(k.ki, p)
	return append(ct, mac[:macSize]...), nil
}

// HMACSHA1 is HMAC-SHA1 (RFC 2104) of data under key, computed over
// buffers on the stack (crypto/hmac allocates two SHA-1 states and both
// pads on every call; tested equal to it). A message longer than a few
// kilobytes is copied to the heap once.
func HMACSHA1(key, data []byte) [sha1.Size]byte {
	const block = 64
	var k [block]byte
	if len(key) > block {
		h := sha1.Sum(key)
		copy(k[:], h[:])
	} else {
		copy(k[:], key)
	}
	var buf [block + 4096]byte
	in := buf[:block]
	for i, c := range k {
		in[i] = c ^ 0x36
	}
	inner := sha1.Sum(append(in, data...))
	out := buf[:block]
	for i, c := range k {
		out[i] = c ^ 0x5c
	}
	return sha1.Sum(append(out, inner[:]...))
}

// EType is the etype of the key the keys were derived from.
func (k Keys) EType() int32 { return k.etype }

// CTSEncrypt is AES in CBC mode with ciphertext stealing and a zero IV, as
// RFC 3962 §5 uses it (CBC-CS3: the last two blocks swapped, the final one
// truncated; one block alone is plain CBC). p must be at least one block
// long, which the confounder ensures.
func CTSEncrypt(b cipher.Block, p []byte) []byte {
	bs := b.BlockSize()
	n := (len(p) + bs - 1) / bs * bs
	padded := make([]byte, n, n+sha1.Size) // room for the MAC Encrypt appends
	copy(padded, p)                        // zero padding: CBC of it is CTS with the last blocks swapped
	cipher.NewCBCEncrypter(b, make([]byte, bs)).CryptBlocks(padded, padded)
	if n == bs {
		return padded
	}
	last := len(p) - (n/bs-1)*bs // bytes of the last plaintext block, 1..bs
	// Swap the last two blocks in place, the one before truncated.
	var tmp [aes.BlockSize]byte
	copy(tmp[:], padded[n-2*bs:n-bs])
	copy(padded[n-2*bs:], padded[n-bs:])
	copy(padded[n-bs:], tmp[:last])
	return padded[:len(p)]
}
