package rodc

import (
	"fmt"
	"strings"

	"github.com/passkdc/passkdc/ldapsync"
)

// Decide applies the RODC's password replication policy to a user, the way
// the DC does when it receives a partial TGT: userSIDs is the user's own SID
// plus all its transitive group SIDs, including builtin domain-local groups
// (what tokenGroups returns). A never-reveal match wins over everything;
// otherwise the user must match a reveal-on-demand entry. rule explains the
// outcome, e.g. "in never-reveal group S-1-5-32-544 (Administrators)".
//
// A policy with Unresolved never-reveal values refuses everyone (fails
// closed), naming the values to fix.
func (r *RODC) Decide(userSIDs []string) (allowed bool, rule string) {
	if len(r.Unresolved) > 0 {
		return false, r.UnresolvedError().Error()
	}
	if denied, rule := r.NeverRevealed(userSIDs); denied {
		return false, rule
	}
	have := make(map[string]bool, len(userSIDs))
	for _, s := range userSIDs {
		have[sidKey(s)] = true
	}
	for _, a := range r.Allow {
		if have[sidKey(a)] {
			return true, "in reveal-on-demand group " + r.groupLabel(a)
		}
	}
	return false, "not in any reveal-on-demand group"
}

// NeverRevealed reports whether a never-reveal group holds the user
// (userSIDs as for Decide), naming it. A policy with Unresolved never-reveal
// values answers true: it cannot tell (fail closed).
func (r *RODC) NeverRevealed(userSIDs []string) (bool, string) {
	if len(r.Unresolved) > 0 {
		return true, r.UnresolvedError().Error()
	}
	have := make(map[string]bool, len(userSIDs))
	for _, s := range userSIDs {
		have[sidKey(s)] = true
	}
	for _, d := range r.Deny {
		if have[sidKey(d)] {
			return true, "in never-reveal group " + r.groupLabel(d)
		}
	}
	return false, ""
}

// sidKey canonicalises a SID for comparison; unparsable input is kept
// verbatim (upper-cased) so it can still match itself but nothing else.
func sidKey(s string) string {
	if c, err := ldapsync.CanonicalSID(strings.TrimSpace(s)); err == nil {
		return c
	}
	return strings.ToUpper(s)
}

// groupLabel is "SID (name)" when a name is known.
func (r *RODC) groupLabel(sid string) string {
	name := r.GroupNames[sid]
	if name == "" {
		name = WellKnownGroupName(sid)
	}
	if name == "" {
		return sid
	}
	return sid + " (" + name + ")"
}

// WellKnownGroupName names the builtin and well-known domain groups that
// matter for RODC policies ("" for others).
func WellKnownGroupName(sid string) string {
	s, err := ldapsync.ParseSID(sid)
	if err != nil {
		return ""
	}
	switch {
	case s.IdentifierAuthority == 5 && len(s.SubAuthorities) == 2 && s.SubAuthorities[0] == 32:
		return builtinName(s.RID())
	case s.IdentifierAuthority == 5 && len(s.SubAuthorities) == 5 && s.SubAuthorities[0] == 21:
		return domainGroupName(s.RID())
	}
	return ""
}

func builtinName(rid uint32) string {
	switch rid {
	case 544:
		return "Administrators"
	case 545:
		return "Users"
	case 548:
		return "Account Operators"
	case 549:
		return "Server Operators"
	case 550:
		return "Print Operators"
	case 551:
		return "Backup Operators"
	}
	return ""
}

func domainGroupName(rid uint32) string {
	switch rid {
	case 512:
		return "Domain Admins"
	case 513:
		return "Domain Users"
	case 516:
		return "Domain Controllers"
	case 518:
		return "Schema Admins"
	case 519:
		return "Enterprise Admins"
	case 521:
		return "Read-only Domain Controllers"
	case ridAllowedRODCReplication:
		return "Allowed RODC Password Replication Group"
	case ridDeniedRODCReplication:
		return "Denied RODC Password Replication Group"
	}
	return ""
}

// UnresolvedError explains the never-reveal values that could not be
// resolved to a SID (nil when there are none); it wraps ErrPolicyUnresolved.
func (r *RODC) UnresolvedError() error {
	if len(r.Unresolved) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s on %s names %s, which has no SID; remove it or replace it with a group "+
		"(passkdc refuses every sign-in until then)", ErrPolicyUnresolved, attrNeverReveal, r.ComputerDN,
		strings.Join(r.Unresolved, ", "))
}
