package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/integration/samba"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/memory"
)

// The Samba AD integration tests share one DC per test binary, started by the
// first test that needs it, on this package's own loopback address.
const sambaIP = "127.0.0.13"

var sambaShared = samba.NewShared(samba.Options{IP: sambaIP, CacheDir: samba.CacheDirFromEnv()})

func TestMain(m *testing.M) { os.Exit(sambaShared.Run(m)) }

var sambaSeq atomic.Int64

type adBed struct {
	t   *testing.T
	dc  *samba.DC
	ou  string
	cfg *testSource
}

// newADBed creates a fresh OU in the shared domain; users and groups of the
// test live there, and the syncer's base DN is that OU.
func newADBed(t *testing.T) *adBed {
	t.Helper()
	dc := sambaShared.DC(t)
	ctx := context.Background()
	ou := fmt.Sprintf("OU=sync%d-%d,%s", os.Getpid(), sambaSeq.Add(1), dc.BaseDN())
	c, err := dc.LDAP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := ldap.NewAddRequest(ou, nil)
	req.Attribute("objectClass", []string{"top", "organizationalUnit"})
	err = c.Add(req)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "bind.pw")
	if err := os.WriteFile(pw, []byte(dc.AdminPassword()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fl, err := NewFlavour("ad", FlavourOptions{Realm: dc.Realm()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &testSource{
		LDAP: LDAPConfig{URL: dc.LDAPURL(), CAFile: dc.CAFile(), BindDN: dc.AdminBindDN(), BindPasswordFile: pw},
		Opts: Options{UserBaseDN: ou, Flavour: fl, PageSize: 50},
	}
	return &adBed{t: t, dc: dc, ou: ou, cfg: cfg}
}

func (b *adBed) syncer(st store.Store, edit ...func(*testSource)) *Syncer {
	b.t.Helper()
	c := *b.cfg
	for _, e := range edit {
		e(&c)
	}
	s, err := c.syncer(st, quietLogger())
	if err != nil {
		b.t.Fatal(err)
	}
	s.o.SpillDir = b.t.TempDir()
	return s
}

// check syncs and compares the mirror with a fresh full sync.
func (b *adBed) check(ctx context.Context, s *Syncer, wantMode string) Summary {
	b.t.Helper()
	sum, err := s.Sync(ctx, SyncOptions{})
	if err != nil {
		b.t.Fatalf("sync: %v", err)
	}
	b.t.Logf("%s", sum)
	if wantMode != "" && sum.Mode != wantMode {
		b.t.Errorf("mode %s (%s), want %s", sum.Mode, sum.Reason, wantMode)
	}
	fresh := memory.New()
	if _, err := b.syncer(fresh).Sync(ctx, SyncOptions{}); err != nil {
		b.t.Fatalf("reference full sync: %v", err)
	}
	got := must[string](b.t)(mirrorSnapshot(ctx, s.o.Store, "default", false))
	want := must[string](b.t)(mirrorSnapshot(ctx, fresh, "default", false))
	if got != want {
		b.t.Errorf("after %s sync the mirror differs from a full sync:\n--- mirror\n%s--- full\n%s", sum.Mode, got, want)
	}
	return sum
}

func TestSambaADSyncLifecycle(t *testing.T) {
	for _, v := range []struct {
		name     string
		store    func(*testing.T) store.Store
		groupInc string
	}{
		{"memory", func(*testing.T) store.Store { return memory.New() }, "incremental"},
		{"sqlite", func(t *testing.T) store.Store { return openSQLite(t) }, "incremental"},
	} {
		t.Run(v.name, func(t *testing.T) { adLifecycle(t, newADBed(t), v.store(t), v.groupInc) })
	}
}

func adLifecycle(t *testing.T, b *adBed, st store.Store, groupChangeMode string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dc := b.dc
	in := samba.InContainer(b.ou)
	const pw = "Us3r.Passw0rd!"
	alice := must[samba.User](t)(dc.CreateUser(ctx, "salice"+b.suffix(), pw, in))
	bob := must[samba.User](t)(dc.CreateUser(ctx, "sbob"+b.suffix(), pw, in))
	dave := must[samba.User](t)(dc.CreateUser(ctx, "sdave"+b.suffix(), pw, in, samba.Disabled()))
	staff := must[samba.Group](t)(dc.CreateGroup(ctx, "sstaff"+b.suffix(), in))
	admins := must[samba.Group](t)(dc.CreateGroup(ctx, "sadmins"+b.suffix(), in))
	mustDo(t, dc.AddMember(ctx, staff.DN, alice.DN))
	mustDo(t, dc.AddMember(ctx, staff.DN, bob.DN))
	mustDo(t, dc.AddMember(ctx, admins.DN, staff.DN))
	s := b.syncer(st)

	sum := b.check(ctx, s, "full")
	if sum.Added != 3 || sum.Groups != 2 {
		t.Errorf("first sync %+v", sum)
	}
	// The anchor is objectGUID as the harness decodes it independently.
	p := must[store.Principal](t)(st.GetPrincipal(ctx, alice.GUID))
	if !strings.EqualFold(p.SID, alice.SID) || p.Name != alice.Name || !p.Enabled ||
		!strings.EqualFold(p.UPN, alice.Name+"@"+dc.Realm()) {
		t.Errorf("alice %+v, harness %+v", p, alice)
	}
	if p := must[store.Principal](t)(st.GetPrincipal(ctx, dave.GUID)); p.Enabled {
		t.Error("disabled dave mirrored enabled")
	}
	if gs := must[[]store.Group](t)(st.TransitiveGroups(ctx, alice.GUID)); !slices.Equal(groupNames(gs), []string{admins.Name, staff.Name}) {
		t.Errorf("alice's groups %v", groupNames(gs))
	}
	if g := must[store.Group](t)(st.GetGroup(ctx, staff.GUID)); !strings.EqualFold(g.SID, staff.SID) {
		t.Errorf("staff %+v", g)
	}

	if sum = b.check(ctx, s, "incremental"); sum.Added+sum.Changed+sum.Deleted != 0 {
		t.Errorf("idle: %+v", sum)
	}
	mustDo(t, dc.SetEnabled(ctx, bob.DN, false))
	if sum = b.check(ctx, s, "incremental"); sum.Disabled != 1 {
		t.Errorf("disable: %+v", sum)
	}
	mustDo(t, dc.SetEnabled(ctx, bob.DN, true))
	if sum = b.check(ctx, s, "incremental"); sum.Enabled != 1 {
		t.Errorf("re-enable: %+v", sum)
	}
	alice2 := "salice2" + b.suffix()
	must[string](t)(dc.RenameUser(ctx, alice.DN, alice2))
	b.check(ctx, s, "incremental")
	if p := must[store.Principal](t)(st.GetPrincipal(ctx, alice.GUID)); p.Name != alice2 || !strings.Contains(p.DN, alice2) {
		t.Errorf("renamed alice %+v", p)
	}
	// Nested change: staff leaves admins. Only admins' uSNChanged moves
	// (memberOf is a back-link), so the members of the changed group are re-read.
	mustDo(t, dc.RemoveMember(ctx, admins.DN, staff.DN))
	b.check(ctx, s, groupChangeMode)
	if gs := must[[]store.Group](t)(st.TransitiveGroups(ctx, alice.GUID)); !slices.Equal(groupNames(gs), []string{staff.Name}) {
		t.Errorf("alice after nesting change %v", groupNames(gs))
	}
	// A cycle: staff rejoins admins, admins and loop contain each other.
	// Resolution terminates and every group on the cycle counts once.
	loop := must[samba.Group](t)(dc.CreateGroup(ctx, "sloop"+b.suffix(), in))
	mustDo(t, dc.AddMember(ctx, admins.DN, staff.DN))
	mustDo(t, dc.AddMember(ctx, loop.DN, admins.DN))
	mustDo(t, dc.AddMember(ctx, admins.DN, loop.DN))
	b.check(ctx, s, groupChangeMode)
	if gs := must[[]store.Group](t)(st.TransitiveGroups(ctx, alice.GUID)); !slices.Equal(groupNames(gs), sorted(admins.Name, loop.Name, staff.Name)) {
		t.Errorf("alice with a group cycle %v", groupNames(gs))
	}
	if _, gs, err := s.LiveLookup(ctx, alice.GUID); err != nil || !slices.Equal(groupNames(mirroredOnly(gs)), sorted(admins.Name, loop.Name, staff.Name)) {
		t.Errorf("alice live with a group cycle %v %v", groupNames(gs), err)
	}
	// Delete: AD keeps a tombstone, found with the Show Deleted control.
	mustDo(t, dc.DeleteEntry(ctx, bob.DN))
	if sum = b.check(ctx, s, ""); sum.Deleted != 1 {
		t.Errorf("delete: %+v", sum)
	}
	if p := must[store.Principal](t)(st.GetPrincipal(ctx, bob.GUID)); !p.Deleted {
		t.Error("deleted bob not marked deleted")
	}

	// A different invocationId (a restored or replaced DC) forces a full pass.
	state := must[store.SyncState](t)(st.GetSyncState(ctx, "default"))
	state.InvocationID = "00000000-0000-0000-0000-000000000000"
	mustDo(t, st.WithTx(ctx, func(tx store.Tx) error { return tx.PutSyncState(ctx, state) }))
	if sum = b.check(ctx, s, "full"); !strings.Contains(sum.Reason, "invocationId") {
		t.Errorf("invocationId change: %+v", sum)
	}

	// Live lookup by <GUID=…>.
	mustDo(t, dc.SetEnabled(ctx, dave.DN, true))
	if p, _, err := s.LiveLookup(ctx, dave.GUID); err != nil || !p.Enabled {
		t.Errorf("live dave %+v %v", p, err)
	}
	if p, _, err := s.LiveLookup(ctx, bob.GUID); err != nil || !p.Deleted {
		t.Errorf("live deleted bob %+v %v", p, err)
	}
}

func (b *adBed) suffix() string {
	return strings.TrimPrefix(strings.SplitN(b.ou, ",", 2)[0], "OU=sync")
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// closedLDAPS is an LDAPS URL on the DC's address where nothing listens: the
// directory is down.
func closedLDAPS(dc *samba.DC) string { return "ldaps://" + dc.IP() + ":1" }

func TestSambaADBadInput(t *testing.T) {
	b := newADBed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := samba.InContainer(b.ou)
	u := must[samba.User](t)(b.dc.CreateUser(ctx, "sbad"+b.suffix(), "Us3r.Passw0rd!", in))
	st := memory.New()
	must[Summary](t)(b.syncer(st).Sync(ctx, SyncOptions{}))
	before := must[string](t)(mirrorSnapshot(ctx, st, "default", true))
	stateBefore := must[store.SyncState](t)(st.GetSyncState(ctx, "default"))
	writes := st.Commits()
	mustDo(t, b.dc.SetEnabled(ctx, u.DN, false)) // a pending change that must not land

	wrong := filepath.Join(t.TempDir(), "wrong.pw")
	mustDo(t, os.WriteFile(wrong, []byte("nope\n"), 0o600))
	cases := []struct {
		name string
		edit func(*testSource)
		is   error
		msg  string
	}{
		{"directory down", func(c *testSource) { c.LDAP.URL = closedLDAPS(b.dc) }, ErrUnreachable, b.dc.IP() + ":1"},
		{"wrong password", func(c *testSource) { c.LDAP.BindPasswordFile = wrong }, ErrBadCredentials, "Invalid Credentials"},
		{"untrusted certificate", func(c *testSource) { c.LDAP.CAFile = writeCA(t) }, ErrTLS, "certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.syncer(st, c.edit).Sync(ctx, SyncOptions{})
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %v: want %v mentioning %q", err, c.is, c.msg)
			}
			after := must[string](t)(mirrorSnapshot(ctx, st, "default", true))
			stateAfter := must[store.SyncState](t)(st.GetSyncState(ctx, "default"))
			if after != before || stateAfter != stateBefore || st.Commits() != writes {
				t.Errorf("store changed by a failed sync (%d writes)", st.Commits()-writes)
			}
		})
	}
	if sum := must[Summary](t)(b.syncer(st).Sync(ctx, SyncOptions{})); sum.Disabled != 1 {
		t.Errorf("sync once the directory is back: %+v", sum)
	}
}

// TestSambaADLiveCheck: at sign-in the user is re-read from the DC; with the
// DC down the SQLite mirror answers within max_staleness, then the lookup
// fails closed with ErrStale.
func TestSambaADLiveCheck(t *testing.T) {
	b := newADBed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dc, in := b.dc, samba.InContainer(b.ou)
	u := must[samba.User](t)(dc.CreateUser(ctx, "slive"+b.suffix(), "Us3r.Passw0rd!", in))
	g := must[samba.Group](t)(dc.CreateGroup(ctx, "slivegrp"+b.suffix(), in))
	mustDo(t, dc.AddMember(ctx, g.DN, u.DN))
	st := openSQLite(t)
	now := time.Now()
	clock := func() time.Time { return now }
	s := b.syncer(st)
	s.o.Now = clock
	must[Summary](t)(s.Sync(ctx, SyncOptions{}))

	// Live: a disable and a group removal count before any sync.
	mustDo(t, dc.SetEnabled(ctx, u.DN, false))
	mustDo(t, dc.RemoveMember(ctx, g.DN, u.DN))
	p, gs, err := s.LiveLookup(ctx, u.GUID)
	if err != nil || p.Enabled || len(mirroredOnly(gs)) != 0 {
		t.Fatalf("live: %+v %v %v", p, groupNames(gs), err)
	}
	// The rest is the DC's tokenGroups, known by SID only: the primary group
	// (Domain Users, RID 513) is always in it.
	if !slices.ContainsFunc(gs, func(g store.Group) bool { return strings.HasSuffix(g.SID, "-513") }) {
		t.Errorf("live groups lack the primary group from tokenGroups: %+v", gs)
	}
	if mp := must[store.Principal](t)(st.GetPrincipal(ctx, u.GUID)); !mp.Enabled {
		t.Error("LiveLookup wrote the store")
	}

	// DC down: the last sync (user enabled, in the group) within max_staleness.
	down := b.syncer(st, func(c *testSource) { c.LDAP.URL = closedLDAPS(dc) })
	down.o.Now = clock
	for _, c := range []struct {
		age   time.Duration
		stale bool
	}{{0, false}, {59 * time.Minute, false}, {61 * time.Minute, true}} {
		now = time.Now().Add(c.age)
		p, gs, err := down.LiveLookup(ctx, u.GUID)
		if !c.stale {
			if err != nil || !p.Enabled || !slices.Equal(groupNames(gs), []string{g.Name}) {
				t.Errorf("down, mirror %s old: %+v %v %v", c.age, p, groupNames(gs), err)
			}
			continue
		}
		var se *StaleError
		if !errors.Is(err, ErrStale) || !errors.Is(err, ErrUnreachable) || !errors.As(err, &se) ||
			se.MaxStaleness != time.Hour || !strings.Contains(err.Error(), "max_staleness 1h0m0s") {
			t.Errorf("down, mirror %s old: %v, want a StaleError from an unreachable directory", c.age, err)
		}
	}
	// Other failures are not hidden by the mirror: fail closed at once.
	wrong := filepath.Join(t.TempDir(), "wrong.pw")
	mustDo(t, os.WriteFile(wrong, []byte("nope\n"), 0o600))
	now = time.Now()
	if _, _, err := b.syncer(st, func(c *testSource) { c.LDAP.BindPasswordFile = wrong }).LiveLookup(ctx, u.GUID); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("live with a wrong password: %v", err)
	}
}

// mirroredOnly drops the groups a live lookup knows only from tokenGroups
// (by SID, not mirrored).
func mirroredOnly(gs []store.Group) []store.Group {
	return slices.DeleteFunc(slices.Clone(gs), func(g store.Group) bool { return g.Anchor == "" })
}
