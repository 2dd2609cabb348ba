package ldapsync

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestGUIDVectors(t *testing.T) {
	cases := []struct {
		bin  []byte
		text string
	}{
		// The mixed-endian layout of MS-DTYP 2.3.4.2: Data1..Data3 little-endian.
		{[]byte{0x03, 0x02, 0x01, 0x00, 0x05, 0x04, 0x07, 0x06, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f},
			"00010203-0405-0607-0809-0a0b0c0d0e0f"},
		{[]byte{0x40, 0xfc, 0x29, 0x6b, 0x47, 0xca, 0x67, 0x10, 0xb3, 0x1d, 0x00, 0xdd, 0x01, 0x06, 0x62, 0xda},
			"6b29fc40-ca47-1067-b31d-00dd010662da"},
		{make([]byte, 16), "00000000-0000-0000-0000-000000000000"},
	}
	for _, c := range cases {
		got, err := DecodeGUID(c.bin)
		if err != nil || got != c.text {
			t.Errorf("DecodeGUID(% x) = %q, %v; want %q", c.bin, got, err, c.text)
		}
		back, err := EncodeGUID(strings.ToUpper(c.text))
		if err != nil || !bytes.Equal(back, c.bin) {
			t.Errorf("EncodeGUID(%q) = % x, %v", c.text, back, err)
		}
		if s, err := CanonicalUUID("{" + strings.ToUpper(c.text) + "}"); err != nil || s != c.text {
			t.Errorf("CanonicalUUID braces: %q %v", s, err)
		}
	}
}

func TestGUIDErrors(t *testing.T) {
	for _, b := range [][]byte{nil, make([]byte, 15), make([]byte, 17)} {
		if _, err := DecodeGUID(b); !errors.Is(err, ErrBadGUID) {
			t.Errorf("DecodeGUID(%d bytes) = %v", len(b), err)
		}
	}
	for _, s := range []string{"", "00010203-0405-0607-0809-0a0b0c0d0e0", "00010203x0405-0607-0809-0a0b0c0d0e0f",
		"0001020g-0405-0607-0809-0a0b0c0d0e0f", "{00010203-0405-0607-0809-0a0b0c0d0e0f", "000102030405060708090a0b0c0d0e0f"} {
		if _, err := CanonicalUUID(s); !errors.Is(err, ErrBadGUID) {
			t.Errorf("CanonicalUUID(%q) = %v", s, err)
		}
	}
}

func FuzzDecodeGUID(f *testing.F) {
	f.Add([]byte{0x03, 0x02, 0x01, 0x00, 0x05, 0x04, 0x07, 0x06, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeGUID(b)
		if err != nil {
			return
		}
		back, err := EncodeGUID(s)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("round trip % x -> %q -> % x (%v)", b, s, back, err)
		}
	})
}

func FuzzCanonicalUUID(f *testing.F) {
	f.Add("00010203-0405-0607-0809-0a0b0c0d0e0f")
	f.Add("{6B29FC40-CA47-1067-B31D-00DD010662DA}")
	f.Add("not a uuid")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := CanonicalUUID(s)
		if err != nil {
			return
		}
		if c != strings.ToLower(c) || len(c) != 36 {
			t.Fatalf("CanonicalUUID(%q) = %q", s, c)
		}
		if again, err := CanonicalUUID(c); err != nil || again != c {
			t.Fatalf("not idempotent: %q -> %q (%v)", c, again, err)
		}
	})
}
