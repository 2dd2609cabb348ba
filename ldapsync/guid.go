package ldapsync

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrBadGUID reports an objectGUID or entryUUID that is not a 16-byte GUID or
// a canonical 36-character UUID string.
var ErrBadGUID = errors.New("ldapsync: malformed GUID")

const guidLen = 16

// DecodeGUID converts Active Directory's binary objectGUID to the canonical
// lower-case UUID string. AD stores the GUID structure in memory order
// (MS-DTYP 2.3.4.2): Data1 (32 bits), Data2 and Data3 (16 bits each) are
// little-endian and Data4's eight bytes are as written, so the first three
// groups of the string are byte-swapped relative to the binary value.
func DecodeGUID(b []byte) (string, error) {
	if len(b) != guidLen {
		return "", fmt.Errorf("%w: %d bytes, want %d", ErrBadGUID, len(b), guidLen)
	}
	var be [guidLen]byte
	binary.BigEndian.PutUint32(be[0:4], binary.LittleEndian.Uint32(b[0:4]))
	binary.BigEndian.PutUint16(be[4:6], binary.LittleEndian.Uint16(b[4:6]))
	binary.BigEndian.PutUint16(be[6:8], binary.LittleEndian.Uint16(b[6:8]))
	copy(be[8:], b[8:])
	return formatUUID(be), nil
}

// EncodeGUID is the inverse of DecodeGUID: the 16 bytes AD stores for the
// UUID string s (any case).
func EncodeGUID(s string) ([]byte, error) {
	be, err := parseUUID(s)
	if err != nil {
		return nil, err
	}
	b := make([]byte, guidLen)
	binary.LittleEndian.PutUint32(b[0:4], binary.BigEndian.Uint32(be[0:4]))
	binary.LittleEndian.PutUint16(b[4:6], binary.BigEndian.Uint16(be[4:6]))
	binary.LittleEndian.PutUint16(b[6:8], binary.BigEndian.Uint16(be[6:8]))
	copy(b[8:], be[8:])
	return b, nil
}

// CanonicalUUID validates a UUID string (OpenLDAP entryUUID, or an anchor given
// by a user, optionally in braces) and returns it lower-case.
func CanonicalUUID(s string) (string, error) {
	be, err := parseUUID(s)
	if err != nil {
		return "", err
	}
	return formatUUID(be), nil
}

func formatUUID(b [guidLen]byte) string {
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// parseUUID accepts exactly 8-4-4-4-12 hex digits, optionally in braces.
func parseUUID(s string) ([guidLen]byte, error) {
	var out [guidLen]byte
	in := s
	if strings.HasPrefix(in, "{") && strings.HasSuffix(in, "}") {
		in = in[1 : len(in)-1]
	}
	if len(in) != 36 || in[8] != '-' || in[13] != '-' || in[18] != '-' || in[23] != '-' {
		return out, fmt.Errorf("%w: %q: want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", ErrBadGUID, s)
	}
	digits := in[0:8] + in[9:13] + in[14:18] + in[19:23] + in[24:36]
	if _, err := hex.Decode(out[:], []byte(digits)); err != nil {
		return out, fmt.Errorf("%w: %q: not hexadecimal", ErrBadGUID, s)
	}
	return out, nil
}
