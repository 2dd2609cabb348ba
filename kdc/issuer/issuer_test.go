package issuer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/passkdc/passkdc/kdc/binding"
	"github.com/passkdc/passkdc/kdc/krbcred"
	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/memory"
	"github.com/passkdc/passkdc/store/view"
)

const (
	realm     = "CORP.EXAMPLE.TEST"
	domainSID = "S-1-5-21-1111-2222-3333"
	allowSID  = domainSID + "-571"
	denySID   = domainSID + "-572"
)

// policy is a minimal replication policy: deny wins, else allow.
type policy struct{}

func (policy) Decide(sids []string) (bool, string) {
	for _, s := range sids {
		if s == denySID {
			return false, "in never-reveal group " + denySID
		}
	}
	for _, s := range sids {
		if s == allowSID {
			return true, "in reveal-on-demand group " + allowSID
		}
	}
	return false, "not in any reveal-on-demand group"
}

type groups map[string][]string

func (g groups) GroupSIDs(_ context.Context, p store.Principal) ([]string, error) {
	if g == nil {
		return nil, errors.New("directory down")
	}
	return g[p.Anchor], nil
}

var now = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

func rodcKeys(t *testing.T) *keytabs.KeySet {
	t.Helper()
	p := keytabs.NewPrincipal(realm, "krbtgt_40000")
	key, err := keytabs.StringToKey(18, "random", keytabs.ADUserSalt(realm, "krbtgt_40000"))
	if err != nil {
		t.Fatal(err)
	}
	kt := &keytabs.Keytab{Entries: []keytabs.Entry{{Principal: p, KVNO: keytabs.EncodeKVNO(40000, 2), Key: key, Timestamp: now}}}
	ks, err := kt.KeySet(p)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func user(anchor, name string, rid string) store.Principal {
	return store.Principal{Anchor: anchor, Name: name, Realm: realm, SID: domainSID + "-" + rid, Enabled: true}
}

func newIssuer(t *testing.T, g GroupSource) *Issuer {
	t.Helper()
	i, err := New(Config{Realm: realm}, rodcKeys(t), policy{}, g, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestAuthorizeRefusals(t *testing.T) {
	g := groups{"a": {allowSID}, "admin": {allowSID, denySID}, "outsider": {domainSID + "-513"}}
	disabled := user("a", "alice", "1101")
	disabled.Enabled = false
	deleted := user("a", "alice", "1101")
	deleted.Deleted = true
	expired := user("a", "alice", "1101")
	expired.Expires = now.Add(-time.Minute)
	noSID := user("a", "alice", "1101")
	noSID.SID = ""
	cases := []struct {
		name string
		g    GroupSource
		p    store.Principal
		code string
		text string
	}{
		{"allowed", g, user("a", "alice", "1101"), "", ""},
		{"never-reveal wins", g, user("admin", "root", "500"), CodeReplicationPolicy, "never-reveal group " + denySID},
		{"not in allowed group", g, user("outsider", "bob", "1102"), CodeReplicationPolicy, "not in any reveal-on-demand group"},
		{"disabled", g, disabled, CodePrincipalDisabled, "disabled"},
		{"deleted", g, deleted, CodePrincipalDeleted, "no longer exists"},
		{"expired", g, expired, CodePrincipalExpired, "expired"},
		{"no SID", g, noSID, CodeNoSID, "no SID"},
		{"directory down", groups(nil), user("a", "alice", "1101"), CodeDirectory, "directory down"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			iss, err := newIssuer(t, c.g).Issue(context.Background(), c.p)
			if c.code == "" {
				if err != nil || iss == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var r *Refusal
			if !errors.As(err, &r) || r.Code != c.code || !strings.Contains(r.Message, c.text) {
				t.Fatalf("err = %v, want code %s mentioning %q", err, c.code, c.text)
			}
			if iss != nil {
				t.Fatal("a ticket came back with a refusal")
			}
		})
	}
}

func TestIssuedTicketUsesTheCurrentRODCKey(t *testing.T) {
	i := newIssuer(t, groups{"a": {allowSID}})
	iss, err := i.Issue(context.Background(), user("a", "alice", "1101"))
	if err != nil {
		t.Fatal(err)
	}
	if iss.KVNO != keytabs.EncodeKVNO(40000, 2) || iss.Ticket.EncPart.KVNO != keytabs.WireKVNO(iss.KVNO) {
		t.Fatalf("kvno %#x wire %d", iss.KVNO, iss.Ticket.EncPart.KVNO)
	}
	e, _ := rodcKeys(t).Current(18)
	var tkt messages.Ticket
	if err := tkt.Unmarshal(iss.TicketDER); err != nil {
		t.Fatal(err)
	}
	if err := tkt.Decrypt(e.Key); err != nil {
		t.Fatalf("ticket does not decrypt with the RODC key: %v", err)
	}
	if tkt.DecryptedEncPart.CName.PrincipalNameString() != "alice" || tkt.SName.PrincipalNameString() != "krbtgt/"+realm {
		t.Fatalf("cname %v sname %v", tkt.DecryptedEncPart.CName, tkt.SName)
	}
}

func TestSealedCredOnlyOpensWithTheBindingKey(t *testing.T) {
	i := newIssuer(t, groups{"a": {allowSID}})
	iss, err := i.Issue(context.Background(), user("a", "alice", "1101"))
	if err != nil {
		t.Fatal(err)
	}
	client, _ := binding.Generate()
	thief, _ := binding.Generate()
	sealed, err := Seal(iss, client.Public(), "session-1")
	if err != nil {
		t.Fatal(err)
	}
	key, err := client.ClientKey(sealed.ServerKey, "session-1")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := krbcred.Parse(sealed.KRBCred, &key)
	if err != nil {
		t.Fatalf("client cannot open its KRB-CRED: %v", err)
	}
	if string(cred.Infos[0].Key.KeyValue) != string(iss.SessionKey.KeyValue) || !sealed.Expires.Equal(iss.EndTime) {
		t.Fatal("KRB-CRED does not carry the issued session key and end time")
	}
	wrong, _ := thief.ClientKey(sealed.ServerKey, "session-1")
	if _, err := krbcred.Parse(sealed.KRBCred, &wrong); err == nil {
		t.Fatal("another client's binding key opened the KRB-CRED")
	}
	if _, err := krbcred.Parse(sealed.KRBCred, nil); err == nil {
		t.Fatal("KRB-CRED parsed without a key")
	}
}

func TestNewRefusesNonRODCKeys(t *testing.T) {
	p := keytabs.NewPrincipal(realm, "krbtgt")
	key, _ := keytabs.StringToKey(18, "x", "y")
	kt := &keytabs.Keytab{Entries: []keytabs.Entry{{Principal: p, KVNO: 3, Key: key}}}
	ks, err := kt.KeySet(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Realm: realm}, ks, policy{}, groups{}, nil); err == nil {
		t.Fatal("a plain krbtgt key set was accepted")
	}
}

// countingStore is an in-memory store whose TransitiveGroups answers from a
// map and counts the lookups.
type countingStore struct {
	store.Store
	groups  map[string][]store.Group
	lookups int
}

func (c *countingStore) TransitiveGroups(_ context.Context, member string) ([]store.Group, error) {
	c.lookups++
	return c.groups[member], nil
}

// TestIssueWithStoreGroups: groups already read from the store decide
// without a second lookup when the group source is that store; with another
// group source they are ignored and the source decides.
func TestIssueWithStoreGroups(t *testing.T) {
	alice := user("a1", "alice", "1105")
	allowed := []store.Group{{Anchor: "g1", SID: allowSID}}
	denied := []store.Group{{Anchor: "g1", SID: allowSID}, {Anchor: "g2", SID: denySID}}
	cases := []struct {
		name        string
		stored      []store.Group // what the store holds for alice
		given       []store.Group // what the caller read
		wantCode    string        // "" issues
		wantLookups int
	}{
		{"given groups allow", nil, allowed, "", 0},
		{"given groups deny", allowed, denied, CodeReplicationPolicy, 0},
		{"no groups given: store asked", allowed, nil, "", 1},
		{"none in any group", nil, []store.Group{}, CodeReplicationPolicy, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &countingStore{Store: memory.New(), groups: map[string][]store.Group{alice.Anchor: tc.stored}}
			i := newIssuer(t, StoreGroups{Store: st})
			_, err := i.IssueWithStoreGroups(context.Background(), alice, tc.given)
			checkRefusal(t, err, tc.wantCode)
			if st.lookups != tc.wantLookups {
				t.Fatalf("%d group lookups, want %d", st.lookups, tc.wantLookups)
			}
		})
	}
	t.Run("other group source decides", func(t *testing.T) {
		i := newIssuer(t, groups{alice.Anchor: {denySID}})
		_, err := i.IssueWithStoreGroups(context.Background(), alice, allowed)
		checkRefusal(t, err, CodeReplicationPolicy)
	})
}

func checkRefusal(t *testing.T, err error, code string) {
	t.Helper()
	var r *Refusal
	switch {
	case code == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case code != "" && (!errors.As(err, &r) || r.Code != code):
		t.Fatalf("got %v, want refusal %s", err, code)
	}
}

// neverRevealPolicy is policy that also tells never-reveal membership.
type neverRevealPolicy struct{ policy }

func (neverRevealPolicy) NeverRevealed(sids []string) (bool, string) {
	for _, s := range sids {
		if s == denySID {
			return true, "in never-reveal group " + denySID
		}
	}
	return false, ""
}

func TestExplainSaysWhetherWhyAndNeverReveal(t *testing.T) {
	g := groups{"a": {allowSID}, "admin": {allowSID, denySID}, "outsider": {domainSID + "-513"}}
	disabledAdmin := user("admin", "root", "500")
	disabledAdmin.Enabled = false
	for _, c := range []struct {
		name        string
		pol         ReplicationPolicy
		g           GroupSource
		p           store.Principal
		allowed     bool
		code, rule  string
		neverReveal bool
	}{
		{"allowed: the rule", neverRevealPolicy{}, g, user("a", "alice", "1101"), true, "", "in reveal-on-demand group " + allowSID, false},
		{"never-reveal", neverRevealPolicy{}, g, user("admin", "root", "500"), false, CodeReplicationPolicy, "never-reveal group " + denySID, true},
		{"disabled and never-reveal", neverRevealPolicy{}, g, disabledAdmin, false, CodePrincipalDisabled, "disabled", true},
		{"outsider", neverRevealPolicy{}, g, user("outsider", "bob", "1102"), false, CodeReplicationPolicy, "not in any reveal-on-demand group", false},
		{"a policy that cannot tell fails closed", policy{}, g, user("a", "alice", "1101"), true, "", "reveal-on-demand", true},
		{"directory down fails closed", neverRevealPolicy{}, groups(nil), user("a", "alice", "1101"), false, CodeDirectory, "directory down", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			el := Explain(context.Background(), c.p, c.pol, c.g, now)
			if el.Allowed != c.allowed || el.Code != c.code || !strings.Contains(el.Rule, c.rule) || el.NeverReveal != c.neverReveal {
				t.Fatalf("Explain = %+v, want allowed %v code %q rule with %q never-reveal %v", el, c.allowed, c.code, c.rule, c.neverReveal)
			}
		})
	}
}

// TestStoreGroupsThroughTheView: with a view the group source answers a
// second decision from memory, and a membership change in the store (the
// marker moves) decides the next one at once.
func TestStoreGroupsThroughTheView(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	st := &countingMemory{Store: mem}
	alice := user("a1", "alice", "1105")
	alice.Directory = "default"
	for _, g := range []store.Group{{Anchor: "g1", Name: "allowed", SID: allowSID}, {Anchor: "g2", Name: "denied", SID: denySID}} {
		if _, err := mem.UpsertGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mem.UpsertPrincipal(ctx, alice); err != nil {
		t.Fatal(err)
	}
	setGroups := func(gs ...string) {
		t.Helper()
		if err := mem.SetMemberships(ctx, alice.Anchor, gs); err != nil {
			t.Fatal(err)
		}
	}
	setGroups("g1")
	i := newIssuer(t, StoreGroups{Store: st, View: view.New(st, 0)})
	for n := 0; n < 2; n++ {
		checkRefusal(t, i.Authorize(ctx, alice), "")
	}
	if st.lookups != 1 {
		t.Fatalf("two decisions without a change: %d group queries, want 1", st.lookups)
	}
	setGroups("g1", "g2")
	checkRefusal(t, i.Authorize(ctx, alice), CodeReplicationPolicy)
	if st.lookups != 2 {
		t.Fatalf("after a membership change: %d group queries, want 2", st.lookups)
	}
}

// countingMemory is the in-memory store counting its group queries.
type countingMemory struct {
	store.Store
	lookups int
}

func (c *countingMemory) TransitiveGroups(ctx context.Context, member string) ([]store.Group, error) {
	c.lookups++
	return c.Store.TransitiveGroups(ctx, member)
}
