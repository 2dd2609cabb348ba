package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/kdc/issuer"
	"github.com/passkdc/passkdc/store"
)

// Tickets is whether a principal may get tickets from passkdc, why, and
// which passkey profiles apply to it: the decision serve's issuer makes
// (kdc/issuer.Explain), read from the store's mirror.
type Tickets struct {
	Eligible    bool     // a partial TGT would be issued
	Why         string   // the rule that decided, or the refusal
	Refusal     string   // the refusal code ("" when eligible)
	NeverReveal bool     // a never-reveal group holds the principal
	Profiles    []string // the passkey profiles that apply (any one admits a passkey)
}

// TicketPolicy is what Tickets decides with: the replication policy (nil
// when it could not be read: PolicyErr says why) and the passkey profiles.
type TicketPolicy struct {
	Policy         issuer.ReplicationPolicy
	PolicyErr      error
	Profiles       []assertion.Profile
	DefaultProfile assertion.Profile
}

// Tickets explains p's ticket eligibility under tp.
func (tp TicketPolicy) Tickets(ctx context.Context, st store.Store, p store.Principal, now time.Time) (Tickets, error) {
	groups, err := st.TransitiveGroups(ctx, p.Anchor)
	if err != nil {
		return Tickets{}, fmt.Errorf("read the groups of %s: %w", p.Name, err)
	}
	var t Tickets
	for _, prof := range assertion.ResolveProfiles(tp.Profiles, tp.DefaultProfile, assertion.GroupIDs(groups)) {
		t.Profiles = append(t.Profiles, prof.Name)
	}
	if tp.Policy == nil {
		t.Why, t.Refusal = fmt.Sprintf("unknown: the replication policy cannot be read (%v)", tp.PolicyErr), issuer.CodeDirectory
		return t, nil
	}
	el := issuer.Explain(ctx, p, tp.Policy, issuer.StoreGroups{Store: st}, now)
	t.Eligible, t.Why, t.Refusal, t.NeverReveal = el.Allowed, el.Rule, el.Code, el.NeverReveal
	return t, nil
}
