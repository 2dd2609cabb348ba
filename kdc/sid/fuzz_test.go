package sid

import (
	"encoding/hex"
	"testing"
)

// FuzzParseBytes checks that every SID that decodes re-encodes to the same
// bytes and survives the string round trip.
func FuzzParseBytes(f *testing.F) {
	b, _ := hex.DecodeString("0104000000000005150000005951b81766725d2564633b0b")
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, n, err := ParseBytes(b)
		if err != nil {
			return
		}
		enc, err := s.MarshalBinary()
		if err != nil || string(enc) != string(b[:n]) {
			t.Fatalf("re-encode %x -> %x (%v)", b[:n], enc, err)
		}
		back, err := Parse(s.String())
		if err != nil || !back.Equal(s) {
			t.Fatalf("string round trip of %s: %v", s, err)
		}
	})
}

// FuzzParse checks that every parsed SID string round-trips through the
// binary form, and that Canonical agrees with Parse then String.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"S-1-5-21-1-2-3-500", "S-1-0x123456789ABC-1", "S-1-18-1", "S-1-5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		c, cerr := Canonical(s)
		if err != nil {
			if cerr == nil {
				t.Fatalf("Canonical(%q) = %q, but Parse refuses it: %v", s, c, err)
			}
			return
		}
		if cerr != nil || c != v.String() {
			t.Fatalf("Canonical(%q) = %q, %v; Parse then String gives %q", s, c, cerr, v.String())
		}
		b, err := v.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary(%q): %v", s, err)
		}
		back, _, err := ParseBytes(b)
		if err != nil || !back.Equal(v) {
			t.Fatalf("binary round trip of %q: %v", s, err)
		}
	})
}
