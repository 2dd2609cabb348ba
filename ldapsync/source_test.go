package ldapsync

import (
	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/store"
)

// testSource is what this package's integration tests configure: the
// connection and the syncer's options (without dial, store and logger),
// built directly (the configuration file is internal/dirconfig's business).
type testSource struct {
	LDAP LDAPConfig
	Opts Options
}

// syncer builds the Syncer of s over st.
func (s testSource) syncer(st store.Store, log logrus.FieldLogger) (*Syncer, error) {
	o, dc := s.Opts, s.LDAP
	dc.Logger = log
	o.Dial, o.Store, o.Logger = Dialer(dc), st, log
	o.LiveCheck = true
	return New(o)
}
