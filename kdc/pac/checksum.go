package pac

import (
	"crypto/hmac"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/internal/aescts"
)

// checksumSize is the length of the HMAC-SHA1-96-AES128/256 checksums.
const checksumSize = 12

// ChecksumType returns the PAC signature type for a key (MS-PAC 2.8): the
// etype's mandatory checksum, HMAC-SHA1-96-AES128 (15) for
// aes128-cts-hmac-sha1-96 (17) and HMAC-SHA1-96-AES256 (16) for
// aes256-cts-hmac-sha1-96 (18). Heimdal's pac_checksum picks the same
// (krb5_crypto_get_checksum_type). Other key types are refused.
func ChecksumType(key types.EncryptionKey) (uint32, error) {
	var want int
	switch key.KeyType {
	case etypeID.AES128_CTS_HMAC_SHA1_96:
		want = 16
	case etypeID.AES256_CTS_HMAC_SHA1_96:
		want = 32
	default:
		return 0, fmt.Errorf("%w: encryption type %d (need 17 or 18)", ErrUnsupportedKey, key.KeyType)
	}
	if len(key.KeyValue) != want {
		return 0, fmt.Errorf("%w: %d-byte key for encryption type %d", ErrUnsupportedKey, len(key.KeyValue), key.KeyType)
	}
	if key.KeyType == etypeID.AES128_CTS_HMAC_SHA1_96 {
		return uint32(chksumtype.HMAC_SHA1_96_AES128), nil
	}
	return uint32(chksumtype.HMAC_SHA1_96_AES256), nil
}

// checksum computes the keyed checksum of data with key usage 17
// (KERB_NON_KERB_CKSUM_SALT), as Heimdal's create_checksum does with
// KRB5_KU_OTHER_CKSUM (17).
func checksum(key types.EncryptionKey, data []byte) ([]byte, error) {
	if _, err := ChecksumType(key); err != nil {
		return nil, err
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
	}
	sum, err := et.GetChecksumHash(key.KeyValue, data, keyusage.KERB_NON_KERB_CKSUM_SALT)
	if err != nil {
		return nil, fmt.Errorf("pac: checksum: %w", err)
	}
	if len(sum) != checksumSize {
		return nil, fmt.Errorf("pac: checksum of %d bytes, want %d", len(sum), checksumSize)
	}
	return sum, nil
}

// ChecksumKey derives the checksum key Kc of key for the PAC's key usage 17
// (RFC 3961 §5.3: DK(key, 17 | 0x99)). Signing with SigningKeys.ServerKc /
// KDCKc set to it gives the same checksums as with the key alone, without
// deriving Kc again for every signature: an issuer keeps it per key version.
func ChecksumKey(key types.EncryptionKey) ([]byte, error) {
	if _, err := ChecksumType(key); err != nil {
		return nil, err
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
	}
	kc, err := et.DeriveKey(key.KeyValue, common.GetUsageKc(keyusage.KERB_NON_KERB_CKSUM_SALT))
	if err != nil {
		return nil, fmt.Errorf("pac: derive checksum key: %w", err)
	}
	return kc, nil
}

// checksumWithKc is checksum with the derived checksum key: HMAC-SHA1
// truncated to 96 bits (RFC 3962 §6), the checksum of both AES etypes.
func checksumWithKc(kc, data []byte) [checksumSize]byte {
	mac := aescts.HMACSHA1(kc, data)
	return [checksumSize]byte(mac[:checksumSize])
}

// verifyChecksum checks sig (of type ctype) over data with key.
func verifyChecksum(key types.EncryptionKey, ctype uint32, data, sig []byte) error {
	want, err := ChecksumType(key)
	if err != nil {
		return err
	}
	if ctype != want {
		return fmt.Errorf("%w: signature type %d, key gives %d", ErrBadChecksum, ctype, want)
	}
	sum, err := checksum(key, data)
	if err != nil {
		return err
	}
	if !hmac.Equal(sum, sig) {
		return ErrBadChecksum
	}
	return nil
}
