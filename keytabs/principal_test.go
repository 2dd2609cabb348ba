package keytabs

import (
	"errors"
	"slices"
	"testing"

	"github.com/jcmturner/gokrb5/v8/types"
)

func TestParsePrincipal(t *testing.T) {
	tests := []struct {
		in       string
		realm    string
		comps    []string
		nameType int32
		str      string // String() of the result; "" means in
	}{
		{"alice@EXAMPLE.TEST", "EXAMPLE.TEST", []string{"alice"}, 1, ""},
		{"host/h.example.test@EXAMPLE.TEST", "EXAMPLE.TEST", []string{"host", "h.example.test"}, 1, ""},
		{"krbtgt/EXAMPLE.TEST@EXAMPLE.TEST", "EXAMPLE.TEST", []string{"krbtgt", "EXAMPLE.TEST"}, 2, ""},
		{"krbtgt/A/B@R", "R", []string{"krbtgt", "A", "B"}, 1, ""},
		{"krbtgt_40000@CORP.EXAMPLE.TEST", "CORP.EXAMPLE.TEST", []string{"krbtgt_40000"}, 1, ""},
		{`a\/b@R`, "R", []string{"a/b"}, 1, ""},
		{`a\@b@R`, "R", []string{"a@b"}, 1, ""},
		{`a\\b@R`, "R", []string{`a\b`}, 1, ""},
		{`a\n\t\b\0@R`, "R", []string{"a\n\t\b\x00"}, 1, ""},
		{`a\x@R`, "R", []string{"ax"}, 1, "ax@R"},
		{"a@R/with/slash", "R/with/slash", []string{"a"}, 1, ""},
		{`a@R\@at`, "R@at", []string{"a"}, 1, ""},
		{"üser@ÉXAMPLE", "ÉXAMPLE", []string{"üser"}, 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParsePrincipal(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if p.Realm != tc.realm || !slices.Equal(p.Components, tc.comps) || p.NameType != tc.nameType {
				t.Fatalf("got %#v", p)
			}
			want := tc.str
			if want == "" {
				want = tc.in
			}
			if p.String() != want {
				t.Errorf("String() = %q, want %q", p.String(), want)
			}
		})
	}
}

func TestParsePrincipalErrors(t *testing.T) {
	for _, in := range []string{"", "alice", "alice@", "@R", "a//b@R", "a/@R", "a@b@R", `a@R\`, `a\`, "/a@R"} {
		if p, err := ParsePrincipal(in); !errors.Is(err, ErrBadPrincipal) {
			t.Errorf("ParsePrincipal(%q) = %#v, %v; want ErrBadPrincipal", in, p, err)
		}
	}
}

func TestPrincipalEqual(t *testing.T) {
	a := mustPrincipal(t, "krbtgt_40000@CORP.EXAMPLE.TEST")
	tests := []struct {
		other Principal
		want  bool
	}{
		{mustPrincipal(t, "krbtgt_40000@corp.example.test"), true},
		{Principal{Realm: "CORP.EXAMPLE.TEST", Components: []string{"krbtgt_40000"}, NameType: 2}, true},
		{mustPrincipal(t, "KRBTGT_40000@CORP.EXAMPLE.TEST"), false},
		{mustPrincipal(t, "krbtgt_40001@CORP.EXAMPLE.TEST"), false},
		{mustPrincipal(t, "krbtgt_40000/x@CORP.EXAMPLE.TEST"), false},
		{mustPrincipal(t, "krbtgt_40000@OTHER.TEST"), false},
	}
	for _, tc := range tests {
		if got := a.Equal(tc.other); got != tc.want {
			t.Errorf("%v.Equal(%v) = %v", a, tc.other, got)
		}
		if got := a.identity() == tc.other.identity(); got != tc.want {
			t.Errorf("identity(%v) == identity(%v): %v", a, tc.other, got)
		}
	}
	// identity must not confuse component boundaries.
	x := Principal{Realm: "R", Components: []string{"a|1:b"}}
	y := Principal{Realm: "R", Components: []string{"a", "b"}}
	if x.identity() == y.identity() {
		t.Error("identity collision")
	}
}

func TestPrincipalNameConversion(t *testing.T) {
	p := NewPrincipal("EXAMPLE.TEST", "krbtgt", "EXAMPLE.TEST")
	pn := p.PrincipalName()
	if pn.NameType != 2 || !slices.Equal(pn.NameString, []string{"krbtgt", "EXAMPLE.TEST"}) {
		t.Fatalf("PrincipalName() = %+v", pn)
	}
	back := PrincipalFromName(types.PrincipalName{NameType: 1, NameString: []string{"u"}}, "R")
	if back.String() != "u@R" || back.NameType != 1 {
		t.Fatalf("PrincipalFromName = %#v", back)
	}
}
