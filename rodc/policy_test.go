package rodc

import (
	"errors"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	const dom = "S-1-5-21-1-2-3"
	r := &RODC{
		Allow:      []string{dom + "-571", dom + "-1200"},
		Deny:       DefaultNeverReveal(dom),
		GroupNames: map[string]string{dom + "-1200": "passkey-users"},
	}
	tests := []struct {
		name    string
		sids    []string
		allowed bool
		rule    string
	}{
		{"member of allowed group", []string{dom + "-1105", dom + "-513", dom + "-571"}, true,
			"in reveal-on-demand group " + dom + "-571 (Allowed RODC Password Replication Group)"},
		{"name from the directory wins", []string{dom + "-1105", dom + "-1200"}, true,
			"in reveal-on-demand group " + dom + "-1200 (passkey-users)"},
		{"not in any group", []string{dom + "-1105", dom + "-513"}, false, "not in any reveal-on-demand group"},
		{"no SIDs at all", nil, false, "not in any reveal-on-demand group"},
		{"deny beats allow", []string{dom + "-1105", dom + "-571", dom + "-572"}, false,
			"in never-reveal group " + dom + "-572 (Denied RODC Password Replication Group)"},
		{"builtin administrators", []string{dom + "-500", "S-1-5-32-544", dom + "-1200"}, false,
			"in never-reveal group S-1-5-32-544 (Administrators)"},
		{"backup operators, lower-case SID", []string{"s-1-5-32-551", dom + "-571"}, false,
			"in never-reveal group S-1-5-32-551 (Backup Operators)"},
		{"print operators", []string{"S-1-5-32-550", dom + "-571"}, false,
			"in never-reveal group S-1-5-32-550 (Print Operators)"},
		{"garbage SIDs ignored", []string{"junk", "", dom + "-571"}, true,
			"in reveal-on-demand group " + dom + "-571 (Allowed RODC Password Replication Group)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			allowed, rule := r.Decide(tc.sids)
			if allowed != tc.allowed || rule != tc.rule {
				t.Errorf("Decide = %v, %q; want %v, %q", allowed, rule, tc.allowed, tc.rule)
			}
		})
	}
	empty := &RODC{}
	if ok, rule := empty.Decide([]string{dom + "-571"}); ok || rule != "not in any reveal-on-demand group" {
		t.Errorf("empty policy: %v %q", ok, rule)
	}
	unresolved := &RODC{Allow: []string{dom + "-571"}, ComputerDN: "CN=PASSKDC,OU=Domain Controllers,DC=x",
		Unresolved: []string{"OU=Gone,DC=x"}}
	if ok, rule := unresolved.Decide([]string{dom + "-1105", dom + "-571"}); ok ||
		!strings.Contains(rule, "OU=Gone,DC=x") || !strings.Contains(rule, "msDS-NeverRevealGroup") {
		t.Errorf("unresolved never-reveal value must refuse everyone, naming it: %v %q", ok, rule)
	}
	if err := unresolved.UnresolvedError(); !errors.Is(err, ErrPolicyUnresolved) {
		t.Errorf("UnresolvedError = %v, want ErrPolicyUnresolved", err)
	}
	if err := r.UnresolvedError(); err != nil {
		t.Errorf("resolved policy: UnresolvedError = %v", err)
	}
	unnamed := &RODC{Deny: []string{dom + "-4000"}}
	if _, rule := unnamed.Decide([]string{dom + "-4000"}); rule != "in never-reveal group "+dom+"-4000" {
		t.Errorf("unnamed rule %q", rule)
	}
}

func TestWellKnownGroupName(t *testing.T) {
	tests := map[string]string{
		"S-1-5-32-544":           "Administrators",
		"S-1-5-32-548":           "Account Operators",
		"S-1-5-21-1-2-3-512":     "Domain Admins",
		"S-1-5-21-1-2-3-572":     "Denied RODC Password Replication Group",
		"S-1-5-21-1-2-3-4-512":   "",
		"S-1-5-32-999":           "",
		"S-1-1-0":                "",
		"not a sid":              "",
		"S-1-5-21-1-2-3-1000512": "",
	}
	for sid, want := range tests {
		if got := WellKnownGroupName(sid); got != want {
			t.Errorf("WellKnownGroupName(%s) = %q, want %q", sid, got, want)
		}
	}
}

func TestNeverRevealed(t *testing.T) {
	const dom = "S-1-5-21-1-2-3"
	r := &RODC{Allow: []string{dom + "-571"}, Deny: DefaultNeverReveal(dom)}
	for _, tc := range []struct {
		name string
		sids []string
		in   bool
		rule string
	}{
		{"allowed user", []string{dom + "-1105", dom + "-571"}, false, ""},
		{"in no group", []string{dom + "-1105"}, false, ""},
		{"denied group, also allowed", []string{dom + "-571", dom + "-572"}, true, "in never-reveal group " + dom + "-572 (Denied RODC Password Replication Group)"},
		{"builtin, lower case", []string{"s-1-5-32-544"}, true, "in never-reveal group S-1-5-32-544 (Administrators)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if in, rule := r.NeverRevealed(tc.sids); in != tc.in || rule != tc.rule {
				t.Errorf("NeverRevealed = %v, %q; want %v, %q", in, rule, tc.in, tc.rule)
			}
		})
	}
	unresolved := &RODC{Unresolved: []string{"OU=Gone,DC=x"}}
	if in, rule := unresolved.NeverRevealed([]string{dom + "-1105"}); !in || !strings.Contains(rule, "OU=Gone,DC=x") {
		t.Errorf("an unresolved never-reveal value must count everyone in (fail closed): %v %q", in, rule)
	}
}
