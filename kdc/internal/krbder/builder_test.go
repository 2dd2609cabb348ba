package krbder

import (
	"bytes"
	"math"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// TestBuilderMatchesCryptobyte: integers at every length boundary and
// nested elements whose lengths need 0 to 3 length bytes encode as
// cryptobyte encodes them; a multi-byte tag is refused.
func TestBuilderMatchesCryptobyte(t *testing.T) {
	ints := []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768, -32769, 1 << 31, -1 << 31,
		math.MaxInt64, math.MinInt64}
	for _, n := range []int{0, 1, 127, 128, 255, 256, 65535, 65536, 70000} {
		var want cryptobyte.Builder
		want.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(3).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1OctetString(bytes.Repeat([]byte{0xab}, n))
			})
			for _, v := range ints {
				b.AddASN1Int64(v)
			}
			b.AddUint8(7)
		})
		var got Builder
		b := &got
		b.AddASN1(cbasn1.SEQUENCE, func() {
			b.AddASN1(cbasn1.Tag(3).ContextSpecific().Constructed(), func() {
				b.AddASN1OctetString(bytes.Repeat([]byte{0xab}, n))
			})
			for _, v := range ints {
				b.AddASN1Int64(v)
			}
			b.AddUint8(7)
		})
		w, err := want.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		g, err := got.Bytes()
		if err != nil || !bytes.Equal(g, w) {
			t.Fatalf("%d content bytes: %v\n got  %x\n want %x", n, err, g[:min(len(g), 64)], w[:min(len(w), 64)])
		}
	}
	var b Builder
	b.AddASN1(cbasn1.Tag(31), func() {})
	if _, err := b.Bytes(); err == nil {
		t.Fatal("a multi-byte tag was encoded")
	}
}

// TestBuilderStaysOnTheStack: encoding nested elements into a sized buffer
// allocates nothing: the continuations take no builder, so neither they nor
// the builder escape.
func TestBuilderStaysOnTheStack(t *testing.T) {
	buf := make([]byte, 0, 256)
	payload := bytes.Repeat([]byte{1}, 150)
	n := testing.AllocsPerRun(100, func() {
		b := NewBuilder(buf[:0])
		b.AddASN1(Application(3), func() {
			b.AddASN1(cbasn1.SEQUENCE, func() {
				Int(b, 0, 18)
				Octets(b, 1, payload)
				String(b, 2, "CORP.EXAMPLE.TEST")
			})
		})
		if _, err := b.Bytes(); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}
