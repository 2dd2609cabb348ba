package pac

import (
	"encoding/binary"
	"fmt"
)

// ndrWriter is a minimal NDR20 (MS-RPCE 2.2.5, little-endian, 32-bit
// pointers) encoder for the structures a PAC carries. It implements the
// marshalling rules that MS-PAC relies on:
//
//   - primitive types are aligned to their own size, relative to the start of
//     the serialized stream (which begins 8-aligned after the type
//     serialization headers);
//   - a non-null unique pointer is written as a referent ID and its
//     referent is deferred. IDs are 0x00020000, 0x00020004, ... numbered in
//     the order the referents appear in the stream. That is how Windows
//     numbers them: in the MS-PAC sample and in Windows captures with both
//     ExtraSids and resource groups, the SID pointers inside the ExtraSids
//     array get lower IDs than ResourceGroupDomainSid/ResourceGroupIds even
//     though the latter are written first (Samba numbers at write time and
//     differs there, see samba python/samba/tests/krb5/raw_testcase.py
//     verify_ticket). IDs are opaque to every decoder; we mimic Windows so
//     that our output is byte-identical to its captures;
//   - deferred referents are written after the construct that holds the
//     pointer, depth first: the referent of an embedded pointer of a
//     pointee comes right after that pointee, before the next sibling
//     pointee (DCE 1.1 RPC 14.3.12.3; Samba's NDR_SCALARS/NDR_BUFFERS order).
type ndrWriter struct {
	buf     []byte
	nextRef uint32
	// The queued referents (see flush) are a stack of queued entries: the
	// first len(inline) in inline, which lives in the writer (and so on the
	// caller's stack: a PAC's few pointers queue without allocating), the
	// rest in overflow.
	queued   int
	inline   [24]deferredReferent // 14 at most for KERB_VALIDATION_INFO (its own pointer and 13 members), plus one per ExtraSid
	overflow []deferredReferent
}

// referentKind says which construct a deferred referent is.
type referentKind uint8

const (
	refLogonInfo referentKind = iota // KERB_VALIDATION_INFO (li)
	refString                        // the WCHAR array of an RPC_UNICODE_STRING (str, maxChars)
	refGroups                        // a GROUP_MEMBERSHIP array (groups)
	refSID                           // an RPC_SID (sid)
	refExtraSIDs                     // a KERB_SID_AND_ATTRIBUTES array (extra)
)

// deferredReferent is a queued pointer referent: where its referent ID must be
// patched in and what to write (a tagged value, not a closure, so that
// queueing it allocates nothing).
type deferredReferent struct {
	idPos    int
	kind     referentKind
	maxChars uint32
	str      string
	sid      *SID
	li       *LogonInfo
	groups   []GroupMembership
	extra    []SIDAndAttributes
}

// firstReferentID is the first referent ID Windows and Samba assign.
const firstReferentID = 0x00020000

func newNDRWriter() *ndrWriter {
	w := &ndrWriter{}
	w.init(nil)
	return w
}

// init makes w an empty writer appending to buf.
func (w *ndrWriter) init(buf []byte) {
	w.buf = buf
	w.nextRef = firstReferentID
	w.truncate(0)
}

// queue pushes ref on the stack of queued referents.
func (w *ndrWriter) queue(ref deferredReferent) {
	if w.queued < len(w.inline) {
		w.inline[w.queued] = ref
	} else {
		w.overflow = append(w.overflow, ref)
	}
	w.queued++
}

// queuedAt is the i-th queued referent.
func (w *ndrWriter) queuedAt(i int) deferredReferent {
	if i < len(w.inline) {
		return w.inline[i]
	}
	return w.overflow[i-len(w.inline)]
}

// truncate drops the queued referents from the n-th on.
func (w *ndrWriter) truncate(n int) {
	w.queued = n
	w.overflow = w.overflow[:max(0, n-len(w.inline))]
}

// align pads the stream with zeros to a multiple of n bytes.
func (w *ndrWriter) align(n int) {
	for len(w.buf)%n != 0 {
		w.buf = append(w.buf, 0)
	}
}

func (w *ndrWriter) u8(v uint8) { w.buf = append(w.buf, v) }

func (w *ndrWriter) u16(v uint16) {
	w.align(2)
	w.buf = binary.LittleEndian.AppendUint16(w.buf, v)
}

func (w *ndrWriter) u32(v uint32) {
	w.align(4)
	w.buf = binary.LittleEndian.AppendUint32(w.buf, v)
}

// fileTime writes a FILETIME: two little-endian uint32 (low, high), so it is
// 4-aligned, not 8-aligned (MS-DTYP 2.3.3).
func (w *ndrWriter) fileTime(t FileTime) {
	w.u32(uint32(t))
	w.u32(uint32(t >> 32))
}

// pointer writes a unique pointer: 0 when absent, otherwise the next referent
// ID, and queues ref to be written in the deferred phase.
func (w *ndrWriter) pointer(present bool, ref deferredReferent) {
	w.u32(0) // patched with the referent ID when the referent is written
	if !present {
		return
	}
	ref.idPos = len(w.buf) - 4
	w.queue(ref)
}

// flush writes all queued referents depth first, assigning referent IDs in
// the order referents are written. The queue is a stack: the referents a
// referent queues land above the current level's and are flushed, then
// dropped, before the next sibling.
func (w *ndrWriter) flush() error {
	if err := w.flushFrom(0); err != nil {
		return err
	}
	w.truncate(0)
	return nil
}

func (w *ndrWriter) flushFrom(from int) error {
	end := w.queued
	for i := from; i < end; i++ {
		d := w.queuedAt(i) // a copy: writing d may grow the stack
		binary.LittleEndian.PutUint32(w.buf[d.idPos:], w.nextRef)
		w.nextRef += 4
		if err := w.referent(&d); err != nil {
			return err
		}
		if err := w.flushFrom(end); err != nil {
			return err
		}
		w.truncate(end)
	}
	return nil
}

// referent writes the body of d.
func (w *ndrWriter) referent(d *deferredReferent) error {
	switch d.kind {
	case refLogonInfo:
		return d.li.writeScalars(w)
	case refString:
		n := utf16Len(d.str)
		w.u32(d.maxChars)
		w.u32(0)
		w.u32(uint32(n))
		w.buf = appendUTF16(w.buf, d.str) // 4-aligned after the counts: WCHARs need no padding
	case refGroups:
		writeGroupArray(w, d.groups)
	case refSID:
		w.rpcSID(*d.sid)
	case refExtraSIDs:
		writeExtraSIDArray(w, d.extra)
	}
	return nil
}

// maxUnicodeChars is the largest string an RPC_UNICODE_STRING can describe:
// Length and MaximumLength are uint16 byte counts.
const maxUnicodeChars = 0x7fff

// unicodeString writes the scalar part of an RPC_UNICODE_STRING (MS-DTYP
// 2.3.10): Length and MaximumLength in bytes and a pointer to the buffer.
// Length never counts a terminator; MaximumLength equals Length, or Length+2
// when withTerm is set: Windows (MS-PAC sample) and Samba (lsa_StringLarge in
// netr_SamInfo3) do that for LogonServer and LogonDomainName only. Windows
// marshals a non-null pointer even for empty strings (the MS-PAC sample
// does), so we do too. The deferred buffer is a conformant varying array of
// WCHAR: MaxCount (MaximumLength/2), Offset 0, ActualCount (Length/2),
// characters.
func (w *ndrWriter) unicodeString(s string, withTerm bool) error {
	units := utf16Len(s)
	if units >= maxUnicodeChars {
		return fmt.Errorf("%w: string of %d UTF-16 units exceeds RPC_UNICODE_STRING", ErrInvalidValue, units)
	}
	n := uint16(2 * units)
	maxLen := n
	if withTerm {
		maxLen += 2
	}
	w.u16(n)
	w.u16(maxLen)
	w.pointer(true, deferredReferent{kind: refString, str: s, maxChars: uint32(maxLen / 2)})
	return nil
}

// rpcSID writes an RPC_SID (MS-DTYP 2.4.2.3) as the referent of a pointer: a
// conformant structure, so the conformance (SubAuthorityCount as uint32)
// comes first, then Revision, SubAuthorityCount, IdentifierAuthority[6]
// (big-endian) and the SubAuthority array.
func (w *ndrWriter) rpcSID(s SID) {
	w.u32(uint32(len(s.SubAuthorities)))
	w.u8(s.Revision)
	w.u8(uint8(len(s.SubAuthorities)))
	var auth [8]byte
	binary.BigEndian.PutUint64(auth[:], s.IdentifierAuthority)
	w.buf = append(w.buf, auth[2:]...)
	for _, a := range s.SubAuthorities {
		w.u32(a)
	}
}
