package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/assertion"
)

const withProfiles = minimal + `
profiles:
  - name: admins
    target_groups: ["S-1-5-21-1-2-3-512"]
    aaguid_block: ["01020304-0506-0708-0102-030405060708"]
    allow_synced: false
  - name: everyone
    target_groups: ["*"]
    user_verification: preferred
default_profile: everyone
`

func TestProfilesConvertWithDefaults(t *testing.T) {
	c, err := Parse([]byte(withProfiles), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	profs, def, err := c.PasskeyProfiles()
	if err != nil {
		t.Fatal(err)
	}
	if len(profs) != 2 || def.Name != "everyone" {
		t.Fatalf("profiles %+v default %+v", profs, def)
	}
	admins := profs[0]
	if admins.AllowSynced || admins.UserVerification != assertion.UVRequired || admins.Attestation != assertion.AttestationNone ||
		len(admins.AAGUIDBlock) != 1 {
		t.Errorf("admins %+v", admins)
	}
	if !profs[1].AllowSynced || profs[1].UserVerification != assertion.UVPreferred {
		t.Errorf("everyone %+v (allow_synced unset must mean true)", profs[1])
	}
	// The converted profiles are what the relying party accepts.
	for _, p := range append(profs, def) {
		if err := p.Validate(); err != nil {
			t.Errorf("profile %s: %v", p.Name, err)
		}
	}
}

func TestNoProfilesMeansTheBuiltInDefault(t *testing.T) {
	c, err := Parse([]byte(minimal), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	profs, def, err := c.PasskeyProfiles()
	if err != nil || len(profs) != 0 || def.Name != assertion.DefaultProfile().Name {
		t.Fatalf("%v %v %v", profs, def, err)
	}
}

func TestProfilesFromEnvironment(t *testing.T) {
	c, err := Parse([]byte(minimal), envMap(map[string]string{
		"PASSKDC_PROFILES":        `[{"name": "strict", "target_groups": ["*"], "allow_synced": false}]`,
		"PASSKDC_DEFAULT_PROFILE": "strict",
	}))
	if err != nil {
		t.Fatal(err)
	}
	_, def, err := c.PasskeyProfiles()
	if err != nil || def.Name != "strict" || def.AllowSynced {
		t.Fatalf("%+v %v", def, err)
	}
}

func TestInvalidProfiles(t *testing.T) {
	cases := []struct {
		name, yaml, key string
	}{
		{"no name", "profiles: [{target_groups: ['*']}]", "profiles[0].name"},
		{"duplicate", "profiles: [{name: a, target_groups: ['*']}, {name: a, target_groups: ['*']}]", "profiles[1].name"},
		{"targets nobody", "profiles: [{name: a}]", "profiles[0].target_groups"},
		{"bad uv", "profiles: [{name: a, target_groups: ['*'], user_verification: sometimes}]", "profiles[0]"},
		{"bad attestation", "profiles: [{name: a, target_groups: ['*'], attestation: maybe}]", "profiles[0]"},
		{"bad aaguid", "profiles: [{name: a, target_groups: ['*'], aaguid_block: [yubikey]}]", "profiles[0]"},
		{"unknown default", "profiles: [{name: a, target_groups: ['*']}]\ndefault_profile: b", "default_profile"},
		{"unknown key", "profiles: [{name: a, target_groups: ['*'], allow_sync: true}]", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal+tc.yaml+"\n"), noEnv)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.key == "" {
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v is not a FieldError", err)
			}
			if !strings.Contains(err.Error(), tc.key+":") {
				t.Fatalf("err %v does not name %s", err, tc.key)
			}
		})
	}
}
