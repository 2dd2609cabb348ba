// Package dirconfig converts the configuration file's ldap and sync
// sections into the directory mirror's own options (package ldapsync owns
// them and knows nothing of the file). It is wiring: it holds no rule of its
// own beyond the mapping.
package dirconfig

import (
	"net/url"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/ldapsync"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/view"
)

// DialConfig is the connection part of the configuration file. An ldap://
// URL is upgraded with StartTLS unless ldap.start_tls is false, which Dial
// only accepts for a loopback host (AllowInsecure).
func DialConfig(c *config.Config, log logrus.FieldLogger) ldapsync.LDAPConfig {
	l := c.LDAP
	u, _ := url.Parse(l.URL)
	plain := u != nil && strings.EqualFold(u.Scheme, "ldap") && !l.StartTLS
	return ldapsync.LDAPConfig{
		URL:                l.URL,
		BindDN:             l.BindDN,
		BindPasswordFile:   l.BindPasswordFile,
		CAFile:             l.CAFile,
		InsecureSkipVerify: l.InsecureSkipVerify,
		TLSFingerprint:     l.TLSFingerprint,
		AllowInsecure:      plain,
		Timeout:            l.Timeout,
		Logger:             log,
	}
}

// Flavour builds the configured directory flavour.
func Flavour(c *config.Config) (ldapsync.Flavour, error) {
	l := c.LDAP
	return ldapsync.NewFlavour(l.Flavour, ldapsync.FlavourOptions{
		Realm:       c.Realm,
		UserFilter:  l.UserFilter,
		GroupFilter: l.GroupFilter,
		Membership:  l.EffectiveMembership(),
		Attributes:  ldapsync.AttributeNames(l.Attributes),
	})
}

// NewSyncer builds a Syncer for the configuration file's directory,
// dialling with Dial. log may be nil; dv, when not nil, is a view of st its
// live lookups read the mirror through.
func NewSyncer(c *config.Config, st store.Store, dv *view.View, log logrus.FieldLogger) (*ldapsync.Syncer, error) {
	if log == nil {
		log = logrus.StandardLogger()
	}
	fl, err := Flavour(c)
	if err != nil {
		return nil, err
	}
	dc := DialConfig(c, log)
	return ldapsync.New(ldapsync.Options{
		Directory:    c.LDAP.Directory,
		UserBaseDN:   c.LDAP.EffectiveUserBaseDN(),
		GroupBaseDN:  c.LDAP.EffectiveGroupBaseDN(),
		Flavour:      fl,
		PageSize:     c.LDAP.PageSize,
		FullInterval: c.Sync.FullInterval,
		LiveCheck:    c.Sync.LiveCheck,
		MaxStaleness: c.Sync.MaxStaleness,
		Dial:         ldapsync.Dialer(dc),
		Store:        st,
		View:         dv,
		Logger:       log,
	})
}
