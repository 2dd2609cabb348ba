package ldapsync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadSID reports a security identifier that is neither a valid binary SID
// (MS-DTYP 2.4.2.2) nor a valid string SID (MS-DTYP 2.4.2.1).
var ErrBadSID = errors.New("ldapsync: malformed SID")

const (
	sidRevision       = 1
	sidMaxSubAuth     = 15
	sidHeaderLen      = 8
	sidMaxAuthority   = 1<<48 - 1
	sidHexAuthorityAt = 1 << 32 // authorities at or above this print in hex
)

// SID is a Windows security identifier.
type SID struct {
	// Revision is always 1 for a valid SID.
	Revision uint8
	// Authority is the 48-bit identifier authority (5 for NT AUTHORITY).
	Authority uint64
	// SubAuthorities are the sub-authorities, the last one usually the RID.
	SubAuthorities []uint32
}

// ParseSID parses the string form "S-1-5-21-…" (case-insensitive "S", the
// authority either decimal or 0x-prefixed hexadecimal as MS-DTYP allows).
func ParseSID(s string) (SID, error) {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || !strings.EqualFold(parts[0], "S") {
		return SID{}, fmt.Errorf("%w: %q: want S-1-<authority>[-<sub>...]", ErrBadSID, s)
	}
	rev, err := parseDecimal(parts[1], 8)
	if err != nil || rev != sidRevision {
		return SID{}, fmt.Errorf("%w: %q: revision must be 1", ErrBadSID, s)
	}
	auth, err := parseAuthority(parts[2])
	if err != nil {
		return SID{}, fmt.Errorf("%w: %q: authority: %v", ErrBadSID, s, err)
	}
	subs := parts[3:]
	if len(subs) > sidMaxSubAuth {
		return SID{}, fmt.Errorf("%w: %q: %d sub-authorities, at most %d", ErrBadSID, s, len(subs), sidMaxSubAuth)
	}
	out := SID{Revision: sidRevision, Authority: auth, SubAuthorities: make([]uint32, len(subs))}
	for i, p := range subs {
		v, err := parseDecimal(p, 32)
		if err != nil {
			return SID{}, fmt.Errorf("%w: %q: sub-authority %d: %v", ErrBadSID, s, i+1, err)
		}
		out.SubAuthorities[i] = uint32(v)
	}
	return out, nil
}

// parseDecimal accepts only ASCII digits (no sign, no spaces) fitting in bits.
func parseDecimal(s string, bits int) (uint64, error) {
	if s == "" || len(s) > 20 {
		return 0, errors.New("want a decimal number")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("want a decimal number")
		}
	}
	return strconv.ParseUint(s, 10, bits)
}

func parseAuthority(s string) (uint64, error) {
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		v, err := strconv.ParseUint(s[2:], 16, 48)
		if err != nil {
			return 0, errors.New("want a 48-bit hexadecimal number")
		}
		return v, nil
	}
	v, err := parseDecimal(s, 48)
	if err != nil {
		return 0, errors.New("want a 48-bit number")
	}
	return v, nil
}

// String formats the SID as "S-1-…"; authorities of 2^32 and above are
// printed as 0x followed by 12 hex digits (MS-DTYP 2.4.2.1).
func (s SID) String() string {
	var b strings.Builder
	b.WriteString("S-")
	b.WriteString(strconv.FormatUint(uint64(s.Revision), 10))
	b.WriteByte('-')
	if s.Authority >= sidHexAuthorityAt {
		fmt.Fprintf(&b, "0x%012X", s.Authority)
	} else {
		b.WriteString(strconv.FormatUint(s.Authority, 10))
	}
	for _, v := range s.SubAuthorities {
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	return b.String()
}

// Bytes returns the binary (objectSid) form: revision, sub-authority count,
// 48-bit big-endian authority, then little-endian 32-bit sub-authorities.
func (s SID) Bytes() []byte {
	b := make([]byte, sidHeaderLen+4*len(s.SubAuthorities))
	b[0] = s.Revision
	b[1] = byte(len(s.SubAuthorities))
	var auth [8]byte
	binary.BigEndian.PutUint64(auth[:], s.Authority&sidMaxAuthority)
	copy(b[2:8], auth[2:])
	for i, v := range s.SubAuthorities {
		binary.LittleEndian.PutUint32(b[sidHeaderLen+4*i:], v)
	}
	return b
}

// RID returns the last sub-authority (0 when there is none).
func (s SID) RID() uint32 {
	if len(s.SubAuthorities) == 0 {
		return 0
	}
	return s.SubAuthorities[len(s.SubAuthorities)-1]
}

// ParseSIDBytes parses a binary SID that must fill b exactly.
func ParseSIDBytes(b []byte) (SID, error) {
	if len(b) < sidHeaderLen {
		return SID{}, fmt.Errorf("%w: %d bytes, want at least %d", ErrBadSID, len(b), sidHeaderLen)
	}
	if b[0] != sidRevision {
		return SID{}, fmt.Errorf("%w: revision %d, want 1", ErrBadSID, b[0])
	}
	n := int(b[1])
	if n > sidMaxSubAuth {
		return SID{}, fmt.Errorf("%w: %d sub-authorities, at most %d", ErrBadSID, n, sidMaxSubAuth)
	}
	if want := sidHeaderLen + 4*n; len(b) != want {
		return SID{}, fmt.Errorf("%w: %d bytes, want %d for %d sub-authorities", ErrBadSID, len(b), want, n)
	}
	var auth [8]byte
	copy(auth[2:], b[2:8])
	s := SID{Revision: b[0], Authority: binary.BigEndian.Uint64(auth[:]), SubAuthorities: make([]uint32, n)}
	for i := range s.SubAuthorities {
		s.SubAuthorities[i] = binary.LittleEndian.Uint32(b[sidHeaderLen+4*i:])
	}
	return s, nil
}

// DecodeSID converts a binary SID (as in objectSid or tokenGroups) to its
// string form.
func DecodeSID(b []byte) (string, error) {
	s, err := ParseSIDBytes(b)
	if err != nil {
		return "", err
	}
	return s.String(), nil
}

// EncodeSID converts a string SID to its binary form.
func EncodeSID(s string) ([]byte, error) {
	sid, err := ParseSID(s)
	if err != nil {
		return nil, err
	}
	return sid.Bytes(), nil
}

// CanonicalSID returns s re-formatted (upper-case "S", decimal numbers
// without leading zeros), or an error when s is not a SID.
func CanonicalSID(s string) (string, error) {
	sid, err := ParseSID(s)
	if err != nil {
		return "", err
	}
	return sid.String(), nil
}

// looksLikeSID reports whether s is meant as a string SID rather than a DN.
func looksLikeSID(s string) bool {
	return len(s) > 2 && (s[0] == 'S' || s[0] == 's') && s[1] == '-'
}
