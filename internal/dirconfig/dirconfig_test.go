package dirconfig

import (
	"testing"

	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/ldapsync"
)

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDialConfig: the ldap section becomes the connection's options; a
// plain ldap:// URL without StartTLS is allowed only as an explicit choice.
func TestDialConfig(t *testing.T) {
	base := "realm: EXAMPLE.TEST\nstore: /tmp/x.db\nkeytab: /tmp/k\nrp_id: localhost\norigins: [\"https://localhost\"]\nlisten: 127.0.0.1:8443\n"
	for _, tc := range []struct {
		name, ldap string
		insecure   bool
	}{
		{"ldaps", "ldap: {url: \"ldaps://dc1:636\", base_dn: \"DC=x\", bind_dn: cn=a, bind_password_file: /p, ca_file: /ca}\n", false},
		{"starttls", "ldap: {url: \"ldap://dc1\", base_dn: \"DC=x\", bind_dn: cn=a, bind_password_file: /p}\n", false},
		{"plain", "ldap: {url: \"ldap://127.0.0.1\", start_tls: false, flavour: rfc2307, base_dn: \"DC=x\", bind_dn: cn=a, bind_password_file: /p}\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := parse(t, base+tc.ldap)
			d := DialConfig(c, nil)
			if d.URL != c.LDAP.URL || d.BindDN != "cn=a" || d.BindPasswordFile != "/p" || d.AllowInsecure != tc.insecure || d.Timeout != c.LDAP.Timeout {
				t.Fatalf("%+v", d)
			}
			fl, err := Flavour(c)
			if err != nil {
				t.Fatal(err)
			}
			want := ldapsync.FlavourAD
			if c.LDAP.Flavour == ldapsync.FlavourRFC2307 {
				want = ldapsync.FlavourRFC2307
			}
			if (want == ldapsync.FlavourAD) != (fl.Attributes().UPN == "userPrincipalName") {
				t.Fatalf("flavour %s has attributes %+v", want, fl.Attributes())
			}
		})
	}
}
