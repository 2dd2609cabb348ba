package config

import (
	"errors"
	"strings"
	"testing"
	"time"

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

const krbSection = "kerberos: {keytab: /var/lib/passkdc/http.keytab, spn: HTTP/passkdc.corp.example.test}"

func TestKerberosEnrolmentConverts(t *testing.T) {
	c, err := Parse([]byte(minimal+krbSection+"\nprofiles: [{name: a, target_groups: ['*'], enrol_with: [tap, kerberos], kerberos_max_age: 8h}]\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	profs, _, err := c.PasskeyProfiles()
	if err != nil || len(profs) != 1 {
		t.Fatal(profs, err)
	}
	if ok, fresh := profs[0].AllowsKerberos(7 * time.Hour); !ok || !fresh {
		t.Fatalf("%+v: kerberos not allowed at 7h", profs[0])
	}
	if _, fresh := profs[0].AllowsKerberos(9 * time.Hour); fresh {
		t.Fatalf("%+v: 9h counted as fresh", profs[0])
	}
	if c.Kerberos.SPN != "HTTP/passkdc.corp.example.test" || c.Kerberos.Keytab == "" {
		t.Fatalf("kerberos section %+v", c.Kerberos)
	}
	def, err := Parse([]byte(minimal+"profiles: [{name: a, target_groups: ['*']}]\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if p, _, _ := def.PasskeyProfiles(); len(p) != 1 {
		t.Fatal(p)
	} else if ok, _ := p[0].AllowsKerberos(0); ok {
		t.Fatal("a profile without enrol_with allows kerberos")
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
		{"enrol_with unknown", "profiles: [{name: a, target_groups: ['*'], enrol_with: [tap, password]}]\n" + krbSection, "profiles[0]"},
		{"enrol_with without tap", "profiles: [{name: a, target_groups: ['*'], enrol_with: [kerberos]}]\n" + krbSection, "profiles[0]"},
		{"kerberos without keytab", "profiles: [{name: a, target_groups: ['*'], enrol_with: [tap, kerberos]}]", "profiles[0].enrol_with"},
		{"max age without kerberos", "profiles: [{name: a, target_groups: ['*'], kerberos_max_age: 1h}]", "profiles[0]"},
		{"keytab without spn", "kerberos: {keytab: /k}", "kerberos"},
		{"spn not HTTP", "kerberos: {keytab: /k, spn: host/passkdc.corp.example.test}", "kerberos.spn"},
		{"spn without domain", "kerberos: {keytab: /k, spn: HTTP/passkdc}", "kerberos.spn"},
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
