package integration

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/deploy"
	"github.com/passkdc/passkdc/integration/samba"
	"github.com/passkdc/passkdc/kdc/issuer"
	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/ldapsync"
	"github.com/passkdc/passkdc/store"
)

const rodcName = "PASSKDC"

// fixture is the provisioned domain every test of the package uses.
type fixture struct {
	*deploy.Deployment
	dc       *samba.DC
	users    map[string]samba.User
	password string
}

var fix struct {
	once sync.Once
	f    *fixture
	err  string
}

// domain provisions passkdc in the shared domain once (deploy.Provision:
// `passkdc rodc provision`, samba-tool exportkeytab, `passkdc keytab import`,
// a config file) and creates test users: alice (in the Allowed RODC Password
// Replication Group), bob (in no allowed group) and carol (allowed, but a
// Domain Admin: never-reveal wins).
func domain(t testing.TB) *fixture {
	t.Helper()
	dc := shared.DC(t)
	b := binaries(t)
	fix.once.Do(func() {
		f, msg := provision(dc, b)
		fix.f, fix.err = f, msg
	})
	if fix.err != "" {
		t.Fatal(fix.err)
	}
	return fix.f
}

func provision(dc *samba.DC, b deploy.Binaries) (*fixture, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "passkdc-domain-")
	if err != nil {
		return nil, err.Error()
	}
	d, err := deploy.Provision(ctx, deploy.Options{DC: dc, Bin: b, Dir: dir, RODCName: rodcName,
		KDCProxy: []string{dc.KDCAddr()}})
	if err != nil {
		return nil, err.Error()
	}
	f := &fixture{Deployment: d, dc: dc, users: map[string]samba.User{}, password: "Passw0rd.User1"}
	allowed := "CN=Allowed RODC Password Replication Group,CN=Users," + dc.BaseDN()
	admins := "CN=Domain Admins,CN=Users," + dc.BaseDN()
	for name, groups := range map[string][]string{"alice": {allowed}, "bob": nil, "carol": {allowed, admins}, "kpuser": {allowed}} {
		u, err := dc.CreateUser(ctx, name, f.password)
		if err != nil {
			return nil, err.Error()
		}
		for _, g := range groups {
			if err := dc.AddMember(ctx, g, u.DN); err != nil {
				return nil, err.Error()
			}
		}
		f.users[name] = u
	}
	return f, ""
}

// stop ends the fixture's passkdc server, if one runs, and removes its state.
func (f *fixture) stop() {
	_ = f.Stop()
	os.RemoveAll(f.Dir)
}

// principal reads a user as passkdc mirrors it.
func (f *fixture) principal(name string) store.Principal {
	u := f.users[name]
	return store.Principal{Anchor: u.GUID, Name: name, Realm: f.dc.Realm(), SID: u.SID, DN: u.DN, Enabled: true, SyncedAt: time.Now()}
}

// issuer issues with the domain's RODC key and policy, reading group
// membership live from the DC (tokenGroups).
func (f *fixture) issuer(t *testing.T) *issuer.Issuer {
	t.Helper()
	return f.issuerWith(t, f.RODC)
}

// allowAll is a replication policy that reveals every account: it issues
// the tickets the DC's own policy must refuse.
type allowAll struct{}

func (allowAll) Decide([]string) (bool, string) { return true, "test policy: every account allowed" }

// issuerWith is the fixture's issuer under another replication policy.
func (f *fixture) issuerWith(t *testing.T, policy issuer.ReplicationPolicy) *issuer.Issuer {
	t.Helper()
	kt, err := keytabs.Load(f.Keytab)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := kt.KeySet(keytabs.NewPrincipal(f.dc.Realm(), f.RODC.KrbtgtName))
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(issuer.Config{Realm: f.dc.Realm()}, ks, policy, liveGroups{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

type liveGroups struct{ f *fixture }

func (g liveGroups) GroupSIDs(ctx context.Context, p store.Principal) ([]string, error) {
	conn, err := g.f.LDAP(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return ldapsync.TokenGroups(ctx, conn, p.DN)
}

// clientEnv is the DC's client environment with KRB5CCNAME set to cc.
func (f *fixture) clientEnv(cc string) []string {
	return append(append(os.Environ(), f.dc.ClientEnv()...), "KRB5CCNAME=FILE:"+cc)
}

func run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	return deploy.Run(ctx, env, name, args...)
}
