package keytabs

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/md4" //nolint:staticcheck // RC4-HMAC keys are MD4 hashes by definition (RFC 4757).
)

// ErrUnsupportedEtype is returned (wrapped) for an encryption type that
// StringToKey does not derive.
var ErrUnsupportedEtype = errors.New("keytabs: unsupported encryption type")

// maxIterations is the largest PBKDF2 iteration count accepted, the bound MIT
// enforces (2^24), so hostile s2kparams cannot stall the process.
const maxIterations = 1 << 24

// DefaultIterations returns the default PBKDF2 iteration count of an AES
// enctype: 4096 for RFC 3962 (17, 18), 32768 for RFC 8009 (19, 20), 0 for
// RC4-HMAC (23), which has none.
func DefaultIterations(etype int32) (uint32, error) {
	switch etype {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96:
		return 4096, nil
	case etypeID.AES128_CTS_HMAC_SHA256_128, etypeID.AES256_CTS_HMAC_SHA384_192:
		return 32768, nil
	case etypeID.RC4_HMAC:
		return 0, nil
	}
	return 0, fmt.Errorf("%w: %d", ErrUnsupportedEtype, etype)
}

// StringToKey derives the long-term key of a password with the enctype's
// default iteration count: aes128-cts-hmac-sha1-96 (17),
// aes256-cts-hmac-sha1-96 (18), aes128-cts-hmac-sha256-128 (19),
// aes256-cts-hmac-sha384-192 (20) and rc4-hmac (23, which ignores the salt).
func StringToKey(etype int32, password, salt string) (types.EncryptionKey, error) {
	iter, err := DefaultIterations(etype)
	if err != nil {
		return types.EncryptionKey{}, err
	}
	return StringToKeyIterations(etype, password, salt, iter)
}

// StringToKeyIterations is StringToKey with an explicit PBKDF2 iteration
// count (the s2kparams of PA-ETYPE-INFO2); it is ignored for rc4-hmac. Counts
// of 0 (which RFC 3962 reads as 2^32) and above 2^24 are refused.
func StringToKeyIterations(etype int32, password, salt string, iterations uint32) (types.EncryptionKey, error) {
	if etype == etypeID.RC4_HMAC {
		return types.EncryptionKey{KeyType: etype, KeyValue: ntHash(password)}, nil
	}
	if _, err := DefaultIterations(etype); err != nil {
		return types.EncryptionKey{}, err
	}
	if iterations == 0 || iterations > maxIterations {
		return types.EncryptionKey{}, fmt.Errorf("keytabs: string2key iteration count %d outside 1..%d", iterations, maxIterations)
	}
	et, err := crypto.GetEtype(etype)
	if err != nil {
		return types.EncryptionKey{}, fmt.Errorf("%w: %w", ErrUnsupportedEtype, err)
	}
	params := make([]byte, 4)
	binary.BigEndian.PutUint32(params, iterations)
	k, err := et.StringToKey(password, salt, hex.EncodeToString(params))
	if err != nil {
		return types.EncryptionKey{}, fmt.Errorf("keytabs: string2key enctype %d: %w", etype, err)
	}
	return types.EncryptionKey{KeyType: etype, KeyValue: k}, nil
}

// ntHash is the RC4-HMAC string2key of RFC 4757: MD4 over the UTF-16LE
// password. (gokrb5's version indexes runes by byte offset and so breaks on
// non-ASCII passwords.)
func ntHash(password string) []byte {
	u := utf16.Encode([]rune(password))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	h := md4.New()
	h.Write(b)
	return h.Sum(nil)
}

// DefaultSalt returns MIT's default salt of a principal: the realm followed
// by the components, without separators.
func DefaultSalt(p Principal) string {
	return p.Realm + strings.Join(p.Components, "")
}

// ADUserSalt returns the salt Active Directory uses for a user account
// without a userPrincipalName: the upper-case realm followed by the
// sAMAccountName, case preserved. (Samba derives it from the UPN instead when
// one is set: see ADUserSaltFromUPN.)
func ADUserSalt(realm, samAccountName string) string {
	return strings.ToUpper(realm) + samAccountName
}

// ADUserSaltFromUPN returns the salt Samba's AD DC uses for a user account
// that has a userPrincipalName: the UPN parsed as a principal name (a realm
// suffix, if any, is dropped), its components after the upper-case realm.
func ADUserSaltFromUPN(realm, upn string) (string, error) {
	p, err := ParsePrincipal(upn)
	if errors.Is(err, errNoRealm) {
		p, err = ParsePrincipal(upn + "@" + realm)
	}
	if err != nil {
		return "", fmt.Errorf("keytabs: UPN salt: %w", err)
	}
	p.Realm = strings.ToUpper(realm)
	return DefaultSalt(p), nil
}

// ADComputerSalt returns the salt Active Directory uses for a computer
// (workstation or server trust) account: the upper-case realm, "host", then
// the lower-case sAMAccountName without its trailing '$', a dot and the
// lower-case realm, i.e. the salt of host/name.realm@REALM.
func ADComputerSalt(realm, samAccountName string) string {
	name := strings.TrimSuffix(samAccountName, "$")
	return strings.ToUpper(realm) + "host" + strings.ToLower(name+"."+realm)
}
