package sid

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
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
		s, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		want := tc.out
		if want == "" {
			want = tc.in
		}
		if got := s.String(); got != want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, want)
		}
		if s.IsDomainAccount() != tc.domain {
			t.Errorf("%q IsDomainAccount = %v", tc.in, !tc.domain)
		}
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		back, n, err := ParseBytes(b)
		if err != nil || n != len(b) || !back.Equal(s) {
			t.Errorf("binary round trip of %q: %v %d %v", tc.in, back, n, err)
		}
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{"S-1-5-21-397955417-626881126-188441444-2914711", "S-1-5-21-397955417-626881126-188441444-2914711"},
		{"S-1-5", "S-1-5"},
		{"S-1-0-0", "S-1-0-0"},
		{"S-1-5-4294967295", "S-1-5-4294967295"},
		{"s-1-5-18", "S-1-5-18"},
		{"S-1-05-18", "S-1-5-18"},
		{"S-1-5-0018", "S-1-5-18"},
		{"S-1-0x5-18", "S-1-5-18"},
		{"S-1-4294967296-7", "S-1-0x000100000000-7"},
		{"S-1-0x123456789abc-1", "S-1-0x123456789ABC-1"},
		{"S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15", "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15"},
	}
	for _, tc := range tests {
		got, err := Canonical(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "S-1-", "S-1-5-", "S-1--5", "S-1-5-4294967296", "S-1-+5",
		"S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16", "S-2-5-21"} {
		if got, err := Canonical(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Canonical(%q) = %q, %v; want ErrInvalid", in, got, err)
		}
	}
}

// TestCanonicalAllocations: a canonical SID costs no allocation (the
// replication policy canonicalises every SID of every sign-in).
func TestCanonicalAllocations(t *testing.T) {
	in := "S-1-5-21-397955417-626881126-188441444-2914711"
	if n := testing.AllocsPerRun(100, func() { _, _ = Canonical(in) }); n != 0 {
		t.Errorf("Canonical of a canonical SID: %v allocations, want 0", n)
	}
}

func TestParseSIDRejects(t *testing.T) {
	for _, in := range []string{"", "S", "S-1", "X-1-5-21", "S-2-5-21", "S-1--5", "S-1-5-x",
		"S-1-5-4294967296", "S-1-281474976710656-1", "S-1-0x1000000000000-1",
		"S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16"} {
		if _, err := Parse(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) err = %v, want ErrInvalid", in, err)
		}
	}
}

// TestSIDBinaryMatchesWindows checks the binary encoding against the domain
// SID bytes in the MS-PAC specification sample (inside the NDR RPC_SID after
// its conformance count).
func TestSIDBinaryMatchesWindows(t *testing.T) {
	s, err := Parse("S-1-5-21-397955417-626881126-188441444")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString("0104000000000005150000005951b81766725d2564633b0b")
	got, _ := s.MarshalBinary()
	if !bytes.Equal(got, want) {
		t.Errorf("got %x want %x", got, want)
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
		if _, _, err := ParseBytes(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestParseAllocations: parsing allocates the sub-authorities only.
func TestParseAllocations(t *testing.T) {
	in := "S-1-5-21-397955417-626881126-188441444-2914711"
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(in) }); n != 1 {
		t.Errorf("Parse: %v allocations, want 1", n)
	}
}

// TestParseFieldsAtTheEdges: empty fields, a trailing dash and the bare
// three fields are read field by field as they are written.
func TestParseFieldsAtTheEdges(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" when refused
	}{
		{"S-1-5", "S-1-5"}, {"s-1-5-18", "S-1-5-18"}, {"S-1-5-", ""}, {"S-1-5--1", ""}, {"S-1-5-1-", ""},
		{"S-1-5-21-1-2-3-4-5-6-7-8-9-10-11-12", "S-1-5-21-1-2-3-4-5-6-7-8-9-10-11-12"}, {"S-1-05-021", "S-1-5-21"},
		{"S-01-5", "S-1-5"}, {"S-1-0x10000000A-7", "S-1-0x00010000000A-7"}, {"S--1-5", ""}, {"-1-5", ""},
	} {
		v, err := Parse(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %s, want an error", tc.in, v)
			}
			continue
		}
		if err != nil || v.String() != tc.want || len(v.SubAuthorities) != strings.Count(tc.want, "-")-2 {
			t.Errorf("Parse(%q) = %s, %v; want %s", tc.in, v, err, tc.want)
		}
	}
}

// TestInDomain: a SID is in the domain it extends by exactly one
// sub-authority.
func TestInDomain(t *testing.T) {
	dom, _ := Parse("S-1-5-21-1-2-3")
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"S-1-5-21-1-2-3-500", true}, {"S-1-5-21-1-2-3", false}, {"S-1-5-21-1-2-4-500", false},
		{"S-1-5-21-1-2-3-500-1", false}, {"S-1-6-21-1-2-3-500", false}, {"S-1-5-32-545", false},
	} {
		s, err := Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.InDomain(dom); got != tc.want || got != s.Domain().Equal(dom) {
			t.Errorf("%s in %s: %v, want %v", tc.in, dom, got, tc.want)
		}
	}
	if (SID{Revision: 1}).InDomain(SID{Revision: 1}) {
		t.Error("a SID without sub-authorities is in a domain")
	}
}
