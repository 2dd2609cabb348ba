package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/internal/softkey"
)

// TestWebRegistrationUnderSeveralProfiles: a user targeted by two profiles
// sees both on the page, and a passkey the first refuses (its model is
// blocked) is registered under the second, which the credential records.
// Excluded from the second profile, the user is refused by the first alone.
func TestWebRegistrationUnderSeveralProfiles(t *testing.T) {
	member := domainSID + "-571"
	strict := assertion.Profile{Name: "no-soft-keys", TargetGroups: []string{member},
		UserVerification: assertion.UVRequired, AAGUIDBlock: []string{softkey.AAGUIDString}, AllowSynced: true}
	plain := assertion.Profile{Name: "plain", TargetGroups: []string{assertion.AllUsers},
		UserVerification: assertion.UVRequired, AllowSynced: true}
	for _, tc := range []struct {
		name     string
		exclude  []string
		shown    string
		status   int
		register string // admitting profile, or "" for a refusal
	}{
		{"in both", nil, "no-soft-keys or plain", http.StatusOK, "plain"},
		{"excluded from plain", []string{member}, "no-soft-keys", http.StatusForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := plain
			p.ExcludeGroups = tc.exclude
			e := newWebEnv(t, webOpts{profiles: []assertion.Profile{strict, p}})
			e.tap(e.alice, "PASS-PASS-PASS", 1)
			b := e.browser()
			if s := b.signInTAP("PASS-PASS-PASS"); s.Profile.Name != tc.shown || len(s.Profile.Rules) == 0 {
				t.Fatalf("profile %+v, want %q", s.Profile, tc.shown)
			}
			r := b.addPasskey(e.softkey("alice"), "mine")
			if r.status != tc.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
			creds := b.credentials()
			if tc.register == "" {
				if r.code() != assertion.CodeProfileRefused || !strings.Contains(string(r.body), `profile \"no-soft-keys\" rule aaguid_block`) ||
					strings.Contains(string(r.body), "plain") || len(creds) != 0 {
					t.Fatalf("%s, %d stored", r.body, len(creds))
				}
				return
			}
			if len(creds) != 1 || creds[0].Profile != tc.register {
				t.Fatalf("stored %+v, want under %q", creds, tc.register)
			}
		})
	}
}
