package kdc

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/pac"
)

// derivedKeys are the keys an issuer derives from one long-term AES key
// (RFC 3961 §5.3, RFC 3962), computed once per key version instead of on
// every ticket: the PAC checksum key (usage 17), and the ticket's encryption
// key schedule and integrity key (usage 2, KDC-REP ticket).
type derivedKeys struct {
	of    []byte       // the key they were derived from (checked on use)
	kc17  []byte       // Kc for PAC checksums
	ke2   cipher.Block // AES with Ke for the ticket enc-part
	ki2   []byte       // Ki for the ticket enc-part's HMAC
	etype int32
}

// WithDerivedKeys returns k with its usage keys derived once (the PAC
// checksum key, the ticket encryption key schedule and integrity key), so
// that tickets issued with it do not derive them again. Keep the result per
// key version. The tickets are byte-for-byte what k alone would give, but
// for the random confounder.
func (k TicketKey) WithDerivedKeys() (TicketKey, error) {
	if err := k.validate(); err != nil {
		return k, err
	}
	et, err := crypto.GetEtype(k.Key.KeyType)
	if err != nil {
		return k, fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
	}
	kc, err := pac.ChecksumKey(k.Key)
	if err != nil {
		return k, err
	}
	ke, err := et.DeriveKey(k.Key.KeyValue, common.GetUsageKe(keyusage.KDC_REP_TICKET))
	if err != nil {
		return k, fmt.Errorf("kdc: derive encryption key: %w", err)
	}
	ki, err := et.DeriveKey(k.Key.KeyValue, common.GetUsageKi(keyusage.KDC_REP_TICKET))
	if err != nil {
		return k, fmt.Errorf("kdc: derive integrity key: %w", err)
	}
	block, err := aes.NewCipher(ke)
	if err != nil {
		return k, fmt.Errorf("kdc: encryption key: %w", err)
	}
	k.derived = &derivedKeys{of: bytes.Clone(k.Key.KeyValue), kc17: kc, ke2: block, ki2: ki, etype: k.Key.KeyType}
	return k, nil
}

// usable returns the derived keys when they belong to k's key, else nil
// (the caller derives as usual).
func (k TicketKey) usable() *derivedKeys {
	d := k.derived
	if d == nil || d.etype != k.Key.KeyType || !bytes.Equal(d.of, k.Key.KeyValue) {
		return nil
	}
	return d
}

// checksumKey is the derived PAC checksum key of k, nil when not derived.
func (k TicketKey) checksumKey() []byte {
	if d := k.usable(); d != nil {
		return d.kc17
	}
	return nil
}

// encryptTicket encrypts plain for the ticket enc-part (key usage 2) as
// RFC 3962 specifies: a random confounder block, AES-CTS with Ke and a zero
// IV, then HMAC-SHA1-96 with Ki over confounder || plain.
func (d *derivedKeys) encryptTicket(plain []byte, kvno int) (types.EncryptedData, error) {
	p := make([]byte, aes.BlockSize+len(plain))
	if _, err := rand.Read(p[:aes.BlockSize]); err != nil {
		return types.EncryptedData{}, fmt.Errorf("kdc: confounder: %w", err)
	}
	copy(p[aes.BlockSize:], plain)
	ct := ctsEncrypt(d.ke2, p)
	mac := hmac.New(sha1.New, d.ki2)
	mac.Write(p)
	ct = append(ct, mac.Sum(nil)[:12]...)
	return types.EncryptedData{EType: d.etype, KVNO: kvno, Cipher: ct}, nil
}

// ctsEncrypt is AES in CBC mode with ciphertext stealing and a zero IV, as
// RFC 3962 §5 uses it (CBC-CS3: the last two blocks swapped, the final one
// truncated; one block alone is plain CBC). p must be at least one block
// long, which the confounder ensures.
func ctsEncrypt(b cipher.Block, p []byte) []byte {
	bs := b.BlockSize()
	n := (len(p) + bs - 1) / bs * bs
	padded := make([]byte, n)
	copy(padded, p) // zero padding: CBC of it is CTS with the last blocks swapped
	cipher.NewCBCEncrypter(b, make([]byte, bs)).CryptBlocks(padded, padded)
	if n == bs {
		return padded
	}
	last := len(p) - (n/bs-1)*bs // bytes of the last plaintext block, 1..bs
	out := make([]byte, 0, len(p))
	out = append(out, padded[:n-2*bs]...)
	out = append(out, padded[n-bs:]...)              // the final ciphertext block, in full
	out = append(out, padded[n-2*bs:n-2*bs+last]...) // the one before, truncated
	return out
}
