// Package config reads passkdc's YAML configuration file (DESIGN §4).
//
// Loading order: built-in defaults, then the YAML file (unknown keys are
// rejected), then environment variables, then validation. Every key can be
// overridden by an environment variable whose name is derived from the key's
// path in the file:
//
//	PASSKDC_ + the path's keys joined by "_", upper-cased
//
// so ldap.bind_password_file is PASSKDC_LDAP_BIND_PASSWORD_FILE, tls.cert is
// PASSKDC_TLS_CERT and ldap.attributes.name is PASSKDC_LDAP_ATTRIBUTES_NAME.
// Values are parsed by the key's type: strings as is, booleans by
// strconv.ParseBool, integers in decimal, durations by time.ParseDuration
// ("90s", "1h"), lists (origins) as comma-separated items. An empty variable
// sets the key to its empty value (an optional number such as
// runtime.gc_percent to absent: its default applies). Variables matching no
// key are ignored.
//
// Secrets never appear in the file or the environment: the file names a path
// (ldap.bind_password_file) that the LDAP client (ldapsync.Dial) reads.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/passkdc/passkdc/ldapsync"
	"github.com/passkdc/passkdc/server"
)

// EnvPrefix starts the name of every environment variable that overrides a key.
const EnvPrefix = "PASSKDC_"

// Config is the whole configuration file.
type Config struct {
	Realm   string   `yaml:"realm"`
	Listen  string   `yaml:"listen"`
	RPID    string   `yaml:"rp_id"`   // WebAuthn relying party ID
	Origins []string `yaml:"origins"` // allowed WebAuthn origins
	Store   string   `yaml:"store"`   // SQLite path (a postgres:// URL later)
	Keytab  string   `yaml:"keytab"`
	// RODCName is the computer name of passkdc's RODC object (default
	// PASSKDC): serve reads its policy, the rodc commands act on it.
	RODCName string `yaml:"rodc_name"`
	TLS      TLS    `yaml:"tls"`
	LDAP     LDAP   `yaml:"ldap"`
	Sync     Sync   `yaml:"sync"`
	// Passkey profiles (profiles.go); none configured: assertion.DefaultProfile.
	Profiles       []ProfileConfig `yaml:"profiles"`
	DefaultProfile string          `yaml:"default_profile"`
	// Limits: body size, rate limits, sessions, HTTP timeouts (limits.go).
	Limits server.Limits `yaml:"limits"`
	// Standalone: the no-directory mode (limits.go).
	Standalone Standalone `yaml:"standalone"`
	// KDCProxy: the MS-KKDCP proxy at POST /KdcProxy (kdcproxy.go).
	KDCProxy KDCProxy `yaml:"kdc_proxy"`
	// MetricsListen, when set, serves /metrics on this address only (and
	// not on listen): plain HTTP on a loopback address, else TLS with the
	// server's certificate.
	MetricsListen string `yaml:"metrics_listen"`
	// Log sets the server's log level and format.
	Log Log `yaml:"log"`
	// Helpdesk: who may use the helpdesk page (helpdesk.go).
	Helpdesk Helpdesk `yaml:"helpdesk"`
	// Metadata is the offline FIDO metadata (MDS3) that profiles with
	// attestation: enforced are verified against.
	Metadata Metadata `yaml:"metadata"`
	// Kerberos: the HTTP service key for Kerberos (SPNEGO) enrolment.
	Kerberos Kerberos `yaml:"kerberos"`
	// Runtime: the Go garbage collector's settings (runtime.go).
	Runtime Runtime `yaml:"runtime"`
}

// Kerberos is the HTTP service key that HTTP Negotiate tickets are
// checked with (`passkdc rodc http-spn` writes it): both set, or neither.
type Kerberos struct {
	Keytab string `yaml:"keytab"` // 0600 keytab holding the SPN's AES keys
	SPN    string `yaml:"spn"`    // HTTP/<passkdc host>
}

// Metadata locates the FIDO MDS3 blob (the JWT downloaded from
// https://mds3.fidoalliance.org/) and the root its signature must chain to.
type Metadata struct {
	BlobFile string `yaml:"blob_file"`
	RootFile string `yaml:"root_file"` // PEM; empty: the FIDO Alliance production root
}

// Log is the server's logging: level debug|info|warn|error (default info),
// format json|text (default json).
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// TLS names the HTTPS server's certificate and key; both empty means a
// self-signed pair generated on first start.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// LDAP describes the directory principals are mirrored from.
type LDAP struct {
	URL                string        `yaml:"url"`     // ldap:// or ldaps://
	Flavour            string        `yaml:"flavour"` // ad or rfc2307
	Directory          string        `yaml:"directory"`
	BindDN             string        `yaml:"bind_dn"`
	BindPasswordFile   string        `yaml:"bind_password_file"`
	BaseDN             string        `yaml:"base_dn"`
	UserBaseDN         string        `yaml:"user_base_dn"`  // default base_dn
	GroupBaseDN        string        `yaml:"group_base_dn"` // default base_dn
	CAFile             string        `yaml:"ca_file"`
	InsecureSkipVerify bool          `yaml:"insecure_skip_verify"` // tests only
	TLSFingerprint     string        `yaml:"tls_fingerprint"`      // SHA-256 of the DC's certificate or a CA in its chain
	StartTLS           bool          `yaml:"start_tls"`            // ldap:// only; default true; false only for loopback
	PageSize           int           `yaml:"page_size"`
	Timeout            time.Duration `yaml:"timeout"`
	UserFilter         string        `yaml:"user_filter"`  // default per flavour
	GroupFilter        string        `yaml:"group_filter"` // default per flavour
	Membership         string        `yaml:"membership"`   // member_of or member; default per flavour
	Attributes         Attributes    `yaml:"attributes"`
}

// Attributes overrides attribute names; an empty field keeps the flavour's
// default (AD default / RFC 2307 default in each comment).
type Attributes struct {
	Name        string `yaml:"name"`         // sAMAccountName / uid
	UPN         string `yaml:"upn"`          // userPrincipalName / krbPrincipalName
	Anchor      string `yaml:"anchor"`       // objectGUID / entryUUID
	SID         string `yaml:"sid"`          // objectSid / sambaSID
	DisplayName string `yaml:"display_name"` // displayName / displayName
	MemberOf    string `yaml:"member_of"`    // memberOf / memberOf
	Member      string `yaml:"member"`       // member / member
	MemberUID   string `yaml:"member_uid"`   // (none) / memberUid
	GroupName   string `yaml:"group_name"`   // sAMAccountName / cn
	ChangeMark  string `yaml:"change_mark"`  // uSNChanged / entryCSN (or modifyTimestamp)
}

// Sync controls mirroring.
type Sync struct {
	Interval     time.Duration `yaml:"interval"`      // between syncs inside serve; 0 disables
	FullInterval time.Duration `yaml:"full_interval"` // a full pass at least this often
	LiveCheck    bool          `yaml:"live_check"`    // re-read the user from the directory at sign-in
	MaxStaleness time.Duration `yaml:"max_staleness"` // serve from the mirror this long when the directory is down
}

// Default returns the configuration with every default filled in and the
// required keys empty.
func Default() Config {
	return Config{
		Listen:   "127.0.0.1:8443",
		Store:    "/var/lib/passkdc/passkdc.db",
		Keytab:   "/var/lib/passkdc/krbtgt.keytab",
		RODCName: "PASSKDC",
		LDAP: LDAP{
			Flavour:   ldapsync.FlavourAD,
			Directory: "default",
			StartTLS:  true,
			PageSize:  500,
			Timeout:   30 * time.Second,
		},
		Sync: Sync{
			Interval:     5 * time.Minute,
			FullInterval: 24 * time.Hour,
			LiveCheck:    true,
			MaxStaleness: time.Hour,
		},
		Limits:   server.DefaultLimits(),
		KDCProxy: DefaultKDCProxy(),
		Log:      Log{Level: "info", Format: "json"},
	}
}

// Load reads the file at path, applies the process environment and validates.
func Load(path string) (*Config, error) {
	return LoadWith(path, os.LookupEnv)
}

// LoadWith is Load with an explicit environment lookup (tests, embedding).
func LoadWith(path string, lookup func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data, lookup)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML over the defaults, applies environment overrides from
// lookup (nil: none) and validates.
func Parse(data []byte, lookup func(string) (string, bool)) (*Config, error) {
	c := Default()
	if err := decodeYAML(data, &c); err != nil {
		return nil, err
	}
	if lookup != nil {
		if err := applyEnv(&c, lookup); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func decodeYAML(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(c)
	if errors.Is(err, io.EOF) { // empty file: defaults and environment only
		return nil
	}
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("config: more than one YAML document")
	}
	return nil
}

// EffectiveUserBaseDN is UserBaseDN, or BaseDN when unset.
func (l LDAP) EffectiveUserBaseDN() string {
	if l.UserBaseDN != "" {
		return l.UserBaseDN
	}
	return l.BaseDN
}

// EffectiveGroupBaseDN is GroupBaseDN, or BaseDN when unset.
func (l LDAP) EffectiveGroupBaseDN() string {
	if l.GroupBaseDN != "" {
		return l.GroupBaseDN
	}
	return l.BaseDN
}

// EffectiveMembership is Membership, or the flavour's default (member_of for
// AD, member for RFC 2307).
func (l LDAP) EffectiveMembership() string {
	if l.Membership != "" {
		return l.Membership
	}
	if l.Flavour == ldapsync.FlavourRFC2307 {
		return ldapsync.MembershipMember
	}
	return ldapsync.MembershipMemberOf
}
