package pac

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/sid"
)

// Buffer is one PAC_INFO_BUFFER of a parsed PAC with its data (a sub-slice
// of the PAC, cbBufferSize bytes long).
type Buffer struct {
	Type   uint32
	Offset int
	Data   []byte
}

// Parsed is a PACTYPE split into its buffers. It is what a verifier sees; the
// methods check it the way Heimdal's krb5_pac_parse/krb5_pac_verify
// (Samba 4.17 third_party/heimdal/lib/krb5/pac.c) do.
type Parsed struct {
	Version uint32
	Buffers []Buffer
	// Raw is the whole PAC as given to Parse.
	Raw []byte
}

// maxBuffers bounds cBuffers; Samba stops at 128 (MAX_PAC_BUFFERS).
const maxBuffers = 128

// uniqueType reports the buffer types Heimdal or Samba refuse to see twice.
func uniqueType(t uint32) bool {
	switch t {
	case TypeLogonInfo, TypeServerChecksum, TypeKDCChecksum, TypeClientInfo, TypeDelegation,
		TypeUPNDNSInfo, TypeTicketChecksum, TypeAttributesInfo, TypeRequesterSID, TypeFullChecksum:
		return true
	}
	return false
}

// Parse splits a PAC into buffers. Like Heimdal it refuses version != 0,
// buffers inside the header, offsets not aligned to 8, buffers past the end,
// and (like Heimdal and Samba) duplicated buffers of the known types.
func Parse(b []byte) (*Parsed, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	n := binary.LittleEndian.Uint32(b)
	p := &Parsed{Version: binary.LittleEndian.Uint32(b[4:]), Raw: b}
	if p.Version != 0 {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, p.Version)
	}
	if n == 0 || n > maxBuffers || uint64(len(b)) < 8+16*uint64(n) {
		return nil, fmt.Errorf("%w: %d buffers in %d bytes", ErrMalformed, n, len(b))
	}
	hdr := 8 + 16*int(n)
	seen := map[uint32]bool{}
	for i := 0; i < int(n); i++ {
		e := b[8+16*i:]
		t, size, off := binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:]), binary.LittleEndian.Uint64(e[8:])
		if off%8 != 0 || off < uint64(hdr) || off > uint64(len(b)) || uint64(size) > uint64(len(b))-off {
			return nil, fmt.Errorf("%w: buffer %d (type %d) at %d size %d outside %d..%d or unaligned",
				ErrMalformed, i, t, off, size, hdr, len(b))
		}
		if uniqueType(t) && seen[t] {
			return nil, fmt.Errorf("%w: buffer type %d twice", ErrMalformed, t)
		}
		seen[t] = true
		p.Buffers = append(p.Buffers, Buffer{Type: t, Offset: int(off), Data: b[off : off+uint64(size)]})
	}
	return p, nil
}

// Buffer returns the first buffer of type t.
func (p *Parsed) Buffer(t uint32) (Buffer, bool) {
	for _, b := range p.Buffers {
		if b.Type == t {
			return b, true
		}
	}
	return Buffer{}, false
}

func (p *Parsed) need(t uint32) (Buffer, error) {
	b, ok := p.Buffer(t)
	if !ok {
		return Buffer{}, fmt.Errorf("%w: type %d", ErrMissingBuffer, t)
	}
	return b, nil
}

// Signature is a decoded PAC_SIGNATURE_DATA (MS-PAC 2.8).
type Signature struct {
	Type      uint32
	Signature []byte
	// RODCIdentifier is the trailer after the signature; HasRODC tells
	// whether it was present.
	RODCIdentifier uint16
	HasRODC        bool
}

// ParseSignature decodes a PAC_SIGNATURE_DATA for the AES checksum types (12
// bytes) and HMAC-MD5 (-138, 16 bytes), with an optional 2-byte RODC
// identifier.
func ParseSignature(b []byte) (Signature, error) {
	if len(b) < 4 {
		return Signature{}, fmt.Errorf("%w: signature buffer of %d bytes", ErrMalformed, len(b))
	}
	s := Signature{Type: binary.LittleEndian.Uint32(b)}
	var n int
	switch int32(s.Type) {
	case 15, 16:
		n = checksumSize
	case -138:
		n = 16
	default:
		return Signature{}, fmt.Errorf("%w: signature type %d", ErrMalformed, int32(s.Type))
	}
	switch len(b) - 4 - n {
	case 0:
	case 2:
		s.HasRODC = true
		s.RODCIdentifier = binary.LittleEndian.Uint16(b[4+n:])
	default:
		return Signature{}, fmt.Errorf("%w: signature buffer of %d bytes for type %d", ErrMalformed, len(b), int32(s.Type))
	}
	s.Signature = b[4 : 4+n]
	return s, nil
}

// Signature returns the decoded signature buffer of type t.
func (p *Parsed) Signature(t uint32) (Signature, error) {
	b, err := p.need(t)
	if err != nil {
		return Signature{}, err
	}
	return ParseSignature(b.Data)
}

// zeroed returns a copy of the PAC with everything after the SignatureType of
// the given buffers zeroed: Heimdal's krb5_pac_verify zeroes
// buffersize-4 bytes from offset+4, i.e. the signature and any RODC trailer.
func (p *Parsed) zeroed(types ...uint32) ([]byte, error) {
	c := append([]byte(nil), p.Raw...)
	for _, t := range types {
		b, err := p.need(t)
		if err != nil {
			return nil, err
		}
		if len(b.Data) < 4 {
			return nil, fmt.Errorf("%w: signature buffer of %d bytes", ErrMalformed, len(b.Data))
		}
		clear(c[b.Offset+4 : b.Offset+len(b.Data)])
	}
	return c, nil
}

func (p *Parsed) verifyOver(t uint32, key types.EncryptionKey, data []byte) error {
	s, err := p.Signature(t)
	if err != nil {
		return err
	}
	if err := verifyChecksum(key, s.Type, data, s.Signature); err != nil {
		return fmt.Errorf("buffer type %d: %w", t, err)
	}
	return nil
}

// VerifyServer checks the server signature: over the whole PAC with the
// server and KDC signature buffers zeroed after their type field.
func (p *Parsed) VerifyServer(key types.EncryptionKey) error {
	data, err := p.zeroed(TypeServerChecksum, TypeKDCChecksum)
	if err != nil {
		return err
	}
	return p.verifyOver(TypeServerChecksum, key, data)
}

// VerifyKDC checks the KDC signature: over the server signature's bytes
// (everything after its type field).
func (p *Parsed) VerifyKDC(key types.EncryptionKey) error {
	srv, err := p.need(TypeServerChecksum)
	if err != nil {
		return err
	}
	if len(srv.Data) < 4 {
		return fmt.Errorf("%w: server signature of %d bytes", ErrMalformed, len(srv.Data))
	}
	return p.verifyOver(TypeKDCChecksum, key, srv.Data[4:])
}

// VerifyFull checks PAC_FULL_CHECKSUM: over the whole PAC with the server,
// KDC and full signature buffers zeroed (the ticket signature is kept).
func (p *Parsed) VerifyFull(key types.EncryptionKey) error {
	data, err := p.zeroed(TypeServerChecksum, TypeKDCChecksum, TypeFullChecksum)
	if err != nil {
		return err
	}
	return p.verifyOver(TypeFullChecksum, key, data)
}

// VerifyTicket checks PAC_TICKET_CHECKSUM over signData, the DER
// EncTicketPart whose PAC ad-data was replaced by a single 0x00 byte.
func (p *Parsed) VerifyTicket(key types.EncryptionKey, signData []byte) error {
	return p.verifyOver(TypeTicketChecksum, key, signData)
}

// ClientInfo decodes the PAC_CLIENT_INFO buffer.
func (p *Parsed) ClientInfo() (ClientInfo, error) {
	b, err := p.need(TypeClientInfo)
	if err != nil {
		return ClientInfo{}, err
	}
	return ParseClientInfo(b.Data)
}

// ParseClientInfo decodes a PAC_CLIENT_INFO buffer.
func ParseClientInfo(b []byte) (ClientInfo, error) {
	if len(b) < 10 {
		return ClientInfo{}, fmt.Errorf("%w: client info of %d bytes", ErrMalformed, len(b))
	}
	n := int(binary.LittleEndian.Uint16(b[8:]))
	if n == 0 || n%2 != 0 || len(b) < 10+n {
		return ClientInfo{}, fmt.Errorf("%w: client info name length %d in %d bytes", ErrMalformed, n, len(b))
	}
	return ClientInfo{ClientID: FileTime(binary.LittleEndian.Uint64(b)), Name: decodeUTF16(b[10 : 10+n])}, nil
}

func decodeUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// RequesterSID decodes the PAC_REQUESTER_SID buffer; the SID must fill it.
func (p *Parsed) RequesterSID() (SID, error) {
	b, err := p.need(TypeRequesterSID)
	if err != nil {
		return SID{}, err
	}
	s, n, err := sid.ParseBytes(b.Data)
	if err != nil {
		return SID{}, err
	}
	if n != len(b.Data) {
		return SID{}, fmt.Errorf("%w: %d trailing bytes after requester SID", ErrMalformed, len(b.Data)-n)
	}
	return s, nil
}

// Attributes decodes the PAC_ATTRIBUTES_INFO buffer (FlagsLength up to 32
// bits).
func (p *Parsed) Attributes() (AttributesInfo, error) {
	b, err := p.need(TypeAttributesInfo)
	if err != nil {
		return AttributesInfo{}, err
	}
	if len(b.Data) < 8 || binary.LittleEndian.Uint32(b.Data) > 32 {
		return AttributesInfo{}, fmt.Errorf("%w: attributes info of %d bytes", ErrMalformed, len(b.Data))
	}
	return AttributesInfo{Flags: binary.LittleEndian.Uint32(b.Data[4:])}, nil
}

// UPNDNS decodes the UPN_DNS_INFO buffer.
func (p *Parsed) UPNDNS() (UPNDNSInfo, error) {
	b, err := p.need(TypeUPNDNSInfo)
	if err != nil {
		return UPNDNSInfo{}, err
	}
	return ParseUPNDNSInfo(b.Data)
}

// ParseUPNDNSInfo decodes a UPN_DNS_INFO buffer, checking every
// (length, offset) pair against the buffer.
func ParseUPNDNSInfo(b []byte) (UPNDNSInfo, error) {
	if len(b) < 12 {
		return UPNDNSInfo{}, fmt.Errorf("%w: UPN_DNS_INFO of %d bytes", ErrMalformed, len(b))
	}
	u := UPNDNSInfo{Flags: binary.LittleEndian.Uint32(b[8:])}
	piece := func(at int) ([]byte, error) {
		l, o := int(binary.LittleEndian.Uint16(b[at:])), int(binary.LittleEndian.Uint16(b[at+2:]))
		if l == 0 {
			return nil, nil
		}
		if o+l > len(b) {
			return nil, fmt.Errorf("%w: UPN_DNS_INFO piece %d+%d past %d bytes", ErrMalformed, o, l, len(b))
		}
		return b[o : o+l], nil
	}
	upn, err := piece(0)
	if err != nil {
		return UPNDNSInfo{}, err
	}
	dns, err := piece(4)
	if err != nil {
		return UPNDNSInfo{}, err
	}
	u.UPN, u.DNSDomainName = decodeUTF16(upn), decodeUTF16(dns)
	if u.Flags&UPNFlagSAMNameAndSID == 0 {
		return u, nil
	}
	if len(b) < 20 {
		return UPNDNSInfo{}, fmt.Errorf("%w: UPN_DNS_INFO with S flag of %d bytes", ErrMalformed, len(b))
	}
	sam, err := piece(12)
	if err != nil {
		return UPNDNSInfo{}, err
	}
	u.SAMName = decodeUTF16(sam)
	sidb, err := piece(16)
	if err != nil || sidb == nil {
		return u, err
	}
	sid, n, err := sid.ParseBytes(sidb)
	if err != nil {
		return UPNDNSInfo{}, err
	}
	if n != len(sidb) {
		return UPNDNSInfo{}, fmt.Errorf("%w: UPN_DNS_INFO SID length %d, SID is %d bytes", ErrMalformed, len(sidb), n)
	}
	u.SID = &sid
	return u, nil
}
