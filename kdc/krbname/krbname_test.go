package krbname

import "testing"

func TestSplit(t *testing.T) {
	for _, tc := range []struct{ in, name, realm string }{
		{"alice", "alice", "DEF"},
		{"alice@CORP.EXAMPLE.TEST", "alice", "CORP.EXAMPLE.TEST"},
		{"a@b@CORP", "a@b", "CORP"},
		{`a\@b`, `a\@b`, "DEF"},
		{`a\\@CORP`, `a\\`, "CORP"},
		{"alice@", "alice", ""},
		{"", "", "DEF"},
	} {
		name, realm := Split(tc.in, "DEF")
		if name != tc.name || realm != tc.realm {
			t.Errorf("Split(%q) = %q %q, want %q %q", tc.in, name, realm, tc.name, tc.realm)
		}
	}
}

func TestInRealmAndSame(t *testing.T) {
	if n, err := InRealm("alice@corp.example.test", "CORP.EXAMPLE.TEST"); err != nil || n != "alice" {
		t.Fatalf("InRealm: %q %v", n, err)
	}
	if _, err := InRealm("alice@OTHER", "CORP"); err == nil {
		t.Fatal("another realm accepted")
	}
	for typed, want := range map[string]bool{"Alice": true, "alice@corp": true, "alice@OTHER": false, "bob": false} {
		if got := Same(typed, "alice@CORP"); got != want {
			t.Errorf("Same(%q) = %v", typed, got)
		}
	}
}

func TestUnparseParseRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		comps []string
		realm string
		text  string
	}{
		{[]string{"krbtgt", "CORP.EXAMPLE.TEST"}, "CORP.EXAMPLE.TEST", "krbtgt/CORP.EXAMPLE.TEST@CORP.EXAMPLE.TEST"},
		{[]string{"a/b", "c@d"}, "R/E@X", `a\/b/c\@d@R/E\@X`},
		{[]string{"tab\tnl\nnul\x00bs\b", `back\slash`}, "R", `tab\tnl\nnul\0bs\b/back\\slash@R`},
	} {
		if got := Unparse(tc.comps, tc.realm); got != tc.text {
			t.Errorf("Unparse(%q, %q) = %q, want %q", tc.comps, tc.realm, got, tc.text)
		}
		comps, realm, hasRealm, err := Parse(tc.text)
		if err != nil || !hasRealm || realm != tc.realm || len(comps) != len(tc.comps) {
			t.Fatalf("Parse(%q) = %q %q %v %v", tc.text, comps, realm, hasRealm, err)
		}
		for i := range comps {
			if comps[i] != tc.comps[i] {
				t.Errorf("Parse(%q) component %d = %q, want %q", tc.text, i, comps[i], tc.comps[i])
			}
		}
	}
	for _, bad := range []string{`a\`, "a@b@c"} {
		if _, _, _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
