package samba

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"
)

// Defaults used by [Options] fields left empty.
const (
	DefaultRealm         = "CORP.EXAMPLE.TEST"
	DefaultDomain        = "CORP"
	DefaultHost          = "dc1"
	DefaultAdminPassword = "Passw0rd.Admin1"
	DefaultIP            = "127.0.0.1"
	DefaultDebugLevel    = 1
)

// CacheEnv names the environment variable read by [CacheDirFromEnv].
const CacheEnv = "PASSKDC_SAMBA_CACHE"

// ErrBadOptions is wrapped by every error that reports invalid [Options].
var ErrBadOptions = errors.New("samba: invalid options")

// Options describe the DC to start. The zero value is usable.
type Options struct {
	// Dir holds all of the DC's state (provision, logs, client files).
	// Empty: a fresh temporary directory, removed by Stop unless Keep is set.
	// A Dir that already holds a provision (Dir/dc/etc/smb.conf) is reused
	// as it is, without provisioning again. Dir and its parents must be
	// searchable by others (o+x, unlike t.TempDir()): smbd reads the shares
	// as the user's mapped uid.
	Dir string
	// Keep leaves a temporary Dir in place after Stop (for debugging).
	Keep bool
	// Realm is the Kerberos realm and upper-case DNS domain (CORP.EXAMPLE.TEST).
	Realm string
	// Domain is the NetBIOS domain name (CORP).
	Domain string
	// Host is the DC's short host name (dc1); its FQDN is Host.lower(Realm).
	Host string
	// AdminPassword is the password of CN=Administrator.
	AdminPassword string
	// IP is the IPv4 loopback address (127.0.0.0/8) the DC binds, only.
	// An address other than 127.0.0.1 is added to the lo interface
	// ("ip addr add IP/32 dev lo") when absent, and left there.
	IP string
	// CacheDir, when not empty, enables the template cache: the provision is
	// made once per distinct (Realm, Domain, Host, AdminPassword, samba
	// version) under CacheDir and copied for every Start. See CacheDirFromEnv.
	CacheDir string
	// DebugLevel is samba's -d level (default 1); samba's log is
	// Dir/dc/log/samba.log.
	DebugLevel int
	// Logger receives the harness's progress messages; nil discards them.
	Logger logrus.FieldLogger
	// Generation selects the Samba that runs the DC: GenerationHost ("4.17",
	// the machine's Debian packages) or Generation422 ("4.22", Debian
	// trixie in a chroot built and cached by
	// integration/scripts/samba422-chroot.sh). Empty: $PASSKDC_SAMBA_GENERATION,
	// else the host's. Client tools (MIT krb5, smbclient, ldap-utils,
	// passkdc) always run on the host and talk to IP.
	Generation string
	// StockTLS keeps the LDAPS certificate Samba generates itself at first
	// start (private/tls/{key,cert,ca}.pem: a subject CN only, no
	// subjectAltName, a random serial) instead of the harness's own. The
	// serial is made negative (the certificate re-issued with openssl from
	// Samba's key.pem, everything else kept) when Samba drew a positive one,
	// so tests always meet the case Go refuses by default. The harness's own
	// LDAPS connections then pin that certificate; a test binary using this
	// needs //go:debug x509negativeserial=1.
	StockTLS bool
}

// CacheDirFromEnv returns $PASSKDC_SAMBA_CACHE, or "" (no template cache)
// when it is unset.
func CacheDirFromEnv() string {
	return os.Getenv(CacheEnv)
}

// withDefaults returns a copy of o with defaults filled in and validated.
func (o Options) withDefaults() (Options, error) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.Realm, DefaultRealm)
	def(&o.Domain, DefaultDomain)
	def(&o.Host, DefaultHost)
	def(&o.AdminPassword, DefaultAdminPassword)
	def(&o.IP, DefaultIP)
	def(&o.Generation, GenerationFromEnv())
	def(&o.Generation, GenerationHost)
	if o.DebugLevel == 0 {
		o.DebugLevel = DefaultDebugLevel
	}
	if o.Logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Logger = l
	}
	o.Realm = strings.ToUpper(o.Realm)
	o.Domain = strings.ToUpper(o.Domain)
	o.Host = strings.ToLower(o.Host)
	return o, o.validate()
}

func (o Options) validate() error {
	if _, err := loopbackAddr(o.IP); err != nil {
		return err
	}
	for name, v := range map[string]string{"Realm": o.Realm, "Domain": o.Domain, "Host": o.Host} {
		if !isDNSLabelList(v) {
			return fmt.Errorf("%w: %s %q is not a DNS name", ErrBadOptions, name, v)
		}
	}
	if strings.Contains(o.Host, ".") || len(o.Host) > 15 {
		return fmt.Errorf("%w: Host %q must be a short NetBIOS-sized name", ErrBadOptions, o.Host)
	}
	if strings.ContainsAny(o.AdminPassword, "\n\r\x00") {
		return fmt.Errorf("%w: AdminPassword contains a control character", ErrBadOptions)
	}
	for name, p := range map[string]string{"Dir": o.Dir, "CacheDir": o.CacheDir} {
		if p != "" && !filepath.IsAbs(p) {
			return fmt.Errorf("%w: %s %q must be absolute", ErrBadOptions, name, p)
		}
	}
	return nil
}

// loopbackAddr parses s and checks that it is an IPv4 loopback address.
func loopbackAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() || !a.IsLoopback() {
		return netip.Addr{}, fmt.Errorf("%w: IP %q is not an IPv4 loopback address (127.0.0.0/8)", ErrBadOptions, s)
	}
	return a, nil
}

// isDNSLabelList reports whether s is a dot-separated list of letters,
// digits and hyphens (no empty labels).
func isDNSLabelList(s string) bool {
	if s == "" {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || strings.HasPrefix(label, "-") {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
