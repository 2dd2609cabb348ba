package config

import (
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/ldapsync"
)

// Helpdesk configures the helpdesk page (/helpdesk): who the staff are.
type Helpdesk struct {
	// Groups are the group SIDs ("S-1-5-21-…") or DNs whose members
	// (nested included) are helpdesk staff. Empty: nobody is.
	Groups []string `yaml:"groups"`
	// MayActOnHelpdesk lets staff act on other helpdesk members (default
	// false: a helpdesk member's passes and passkeys are managed by an
	// administrator with the CLI).
	MayActOnHelpdesk bool `yaml:"may_act_on_helpdesk"`
}

func (v *validator) helpdesk(h *Helpdesk) {
	seen := map[string]bool{}
	for i, g := range h.Groups {
		g = strings.TrimSpace(g)
		switch {
		case strings.HasPrefix(strings.ToUpper(g), "S-"):
			c, err := ldapsync.CanonicalSID(g)
			if err != nil {
				v.add("helpdesk.groups", "%q is not a SID (S-1-5-21-…): %v", g, err)
				continue
			}
			g = c
		default:
			if _, err := ldap.ParseDN(g); err != nil || g == "" {
				v.add("helpdesk.groups", "%q is neither a SID (S-1-…) nor a DN (CN=…,DC=…)", g)
				continue
			}
		}
		if seen[strings.ToLower(g)] {
			v.add("helpdesk.groups", "%q is listed twice", g)
		}
		seen[strings.ToLower(g)] = true
		h.Groups[i] = g
	}
}
