package pac

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

func TestSIDStringRoundTrip(t *testing.T) {
	tests := []struct {
		in, out string
		domain  bool
	}{
		{"S-1-5-21-397955417-626881126-188441444-2914711", "", true},
		{"S-1-5-21-397955417-626881126-188441444", "", false},
		{"S-1-5-32-544", "", false},
		{"S-1-18-1", "", false},
		{"S-1-0", "", false},
		{"s-1-5-18", "S-1-5-18", false},
		{"S-1-0x123456789ABC-1", "S-1-0x123456789ABC-1", false},
		{"S-1-4294967296-7", "S-1-0x000100000000-7", false},
	}
	for _, tc := range tests {
		s, err := ParseSID(tc.in)
		if err != nil {
			t.Fatalf("ParseSID(%q): %v", tc.in, err)
		}
		want := tc.out
		if want == "" {
			want = tc.in
		}
		if got := s.String(); got != want {
			t.Errorf("ParseSID(%q).String() = %q, want %q", tc.in, got, want)
		}
		if s.IsDomainAccount() != tc.domain {
			t.Errorf("%q IsDomainAccount = %v", tc.in, !tc.domain)
		}
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		back, n, err := ParseSIDBytes(b)
		if err != nil || n != len(b) || !back.Equal(s) {
			t.Errorf("binary round trip of %q: %v %d %v", tc.in, back, n, err)
		}
	}
}

func TestParseSIDRejects(t *testing.T) {
	for _, in := range []string{"", "S", "S-1", "X-1-5-21", "S-2-5-21", "S-1--5", "S-1-5-x",
		"S-1-5-4294967296", "S-1-281474976710656-1", "S-1-0x1000000000000-1",
		"S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16"} {
		if _, err := ParseSID(in); !errors.Is(err, ErrInvalidSID) {
			t.Errorf("ParseSID(%q) err = %v, want ErrInvalidSID", in, err)
		}
	}
}

// TestSIDBinaryMatchesWindows checks the binary encoding against the domain
// SID bytes in the MS-PAC specification sample (inside the NDR RPC_SID after
// its conformance count).
func TestSIDBinaryMatchesWindows(t *testing.T) {
	s, err := ParseSID("S-1-5-21-397955417-626881126-188441444")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString("0104000000000005150000005951b81766725d2564633b0b")
	got, _ := s.MarshalBinary()
	if !bytes.Equal(got, want) {
		t.Errorf("got %x want %x", got, want)
	}
	w := newNDRWriter()
	w.rpcSID(s)
	if !bytes.Equal(w.buf, append([]byte{4, 0, 0, 0}, want...)) {
		t.Errorf("NDR RPC_SID %x", w.buf)
	}
	if d := s.WithRID(513); d.String() != "S-1-5-21-397955417-626881126-188441444-513" || d.RID() != 513 || !d.Domain().Equal(s) {
		t.Errorf("WithRID/Domain/RID: %v", d)
	}
}

func TestParseSIDBytesRejects(t *testing.T) {
	good, _ := hex.DecodeString("0104000000000005150000005951b81766725d2564633b0b")
	for name, b := range map[string][]byte{
		"empty":      nil,
		"short":      good[:7],
		"truncated":  good[:len(good)-1],
		"revision 2": append([]byte{2}, good[1:]...),
		"16 subauth": append([]byte{1, 16}, good[2:]...),
	} {
		if _, _, err := ParseSIDBytes(b); !errors.Is(err, ErrInvalidSID) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestFileTime(t *testing.T) {
	// MS-PAC sample LogonTime: 0x01c66a650f6686d1 = 2006-04-28 01:42:50.9256401 UTC.
	ref := time.Date(2006, 4, 28, 1, 42, 50, 925640100, time.UTC)
	if got := FileTimeFromTime(ref); got != 0x01c66a650f6686d1 {
		t.Errorf("FileTimeFromTime = %#x", uint64(got))
	}
	if got := FileTime(0x01c66a650f6686d1).Time(); !got.Equal(ref) {
		t.Errorf("Time = %v", got)
	}
	unix := time.Unix(1700000000, 0)
	if got := FileTimeFromTime(unix); got != FileTime(1700000000*10000000+116444736000000000) {
		t.Errorf("whole seconds: %d", got)
	}
	if FileTimeFromTime(time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)) != FileTimeNotSet {
		t.Error("pre-1601 not mapped to NotSet")
	}
	if FileTimeFromTime(time.Date(40000, 1, 1, 0, 0, 0, 0, time.UTC)) != FileTimeNever {
		t.Error("far future not mapped to Never")
	}
}
