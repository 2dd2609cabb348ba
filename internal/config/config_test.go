package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/ldapsync"
)

const minimal = `
realm: CORP.EXAMPLE.TEST
ldap:
  url: ldaps://dc1.corp.example.test
  base_dn: DC=corp,DC=example,DC=test
`

const full = `
realm: CORP.EXAMPLE.TEST
listen: 127.0.0.1:8443
rp_id: localhost
origins: ["https://localhost:8443"]
store: /var/lib/passkdc/passkdc.db
keytab: /var/lib/passkdc/krbtgt.keytab
tls: {cert: /etc/passkdc/tls.crt, key: /etc/passkdc/tls.key}
ldap:
  url: ldaps://dc1.corp.example.test
  flavour: ad
  bind_dn: svc-passkdc@CORP.EXAMPLE.TEST
  bind_password_file: /etc/passkdc/bind.pw
  base_dn: DC=corp,DC=example,DC=test
  ca_file: /etc/passkdc/ad-ca.pem
  page_size: 1000
  timeout: 10s
  user_filter: (&(objectCategory=person)(objectClass=user))
  attributes: {name: sAMAccountName}
sync:
  interval: 2m
  full_interval: 12h
  live_check: false
  max_staleness: 30m
`

func noEnv(string) (string, bool) { return "", false }

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.LDAP.PageSize != 500 || c.LDAP.Flavour != ldapsync.FlavourAD || c.LDAP.Timeout != 30*time.Second {
		t.Errorf("ldap defaults: %+v", c.LDAP)
	}
	if !c.Sync.LiveCheck || c.Sync.MaxStaleness != time.Hour || c.Sync.FullInterval != 24*time.Hour {
		t.Errorf("sync defaults: %+v", c.Sync)
	}
	if c.LDAP.Directory != "default" || c.Listen != "127.0.0.1:8443" {
		t.Errorf("defaults: %+v", c)
	}
	if c.LDAP.EffectiveUserBaseDN() != c.LDAP.BaseDN || c.LDAP.EffectiveMembership() != ldapsync.MembershipMemberOf {
		t.Error("effective values")
	}
}

func TestFullFile(t *testing.T) {
	c, err := Parse([]byte(full), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sync.LiveCheck || c.Sync.Interval != 2*time.Minute || c.LDAP.PageSize != 1000 ||
		c.TLS.Key != "/etc/passkdc/tls.key" || c.Origins[0] != "https://localhost:8443" ||
		c.LDAP.Attributes.Name != "sAMAccountName" {
		t.Errorf("parsed: %+v", c)
	}
}

func TestEnvOverrides(t *testing.T) {
	env := map[string]string{
		"PASSKDC_REALM":                   "OTHER.TEST",
		"PASSKDC_LDAP_URL":                "ldap://127.0.0.1:3389",
		"PASSKDC_LDAP_START_TLS":          "true",
		"PASSKDC_LDAP_PAGE_SIZE":          "250",
		"PASSKDC_LDAP_FLAVOUR":            "rfc2307",
		"PASSKDC_SYNC_MAX_STALENESS":      "2h",
		"PASSKDC_SYNC_LIVE_CHECK":         "0",
		"PASSKDC_ORIGINS":                 "https://a.localhost, https://localhost",
		"PASSKDC_RP_ID":                   "localhost",
		"PASSKDC_LDAP_ATTRIBUTES_NAME":    "cn",
		"PASSKDC_LDAP_BIND_DN":            "cn=admin,dc=x",
		"PASSKDC_LDAP_BIND_PASSWORD_FILE": "/run/pw",
		"PASSKDC_TLS_CERT":                "",
		"PASSKDC_TLS_KEY":                 "",
	}
	c, err := Parse([]byte(full), envMap(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.Realm != "OTHER.TEST" || c.LDAP.URL != "ldap://127.0.0.1:3389" || !c.LDAP.StartTLS ||
		c.LDAP.PageSize != 250 || c.LDAP.Flavour != ldapsync.FlavourRFC2307 || c.Sync.MaxStaleness != 2*time.Hour ||
		c.Sync.LiveCheck || len(c.Origins) != 2 || c.Origins[0] != "https://a.localhost" ||
		c.LDAP.Attributes.Name != "cn" || c.LDAP.BindPasswordFile != "/run/pw" || c.TLS.Cert != "" {
		t.Errorf("after env: %+v", c)
	}
	if c.LDAP.EffectiveMembership() != ldapsync.MembershipMember {
		t.Error("rfc2307 default membership should be member")
	}
}

func TestEnvVarNames(t *testing.T) {
	names := map[string]string{}
	for _, e := range EnvVars() {
		names[e.Key] = e.Name
	}
	for key, want := range map[string]string{
		"realm":                   "PASSKDC_REALM",
		"listen":                  "PASSKDC_LISTEN",
		"ldap.url":                "PASSKDC_LDAP_URL",
		"ldap.bind_dn":            "PASSKDC_LDAP_BIND_DN",
		"ldap.bind_password_file": "PASSKDC_LDAP_BIND_PASSWORD_FILE",
		"tls.cert":                "PASSKDC_TLS_CERT",
		"sync.max_staleness":      "PASSKDC_SYNC_MAX_STALENESS",
		"ldap.attributes.anchor":  "PASSKDC_LDAP_ATTRIBUTES_ANCHOR",
	} {
		if names[key] != want {
			t.Errorf("%s: env %q, want %q", key, names[key], want)
		}
	}
}

func TestInvalid(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		env  map[string]string
		key  string // expected FieldError key ("" = YAML error)
		msg  string
	}{
		{"unknown key", minimal + "bogus: 1\n", nil, "", "field bogus not found"},
		{"unknown nested key", minimal + "sync: {intervall: 1m}\n", nil, "", "field intervall not found"},
		{"secret inline", minimal + "  bind_password: hunter2\n", nil, "", "field bind_password not found"},
		{"no realm", "ldap: {url: ldap://x, base_dn: dc=x}\n", nil, "realm", "required"},
		{"no url", "realm: R\nldap: {base_dn: dc=x}\n", nil, "ldap.url", "required"},
		{"bad scheme", minimal, map[string]string{"PASSKDC_LDAP_URL": "http://x"}, "ldap.url", "scheme"},
		{"plain ldap to remote", minimal, map[string]string{"PASSKDC_LDAP_URL": "ldap://dc1.example.test", "PASSKDC_LDAP_START_TLS": "false"}, "ldap.start_tls", "loopback"},
		{"bad flavour", minimal, map[string]string{"PASSKDC_LDAP_FLAVOUR": "novell"}, "ldap.flavour", "novell"},
		{"page size", minimal, map[string]string{"PASSKDC_LDAP_PAGE_SIZE": "0"}, "ldap.page_size", "1..100000"},
		{"page size not int", minimal, map[string]string{"PASSKDC_LDAP_PAGE_SIZE": "many"}, "ldap.page_size", "PASSKDC_LDAP_PAGE_SIZE"},
		{"bad bool", minimal, map[string]string{"PASSKDC_SYNC_LIVE_CHECK": "yes please"}, "sync.live_check", "boolean"},
		{"bad duration", minimal, map[string]string{"PASSKDC_SYNC_MAX_STALENESS": "forever"}, "sync.max_staleness", "PASSKDC_SYNC_MAX_STALENESS"},
		{"bad dn", minimal, map[string]string{"PASSKDC_LDAP_BASE_DN": "not a dn"}, "ldap.base_dn", "not a DN"},
		{"bad filter", minimal, map[string]string{"PASSKDC_LDAP_USER_FILTER": "(uid=x"}, "ldap.user_filter", "filter"},
		{"bind dn without file", minimal, map[string]string{"PASSKDC_LDAP_BIND_DN": "cn=x"}, "ldap.bind_password_file", "required"},
		{"ca and insecure", minimal, map[string]string{"PASSKDC_LDAP_CA_FILE": "/ca", "PASSKDC_LDAP_INSECURE_SKIP_VERIFY": "1"}, "ldap.insecure_skip_verify", "ca_file"},
		{"fingerprint and insecure", minimal, map[string]string{"PASSKDC_LDAP_TLS_FINGERPRINT": strings.Repeat("ab", 32), "PASSKDC_LDAP_INSECURE_SKIP_VERIFY": "1"}, "ldap.insecure_skip_verify", "tls_fingerprint"},
		{"fingerprint not hex", minimal, map[string]string{"PASSKDC_LDAP_TLS_FINGERPRINT": "AB:CD"}, "ldap.tls_fingerprint", "64 hex digits"},
		{"staleness < interval", minimal, map[string]string{"PASSKDC_SYNC_MAX_STALENESS": "1m"}, "sync.max_staleness", "shorter"},
		{"origin not https", minimal, map[string]string{"PASSKDC_RP_ID": "example.test", "PASSKDC_ORIGINS": "http://example.test"}, "origins", "https"},
		{"origin outside rp", minimal, map[string]string{"PASSKDC_RP_ID": "example.test", "PASSKDC_ORIGINS": "https://evil.test"}, "origins", "subdomain"},
		{"tls half", minimal + "tls: {cert: /c}\n", nil, "tls", "both"},
		{"membership", minimal, map[string]string{"PASSKDC_LDAP_MEMBERSHIP": "both"}, "ldap.membership", "member_of"},
		{"two documents", minimal + "---\nrealm: X\n", nil, "", "more than one"},
		{"proxy without kdcs", minimal + "kdc_proxy: {enabled: true}\n", nil, "kdc_proxy.kdcs", "required"},
		{"proxy kdc no port", minimal + "kdc_proxy: {enabled: true, kdcs: [dc1]}\n", nil, "kdc_proxy.kdcs", "host:port"},
		{"proxy timeout", minimal + "kdc_proxy: {enabled: true, kdcs: [\"dc1:88\"], timeout: 0s}\n", nil, "kdc_proxy.timeout", "positive"},
		{"proxy cap above body", minimal + "kdc_proxy: {enabled: true, kdcs: [\"dc1:88\"], max_bytes: 70000}\n", nil, "kdc_proxy.max_bytes", "limits.body_bytes"},
		{"proxy advertise http", minimal + "kdc_proxy: {advertise_url: \"http://passkdc.example.test/KdcProxy\"}\n", nil, "kdc_proxy.advertise_url", "https"},
		{"proxy advertise garbage", minimal + "kdc_proxy: {advertise_url: \"passkdc/KdcProxy\"}\n", nil, "kdc_proxy.advertise_url", "want https"},
		{"proxy dns resolver name", minimal + "kdc_proxy: {enabled: true, dns_srv: true, dns_resolver: dns.example.test}\n", nil, "kdc_proxy.dns_resolver", "IP address"},
		{"proxy dns cache", minimal + "kdc_proxy: {enabled: true, dns_srv: true, dns_cache: 2h}\n", nil, "kdc_proxy.dns_cache", "between"},
		{"helpdesk group not a SID", minimal + "helpdesk: {groups: [\"S-1-5-x\"]}\n", nil, "helpdesk.groups", "not a SID"},
		{"helpdesk group not a DN", minimal + "helpdesk: {groups: [\"helpdesk staff\"]}\n", nil, "helpdesk.groups", "neither a SID"},
		{"helpdesk group twice", minimal + "helpdesk: {groups: [\"s-1-5-21-1-2-3-1200\", \"S-1-5-21-1-2-3-1200\"]}\n", nil, "helpdesk.groups", "twice"},
		{"proxy rate", minimal, map[string]string{"PASSKDC_KDC_PROXY_ENABLED": "true", "PASSKDC_KDC_PROXY_KDCS": "dc1:88", "PASSKDC_KDC_PROXY_PER_ADDRESS_BURST": "0"}, "kdc_proxy.per_address_burst", "positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), envMap(tc.env))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
			if tc.key == "" {
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.key+": ") {
				t.Errorf("error %q does not name key %s", err, tc.key)
			}
		})
	}
}

func TestKDCProxy(t *testing.T) {
	c, err := Parse([]byte(minimal), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.KDCProxy.Enabled || c.KDCProxy.Timeout != 5*time.Second || c.KDCProxy.MaxBytes != 32<<10 {
		t.Errorf("defaults: %+v", c.KDCProxy)
	}
	c, err = Parse([]byte(minimal+"kdc_proxy: {enabled: true, kdcs: [\"dc1:88\", \"dc2:88\"], timeout: 2s, max_bytes: 20000}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !c.KDCProxy.Enabled || len(c.KDCProxy.KDCs) != 2 || c.KDCProxy.Timeout != 2*time.Second || c.KDCProxy.MaxBytes != 20000 {
		t.Errorf("parsed: %+v", c.KDCProxy)
	}
}

func TestKDCProxyAdvertiseAndDNS(t *testing.T) {
	origins := "rp_id: example.test\norigins: [\"https://passkdc.example.test:8443/\"]\n"
	for _, tc := range []struct {
		name, yaml, advertised, resolver string
	}{
		{"disabled: nothing", origins, "", ""},
		{"enabled: first origin", origins + "kdc_proxy: {enabled: true, kdcs: [\"dc1:88\"]}\n", "https://passkdc.example.test:8443/KdcProxy", ""},
		{"none", origins + "kdc_proxy: {enabled: true, kdcs: [\"dc1:88\"], advertise_url: none}\n", "", ""},
		{"another proxy, own disabled", origins + "kdc_proxy: {advertise_url: \"https://kdcproxy.example.test/KdcProxy\"}\n", "https://kdcproxy.example.test/KdcProxy", ""},
		{"loopback http", origins + "kdc_proxy: {advertise_url: \"http://127.0.0.1:8080/KdcProxy\"}\n", "http://127.0.0.1:8080/KdcProxy", ""},
		{"srv without kdcs, resolver port 53", origins + "kdc_proxy: {enabled: true, dns_srv: true, dns_resolver: 127.0.0.33}\n", "https://passkdc.example.test:8443/KdcProxy", "127.0.0.33:53"},
		{"resolver with port", origins + "kdc_proxy: {enabled: true, dns_srv: true, dns_resolver: \"[::1]:5353\"}\n", "https://passkdc.example.test:8443/KdcProxy", "[::1]:5353"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(minimal+tc.yaml), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.AdvertisedKDCProxy(); got != tc.advertised {
				t.Errorf("advertised %q, want %q", got, tc.advertised)
			}
			if got := c.KDCProxy.DNSResolverAddr(); got != tc.resolver {
				t.Errorf("resolver %q, want %q", got, tc.resolver)
			}
			if c.KDCProxy.DNSCache != time.Minute {
				t.Errorf("dns_cache default %s", c.KDCProxy.DNSCache)
			}
		})
	}
}

func TestReportsAllProblems(t *testing.T) {
	_, err := Parse([]byte("ldap: {page_size: -1}\n"), noEnv)
	for _, key := range []string{"realm:", "ldap.url:", "ldap.base_dn:", "ldap.page_size:"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error %v does not report %s", err, key)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "passkdc.yaml")
	if err := os.WriteFile(cfgPath, []byte(minimal+"  start_tls: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadWith(cfgPath, envMap(map[string]string{"PASSKDC_LDAP_URL": "ldap://127.0.0.1:3389"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.LDAP.StartTLS || c.LDAP.URL != "ldap://127.0.0.1:3389" {
		t.Errorf("loaded %+v", c.LDAP)
	}
	if _, err := LoadWith(filepath.Join(dir, "missing.yaml"), noEnv); err == nil {
		t.Error("missing file accepted")
	}
	// An empty file gives defaults plus environment.
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PASSKDC_REALM": "R.TEST", "PASSKDC_LDAP_URL": "ldaps://dc", "PASSKDC_LDAP_BASE_DN": "dc=r,dc=test"}
	if c, err := LoadWith(empty, envMap(env)); err != nil || c.Realm != "R.TEST" {
		t.Errorf("empty file + env: %v %v", c, err)
	}
}

// FuzzParse: any input is accepted or rejected with an error, never a panic;
// an accepted configuration validates again.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(full))
	f.Add([]byte("ldap: [1, 2]\n"))
	f.Add([]byte("sync: {interval: -1s}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, noEnv)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
	})
}

// TestPackagedConfigIsValid keeps the commented /etc/passkdc/passkdc.yaml that
// the Debian package ships loadable and valid as it is.
func TestPackagedConfigIsValid(t *testing.T) {
	c, err := LoadWith("../../packaging/passkdc.yaml", noEnv)
	if err != nil {
		t.Fatalf("packaging/passkdc.yaml: %v", err)
	}
	if c.Store != "/var/lib/passkdc/passkdc.db" || c.Keytab != "/var/lib/passkdc/krbtgt.keytab" {
		t.Errorf("the packaged config must keep state under the unit's StateDirectory: store %q keytab %q", c.Store, c.Keytab)
	}
}

func TestHelpdesk(t *testing.T) {
	c, err := Parse([]byte(minimal+"helpdesk: {groups: [\"s-1-5-21-1-2-3-1200\", \"CN=Helpdesk,OU=Groups,DC=example,DC=test\"], may_act_on_helpdesk: true}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"S-1-5-21-1-2-3-1200", "CN=Helpdesk,OU=Groups,DC=example,DC=test"}
	if !slices.Equal(c.Helpdesk.Groups, want) || !c.Helpdesk.MayActOnHelpdesk {
		t.Errorf("helpdesk %+v, want groups %v and may_act_on_helpdesk", c.Helpdesk, want)
	}
	d, err := Parse([]byte(minimal), envMap(map[string]string{"PASSKDC_HELPDESK_GROUPS": "S-1-5-21-1-2-3-1201"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Helpdesk.Groups, []string{"S-1-5-21-1-2-3-1201"}) || d.Helpdesk.MayActOnHelpdesk {
		t.Errorf("from the environment: %+v (may_act_on_helpdesk defaults to false)", d.Helpdesk)
	}
}
