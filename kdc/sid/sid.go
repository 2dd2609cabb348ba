// Package sid is the Windows security identifier of MS-DTYP 2.4.2: its
// string form (S-1-...) and its binary form, as PACs, LDAP (objectSid,
// tokenGroups) and the replication policy carry it. It owns only the
// encoding; it knows nothing of Kerberos or directories.
package sid

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalid reports a SID string or encoding that cannot be used.
var ErrInvalid = errors.New("invalid SID")

// SID is a Windows security identifier (MS-DTYP 2.4.2).
type SID struct {
	// Revision is always 1 for valid SIDs.
	Revision uint8
	// IdentifierAuthority is the 48-bit authority (5 for NT AUTHORITY).
	IdentifierAuthority uint64
	// SubAuthorities holds at most 15 sub-authorities; for a domain
	// account the last one is the RID.
	SubAuthorities []uint32
}

const (
	sidRevision            = 1
	maxSubAuthorities      = 15
	maxIdentifierAuthority = 1<<48 - 1
	// ntAuthority is the SECURITY_NT_AUTHORITY identifier authority.
	ntAuthority = 5
	// ntNonUnique is SECURITY_NT_NON_UNIQUE (21), the first sub-authority
	// of every domain SID S-1-5-21-x-y-z.
	ntNonUnique = 21
)

// ParseSID parses the string form "S-1-5-21-1004336348-1177238915-682003330-512"
// (MS-DTYP 2.4.2.1). The identifier authority may be decimal or, above
// 2^32, hexadecimal with a 0x prefix.
func Parse(s string) (SID, error) {
	n := strings.Count(s, "-") + 1 // the fields, cut one by one below without a slice of them
	prefix, rest, _ := strings.Cut(s, "-")
	if n < 3 || (prefix != "S" && prefix != "s") {
		return SID{}, fmt.Errorf("%w: %q is not of the form S-1-...", ErrInvalid, s)
	}
	field, rest, _ := strings.Cut(rest, "-")
	rev, err := strconv.ParseUint(field, 10, 8)
	if err != nil || rev != sidRevision {
		return SID{}, fmt.Errorf("%w: %q: revision must be 1", ErrInvalid, s)
	}
	field, rest, _ = strings.Cut(rest, "-")
	auth, err := parseAuthority(field)
	if err != nil {
		return SID{}, fmt.Errorf("%w: %q: %v", ErrInvalid, s, err)
	}
	if n-3 > maxSubAuthorities {
		return SID{}, fmt.Errorf("%w: %q: more than %d sub-authorities", ErrInvalid, s, maxSubAuthorities)
	}
	sid := SID{Revision: sidRevision, IdentifierAuthority: auth, SubAuthorities: make([]uint32, n-3)}
	for i := range sid.SubAuthorities {
		field, rest, _ = strings.Cut(rest, "-")
		v, err := strconv.ParseUint(field, 10, 32)
		if err != nil {
			return SID{}, fmt.Errorf("%w: %q: sub-authority %q", ErrInvalid, s, field)
		}
		sid.SubAuthorities[i] = uint32(v)
	}
	return sid, nil
}

func parseAuthority(p string) (uint64, error) {
	var (
		v   uint64
		err error
	)
	if strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X") {
		v, err = strconv.ParseUint(p[2:], 16, 64)
	} else {
		v, err = strconv.ParseUint(p, 10, 64)
	}
	if err != nil || v > maxIdentifierAuthority {
		return 0, fmt.Errorf("bad identifier authority %q", p)
	}
	return v, nil
}

// String returns the "S-1-..." form; the authority is printed in hex when it
// does not fit in 32 bits, as MS-DTYP 2.4.2.1 requires.
func (s SID) String() string {
	var buf [2 + 3 + 1 + 14 + maxSubAuthorities*11]byte
	b := append(buf[:0], "S-"...)
	b = strconv.AppendUint(b, uint64(s.Revision), 10)
	b = append(b, '-')
	if s.IdentifierAuthority > 0xffffffff {
		const hexDigits = "0123456789ABCDEF"
		b = append(b, "0x"...)
		for shift := 44; shift >= 0; shift -= 4 {
			b = append(b, hexDigits[s.IdentifierAuthority>>shift&0xf])
		}
	} else {
		b = strconv.AppendUint(b, s.IdentifierAuthority, 10)
	}
	for _, a := range s.SubAuthorities {
		b = append(b, '-')
		b = strconv.AppendUint(b, uint64(a), 10)
	}
	return string(b)
}

// Canonical returns the string form of the SID s as String prints it
// (upper-case "S", decimal numbers without leading zeros, hex only for an
// authority above 32 bits), or an error wrapping ErrInvalid when s is not a
// SID. A string already in that form is returned as it is, without parsing
// it into a SID (the replication policy compares every SID of a sign-in).
func Canonical(s string) (string, error) {
	if isCanonical(s) {
		return s, nil
	}
	v, err := Parse(s)
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

// isCanonical reports whether s is "S-1-" followed by an authority below
// 2^32 and at most 15 sub-authorities, all decimal without leading zeros:
// the strings that String returns for SIDs with such an authority.
func isCanonical(s string) bool {
	rest, ok := strings.CutPrefix(s, "S-1-")
	if !ok {
		return false
	}
	for n := 0; ; n++ {
		if n > maxSubAuthorities {
			return false
		}
		field, tail, more := strings.Cut(rest, "-")
		if !canonicalUint32(field) {
			return false
		}
		if !more {
			return true
		}
		rest = tail
	}
}

// canonicalUint32 reports whether f is a decimal number below 2^32 without
// sign or leading zeros.
func canonicalUint32(f string) bool {
	if f == "" || len(f) > 10 || (f[0] == '0' && len(f) > 1) {
		return false
	}
	var v uint64
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + uint64(c-'0')
	}
	return v <= 0xffffffff
}

// Validate checks that s can be encoded: revision 1, at most 15
// sub-authorities, a 48-bit authority.
func (s SID) Validate() error {
	switch {
	case s.Revision != sidRevision:
		return fmt.Errorf("%w: revision %d", ErrInvalid, s.Revision)
	case len(s.SubAuthorities) > maxSubAuthorities:
		return fmt.Errorf("%w: %d sub-authorities", ErrInvalid, len(s.SubAuthorities))
	case s.IdentifierAuthority > maxIdentifierAuthority:
		return fmt.Errorf("%w: identifier authority does not fit in 48 bits", ErrInvalid)
	}
	return nil
}

// IsDomainAccount reports whether s has the shape of an account SID in an
// Active Directory domain: S-1-5-21-x-y-z-RID with a non-zero RID.
func (s SID) IsDomainAccount() bool {
	return s.Validate() == nil && s.IdentifierAuthority == ntAuthority &&
		len(s.SubAuthorities) == 5 && s.SubAuthorities[0] == ntNonUnique && s.SubAuthorities[4] != 0
}

// RID returns the last sub-authority (0 for a SID without any).
func (s SID) RID() uint32 {
	if len(s.SubAuthorities) == 0 {
		return 0
	}
	return s.SubAuthorities[len(s.SubAuthorities)-1]
}

// Domain returns s without its last sub-authority (the domain SID of an
// account SID).
func (s SID) Domain() SID {
	d := SID{Revision: s.Revision, IdentifierAuthority: s.IdentifierAuthority}
	if n := len(s.SubAuthorities); n > 0 {
		d.SubAuthorities = append([]uint32(nil), s.SubAuthorities[:n-1]...)
	}
	return d
}

// InDomain reports whether s is a SID of domain d: d with one more
// sub-authority (s.Domain().Equal(d), without copying).
func (s SID) InDomain(d SID) bool {
	n := len(s.SubAuthorities)
	return n > 0 && SID{Revision: s.Revision, IdentifierAuthority: s.IdentifierAuthority,
		SubAuthorities: s.SubAuthorities[:n-1]}.Equal(d)
}

// WithRID returns a copy of s with rid appended.
func (s SID) WithRID(rid uint32) SID {
	c := SID{Revision: s.Revision, IdentifierAuthority: s.IdentifierAuthority}
	c.SubAuthorities = append(append(make([]uint32, 0, len(s.SubAuthorities)+1), s.SubAuthorities...), rid)
	return c
}

// Equal reports whether s and o are the same SID.
func (s SID) Equal(o SID) bool {
	if s.Revision != o.Revision || s.IdentifierAuthority != o.IdentifierAuthority ||
		len(s.SubAuthorities) != len(o.SubAuthorities) {
		return false
	}
	for i := range s.SubAuthorities {
		if s.SubAuthorities[i] != o.SubAuthorities[i] {
			return false
		}
	}
	return true
}

// authorityBytes returns the 6-byte big-endian identifier authority.
// AuthorityBytes is the identifier authority as its 6 big-endian bytes.
func (s SID) AuthorityBytes() []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], s.IdentifierAuthority)
	return b[2:]
}

// MarshalBinary returns the self-relative binary form (MS-DTYP 2.4.2.2) used
// by objectSid, UPN_DNS_INFO and PAC_REQUESTER_SID: Revision,
// SubAuthorityCount, IdentifierAuthority (6 bytes, big-endian),
// SubAuthority[] (little-endian uint32).
func (s SID) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, 8+4*len(s.SubAuthorities)))
}

// AppendBinary appends the binary form MarshalBinary returns to b.
func (s SID) AppendBinary(b []byte) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var auth [8]byte
	binary.BigEndian.PutUint64(auth[:], s.IdentifierAuthority)
	b = append(b, s.Revision, uint8(len(s.SubAuthorities)))
	b = append(b, auth[2:]...)
	for _, a := range s.SubAuthorities {
		b = binary.LittleEndian.AppendUint32(b, a)
	}
	return b, nil
}

// ParseSIDBytes decodes the binary form written by MarshalBinary and returns
// the SID and the number of bytes consumed. It never reads past b.
func ParseBytes(b []byte) (SID, int, error) {
	if len(b) < 8 {
		return SID{}, 0, fmt.Errorf("%w: %d bytes, need at least 8", ErrInvalid, len(b))
	}
	if b[0] != sidRevision {
		return SID{}, 0, fmt.Errorf("%w: revision %d", ErrInvalid, b[0])
	}
	n := int(b[1])
	if n > maxSubAuthorities {
		return SID{}, 0, fmt.Errorf("%w: %d sub-authorities", ErrInvalid, n)
	}
	size := 8 + 4*n
	if len(b) < size {
		return SID{}, 0, fmt.Errorf("%w: truncated (%d of %d bytes)", ErrInvalid, len(b), size)
	}
	var a [8]byte
	copy(a[2:], b[2:8])
	s := SID{Revision: b[0], IdentifierAuthority: binary.BigEndian.Uint64(a[:]), SubAuthorities: make([]uint32, n)}
	for i := range s.SubAuthorities {
		s.SubAuthorities[i] = binary.LittleEndian.Uint32(b[8+4*i:])
	}
	return s, size, nil
}
