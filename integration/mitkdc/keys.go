package mitkdc

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"errors"
	"fmt"

	"github.com/jcmturner/aescts/v2"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// RFC 3962 sizes for the aes-cts-hmac-sha1-96 enctypes.
const (
	confounderSize = 16
	macSize        = 12
)

// errIntegrity is returned when a ciphertext's HMAC does not verify.
var errIntegrity = errors.New("mitkdc: integrity check failed")

// usageKeys are the encryption (Ke) and integrity (Ki) keys RFC 3961
// derives from a long-term key for one key usage. gokrb5 derives them again
// (n-fold and AES) on every message; a load client derives them once.
type usageKeys struct{ ke, ki []byte }

// derivedKeys are a principal's keys for the two usages of an AS exchange.
type derivedKeys struct {
	timestamp usageKeys // key usage 1: PA-ENC-TIMESTAMP
	asRep     usageKeys // key usage 3: AS-REP enc-part
}

// deriveKeys derives the usage keys of an aes*-cts-hmac-sha1-96 key.
func deriveKeys(key types.EncryptionKey) (*derivedKeys, error) {
	if key.KeyType != etypeID.AES256_CTS_HMAC_SHA1_96 && key.KeyType != etypeID.AES128_CTS_HMAC_SHA1_96 {
		return nil, fmt.Errorf("mitkdc: no derived-key fast path for etype %d", key.KeyType)
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("mitkdc: %w", err)
	}
	var d derivedKeys
	for _, x := range []struct {
		usage uint32
		dst   *usageKeys
	}{{keyusage.AS_REQ_PA_ENC_TIMESTAMP, &d.timestamp}, {keyusage.AS_REP_ENCPART, &d.asRep}} {
		if x.dst.ke, err = et.DeriveKey(key.KeyValue, common.GetUsageKe(x.usage)); err != nil {
			return nil, fmt.Errorf("mitkdc: derive Ke: %w", err)
		}
		if x.dst.ki, err = et.DeriveKey(key.KeyValue, common.GetUsageKi(x.usage)); err != nil {
			return nil, fmt.Errorf("mitkdc: derive Ki: %w", err)
		}
	}
	return &d, nil
}

// seal encrypts plain as RFC 3962 does: AES-CTS under Ke (zero IV) of a
// random confounder followed by plain, then the first 96 bits of
// HMAC-SHA1 under Ki of that same confounder and plain.
func (u usageKeys) seal(plain []byte) ([]byte, error) {
	msg := make([]byte, confounderSize+len(plain))
	if _, err := rand.Read(msg[:confounderSize]); err != nil {
		return nil, fmt.Errorf("mitkdc: confounder: %w", err)
	}
	copy(msg[confounderSize:], plain)
	_, ct, err := aescts.Encrypt(u.ke, make([]byte, 16), msg)
	if err != nil {
		return nil, fmt.Errorf("mitkdc: encrypt: %w", err)
	}
	return append(ct, u.mac(msg)...), nil
}

// open reverses seal, checking the HMAC before returning the plaintext.
func (u usageKeys) open(ct []byte) ([]byte, error) {
	if len(ct) < confounderSize+macSize {
		return nil, fmt.Errorf("%w: ciphertext of %d bytes", errIntegrity, len(ct))
	}
	body, tag := ct[:len(ct)-macSize], ct[len(ct)-macSize:]
	msg, err := aescts.Decrypt(u.ke, make([]byte, 16), body)
	if err != nil {
		return nil, fmt.Errorf("mitkdc: decrypt: %w", err)
	}
	if !hmac.Equal(tag, u.mac(msg)) {
		return nil, errIntegrity
	}
	return msg[confounderSize:], nil
}

func (u usageKeys) mac(msg []byte) []byte {
	h := hmac.New(sha1.New, u.ki)
	h.Write(msg)
	return h.Sum(nil)[:macSize]
}
