package krbder

import (
	"errors"

	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Builder appends DER to one buffer. It has the methods of
// cryptobyte.Builder that the Kerberos encoders use, but a nested element
// is written in place and gets its length when its continuation returns
// (the contents shifted once when the length needs more than one byte), so
// building allocates nothing but the buffer's growth: cryptobyte allocates
// a child builder (and the closure escapes) for every nested element. The
// continuations take no argument (they use the builder they close over):
// a builder passed through a function value would escape to the heap.
type Builder struct {
	buf []byte
	err error
}

// NewBuilder returns a Builder appending to buf.
func NewBuilder(buf []byte) *Builder { return &Builder{buf: buf} }

// errHighTag: Kerberos uses no tag number above 30 (one identifier byte).
var errHighTag = errors.New("krbder: multi-byte tags are not supported")

// AddASN1 adds an element with tag whose contents f adds.
func (b *Builder) AddASN1(tag cbasn1.Tag, f func()) {
	if tag&0x1f == 0x1f {
		b.err = errHighTag
		return
	}
	b.buf = append(b.buf, byte(tag), 0)
	start := len(b.buf)
	f()
	b.setLength(start)
}

// setLength writes the length of the contents from start on into the byte
// before start, moving the contents for a long-form length.
func (b *Builder) setLength(start int) {
	n := len(b.buf) - start
	if n < 0x80 {
		b.buf[start-1] = byte(n)
		return
	}
	k := 0
	for m := n; m > 0; m >>= 8 {
		k++
	}
	var pad [8]byte
	b.buf = append(b.buf, pad[:k]...)
	copy(b.buf[start+k:], b.buf[start:start+n])
	b.buf[start-1] = 0x80 | byte(k)
	for i := range k {
		b.buf[start+i] = byte(n >> (8 * (k - 1 - i)))
	}
}

// AddASN1Int64 adds an INTEGER in its shortest two's complement form.
func (b *Builder) AddASN1Int64(v int64) {
	n := 1
	for i := v; i >= 0x80 || i < -0x80; i >>= 8 {
		n++
	}
	b.buf = append(b.buf, byte(cbasn1.INTEGER), byte(n))
	for ; n > 0; n-- {
		b.buf = append(b.buf, byte(v>>(8*(n-1))))
	}
}

// AddASN1OctetString adds an OCTET STRING.
func (b *Builder) AddASN1OctetString(v []byte) {
	b.AddASN1(cbasn1.OCTET_STRING, func() { b.AddBytes(v) })
}

// AddBytes adds raw bytes.
func (b *Builder) AddBytes(v []byte) { b.buf = append(b.buf, v...) }

// AddUint8 adds one byte.
func (b *Builder) AddUint8(v uint8) { b.buf = append(b.buf, v) }

// Bytes returns the DER built, or the error that stopped it.
func (b *Builder) Bytes() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.buf, nil
}
