package config

import (
	"fmt"
	"slices"
	"time"

	"github.com/passkdc/passkdc/assertion"
)

// ProfileConfig is one passkey profile in the file (DESIGN §1.3):
//
//	profiles:
//	  - name: admins
//	    target_groups: ["S-1-5-21-...-512"]   # group SID, DN or anchor; "*" = everyone
//	    exclude_groups: []
//	    user_verification: required           # or preferred
//	    attestation: none                     # or enforced (needs FIDO metadata)
//	    aaguid_allow: []                      # only these authenticator models
//	    aaguid_block: ["01020304-0506-0708-0102-030405060708"]
//	    allow_synced: false                   # device-bound passkeys only
//	    enrol_with: [tap, kerberos]           # default [tap]; kerberos: first passkey by HTTP Negotiate
//	    kerberos_max_age: 8h                  # optional bound on the ticket's authtime
//	default_profile: admins                   # for users no profile targets
//
// A user in several profiles passes when any of them allows the passkey;
// registration happens under the first one (file order).
type ProfileConfig struct {
	Name             string   `yaml:"name"`
	TargetGroups     []string `yaml:"target_groups"`
	ExcludeGroups    []string `yaml:"exclude_groups"`
	UserVerification string   `yaml:"user_verification"` // default required
	Attestation      string   `yaml:"attestation"`       // default none
	AAGUIDAllow      []string `yaml:"aaguid_allow"`
	AAGUIDBlock      []string `yaml:"aaguid_block"`
	// AllowSynced allows backup-eligible (synced) passkeys; unset means true.
	AllowSynced *bool `yaml:"allow_synced"`
	// EnrolWith: tap (default) and kerberos (needs the kerberos section).
	EnrolWith []string `yaml:"enrol_with"`
	// KerberosMaxAge bounds the age of the ticket's authtime; 0: no bound.
	KerberosMaxAge time.Duration `yaml:"kerberos_max_age"`
}

// Profile converts to the relying party's profile, with defaults filled in.
func (p ProfileConfig) Profile() assertion.Profile {
	out := assertion.Profile{
		Name: p.Name, TargetGroups: p.TargetGroups, ExcludeGroups: p.ExcludeGroups,
		UserVerification: p.UserVerification, Attestation: p.Attestation,
		AAGUIDAllow: p.AAGUIDAllow, AAGUIDBlock: p.AAGUIDBlock, AllowSynced: true,
		EnrolWith: p.EnrolWith, KerberosMaxAge: p.KerberosMaxAge,
	}
	if out.UserVerification == "" {
		out.UserVerification = assertion.UVRequired
	}
	if out.Attestation == "" {
		out.Attestation = assertion.AttestationNone
	}
	if p.AllowSynced != nil {
		out.AllowSynced = *p.AllowSynced
	}
	return out
}

// PasskeyProfiles returns the configured profiles (for
// assertion.WithProfiles) and the default profile: the one named by
// default_profile, or assertion.DefaultProfile() when none is named.
func (c *Config) PasskeyProfiles() ([]assertion.Profile, assertion.Profile, error) {
	profiles := make([]assertion.Profile, 0, len(c.Profiles))
	def := assertion.DefaultProfile()
	found := c.DefaultProfile == ""
	for _, pc := range c.Profiles {
		p := pc.Profile()
		if err := p.Validate(); err != nil {
			return nil, def, fmt.Errorf("profile %q: %w", p.Name, err)
		}
		profiles = append(profiles, p)
		if p.Name == c.DefaultProfile {
			def, found = p, true
		}
	}
	if !found {
		return nil, def, fmt.Errorf("default_profile %q names no profile", c.DefaultProfile)
	}
	return profiles, def, nil
}

// profiles validates the profiles section.
func (v *validator) profiles(c *Config) {
	seen := map[string]bool{}
	for i, pc := range c.Profiles {
		key := fmt.Sprintf("profiles[%d]", i)
		if pc.Name == "" {
			v.add(key+".name", "required")
			continue
		}
		if seen[pc.Name] {
			v.add(key+".name", "profile %q is defined twice", pc.Name)
		}
		seen[pc.Name] = true
		if len(pc.TargetGroups) == 0 && pc.Name != c.DefaultProfile {
			v.add(key+".target_groups", "profile %q targets nobody: list groups, or \"*\" for everyone", pc.Name)
		}
		if err := pc.Profile().Validate(); err != nil {
			v.add(key, "%s", assertionMessage(err))
		}
		if slices.Contains(pc.EnrolWith, assertion.EnrolKerberos) && c.Kerberos.Keytab == "" {
			v.add(key+".enrol_with", "kerberos needs kerberos.keytab and kerberos.spn (passkdc rodc http-spn writes the keytab)")
		}
	}
	if c.DefaultProfile != "" && !seen[c.DefaultProfile] {
		v.add("default_profile", "%q names no profile in profiles", c.DefaultProfile)
	}
}

// assertionMessage keeps the human part of a relying-party error.
func assertionMessage(err error) string {
	if e, ok := err.(*assertion.Error); ok && e.Message != "" {
		return e.Message
	}
	return err.Error()
}
