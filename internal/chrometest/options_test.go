package chrometest

import "testing"

// TestExtraOptions: Options.Flags and Options.Env become allocator options;
// a switch New owns, a value of another type or an entry without "=" is
// refused.
func TestExtraOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		n    int
		ok   bool
	}{
		{"none", Options{}, 0, true},
		{"negotiate", Options{Flags: map[string]any{"auth-server-allowlist": "passkdc.example.test",
			"disable-auth-negotiate-cname-lookup": true}, Env: []string{"KRB5CCNAME=FILE:/tmp/cc"}}, 3, true},
		{"owned switch", Options{Flags: map[string]any{"user-data-dir": "/tmp/x"}}, 0, false},
		{"dashes", Options{Flags: map[string]any{"--lang": "de"}}, 0, false},
		{"int value", Options{Flags: map[string]any{"window-size": 3}}, 0, false},
		{"env without =", Options{Env: []string{"KRB5CCNAME"}}, 0, false},
		{"env empty name", Options{Env: []string{"=x"}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := extraOptions(tc.o)
			if (err == nil) != tc.ok || len(got) != tc.n {
				t.Fatalf("extraOptions: %d options, error %v; want %d, ok=%v", len(got), err, tc.n, tc.ok)
			}
		})
	}
}
