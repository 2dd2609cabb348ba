// Package aescts is the RFC 3962 encryption of Kerberos (aes128- and
// aes256-cts-hmac-sha1-96) with the usage keys derived once per key and
// usage (RFC 3961 §5.3 DK with n-fold): issuing derives them once per RODC
// key version and once per sealed KRB-CRED, instead of on every call as
// gokrb5 does; opening a KRB-CRED decrypts with them too.
package aescts

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
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
	ki    [32]byte // Ki, the first kiLen bytes
	kiLen int
	etype int32
}

// Supported reports whether etype is one this package encrypts with.
func Supported(etype int32) bool { return etype == AES128 || etype == AES256 }

// Derive derives Ke and Ki of key for usage.
func Derive(etype int32, key []byte, usage uint32) (Keys, error) {
	if !Supported(etype) || (etype == AES128) != (len(key) == 16) || (etype == AES256) != (len(key) == 32) {
		return Keys{}, fmt.Errorf("aescts: etype %d with a %d-byte key", etype, len(key))
	}
	base, err := aes.NewCipher(key)
	if err != nil {
		return Keys{}, err
	}
	k := Keys{kiLen: len(key), etype: etype}
	var ke [32]byte
	scratch := make([]byte, aes.BlockSize) // the blocks go through an interface: on the heap
	dk(base, foldedUsage(usage, 0xaa), scratch, ke[:len(key)])
	dk(base, foldedUsage(usage, 0x55), scratch, k.ki[:len(key)])
	if k.ke, err = aes.NewCipher(ke[:len(key)]); err != nil {
		return Keys{}, err
	}
	return k, nil
}

// usageConstant is the 5-byte well-known constant of a key usage: the usage
// big-endian, then 0xAA (Ke), 0x55 (Ki) or 0x99 (Kc).
func usageConstant(usage uint32, kind byte) [5]byte {
	var c [5]byte
	binary.BigEndian.PutUint32(c[:], usage)
	c[4] = kind
	return c
}

// foldedUsage is NFold(usageConstant(usage, kind), 16). The n-fold depends
// on the usage only, not on the key, and is a third of a key derivation:
// those of the usages passkdc derives keys for, Ke and Ki of usage 2 (the
// ticket enc-part) and of usage 14 (the KRB-CRED enc-part), are constants
// (tested equal to NFold and to gokrb5's); others are computed.
func foldedUsage(usage uint32, kind byte) [aes.BlockSize]byte {
	switch {
	case usage == 2 && kind == 0xaa:
		return [aes.BlockSize]byte{0xb5, 0xb0, 0x58, 0x2c, 0x14, 0xb6, 0x50, 0x0a, 0xad, 0x56, 0xab, 0x55, 0xaa, 0x80, 0x55, 0x6a}
	case usage == 2 && kind == 0x55:
		return [aes.BlockSize]byte{0x62, 0xdc, 0x6e, 0x37, 0x1a, 0x63, 0xa8, 0x09, 0x58, 0xac, 0x56, 0x2b, 0x15, 0x40, 0x4a, 0xc5}
	case usage == 14 && kind == 0xaa:
		return [aes.BlockSize]byte{0x15, 0xe0, 0x70, 0xb8, 0xd5, 0x1c, 0x53, 0x3b, 0xc5, 0x62, 0xb1, 0x58, 0xaa, 0x81, 0xd6, 0x2b}
	case usage == 14 && kind == 0x55:
		return [aes.BlockSize]byte{0xc3, 0x0c, 0x86, 0xc3, 0xda, 0xc9, 0xab, 0x3a, 0x70, 0xb8, 0x5c, 0x2e, 0x15, 0x41, 0xcb, 0x85}
	}
	c := usageConstant(usage, kind)
	return [aes.BlockSize]byte(NFold(c[:], aes.BlockSize))
}

// DK is RFC 3961's DK(key, constant) for AES, whose random-to-key is the
// identity: the blocks E(n-fold(constant)), E(E(n-fold(constant))), ...
// concatenated to the key's length.
func DK(key, constant []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(key))
	dk(block, [aes.BlockSize]byte(NFold(constant, aes.BlockSize)), make([]byte, aes.BlockSize), out)
	return out, nil
}

// dk fills out with DK of the key of block for the n-folded constant
// folded, encrypting in the block-sized scratch.
func dk(block cipher.Block, folded [aes.BlockSize]byte, scratch, out []byte) {
	copy(scratch, folded[:])
	for len(out) > 0 {
		block.Encrypt(scratch, scratch)
		out = out[copy(out, scratch):]
	}
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
// confounder || plain. The result is built in one buffer.
func (k Keys) Encrypt(plain []byte) ([]byte, error) {
	buf := make([]byte, aes.BlockSize+len(plain), aes.BlockSize+len(plain)+Slack)
	copy(buf[aes.BlockSize:], plain)
	return k.EncryptPrefixed(buf)
}

// Prefix is the room an EncryptPrefixed plaintext leaves before it for the
// confounder, and Slack the room it needs after it (CTS padding, MAC).
const (
	Prefix = aes.BlockSize
	Slack  = aes.BlockSize + macSize
)

// EncryptPrefixed is Encrypt of buf[Prefix:], in buf's memory when its
// capacity has Slack bytes to spare (else in a copy): an encoder writes the
// plaintext after Prefix bytes and the ciphertext takes their place.
func (k Keys) EncryptPrefixed(buf []byte) ([]byte, error) {
	if len(buf) < Prefix {
		return nil, fmt.Errorf("aescts: %d-byte buffer, want the %d-byte prefix", len(buf), Prefix)
	}
	n := len(buf)
	padded := (n + aes.BlockSize - 1) / aes.BlockSize * aes.BlockSize
	if need := max(padded, n+macSize); cap(buf) < need {
		buf = append(make([]byte, 0, need), buf...)
	}
	buf = buf[:padded]
	clear(buf[n:]) // CBC of the zero-padded plaintext is CTS
	if _, err := rand.Read(buf[:aes.BlockSize]); err != nil {
		return nil, fmt.Errorf("aescts: confounder: %w", err)
	}
	mac := HMACSHA1(k.ki[:k.kiLen], buf[:n])
	ctsEncrypt(k.ke, buf, n)
	return append(buf[:n], mac[:macSize]...), nil
}

// ErrIntegrity: a ciphertext whose MAC does not match (wrong key, altered).
var ErrIntegrity = errors.New("aescts: integrity check failed")

// Decrypt reverses Encrypt: it decrypts the AES-CTS part of ct, checks
// the HMAC-SHA1-96 over confounder || plain in constant time and returns
// plain, which shares the one buffer it allocates.
func (k Keys) Decrypt(ct []byte) ([]byte, error) {
	if len(ct) < aes.BlockSize+macSize {
		return nil, fmt.Errorf("aescts: %d-byte ciphertext, want at least %d", len(ct), aes.BlockSize+macSize)
	}
	body, mac := ct[:len(ct)-macSize], ct[len(ct)-macSize:]
	p := make([]byte, (len(body)+aes.BlockSize-1)/aes.BlockSize*aes.BlockSize)
	copy(p, body)
	ctsDecrypt(k.ke, p, len(body))
	p = p[:len(body)]
	sum := HMACSHA1(k.ki[:k.kiLen], p)
	if subtle.ConstantTimeCompare(sum[:macSize], mac) != 1 {
		return nil, ErrIntegrity
	}
	return p[aes.BlockSize:], nil
}

// ctsDecrypt decrypts in place the n bytes of CTS ciphertext at the start of
// buf, whose length is n rounded up to whole blocks. The last two blocks are
// the last CBC block in full and the one before it truncated to what the
// plaintext's last block holds: decrypting the full one gives the zero
// padding XOR the truncated block's missing bytes, which restores it.
func ctsDecrypt(b cipher.Block, buf []byte, n int) {
	const bs = aes.BlockSize
	full := len(buf) / bs // blocks
	var prev, cur [bs]byte
	cbc := full - 2 // blocks decrypted as plain CBC before the stolen pair
	if full == 1 {
		cbc = 1
	}
	for i := 0; i < cbc; i++ {
		blk := buf[i*bs : (i+1)*bs]
		copy(cur[:], blk)
		b.Decrypt(blk, blk)
		subtle.XORBytes(blk, blk, prev[:])
		prev = cur
	}
	if full == 1 {
		return
	}
	last := n - (full-1)*bs // bytes of the last plaintext block, 1..bs
	penult, tail := buf[(full-2)*bs:(full-1)*bs], buf[(full-1)*bs:]
	var d, e [bs]byte
	b.Decrypt(d[:], penult)  // = last plaintext block (zero padded) XOR the CBC block before it
	copy(e[:], tail[:last])  // that CBC block: its first bytes were sent truncated...
	copy(e[last:], d[last:]) // ...the rest is what padding XOR gave back
	for i := range last {
		tail[i] = d[i] ^ e[i]
	}
	b.Decrypt(penult, e[:])
	subtle.XORBytes(penult, penult, prev[:])
}

// HMACSHA1 is HMAC-SHA1 (RFC 2104) of data under key, allocation-free
// (tested equal to crypto/hmac, which allocates two SHA-1 states and both
// pads on every call): the pads are on the stack, and one SHA-1 state, whose
// concrete type the compiler sees, stays there too.
func HMACSHA1(key, data []byte) [sha1.Size]byte {
	const block = 64
	var k [block]byte
	if len(key) > block {
		h := sha1.Sum(key)
		copy(k[:], h[:])
	} else {
		copy(k[:], key)
	}
	var pad [block]byte
	for i, c := range k {
		pad[i] = c ^ 0x36
	}
	d := sha1.New()
	d.Write(pad[:])
	d.Write(data)
	var inner, out [sha1.Size]byte
	d.Sum(inner[:0])
	for i, c := range k {
		pad[i] = c ^ 0x5c
	}
	d.Reset()
	d.Write(pad[:])
	d.Write(inner[:])
	d.Sum(out[:0])
	return out
}

// EType is the etype of the key the keys were derived from.
func (k Keys) EType() int32 { return k.etype }

// CTSEncrypt is AES in CBC mode with ciphertext stealing and a zero IV, as
// RFC 3962 §5 uses it (CBC-CS3: the last two blocks swapped, the final one
// truncated; one block alone is plain CBC). p must be at least one block
// long, which the confounder ensures.
func CTSEncrypt(b cipher.Block, p []byte) []byte {
	bs := b.BlockSize()
	out := make([]byte, (len(p)+bs-1)/bs*bs)
	copy(out, p)
	ctsEncrypt(b, out, len(p))
	return out[:len(p)]
}

// ctsEncrypt encrypts the n bytes of plaintext at the start of buf, whose
// length is n rounded up to whole blocks and whose tail after n is zero,
// in place: CBC of the zero-padded plaintext is CTS with the last two
// blocks swapped and the one before last truncated.
func ctsEncrypt(b cipher.Block, buf []byte, n int) {
	const bs = aes.BlockSize
	var prev [bs]byte // the zero IV, then the previous ciphertext block
	for off := 0; off < len(buf); off += bs {
		blk := buf[off : off+bs]
		subtle.XORBytes(blk, blk, prev[:])
		b.Encrypt(blk, blk)
		copy(prev[:], blk)
	}
	if len(buf) == bs {
		return
	}
	last := n - (len(buf)/bs-1)*bs // bytes of the last plaintext block, 1..bs
	// Swap the last two blocks in place, the one before truncated.
	var tmp [bs]byte
	copy(tmp[:], buf[len(buf)-2*bs:len(buf)-bs])
	copy(buf[len(buf)-2*bs:], buf[len(buf)-bs:])
	copy(buf[len(buf)-bs:], tmp[:last])
}
