// Package issuer decides whether a verified principal may have a partial TGT and
// issues it: the replication-policy check (the same rules the DC applies, so
// passkdc refuses, itself and clearly, every case the DC would refuse), the
// ticket from the current RODC krbtgt key, and the KRB-CRED sealed to the
// client's binding key (DESIGN §1.4, §2, §6).
package issuer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/passkdc/passkdc/kdc"
	"github.com/passkdc/passkdc/kdc/binding"
	"github.com/passkdc/passkdc/kdc/ccache"
	"github.com/passkdc/passkdc/kdc/krbcred"
	"github.com/passkdc/passkdc/kdc/sid"
	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/view"
)

// Stable refusal codes.
const (
	CodeReplicationPolicy = "replication_policy"
	CodePrincipalDisabled = string(store.AccountDisabled)
	CodePrincipalDeleted  = string(store.AccountDeleted)
	CodePrincipalExpired  = string(store.AccountExpired)
	CodeNoSID             = "principal_no_sid"
	CodeDirectory         = "directory_unavailable"
	CodeKeyUnavailable    = "key_unavailable"
)

// Refusal is a decision not to issue: Code is stable, Message names the rule.
type Refusal struct {
	Code    string
	Message string
	Err     error
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Message }
func (r *Refusal) Unwrap() error { return r.Err }

// ReplicationPolicy is the RODC's password replication policy
// (*rodc.RODC implements it).
type ReplicationPolicy interface {
	Decide(userSIDs []string) (allowed bool, rule string)
}

// GroupSource returns the SIDs of every group p belongs to, transitively
// (tokenGroups semantics), from the synced mirror or the directory.
type GroupSource interface {
	GroupSIDs(ctx context.Context, p store.Principal) ([]string, error)
}

// Config is the issuer's fixed configuration.
type Config struct {
	Realm         string
	DNSDomain     string // empty: the realm
	NetBIOSDomain string // empty: first label of the realm
	Ticket        kdc.TicketPolicy
}

// Issuer issues partial TGTs. It is safe for concurrent use; SetKeys swaps the
// key set (e.g. after a rotation) without blocking issuance.
type Issuer struct {
	cfg    Config
	policy ReplicationPolicy
	groups GroupSource
	now    func() time.Time

	mu   sync.RWMutex
	keys *keytabs.KeySet
	// ticketKey is the current aes256 key of keys with its usage keys
	// derived once (kdc.TicketKey.WithDerivedKeys), not per ticket.
	ticketKey kdc.TicketKey
}

// New makes an issuer; keys is the RODC krbtgt key set.
func New(cfg Config, keys *keytabs.KeySet, policy ReplicationPolicy, groups GroupSource, now func() time.Time) (*Issuer, error) {
	if cfg.Realm == "" || policy == nil || groups == nil {
		return nil, errors.New("issuer: realm, replication policy and group source are required")
	}
	if cfg.Ticket == (kdc.TicketPolicy{}) {
		cfg.Ticket = kdc.DefaultTicketPolicy()
	}
	if now == nil {
		now = time.Now
	}
	i := &Issuer{cfg: cfg, policy: policy, groups: groups, now: now}
	if err := i.SetKeys(keys); err != nil {
		return nil, err
	}
	return i, nil
}

// SetKeys replaces the key set; it must hold an RODC aes256 key.
func (i *Issuer) SetKeys(ks *keytabs.KeySet) error {
	if ks == nil || ks.RODCNumber() == 0 {
		return errors.New("issuer: the key set must be an RODC krbtgt_N key set (kvno with an RODC number)")
	}
	e, err := ks.Current(18)
	if err != nil {
		return fmt.Errorf("issuer: no current aes256-cts-hmac-sha1-96 key: %w", err)
	}
	tk, err := kdc.TicketKey{Key: e.Key, KVNO: e.KVNO}.WithDerivedKeys()
	if err != nil {
		return fmt.Errorf("issuer: current key: %w", err)
	}
	i.mu.Lock()
	i.keys, i.ticketKey = ks, tk
	i.mu.Unlock()
	return nil
}

// Authorize applies the checks the DC will apply: an enabled, present,
// unexpired account with a SID, allowed by the replication policy. Group
// membership comes from the issuer's GroupSource.
func (i *Issuer) Authorize(ctx context.Context, p store.Principal) error {
	return i.authorize(ctx, p, nil)
}

// authorize is Authorize with the group SIDs already known (nil: ask the
// GroupSource).
func (i *Issuer) authorize(ctx context.Context, p store.Principal, groups []string) error {
	_, err := Decide(ctx, p, i.policy, i.groups, groups, i.now())
	return err
}

// Eligibility is the issuance decision for a principal as an administrator
// reads it: whether a partial TGT would be issued, and why.
type Eligibility struct {
	Allowed bool
	// Rule is the policy rule that decided ("in reveal-on-demand group …"),
	// or the refusal's message.
	Rule string
	// Code is the refusal code ("" when allowed).
	Code string
	// NeverReveal says that a never-reveal group of the policy holds the
	// principal (or the policy cannot tell: it then fails closed).
	NeverReveal bool
}

// NeverRevealer is a ReplicationPolicy that tells whether a user is in one of
// its never-reveal groups (*rodc.RODC implements it).
type NeverRevealer interface {
	NeverRevealed(userSIDs []string) (bool, string)
}

// Eligibility applies the rules of Authorize to p and explains the outcome.
func (i *Issuer) Eligibility(ctx context.Context, p store.Principal) Eligibility {
	return Explain(ctx, p, i.policy, i.groups, i.now())
}

// Explain is Eligibility for a caller without an issuer (the admin
// commands): the same rules, applied with policy and groups.
func Explain(ctx context.Context, p store.Principal, policy ReplicationPolicy, groups GroupSource, now time.Time) Eligibility {
	rule, err := Decide(ctx, p, policy, groups, nil, now)
	var el Eligibility
	if err != nil {
		el.Rule, el.Code = err.Error(), CodeDirectory
		var r *Refusal
		if errors.As(err, &r) {
			el.Rule, el.Code = r.Message, r.Code
		}
	} else {
		el.Allowed, el.Rule = true, rule
	}
	el.NeverReveal = neverRevealed(ctx, p, policy, groups)
	return el
}

// neverRevealed reports whether a never-reveal group of policy holds p; a
// policy or membership that cannot tell answers true (fail closed).
func neverRevealed(ctx context.Context, p store.Principal, policy ReplicationPolicy, groups GroupSource) bool {
	nr, ok := policy.(NeverRevealer)
	if !ok {
		return true
	}
	sids, err := groups.GroupSIDs(ctx, p)
	if err != nil {
		return true
	}
	in, _ := nr.NeverRevealed(append([]string{p.SID}, sids...))
	return in
}

// Decide applies the checks the DC will apply to p (account state, SID,
// replication policy) and returns the policy rule that allowed it, or the
// refusal. groupSIDs nil asks groups.
func Decide(ctx context.Context, p store.Principal, policy ReplicationPolicy, groups GroupSource, groupSIDs []string, now time.Time) (string, error) {
	if pr := p.Problem(now); pr != "" {
		return "", &Refusal{Code: string(pr), Message: pr.Describe(p)}
	}
	if p.SID == "" {
		return "", &Refusal{Code: CodeNoSID, Message: fmt.Sprintf("%s has no SID: the DC cannot match a partial TGT to it", p.Name)}
	}
	if groupSIDs == nil {
		var err error
		if groupSIDs, err = groups.GroupSIDs(ctx, p); err != nil {
			return "", &Refusal{Code: CodeDirectory, Message: "cannot read group membership: " + err.Error(), Err: err}
		}
	}
	sids := append(append(make([]string, 0, 1+len(groupSIDs)), p.SID), groupSIDs...)
	ok, rule := policy.Decide(sids)
	if !ok {
		return "", &Refusal{Code: CodeReplicationPolicy,
			Message: fmt.Sprintf("the RODC password replication policy does not allow %s: %s", p.Name, rule)}
	}
	return rule, nil
}

// Issue authorizes p and issues a partial TGT under the current key.
func (i *Issuer) Issue(ctx context.Context, p store.Principal) (*kdc.Issued, error) {
	return i.IssueWithGroups(ctx, p, nil)
}

// IssueWithGroups is Issue with p's transitive group SIDs already read (by a
// live directory lookup); nil asks the GroupSource.
func (i *Issuer) IssueWithGroups(ctx context.Context, p store.Principal, groupSIDs []string) (*kdc.Issued, error) {
	if err := i.authorize(ctx, p, groupSIDs); err != nil {
		return nil, err
	}
	return i.issue(ctx, p)
}

// IssueWithStoreGroups is Issue for a caller that has just read p's
// transitive groups from the store (the sign-in's passkey-profile check):
// when the issuer's group source is that store mirror (StoreGroups) they
// are used as read instead of being looked up a second time; with another
// group source, or groups nil (not read), the group source is asked.
func (i *Issuer) IssueWithStoreGroups(ctx context.Context, p store.Principal, groups []store.Group) (*kdc.Issued, error) {
	if _, ok := i.groups.(StoreGroups); !ok || groups == nil {
		return i.Issue(ctx, p)
	}
	return i.IssueWithGroups(ctx, p, GroupSIDs(groups))
}

// issue builds the partial TGT of an authorised principal.
func (i *Issuer) issue(ctx context.Context, p store.Principal) (*kdc.Issued, error) {
	sid, err := sid.Parse(p.SID)
	if err != nil {
		return nil, &Refusal{Code: CodeNoSID, Message: fmt.Sprintf("%s has a malformed SID %q", p.Name, p.SID), Err: err}
	}
	i.mu.RLock()
	tk := i.ticketKey
	i.mu.RUnlock()
	if len(tk.Key.KeyValue) == 0 {
		return nil, &Refusal{Code: CodeKeyUnavailable, Message: "no current RODC key"}
	}
	kp := kdc.Principal{Name: p.Name, Realm: i.cfg.Realm, SID: sid, UPN: p.UPN,
		DNSDomain: i.cfg.DNSDomain, NetBIOSDomain: i.cfg.NetBIOSDomain, DisplayName: p.DisplayName}
	iss, err := kdc.IssuePartialTGT(ctx, kp, tk, i.cfg.Ticket, i.now())
	if err != nil {
		return nil, fmt.Errorf("issue partial TGT for %s: %w", p.Name, err)
	}
	return iss, nil
}

// Sealed is a KRB-CRED for the client, encrypted under the binding key.
type Sealed struct {
	KRBCred   []byte
	ServerKey []byte // the server's ephemeral X25519 public key
	Expires   time.Time
}

// Seal wraps an issued ticket in a KRB-CRED whose enc-part only the holder of
// the client's binding private key can decrypt; salt is the ceremony session ID.
func Seal(iss *kdc.Issued, clientBindingKey []byte, salt string) (*Sealed, error) {
	priv, err := binding.Generate()
	if err != nil {
		return nil, err
	}
	key, err := priv.ServerKey(clientBindingKey, salt)
	if err != nil {
		return nil, err
	}
	ticket := [1][]byte{iss.TicketDER}
	info := [1]krbcred.Info{credInfo(iss)}
	c := krbcred.Cred{Tickets: ticket[:], Infos: info[:]} // Cred(iss), on the stack
	b, err := c.Marshal(&key)
	if err != nil {
		return nil, fmt.Errorf("encode KRB-CRED: %w", err)
	}
	return &Sealed{KRBCred: b, ServerKey: priv.Public(), Expires: iss.EndTime}, nil
}

// Cred is the KRB-CRED content for an issued ticket.
func Cred(iss *kdc.Issued) *krbcred.Cred {
	return &krbcred.Cred{Tickets: [][]byte{iss.TicketDER}, Infos: []krbcred.Info{credInfo(iss)}}
}

// credInfo is the KrbCredInfo of an issued ticket.
func credInfo(iss *kdc.Issued) krbcred.Info {
	return krbcred.Info{
		Key: iss.SessionKey, PRealm: iss.CRealm, PName: iss.CName,
		Flags: ccache.FlagsFromBitString(iss.Flags), AuthTime: iss.AuthTime, StartTime: iss.StartTime,
		EndTime: iss.EndTime, RenewTill: iss.RenewTill, SRealm: iss.SRealm, SName: iss.SName,
	}
}

// StoreGroups answers group membership from the synced mirror: the transitive
// closure of the group graph, resolved by the store, or, with View, kept in
// memory for as long as the store's change marker says it is current (one
// single-row read of the marker instead of the group query).
type StoreGroups struct {
	Store store.Store
	View  *view.View // optional: a view of Store
}

// GroupSIDs implements GroupSource.
func (g StoreGroups) GroupSIDs(ctx context.Context, p store.Principal) ([]string, error) {
	groups, err := g.groups(ctx, p.Anchor)
	if err != nil {
		return nil, err
	}
	return GroupSIDs(groups), nil
}

// groups reads the transitive groups of anchor, through the view if there is one.
func (g StoreGroups) groups(ctx context.Context, anchor string) ([]store.Group, error) {
	if g.View == nil {
		return g.Store.TransitiveGroups(ctx, anchor)
	}
	m, err := g.View.Marker(ctx)
	if err != nil {
		return nil, err
	}
	return g.View.Groups(ctx, anchor, m)
}

// groupSIDs lists the SIDs of groups (never nil: no groups is an answer).
// GroupSIDs returns the SIDs of groups (those that have one).
func GroupSIDs(groups []store.Group) []string {
	sids := make([]string, 0, len(groups))
	for _, gr := range groups {
		if gr.SID != "" {
			sids = append(sids, gr.SID)
		}
	}
	return sids
}
