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
// documentation for the exact order and inputs of the checksums. Every
// buffer is written in place into one output sized up front.
func (p *PAC) Sign(keys SigningKeys, opts SignOptions) ([]byte, error) {
	srvType, err := ChecksumType(keys.Server)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	kdcType, err := ChecksumType(keys.KDC)
	if err != nil {
		return nil, fmt.Errorf("KDC key: %w", err)
	}
	var rodcBuf [2]byte
	rodc := rodcBuf[:0]
	if keys.RODCNumber != 0 {
		binary.LittleEndian.PutUint16(rodcBuf[:], keys.RODCNumber)
		rodc = rodcBuf[:]
	}
	var zero [2]byte
	zeroRODC := zero[:len(rodc)]
	n := p.dataBufferCount() + 2
	if opts.TicketSignData != nil {
		n++
	}
	if opts.FullChecksum {
		n++
	}
	lw := newLayoutWriter(n, p.sizeHint())
	if err := p.writeDataBuffers(lw); err != nil {
		return nil, err
	}
	lw.sigPlaceholder(TypeServerChecksum, srvType, nil)
	lw.sigPlaceholder(TypeKDCChecksum, kdcType, zeroRODC)
	if opts.TicketSignData != nil {
		// Heimdal writes the ticket signature's RODC trailer at layout time,
		// so it is covered by the full and server checksums.
		lw.sigPlaceholder(TypeTicketChecksum, kdcType, rodc)
	}
	if opts.FullChecksum {
		lw.sigPlaceholder(TypeFullChecksum, kdcType, zeroRODC)
	}
	out, offsets := lw.finish()
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

type rawBuffer struct {
	typ  uint32
	data []byte
}

// dataBufferCount is the number of non-signature buffers p has.
func (p *PAC) dataBufferCount() int {
	n := 1 // CLIENT_INFO
	for _, present := range [...]bool{p.LogonInfo != nil, p.UPNDNS != nil, p.Attributes != nil, p.RequesterSID != nil} {
		if present {
			n++
		}
	}
	return n
}

// sizeHint is about the size of the signed PAC, so that it is written
// without growing its buffer.
func (p *PAC) sizeHint() int {
	n := 8 + 16*(p.dataBufferCount()+4) + 4*(8+4+checksumSize+2) + 8 + 10 + 2*len(p.ClientInfo.Name) + 8 + 8 + 8 + 4*maxSubAuthorities
	if p.LogonInfo != nil {
		n += 8 + p.LogonInfo.sizeHint()
	}
	if p.UPNDNS != nil {
		n += 8 + p.UPNDNS.sizeHint()
	}
	return n
}

// writeDataBuffers encodes the non-signature buffers in the order Windows
// emits them (LOGON_INFO, CLIENT_INFO, UPN_DNS_INFO, ATTRIBUTES_INFO,
// REQUESTER_SID); verifiers do not depend on the order.
func (p *PAC) writeDataBuffers(lw *layoutWriter) error {
	var err error
	if p.LogonInfo != nil {
		at := lw.begin(TypeLogonInfo)
		if lw.out, err = p.LogonInfo.appendNDR(lw.out); err != nil {
			return err
		}
		lw.end(at)
	}
	at := lw.begin(TypeClientInfo)
	if lw.out, err = p.ClientInfo.appendBinary(lw.out); err != nil {
		return err
	}
	lw.end(at)
	if p.UPNDNS != nil {
		at := lw.begin(TypeUPNDNSInfo)
		if lw.out, err = p.UPNDNS.appendBinary(lw.out); err != nil {
			return err
		}
		lw.end(at)
	}
	if p.Attributes != nil {
		at := lw.begin(TypeAttributesInfo)
		lw.out = p.Attributes.appendBinary(lw.out)
		lw.end(at)
	}
	if p.RequesterSID != nil {
		at := lw.begin(TypeRequesterSID)
		if lw.out, err = p.RequesterSID.AppendBinary(lw.out); err != nil {
			return err
		}
		lw.end(at)
	}
	return nil
}

// layoutWriter writes the PACTYPE: cBuffers, Version 0, one PAC_INFO_BUFFER
// (ulType, cbBufferSize, Offset as uint64) per buffer, then the buffers, each
// starting on an 8-byte boundary and zero-padded to a multiple of 8 (the
// last one too, as Heimdal's _krb5_pac_sign and Windows do). Buffers are
// appended to out between begin and end; it records where the signature
// buffers are.
type layoutWriter struct {
	out  []byte
	next int // index of the next PAC_INFO_BUFFER
	off  sigOffsets
}

// newLayoutWriter starts a PACTYPE of n buffers in a buffer of capacity
// sizeHint (grown if needed).
func newLayoutWriter(n, sizeHint int) *layoutWriter {
	hdr := 8 + 16*n
	out := make([]byte, hdr, max(hdr, sizeHint))
	binary.LittleEndian.PutUint32(out[0:], uint32(n))
	binary.LittleEndian.PutUint32(out[4:], 0)
	return &layoutWriter{out: out}
}

// begin pads out to 8 and fills the next PAC_INFO_BUFFER's type and offset;
// it returns the buffer's offset.
func (lw *layoutWriter) begin(typ uint32) int {
	lw.out = pad8(lw.out)
	at := len(lw.out)
	e := lw.out[8+16*lw.next:]
	binary.LittleEndian.PutUint32(e[0:], typ)
	binary.LittleEndian.PutUint64(e[8:], uint64(at))
	lw.off.set(typ, at)
	return at
}

// end fills the size of the buffer begun at at.
func (lw *layoutWriter) end(at int) {
	binary.LittleEndian.PutUint32(lw.out[8+16*lw.next+4:], uint32(len(lw.out)-at))
	lw.next++
}

// sigPlaceholder writes a PAC_SIGNATURE_DATA (MS-PAC 2.8) buffer with a zero
// signature: SignatureType, 12 zero bytes, then trailer.
func (lw *layoutWriter) sigPlaceholder(typ, ctype uint32, trailer []byte) {
	at := lw.begin(typ)
	lw.out = binary.LittleEndian.AppendUint32(lw.out, ctype)
	lw.out = append(lw.out, make([]byte, checksumSize)...)
	lw.out = append(lw.out, trailer...)
	lw.end(at)
}

// finish pads the last buffer and returns the bytes and the signature
// buffers' offsets.
func (lw *layoutWriter) finish() ([]byte, sigOffsets) {
	return pad8(lw.out), lw.off
}

// layout lays out already encoded buffers (see layoutWriter).
func layout(bufs []rawBuffer) ([]byte, sigOffsets) {
	size := 8 + 16*len(bufs)
	for _, b := range bufs {
		size = (size+7)&^7 + len(b.data)
	}
	lw := newLayoutWriter(len(bufs), (size+7)&^7)
	for _, b := range bufs {
		at := lw.begin(b.typ)
		lw.out = append(lw.out, b.data...)
		lw.end(at)
	}
	return lw.finish()
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
