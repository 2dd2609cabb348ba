package serve

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/rodc"
)

// livePolicy is the replication policy the issuer applies. RefreshPolicy
// replaces it when the RODC object's reveal or never-reveal lists change, so
// the issuer always decides with the policy the DC will apply.
type livePolicy struct{ current atomic.Pointer[rodc.RODC] }

func newLivePolicy(r *rodc.RODC) *livePolicy {
	l := &livePolicy{}
	l.current.Store(r)
	return l
}

// Decide applies the current policy.
func (l *livePolicy) Decide(userSIDs []string) (bool, string) {
	return l.current.Load().Decide(userSIDs)
}

// NeverRevealed applies the current policy's never-reveal groups.
func (l *livePolicy) NeverRevealed(userSIDs []string) (bool, string) {
	return l.current.Load().NeverRevealed(userSIDs)
}

// RefreshPolicy re-reads the RODC object's replication policy from the
// directory (serve calls it before every sync and on SIGHUP). A directory
// that cannot be reached keeps the last policy read, as the mirror is kept
// during an outage. A policy with a never-reveal value that cannot be
// resolved is installed anyway, so that every sign-in is refused (fail
// closed), and returned as an error. Standalone mode has nothing to re-read.
func (a *App) RefreshPolicy(ctx context.Context) error {
	if a.syncer == nil {
		return nil
	}
	log := a.log.WithField("rodc", a.rodc.Name)
	r, err := readPolicy(ctx, a.cfg, a.rodc.Name, a.log)
	if err != nil {
		log.WithError(err).Warn("could not re-read the RODC replication policy; keeping the last one read")
		return err
	}
	if r.Number != a.rodc.Number {
		err := fmt.Errorf("RODC %s is now number %d, not %d: it was removed and provisioned again; export and import its key, then restart passkdc",
			r.Name, r.Number, a.rodc.Number)
		log.WithError(err).Error("RODC replication policy not updated")
		return err
	}
	old := a.policy.current.Swap(r)
	if err := r.UnresolvedError(); err != nil {
		log.WithError(err).Error("RODC replication policy cannot be applied; refusing every sign-in until it is fixed")
		return err
	}
	if !samePolicy(old, r) {
		log.WithFields(logrus.Fields{
			"reveal_groups": strings.Join(r.Allow, ","), "never_reveal_groups": strings.Join(r.Deny, ","),
		}).Info("RODC replication policy changed")
	}
	return nil
}

// samePolicy reports whether a and b reveal to and protect the same groups.
func samePolicy(a, b *rodc.RODC) bool {
	return sameSet(a.Allow, b.Allow) && sameSet(a.Deny, b.Deny) && sameSet(a.Unresolved, b.Unresolved)
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
