package store

import (
	"testing"
	"time"
)

func TestPrincipalProblem(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ok := Principal{Name: "alice", Enabled: true}
	for _, tc := range []struct {
		name string
		edit func(*Principal)
		want AccountProblem
	}{
		{"usable", func(*Principal) {}, ""},
		{"no expiry set", func(p *Principal) { p.Expires = time.Time{} }, ""},
		{"expires later", func(p *Principal) { p.Expires = now.Add(time.Second) }, ""},
		{"expires now", func(p *Principal) { p.Expires = now }, AccountExpired},
		{"disabled", func(p *Principal) { p.Enabled = false }, AccountDisabled},
		{"deleted wins", func(p *Principal) { p.Deleted, p.Enabled, p.Expires = true, false, now }, AccountDeleted},
		{"disabled before expired", func(p *Principal) { p.Enabled, p.Expires = false, now }, AccountDisabled},
	} {
		p := ok
		tc.edit(&p)
		if got := p.Problem(now); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if (tc.want == "") != (tc.want.Describe(p) == "") {
			t.Errorf("%s: description %q", tc.name, tc.want.Describe(p))
		}
	}
}
