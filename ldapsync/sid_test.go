package ldapsync

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"
)

// Vectors: the base64 ones are objectSid values read from a Samba 4.17 DC
// (whose extended DN for the same objects showed the string forms);
// Everyone and the hex-authority form follow MS-DTYP 2.4.2.
var sidVectors = []struct {
	str string
	bin string // hex
}{
	{"S-1-5-32-550", b64hex("AQIAAAAAAAUgAAAAJgIAAA==")},
	{"S-1-5-21-795618023-2160043341-3136540691-500", b64hex("AQUAAAAAAAUVAAAA5ypsL02lv4AT0PO69AEAAA==")},
	{"S-1-5-21-795618023-2160043341-3136540691", b64hex("AQQAAAAAAAUVAAAA5ypsL02lv4AT0PO6")},
	{"S-1-1-0", "010100000000000100000000"},
	{"S-1-5", "0100000000000005"},
	{"S-1-0x123456789ABC-1", "0101123456789abc01000000"},
	{"S-1-4294967295-4294967295", "010100" + "00ffffffff" + "ffffffff"},
	{"S-1-0x000100000000", "0100000100000000"},
	{"S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15", "010f000000000005" +
		"0100000002000000030000000400000005000000060000000700000008000000090000000a0000000b0000000c0000000d0000000e0000000f000000"},
}

func b64hex(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func TestSIDVectors(t *testing.T) {
	for _, v := range sidVectors {
		bin, _ := hex.DecodeString(v.bin)
		got, err := DecodeSID(bin)
		if err != nil || got != v.str {
			t.Errorf("DecodeSID(%s) = %q, %v; want %q", v.bin, got, err, v.str)
		}
		enc, err := EncodeSID(v.str)
		if err != nil || !bytes.Equal(enc, bin) {
			t.Errorf("EncodeSID(%s) = %x, %v; want %s", v.str, enc, err, v.bin)
		}
	}
	s, _ := ParseSID("S-1-5-21-795618023-2160043341-3136540691-500")
	if s.RID() != 500 || (SID{}).RID() != 0 {
		t.Errorf("RID = %d", s.RID())
	}
}

func TestParseSIDStrings(t *testing.T) {
	tests := []struct {
		in, canon string // canon "" = must fail
	}{
		{"s-1-5-32-544", "S-1-5-32-544"},
		{"S-1-05-032-0544", "S-1-5-32-544"},
		{"S-1-0x5-32", "S-1-5-32"},
		{"S-1-0X00000000000F", "S-1-15"},
		{"S-1-281474976710655", "S-1-0xFFFFFFFFFFFF"},
		{"S-1-281474976710656", ""},
		{"S-1-0x1000000000000", ""},
		{"S-1-5-4294967296", ""},
		{"S-2-5", ""},
		{"S-1", ""},
		{"S-1-", ""},
		{"S-1-5-", ""},
		{"S-1-5--1", ""},
		{"S-1-5-+1", ""},
		{"S-1-5- 1", ""},
		{"S-1-0x", ""},
		{"S-1-0x-1", ""},
		{"X-1-5", ""},
		{"S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := CanonicalSID(tc.in)
		if tc.canon == "" {
			if !errors.Is(err, ErrBadSID) {
				t.Errorf("CanonicalSID(%q) = %q, %v; want ErrBadSID", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.canon {
			t.Errorf("CanonicalSID(%q) = %q, %v; want %q", tc.in, got, err, tc.canon)
		}
	}
}

func TestDecodeSIDErrors(t *testing.T) {
	tests := []string{
		"",
		"01",
		"01010000000000",             // short header
		"010100000000000100000",      // odd length
		"0101000000000001000000",     // truncated sub-authority
		"01010000000000010000000000", // trailing byte
		"020100000000000100000000",   // revision 2
		"011000000000000500000000",   // 16 sub-authorities claimed
	}
	for _, h := range tests {
		b, _ := hex.DecodeString(h)
		if s, err := DecodeSID(b); !errors.Is(err, ErrBadSID) {
			t.Errorf("DecodeSID(%s) = %q, %v; want ErrBadSID", h, s, err)
		}
	}
}

func FuzzDecodeSID(f *testing.F) {
	for _, v := range sidVectors {
		b, _ := hex.DecodeString(v.bin)
		f.Add(b)
	}
	f.Add([]byte{1, 16, 0, 0, 0, 0, 0, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSID(b)
		if err != nil {
			return
		}
		back, err := EncodeSID(s)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("round trip %x -> %q -> %x, %v", b, s, back, err)
		}
	})
}

func FuzzParseSID(f *testing.F) {
	for _, v := range sidVectors {
		f.Add(v.str)
	}
	f.Add("s-1-0x00000000000F-07")
	f.Fuzz(func(t *testing.T, s string) {
		sid, err := ParseSID(s)
		if err != nil {
			return
		}
		canon := sid.String()
		again, err := ParseSID(canon)
		if err != nil || again.String() != canon {
			t.Fatalf("%q -> %q does not re-parse to itself (%v)", s, canon, err)
		}
		dec, err := DecodeSID(must[[]byte](t)(sid.MarshalBinary()))
		if err != nil || dec != canon {
			t.Fatalf("binary round trip of %q: %q, %v", canon, dec, err)
		}
	})
}
