package ldapsync

import (
	"context"
	"net/url"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/store"
)

// DialConfig is the connection part of the configuration file. An ldap://
// URL is upgraded with StartTLS unless ldap.start_tls is false, which Dial
// only accepts for a loopback host (AllowInsecure).
func DialConfig(c *config.Config, log logrus.FieldLogger) LDAPConfig {
	l := c.LDAP
	u, _ := url.Parse(l.URL)
	plain := u != nil && strings.EqualFold(u.Scheme, "ldap") && !l.StartTLS
	return LDAPConfig{
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

// FlavourFromConfig builds the configured directory flavour.
func FlavourFromConfig(c *config.Config) (Flavour, error) {
	l := c.LDAP
	return NewFlavour(l.Flavour, FlavourOptions{
		Realm:       c.Realm,
		UserFilter:  l.UserFilter,
		GroupFilter: l.GroupFilter,
		Membership:  l.EffectiveMembership(),
		Attributes:  AttributeNames(l.Attributes),
	})
}

// NewFromConfig builds a Syncer for the configuration file's directory,
// dialling with Dial. log may be nil.
func NewFromConfig(c *config.Config, st store.Store, log logrus.FieldLogger) (*Syncer, error) {
	if log == nil {
		log = logrus.StandardLogger()
	}
	fl, err := FlavourFromConfig(c)
	if err != nil {
		return nil, err
	}
	dc := DialConfig(c, log)
	return New(Options{
		Directory:    c.LDAP.Directory,
		UserBaseDN:   c.LDAP.EffectiveUserBaseDN(),
		GroupBaseDN:  c.LDAP.EffectiveGroupBaseDN(),
		Flavour:      fl,
		PageSize:     c.LDAP.PageSize,
		FullInterval: c.Sync.FullInterval,
		LiveCheck:    c.Sync.LiveCheck,
		MaxStaleness: c.Sync.MaxStaleness,
		Dial: func(ctx context.Context) (SearchConn, error) {
			conn, err := Dial(ctx, dc)
			if err != nil {
				return nil, err
			}
			return conn, nil
		},
		Store:  st,
		Logger: log,
	})
}
