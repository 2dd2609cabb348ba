package drsr

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"unicode/utf16"
)

// Kerberos encryption types kept from the stored credentials.
const (
	ETypeAES128 = 17 // aes128-cts-hmac-sha1-96
	ETypeAES256 = 18 // aes256-cts-hmac-sha1-96
)

// Key is one stored Kerberos key.
type Key struct {
	// EType is the Kerberos encryption type.
	EType int32
	// Value is the raw key.
	Value []byte
}

// StoredKeys are the AES keys of Primary:Kerberos-Newer-Keys
// (KERB_STORED_CREDENTIAL_NEW, MS-SAMR 2.2.10.6): the current keys and the
// keys of the previous version ("old credentials"), if the account has one.
type StoredKeys struct {
	// Current are the keys of the current version.
	Current []Key
	// Previous are the keys of the previous version; empty if none.
	Previous []Key
}

// kerberosNewerKeys is the USER_PROPERTY name that holds
// KERB_STORED_CREDENTIAL_NEW.
const kerberosNewerKeys = "Primary:Kerberos-Newer-Keys"

// ParseSupplementalCredentials parses a decrypted supplementalCredentials
// value (USER_PROPERTIES, MS-SAMR 2.2.10.1) and returns the AES keys of its
// Primary:Kerberos-Newer-Keys property. It fails with ErrBadReply on any
// structural error and with ErrNoKeys when the property or its AES keys are
// absent. It never panics on any input.
func ParseSupplementalCredentials(b []byte) (*StoredKeys, error) {
	const sigOff = 4 + 4 + 2 + 2 + 96
	if len(b) < sigOff+4 {
		return nil, fmt.Errorf("%w: supplementalCredentials is %d bytes, shorter than its header", ErrBadReply, len(b))
	}
	if sig := binary.LittleEndian.Uint16(b[sigOff:]); sig != 0x50 {
		return nil, fmt.Errorf("%w: supplementalCredentials signature 0x%04x, want 0x0050", ErrBadReply, sig)
	}
	count := int(binary.LittleEndian.Uint16(b[sigOff+2:]))
	p := b[sigOff+4:]
	for i := 0; i < count; i++ {
		if len(p) < 6 {
			return nil, fmt.Errorf("%w: supplementalCredentials property %d truncated", ErrBadReply, i)
		}
		nameLen := int(binary.LittleEndian.Uint16(p))
		valueLen := int(binary.LittleEndian.Uint16(p[2:]))
		p = p[6:]
		if nameLen%2 != 0 || len(p) < nameLen+valueLen {
			return nil, fmt.Errorf("%w: supplementalCredentials property %d overruns the value", ErrBadReply, i)
		}
		name := utf16le(p[:nameLen])
		value := p[nameLen : nameLen+valueLen]
		p = p[nameLen+valueLen:]
		if name != kerberosNewerKeys {
			continue
		}
		raw := make([]byte, hex.DecodedLen(len(value)))
		if _, err := hex.Decode(raw, value); err != nil {
			return nil, fmt.Errorf("%w: %s is not hex: %w", ErrBadReply, kerberosNewerKeys, err)
		}
		return ParseKerbStoredCredentialNew(raw)
	}
	return nil, fmt.Errorf("%w: no %s property (the account has no AES keys)", ErrNoKeys, kerberosNewerKeys)
}

// ParseKerbStoredCredentialNew parses KERB_STORED_CREDENTIAL_NEW (revision
// 4) and returns its AES keys: the credentials and the old credentials.
// Service and older credentials are skipped. Offsets are checked against the
// buffer; it fails with ErrBadReply on any inconsistency and with ErrNoKeys
// when no current AES key is present.
func ParseKerbStoredCredentialNew(b []byte) (*StoredKeys, error) {
	const header, keyData = 24, 24
	if len(b) < header {
		return nil, fmt.Errorf("%w: KERB_STORED_CREDENTIAL_NEW is %d bytes, shorter than its header", ErrBadReply, len(b))
	}
	le := binary.LittleEndian
	if rev := le.Uint16(b); rev != 4 {
		return nil, fmt.Errorf("%w: KERB_STORED_CREDENTIAL_NEW revision %d, want 4", ErrBadReply, rev)
	}
	counts := [4]int{int(le.Uint16(b[4:])), int(le.Uint16(b[6:])), int(le.Uint16(b[8:])), int(le.Uint16(b[10:]))}
	total := counts[0] + counts[1] + counts[2] + counts[3]
	if len(b) < header+total*keyData {
		return nil, fmt.Errorf("%w: KERB_STORED_CREDENTIAL_NEW declares %d keys, more than its %d bytes hold", ErrBadReply, total, len(b))
	}
	read := func(idx int) (Key, error) {
		d := b[header+idx*keyData:]
		etype := le.Uint32(d[12:])
		n, off := le.Uint32(d[16:]), le.Uint32(d[20:])
		if uint64(off)+uint64(n) > uint64(len(b)) {
			return Key{}, fmt.Errorf("%w: KERB_STORED_CREDENTIAL_NEW key %d lies outside the value", ErrBadReply, idx)
		}
		return Key{EType: int32(etype), Value: append([]byte(nil), b[off:off+n]...)}, nil
	}
	aes := func(first, n int) ([]Key, error) {
		var out []Key
		for i := first; i < first+n; i++ {
			k, err := read(i)
			if err != nil {
				return nil, err
			}
			want := map[int32]int{ETypeAES256: 32, ETypeAES128: 16}[k.EType]
			if want == 0 {
				continue
			}
			if len(k.Value) != want {
				return nil, fmt.Errorf("%w: enctype %d key is %d bytes, want %d", ErrBadReply, k.EType, len(k.Value), want)
			}
			out = append(out, k)
		}
		return out, nil
	}
	cur, err := aes(0, counts[0])
	if err != nil {
		return nil, err
	}
	// Order: Credentials, ServiceCredentials, OldCredentials, OlderCredentials.
	prev, err := aes(counts[0]+counts[1], counts[2])
	if err != nil {
		return nil, err
	}
	if len(cur) == 0 {
		return nil, fmt.Errorf("%w: no AES key among the current credentials", ErrNoKeys)
	}
	return &StoredKeys{Current: cur, Previous: prev}, nil
}

func utf16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
