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
