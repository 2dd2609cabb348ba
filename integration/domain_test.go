package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/integration/samba"
	"github.com/passkdc/passkdc/internal/issuer"
	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/ldapsync"
	"github.com/passkdc/passkdc/store"
)

const rodcName = "PASSKDC"

// fixture is the provisioned domain every test of the package uses.
type fixture struct {
	dc       *samba.DC
	dir      string
	pwFile   string
	keytab   string // passkdc's keytab, imported with `passkdc keytab import`
	rodc     *ldapsync.RODC
	provOut  string // output of the first `passkdc rodc provision`
	users    map[string]samba.User
	password string
}

var fix struct {
	once sync.Once
	f    *fixture
	err  string
}

// domain provisions passkdc in the shared domain once: `passkdc rodc provision`,
// samba-tool exportkeytab, `passkdc keytab import`, and test users:
// alice (in the Allowed RODC Password Replication Group), bob (in no allowed
// group) and carol (allowed, but a Domain Admin: never-reveal wins).
func domain(t *testing.T) *fixture {
	t.Helper()
	dc := shared.DC(t)
	passkdc, _ := binaries(t)
	fix.once.Do(func() {
		f, msg := provision(dc, passkdc)
		fix.f, fix.err = f, msg
	})
	if fix.err != "" {
		t.Fatal(fix.err)
	}
	return fix.f
}

func provision(dc *samba.DC, passkdc string) (*fixture, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "passkdc-domain-")
	if err != nil {
		return nil, err.Error()
	}
	f := &fixture{dc: dc, dir: dir, users: map[string]samba.User{}, password: "Passw0rd.User1"}
	f.pwFile = filepath.Join(dir, "bind.pw")
	if err := os.WriteFile(f.pwFile, []byte(dc.AdminPassword()+"\n"), 0o600); err != nil {
		return nil, err.Error()
	}
	out, err := f.passkdc(ctx, passkdc, "rodc", "provision")
	if err != nil {
		return nil, "passkdc rodc provision: " + err.Error() + "\n" + out
	}
	f.provOut = out
	conn, err := f.ldap(ctx)
	if err != nil {
		return nil, err.Error()
	}
	defer conn.Close()
	if f.rodc, err = ldapsync.Show(ctx, conn, rodcName, ""); err != nil {
		return nil, err.Error()
	}
	exported := filepath.Join(dir, "export.keytab")
	if err := dc.ExportKeytab(ctx, f.rodc.KrbtgtName, exported); err != nil {
		return nil, err.Error()
	}
	f.keytab = filepath.Join(dir, "krbtgt.keytab")
	if out, err := run(ctx, nil, passkdc, "keytab", "import", exported, "--to", f.keytab); err != nil {
		return nil, "passkdc keytab import: " + err.Error() + "\n" + out
	}
	allowed := "CN=Allowed RODC Password Replication Group,CN=Users," + dc.BaseDN()
	admins := "CN=Domain Admins,CN=Users," + dc.BaseDN()
	for name, groups := range map[string][]string{"alice": {allowed}, "bob": nil, "carol": {allowed, admins}} {
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

// passkdc runs the passkdc binary with the directory flags of this domain.
func (f *fixture) passkdc(ctx context.Context, bin string, args ...string) (string, error) {
	args = append(args, "--ldap-url", f.dc.LDAPURL(), "--bind-dn", f.dc.AdminBindDN(),
		"--bind-password-file", f.pwFile, "--insecure-skip-verify", "--name", rodcName)
	return run(ctx, nil, bin, args...)
}

func (f *fixture) ldap(ctx context.Context) (*ldap.Conn, error) {
	return ldapsync.Dial(ctx, ldapsync.LDAPConfig{URL: f.dc.LDAPURL(), BindDN: f.dc.AdminBindDN(),
		BindPasswordFile: f.pwFile, InsecureSkipVerify: true})
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
	kt, err := keytabs.Load(f.keytab)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := kt.KeySet(keytabs.NewPrincipal(f.dc.Realm(), f.rodc.KrbtgtName))
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(issuer.Config{Realm: f.dc.Realm()}, ks, f.rodc, liveGroups{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

type liveGroups struct{ f *fixture }

func (g liveGroups) GroupSIDs(ctx context.Context, p store.Principal) ([]string, error) {
	conn, err := g.f.ldap(ctx)
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
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = env
	}
	b, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(b)), err
}
