package kdc

import (
	"bytes"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/internal/aescts"
	"github.com/passkdc/passkdc/kdc/pac"
)

// derivedKeys are the keys an issuer derives from one long-term AES key
// (RFC 3961 §5.3, RFC 3962), computed once per key version instead of on
// every ticket: the PAC checksum key (usage 17), and the ticket's encryption
// key schedule and integrity key (usage 2, KDC-REP ticket).
type derivedKeys struct {
	of    []byte      // the key they were derived from (checked on use)
	kc17  []byte      // Kc for PAC checksums
	enc2  aescts.Keys // Ke and Ki for the ticket enc-part
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
	if !aescts.Supported(k.Key.KeyType) {
		return k, fmt.Errorf("%w: etype %d", ErrUnsupportedKey, k.Key.KeyType)
	}
	kc, err := pac.ChecksumKey(k.Key)
	if err != nil {
		return k, err
	}
	enc, err := aescts.Derive(k.Key.KeyType, k.Key.KeyValue, keyusage.KDC_REP_TICKET)
	if err != nil {
		return k, fmt.Errorf("kdc: derive ticket keys: %w", err)
	}
	k.derived = &derivedKeys{of: bytes.Clone(k.Key.KeyValue), kc17: kc, enc2: enc, etype: k.Key.KeyType}
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

// encryptTicket encrypts the plaintext after the aescts.Prefix bytes of buf
// in place for the ticket enc-part (key usage 2).
func (d *derivedKeys) encryptTicket(buf []byte, kvno int) (types.EncryptedData, error) {
	ct, err := d.enc2.EncryptPrefixed(buf)
	if err != nil {
		return types.EncryptedData{}, fmt.Errorf("kdc: %w", err)
	}
	return types.EncryptedData{EType: d.etype, KVNO: kvno, Cipher: ct}, nil
}
