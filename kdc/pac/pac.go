package pac

import (
	"encoding/binary"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/types"
)

// PAC is the content of a Privilege Attribute Certificate to be built and
// signed. Nil members are left out. The signature buffers are added by Sign.
type PAC struct {
	// LogonInfo is PAC_LOGON_INFO (type 1); Samba's KDC requires it.
	LogonInfo *LogonInfo
	// ClientInfo is PAC_CLIENT_INFO (type 10); required by every verifier.
	ClientInfo ClientInfo
	// UPNDNS is UPN_DNS_INFO (type 12).
	UPNDNS *UPNDNSInfo
	// Attributes is PAC_ATTRIBUTES_INFO (type 17).
	Attributes *AttributesInfo
	// RequesterSID is PAC_REQUESTER_SID (type 18), encoded as the bare binary
	// SID (MS-PAC 2.15; Samba krb5pac.idl PAC_REQUESTER_SID { dom_sid sid; },
	// dom_sid being pushed without a conformance count). Samba 4.17 refuses
	// a TGT without it (KDC_ERR_TGT_REVOKED, samba_kdc_update_pac) and
	// compares it with the client's objectSid (samba_kdc_validate_pac_blob).
	RequesterSID *SID
}

// SigningKeys are the keys a PAC is signed with.
type SigningKeys struct {
	// Server is the key of the ticket's server: for a TGT, the krbtgt key
	// the ticket is encrypted with (for a partial TGT, the RODC krbtgt_N key).
	Server types.EncryptionKey
	// KDC is the krbtgt key of the issuing KDC (for an RODC, its krbtgt_N
	// key); it makes the KDC, ticket and full checksums.
	KDC types.EncryptionKey
	// RODCNumber is N of krbtgt_N (the high 16 bits of the krbtgt kvno);
	// when non-zero it is appended little-endian after the KDC, ticket and
	// full signatures (MS-PAC 2.8 RODCIdentifier). 0 for a writable DC.
	RODCNumber uint16
	// ServerKc and KDCKc, when set, are ChecksumKey(Server) and
	// ChecksumKey(KDC), kept by the caller per key version: the checksums
	// are then computed without deriving them again.
	ServerKc, KDCKc []byte
}

// SignOptions selects the optional signatures.
type SignOptions struct {
	// TicketSignData, when non-nil, adds PAC_TICKET_CHECKSUM (type 16): the
	// KDC-key checksum of these bytes, which must be the DER EncTicketPart
	// (with its [APPLICATION 3] tag) in which the PAC's ad-data is a single
	// 0x00 byte.
	TicketSignData []byte
	// FullChecksum adds PAC_FULL_CHECKSUM (type 19).
	FullChecksum bool
}

// Sign encodes the PAC (PACTYPE, MS-PAC 2.3) and signs it. See the package
// documentation for the exact order and inputs of the checksums.
func (p *PAC) Sign(keys SigningKeys, opts SignOptions) ([]byte, error) {
	srvType, err := ChecksumType(keys.Server)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	kdcType, err := ChecksumType(keys.KDC)
	if err != nil {
		return nil, fmt.Errorf("KDC key: %w", err)
	}
	bufs, err := p.dataBuffers()
	if err != nil {
		return nil, err
	}
	rodc := rodcTrailer(keys.RODCNumber)
	bufs = append(bufs,
		rawBuffer{TypeServerChecksum, sigPlaceholder(srvType, nil)},
		rawBuffer{TypeKDCChecksum, sigPlaceholder(kdcType, zeroTrailer(rodc))})
	if opts.TicketSignData != nil {
		// Heimdal writes the ticket signature's RODC trailer at layout time,
		// so it is covered by the full and server checksums.
		bufs = append(bufs, rawBuffer{TypeTicketChecksum, sigPlaceholder(kdcType, rodc)})
	}
	if opts.FullChecksum {
		bufs = append(bufs, rawBuffer{TypeFullChecksum, sigPlaceholder(kdcType, zeroTrailer(rodc))})
	}
	out, offsets := layout(bufs)
	return signLaidOut(out, offsets, keys, opts, rodc)
}

// signLaidOut fills the signatures of a laid-out PAC in Heimdal's order:
// ticket, full (+ its RODC trailer), server, KDC (+ its RODC trailer).
func signLaidOut(out []byte, off sigOffsets, keys SigningKeys, opts SignOptions, rodc []byte) ([]byte, error) {
	if opts.TicketSignData != nil {
		if err := fillSig(out, off.ticket, keys.KDC, keys.KDCKc, opts.TicketSignData, nil); err != nil {
			return nil, err
		}
	}
	if opts.FullChecksum {
		if err := fillSig(out, off.full, keys.KDC, keys.KDCKc, out, rodc); err != nil {
			return nil, err
		}
	}
	if err := fillSig(out, off.server, keys.Server, keys.ServerKc, out, nil); err != nil {
		return nil, err
	}
	srvSig := out[off.server+4 : off.server+4+checksumSize]
	if err := fillSig(out, off.kdc, keys.KDC, keys.KDCKc, srvSig, rodc); err != nil {
		return nil, err
	}
	return out, nil
}

// fillSig computes the checksum of data (with the derived checksum key kc
// when given, else with key) and writes it, followed by trailer, after the
// 4-byte SignatureType at off.
func fillSig(out []byte, off int, key types.EncryptionKey, kc, data, trailer []byte) error {
	var sum []byte
	if kc != nil {
		mac := checksumWithKc(kc, data)
		sum = mac[:]
	} else {
		var err error
		if sum, err = checksum(key, data); err != nil {
			return err
		}
	}
	copy(out[off+4:], sum)
	copy(out[off+4+checksumSize:], trailer)
	return nil
}

func rodcTrailer(n uint16) []byte {
	if n == 0 {
		return nil
	}
	return binary.LittleEndian.AppendUint16(nil, n)
}

func zeroTrailer(t []byte) []byte { return make([]byte, len(t)) }

// sigPlaceholder is a PAC_SIGNATURE_DATA (MS-PAC 2.8) with a zero signature:
// SignatureType, 12 zero bytes, then trailer.
func sigPlaceholder(ctype uint32, trailer []byte) []byte {
	b := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+checksumSize+len(trailer)), ctype)
	b = append(b, make([]byte, checksumSize)...)
	return append(b, trailer...)
}

type rawBuffer struct {
	typ  uint32
	data []byte
}

// dataBuffers encodes the non-signature buffers in the order Windows emits
// them (LOGON_INFO, CLIENT_INFO, UPN_DNS_INFO, ATTRIBUTES_INFO,
// REQUESTER_SID); verifiers do not depend on the order.
func (p *PAC) dataBuffers() ([]rawBuffer, error) {
	type enc struct {
		typ uint32
		fn  func() ([]byte, error)
	}
	encs := []enc{}
	if p.LogonInfo != nil {
		encs = append(encs, enc{TypeLogonInfo, p.LogonInfo.MarshalNDR})
	}
	encs = append(encs, enc{TypeClientInfo, p.ClientInfo.MarshalBinary})
	if p.UPNDNS != nil {
		encs = append(encs, enc{TypeUPNDNSInfo, p.UPNDNS.MarshalBinary})
	}
	if p.Attributes != nil {
		encs = append(encs, enc{TypeAttributesInfo, p.Attributes.MarshalBinary})
	}
	if p.RequesterSID != nil {
		encs = append(encs, enc{TypeRequesterSID, p.RequesterSID.MarshalBinary})
	}
	bufs := make([]rawBuffer, 0, len(encs)+4)
	for _, e := range encs {
		b, err := e.fn()
		if err != nil {
			return nil, err
		}
		bufs = append(bufs, rawBuffer{e.typ, b})
	}
	return bufs, nil
}

// layout writes the PACTYPE: cBuffers, Version 0, one PAC_INFO_BUFFER (ulType,
// cbBufferSize, Offset as uint64) per buffer, then the buffers, each starting
// on an 8-byte boundary and zero-padded to a multiple of 8 (the last one
// too, as Heimdal's _krb5_pac_sign and Windows do). It returns the bytes, in
// one buffer sized up front, and the offset of each signature buffer.
func layout(bufs []rawBuffer) ([]byte, sigOffsets) {
	hdr := 8 + 16*len(bufs)
	size := hdr
	for _, b := range bufs {
		size = (size+7)&^7 + len(b.data)
	}
	out := make([]byte, hdr, (size+7)&^7)
	binary.LittleEndian.PutUint32(out[0:], uint32(len(bufs)))
	binary.LittleEndian.PutUint32(out[4:], 0)
	var off sigOffsets
	for i, b := range bufs {
		out = pad8(out)
		e := out[8+16*i:]
		binary.LittleEndian.PutUint32(e[0:], b.typ)
		binary.LittleEndian.PutUint32(e[4:], uint32(len(b.data)))
		binary.LittleEndian.PutUint64(e[8:], uint64(len(out)))
		off.set(b.typ, len(out))
		out = append(out, b.data...)
	}
	return pad8(out), off
}

// sigOffsets are where layout put the signature buffers (0: absent).
type sigOffsets struct{ server, kdc, ticket, full int }

func (o *sigOffsets) set(typ uint32, at int) {
	switch typ {
	case TypeServerChecksum:
		o.server = at
	case TypeKDCChecksum:
		o.kdc = at
	case TypeTicketChecksum:
		o.ticket = at
	case TypeFullChecksum:
		o.full = at
	}
}
