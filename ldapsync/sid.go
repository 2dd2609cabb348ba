package ldapsync

import (
	"errors"
	"fmt"

	"github.com/passkdc/passkdc/kdc/sid"
)

// ErrBadSID reports a security identifier that is neither a valid binary SID
// (MS-DTYP 2.4.2.2) nor a valid string SID (MS-DTYP 2.4.2.1).
var ErrBadSID = errors.New("ldapsync: malformed SID")

// SID is a Windows security identifier: the one implementation of the
// project, in kdc/sid (shared with the PAC encoder).
type SID = sid.SID

// ParseSID parses the string form "S-1-5-21-…" (case-insensitive "S", the
// authority either decimal or 0x-prefixed hexadecimal as MS-DTYP allows).
func ParseSID(s string) (SID, error) {
	v, err := sid.Parse(s)
	if err != nil {
		return SID{}, fmt.Errorf("%w: %w", ErrBadSID, err)
	}
	return v, nil
}

// ParseSIDBytes decodes a binary SID that fills b exactly (an LDAP value
// holds one SID and nothing else).
func ParseSIDBytes(b []byte) (SID, error) {
	v, n, err := sid.ParseBytes(b)
	switch {
	case err != nil:
		return SID{}, fmt.Errorf("%w: %w", ErrBadSID, err)
	case n != len(b):
		return SID{}, fmt.Errorf("%w: %d bytes, want %d for %d sub-authorities", ErrBadSID, len(b), n, len(v.SubAuthorities))
	}
	return v, nil
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
	return sid.MarshalBinary()
}

// CanonicalSID returns s re-formatted (upper-case "S", decimal numbers
// without leading zeros), or an error when s is not a SID.
func CanonicalSID(s string) (string, error) {
	c, err := sid.Canonical(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadSID, err)
	}
	return c, nil
}

// looksLikeSID reports whether s is meant as a string SID rather than a DN.
func looksLikeSID(s string) bool {
	return len(s) > 2 && (s[0] == 'S' || s[0] == 's') && s[1] == '-'
}
