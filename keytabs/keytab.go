package keytabs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
)

// Keytab file format versions (the first two bytes of the file).
const (
	// Version1 is the obsolete 0x0501 format: native byte order, no name type.
	Version1 uint16 = 0x0501
	// Version2 is the 0x0502 format: big-endian, with name types.
	Version2 uint16 = 0x0502
)

var (
	// ErrMalformed is returned (wrapped) for truncated or garbled keytab bytes.
	ErrMalformed = errors.New("keytabs: malformed keytab")
	// ErrUnsupportedVersion is returned (wrapped) when the data does not start
	// with a known keytab version (0x0501 or 0x0502).
	ErrUnsupportedVersion = errors.New("keytabs: unsupported keytab version")
	// ErrInvalidEntry is returned (wrapped) by Marshal for an entry that
	// cannot be represented in a keytab file.
	ErrInvalidEntry = errors.New("keytabs: invalid keytab entry")
)

// Entry is one key of one principal at one key version.
type Entry struct {
	// Principal is the principal the key belongs to.
	Principal Principal
	// Timestamp is when the entry was written (seconds precision, UTC).
	Timestamp time.Time
	// KVNO is the full 32-bit key version number (for RODC krbtgt keys,
	// EncodeKVNO(rodcNumber, version)).
	KVNO uint32
	// Key is the raw key: KeyType is the encryption type.
	Key types.EncryptionKey
}

// Keytab is an ordered list of keytab entries.
type Keytab struct {
	// Entries are the live entries in file order.
	Entries []Entry
}

// Parse decodes a keytab file: version 0x0502, or 0x0501 in this machine's
// byte order. Deleted entries (negative record lengths) are skipped; a zero
// record length ends the entry list, as in MIT's kt_file.c. A 32-bit kvno
// after the key, when the record has room for it and it is not zero,
// overrides the 8-bit kvno.
func Parse(b []byte) (*Keytab, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes, need at least 2", ErrMalformed, len(b))
	}
	var order binary.ByteOrder
	switch v := binary.BigEndian.Uint16(b); v {
	case Version2:
		order = binary.BigEndian
	case Version1:
		order = binary.NativeEndian
	default:
		return nil, fmt.Errorf("%w: 0x%04x", ErrUnsupportedVersion, v)
	}
	kt := &Keytab{}
	off := 2
	for off < len(b) {
		if len(b)-off < 4 {
			return nil, fmt.Errorf("%w: %d trailing bytes at offset %d", ErrMalformed, len(b)-off, off)
		}
		size := int32(order.Uint32(b[off:]))
		off += 4
		switch {
		case size == 0:
			return kt, nil
		case size == math.MinInt32:
			return nil, fmt.Errorf("%w: invalid record length at offset %d", ErrMalformed, off-4)
		}
		n := int(size)
		if n < 0 {
			n = -n
		}
		if n > len(b)-off {
			return nil, fmt.Errorf("%w: record at offset %d claims %d bytes, %d left", ErrMalformed, off-4, n, len(b)-off)
		}
		if size > 0 {
			e, err := parseEntry(b[off:off+n], order, order == binary.BigEndian)
			if err != nil {
				return nil, fmt.Errorf("entry %d at offset %d: %w", len(kt.Entries), off-4, err)
			}
			kt.Entries = append(kt.Entries, e)
		}
		off += n
	}
	return kt, nil
}

// recordReader reads fields from one record, refusing to run past its end.
type recordReader struct {
	b     []byte
	off   int
	order binary.ByteOrder
	err   error
}

func (r *recordReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b)-r.off {
		r.err = fmt.Errorf("%w: %s needs %d bytes at record offset %d, %d left", ErrMalformed, what, n, r.off, len(r.b)-r.off)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *recordReader) u16(what string) uint16 {
	if s := r.take(2, what); s != nil {
		return r.order.Uint16(s)
	}
	return 0
}

func (r *recordReader) u32(what string) uint32 {
	if s := r.take(4, what); s != nil {
		return r.order.Uint32(s)
	}
	return 0
}

// counted reads an int16 length and that many bytes; zero or negative
// lengths are refused, as MIT does.
func (r *recordReader) counted(what string) string {
	n := int16(r.u16(what + " length"))
	if r.err == nil && n <= 0 {
		r.err = fmt.Errorf("%w: %s length %d", ErrMalformed, what, n)
	}
	return string(r.take(int(n), what))
}

func parseEntry(rec []byte, order binary.ByteOrder, v2 bool) (Entry, error) {
	r := &recordReader{b: rec, order: order}
	var e Entry
	count := int16(r.u16("component count"))
	if !v2 {
		count-- // 0x0501 counts the realm as a component
	}
	if r.err == nil && count <= 0 {
		return e, fmt.Errorf("%w: component count %d", ErrMalformed, count)
	}
	e.Principal.Realm = r.counted("realm")
	for i := 0; i < int(count) && r.err == nil; i++ {
		e.Principal.Components = append(e.Principal.Components, r.counted("component"))
	}
	if v2 {
		e.Principal.NameType = int32(r.u32("name type"))
	}
	e.Timestamp = time.Unix(int64(r.u32("timestamp")), 0).UTC()
	if s := r.take(1, "kvno"); s != nil {
		e.KVNO = uint32(s[0])
	}
	e.Key.KeyType = int32(int16(r.u16("enctype")))
	e.Key.KeyValue = []byte(r.counted("key"))
	if r.err == nil && len(rec)-r.off >= 4 {
		if v := r.u32("32-bit kvno"); v != 0 {
			e.KVNO = v
		}
	}
	return e, r.err
}

// Marshal encodes the keytab in format 0x0502. Every entry carries the low
// byte of its kvno in the 8-bit field and the full kvno in the 32-bit
// extension. A zero Timestamp is written as 0.
func (kt *Keytab) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	_ = binary.Write(&buf, binary.BigEndian, Version2)
	for i, e := range kt.Entries {
		rec, err := marshalEntry(e)
		if err != nil {
			return nil, fmt.Errorf("entry %d (%s kvno %d): %w", i, e.Principal, e.KVNO, err)
		}
		_ = binary.Write(&buf, binary.BigEndian, int32(len(rec)))
		buf.Write(rec)
	}
	return buf.Bytes(), nil
}

func marshalEntry(e Entry) ([]byte, error) {
	if err := e.Principal.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEntry, err)
	}
	if n := len(e.Key.KeyValue); n == 0 || n > maxField {
		return nil, fmt.Errorf("%w: key length %d", ErrInvalidEntry, n)
	}
	if e.Key.KeyType < math.MinInt16 || e.Key.KeyType > math.MaxInt16 {
		return nil, fmt.Errorf("%w: enctype %d does not fit 16 bits", ErrInvalidEntry, e.Key.KeyType)
	}
	ts, err := timestamp(e.Timestamp)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	be := binary.BigEndian
	putCounted := func(s string) {
		_ = binary.Write(&b, be, uint16(len(s)))
		b.WriteString(s)
	}
	_ = binary.Write(&b, be, uint16(len(e.Principal.Components)))
	putCounted(e.Principal.Realm)
	for _, c := range e.Principal.Components {
		putCounted(c)
	}
	_ = binary.Write(&b, be, e.Principal.NameType)
	_ = binary.Write(&b, be, ts)
	b.WriteByte(byte(e.KVNO))
	_ = binary.Write(&b, be, int16(e.Key.KeyType))
	putCounted(string(e.Key.KeyValue))
	_ = binary.Write(&b, be, e.KVNO)
	if b.Len() > math.MaxInt32 {
		return nil, fmt.Errorf("%w: record of %d bytes", ErrInvalidEntry, b.Len())
	}
	return b.Bytes(), nil
}

func timestamp(t time.Time) (uint32, error) {
	if t.IsZero() {
		return 0, nil
	}
	s := t.Unix()
	if s < 0 || s > math.MaxUint32 {
		return 0, fmt.Errorf("%w: timestamp %s outside the 32-bit range", ErrInvalidEntry, t.UTC().Format(time.RFC3339))
	}
	return uint32(s), nil
}
