package samba

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// FuzzDecodeBinary feeds the same bytes to DecodeSID (which must round-trip
// through EncodeSID) and DecodeGUID.
func FuzzDecodeBinary(f *testing.F) {
	for _, v := range sidVectors {
		b, _ := hex.DecodeString(v.hex)
		f.Add(b)
	}
	f.Add([]byte{1, 1, 0, 0, 0, 0, 0})
	f.Add(bytes.Repeat([]byte{0xab}, 16))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := DecodeSID(b); err == nil {
			back, err := EncodeSID(s)
			if err != nil || !bytes.Equal(back, b) {
				t.Fatalf("DecodeSID(%x) = %q, EncodeSID = %x, %v", b, s, back, err)
			}
		}
		s, err := DecodeGUID(b)
		if err == nil && (len(s) != 36 || strings.Count(s, "-") != 4) {
			t.Fatalf("DecodeGUID(%x) = %q", b, s)
		}
	})
}

func FuzzEncodeSID(f *testing.F) {
	for _, v := range sidVectors {
		f.Add(v.str)
	}
	f.Add("S-1-0x0-1")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := EncodeSID(s)
		if err != nil {
			return
		}
		if _, err := DecodeSID(b); err != nil {
			t.Fatalf("EncodeSID(%q) = %x does not decode: %v", s, b, err)
		}
	})
}

func FuzzParseProcNet(f *testing.F) {
	f.Add([]byte(procNetTCP))
	f.Add([]byte("local_address\n 0: 00000000000000000000000001000000:0035 0:0 0A 0:0 0:0 0 0 0 99 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseProcNet(b)
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1298 (a) b) (c) S 1293 1290 3347 0 -1 4194304 97 0 0 0 0 0 0 0 20 0 1 0 935763 3133440 363"))
	f.Add([]byte("1 (x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseStat(b)
		if err == nil && (p.pid <= 0 || p.ppid < 0 || p.pgid < 0) {
			t.Fatalf("parseStat(%q) = %+v", b, p)
		}
	})
}

func FuzzSetGlobals(f *testing.F) {
	f.Add("[global]\n\tinterfaces = lo\n[netlogon]\n\tpath = /x\n", "interfaces", "127.0.0.10")
	f.Add("; c\n[Global]\n", "tls enabled", "yes")
	f.Fuzz(func(t *testing.T, conf, name, value string) {
		out, err := setGlobals(conf, []setting{{name, value}})
		if err != nil {
			return
		}
		if normName(name) != "" && !strings.Contains(out, name+" = "+value) {
			t.Fatalf("setting %q = %q missing from:\n%s", name, value, out)
		}
	})
}
