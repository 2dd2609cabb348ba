package pac

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// PAC_INFO_BUFFER types (MS-PAC 2.4).
const (
	TypeLogonInfo      uint32 = 1
	TypeCredentials    uint32 = 2
	TypeServerChecksum uint32 = 6
	TypeKDCChecksum    uint32 = 7
	TypeClientInfo     uint32 = 10
	TypeDelegation     uint32 = 11
	TypeUPNDNSInfo     uint32 = 12
	TypeClientClaims   uint32 = 13
	TypeDeviceInfo     uint32 = 14
	TypeDeviceClaims   uint32 = 15
	TypeTicketChecksum uint32 = 16
	TypeAttributesInfo uint32 = 17
	TypeRequesterSID   uint32 = 18
	TypeFullChecksum   uint32 = 19
)

// ClientInfo is PAC_CLIENT_INFO (MS-PAC 2.7, type 10), a plain little-endian
// structure (not NDR): ClientId FILETIME, NameLength uint16 (bytes), Name
// UTF-16LE without terminator.
//
// Heimdal's verify_logonname (lib/krb5/pac.c, Samba 4.17 third_party copy)
// requires ClientID to equal the ticket's authtime converted to FILETIME
// exactly (authtime*10^7 + 116444736000000000) and Name to equal the client
// principal unparsed without realm (strcmp, so the case must match too).
type ClientInfo struct {
	ClientID FileTime
	Name     string
}

// MarshalBinary encodes the PAC_CLIENT_INFO buffer.
func (c ClientInfo) MarshalBinary() ([]byte, error) {
	return c.appendBinary(make([]byte, 0, 10+2*utf16Len(c.Name)))
}

// appendBinary appends the PAC_CLIENT_INFO buffer to b.
func (c ClientInfo) appendBinary(b []byte) ([]byte, error) {
	n := utf16Len(c.Name)
	if n == 0 || n > maxUnicodeChars {
		// Heimdal rejects a zero NameLength ("PAC logon name length missing").
		return nil, fmt.Errorf("%w: client info name length %d", ErrInvalidValue, n)
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(c.ClientID))
	b = binary.LittleEndian.AppendUint16(b, uint16(2*n))
	return appendUTF16(b, c.Name), nil
}

// utf16Len is the length of s in UTF-16 code units (invalid UTF-8 counts
// as U+FFFD, as appendUTF16 writes it).
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// appendUTF16 appends s in UTF-16LE (what utf16.Encode([]rune(s)) gives,
// without its two slices): ranging over a string yields valid runes or
// U+FFFD, never a surrogate.
func appendUTF16(b []byte, s string) []byte {
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			b = binary.LittleEndian.AppendUint16(b, uint16(hi))
			b = binary.LittleEndian.AppendUint16(b, uint16(lo))
			continue
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(r))
	}
	return b
}

// UPN_DNS_INFO flags (MS-PAC 2.10).
const (
	// UPNFlagConstructed (U): the account has no userPrincipalName; the UPN
	// was built as name@dnsdomain.
	UPNFlagConstructed uint32 = 0x1
	// UPNFlagSAMNameAndSID (S): SamName and Sid follow the base structure.
	UPNFlagSAMNameAndSID uint32 = 0x2
)

// UPNDNSInfo is UPN_DNS_INFO (MS-PAC 2.10, type 12), a plain little-endian
// structure with 16-bit offsets relative to the start of the buffer. When
// SAMName or SID is set, the S flag is added and the SamNameLength,
// SamNameOffset, SidLength, SidOffset fields follow Flags.
type UPNDNSInfo struct {
	UPN           string
	DNSDomainName string
	// Flags is written as given, plus UPNFlagSAMNameAndSID when SAMName or
	// SID is set.
	Flags   uint32
	SAMName string
	SID     *SID
}

// MarshalBinary encodes the buffer the way Samba's NDR (librpc/idl/krb5pac.idl
// PAC_UPN_DNS_INFO, relative_short pointers with NDR_ALIGN8) and Windows do:
// header, then UPN, DNS domain name, SAM name and SID, each starting on an
// 8-byte boundary; the total is rounded up to 8 (Samba _ndr_size_PAC_INFO
// rounds UPN_DNS_INFO; the Windows capture in gokrb5's test data has the same
// layout and size, 0x58).
func (u UPNDNSInfo) MarshalBinary() ([]byte, error) {
	return u.appendBinary(make([]byte, 0, u.sizeHint()))
}

// sizeHint is about the size of u's buffer.
func (u UPNDNSInfo) sizeHint() int {
	return 20 + 3*8 + 2*(len(u.UPN)+len(u.DNSDomainName)+len(u.SAMName)) + 8 + 8 + 4*maxSubAuthorities
}

// maxSubAuthorities is the most sub-authorities a valid SID has.
const maxSubAuthorities = 15

// appendBinary appends the buffer to b, which must end on an 8-byte
// boundary (the offsets are relative to the buffer's start, the padding to
// b's).
func (u UPNDNSInfo) appendBinary(b []byte) ([]byte, error) {
	flags := u.Flags
	ext := u.SAMName != "" || u.SID != nil
	if ext {
		flags |= UPNFlagSAMNameAndSID
	}
	hdr := 12
	if flags&UPNFlagSAMNameAndSID != 0 {
		hdr = 20
	}
	if u.SID != nil {
		if err := u.SID.Validate(); err != nil {
			return nil, err
		}
	}
	start := len(b)
	b = append(b, make([]byte, hdr)...)
	var fields [4][2]uint16 // length, offset
	for i, s := range [...]string{u.UPN, u.DNSDomainName, u.SAMName} {
		if s == "" {
			continue
		}
		b = pad8(b)
		at := len(b)
		b = appendUTF16(b, s)
		if err := setUPNField(&fields[i], start, at, len(b)); err != nil {
			return nil, err
		}
	}
	if u.SID != nil {
		b = pad8(b)
		at := len(b)
		var err error
		if b, err = u.SID.AppendBinary(b); err != nil {
			return nil, err
		}
		if err := setUPNField(&fields[3], start, at, len(b)); err != nil {
			return nil, err
		}
	}
	body := b[start:]
	for i := 0; i < 2; i++ {
		binary.LittleEndian.PutUint16(body[4*i:], fields[i][0])
		binary.LittleEndian.PutUint16(body[4*i+2:], fields[i][1])
	}
	binary.LittleEndian.PutUint32(body[8:], flags)
	if hdr == 20 {
		for i := 2; i < 4; i++ {
			binary.LittleEndian.PutUint16(body[12+4*(i-2):], fields[i][0])
			binary.LittleEndian.PutUint16(body[14+4*(i-2):], fields[i][1])
		}
	}
	return pad8(b), nil
}

// setUPNField records the length and offset (relative to the buffer's
// start) of a piece written from at to end; the offsets are 16-bit.
func setUPNField(f *[2]uint16, start, at, end int) error {
	if end-start > 0xffff {
		return fmt.Errorf("%w: UPN_DNS_INFO larger than 64 KiB", ErrInvalidValue)
	}
	*f = [2]uint16{uint16(end - at), uint16(at - start)}
	return nil
}

func pad8(b []byte) []byte {
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

// PAC_ATTRIBUTES_INFO flags (MS-PAC 2.14).
const (
	// AttributePACWasRequested: the client asked for a PAC
	// (PA-PAC-REQUEST include-pac=TRUE).
	AttributePACWasRequested uint32 = 0x1
	// AttributePACWasGivenImplicitly: the client did not say.
	AttributePACWasGivenImplicitly uint32 = 0x2
)

// AttributesInfo is PAC_ATTRIBUTES_INFO (MS-PAC 2.14, type 17).
type AttributesInfo struct {
	Flags uint32
}

// MarshalBinary encodes FlagsLength (in bits) and Flags. FlagsLength is 2, as
// Windows, Samba (samba_kdc_get_attrs_info_blob) and Heimdal
// (build_attributes_info: at least KRB5_PAC_WAS_GIVEN_IMPLICITLY=2) write it.
func (a AttributesInfo) MarshalBinary() ([]byte, error) {
	return a.appendBinary(make([]byte, 0, 8)), nil
}

// appendBinary appends the buffer to b.
func (a AttributesInfo) appendBinary(b []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, 2)
	return binary.LittleEndian.AppendUint32(b, a.Flags)
}
