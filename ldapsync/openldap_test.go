package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/integration/slapd"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/memory"
	"github.com/passkdc/passkdc/store/sqlite"
)

// Integration tests against a throwaway OpenLDAP (integration/slapd): they
// skip when slapd is not installed (fail under CI=true).

type ldapBed struct {
	t   *testing.T
	srv *slapd.Server
	cfg *testSource
}

func newLDAPBed(t *testing.T, membership string) *ldapBed {
	t.Helper()
	srv := slapd.Start(t, slapd.Options{LDAPS: true})
	dir := t.TempDir()
	pw := filepath.Join(dir, "bind.pw")
	if err := os.WriteFile(pw, []byte(srv.RootPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fl, err := NewFlavour("rfc2307", FlavourOptions{Realm: "EXAMPLE.TEST", Membership: membership})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &testSource{
		LDAP: LDAPConfig{URL: srv.URL, AllowInsecure: true, BindDN: srv.RootDN, BindPasswordFile: pw},
		Opts: Options{UserBaseDN: srv.Suffix, Flavour: fl, PageSize: 100},
	}
	return &ldapBed{t: t, srv: srv, cfg: cfg}
}

func (b *ldapBed) syncer(st store.Store, edit ...func(*testSource)) *Syncer {
	b.t.Helper()
	c := *b.cfg
	for _, e := range edit {
		e(&c)
	}
	s, err := c.syncer(st, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	s.o.SpillDir = b.t.TempDir()
	s.o.Logger = quietLogger()
	return s
}

func quietLogger() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func openSQLite(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "passkdc.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor polls until cond holds (refint updates groups in the background).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func groupNames(gs []store.Group) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.Name)
	}
	return out
}

// check runs a sync and asserts the mirror equals a fresh full sync into an
// empty store: incremental and full passes give the same state.
func (b *ldapBed) check(ctx context.Context, s *Syncer, wantMode string) Summary {
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

func TestOpenLDAPSyncLifecycle(t *testing.T) {
	variants := []struct {
		name       string
		membership string
		store      func(t *testing.T) store.Store
		incMode    string // mode of passes after group changes ("" any)
	}{
		{"member+memory", MembershipMember, func(*testing.T) store.Store { return memory.New() }, "incremental"},
		{"memberOf+memory", MembershipMemberOf, func(*testing.T) store.Store { return memory.New() }, "incremental"},
		{"member+sqlite", MembershipMember, func(t *testing.T) store.Store { return openSQLite(t) }, "incremental"},
		{"memberOf+sqlite", MembershipMemberOf, func(t *testing.T) store.Store { return openSQLite(t) }, "incremental"},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			lifecycle(t, newLDAPBed(t, v.membership), v.store(t), v.incMode)
		})
	}
}

func lifecycle(t *testing.T, b *ldapBed, st store.Store, groupChangeMode string) {
	ctx := context.Background()
	srv := b.srv
	alice := must[string](t)(srv.AddUser(slapd.User{UID: "alice", KrbPrincipalName: "alice.l@EXAMPLE.TEST", SambaSID: "S-1-5-21-7-8-9-1104"}))
	bob := must[string](t)(srv.AddUser(slapd.User{UID: "bob", DisplayName: "Bob"}))
	carol := must[string](t)(srv.AddUser(slapd.User{UID: "carol"}))
	staff := must[string](t)(srv.AddGroup("staff", alice, bob))
	admins := must[string](t)(srv.AddGroup("admins", staff))
	ops := must[string](t)(srv.AddGroup("ops", carol))
	s := b.syncer(st)

	// Create: first sync is full.
	sum := b.check(ctx, s, "full")
	if sum.Added != 3 || sum.Groups != 3 || sum.Reason != "first sync" {
		t.Errorf("first sync: %+v", sum)
	}
	aliceAnchor := must[string](t)(srv.EntryUUID(alice))
	p := must[store.Principal](t)(st.GetPrincipal(ctx, aliceAnchor))
	if p.Name != "alice.l" || p.SID != "S-1-5-21-7-8-9-1104" || !p.Enabled || p.Realm != "EXAMPLE.TEST" {
		t.Errorf("alice %+v", p)
	}
	gs := must[[]store.Group](t)(st.TransitiveGroups(ctx, aliceAnchor))
	if !slices.Equal(groupNames(gs), []string{"admins", "staff"}) {
		t.Errorf("alice's groups %v", groupNames(gs))
	}

	// Nothing changed: incremental, nothing counted.
	if sum = b.check(ctx, s, "incremental"); sum.Added+sum.Changed+sum.Deleted != 0 {
		t.Errorf("idle sync: %+v", sum)
	}

	// Disable (ppolicy lock) and nsAccountLock.
	mustDo(t, srv.Lock(bob))
	mustDo(t, srv.Replace(carol, "nsAccountLock", "TRUE"))
	if sum = b.check(ctx, s, "incremental"); sum.Disabled != 2 {
		t.Errorf("disable: %+v", sum)
	}
	bobAnchor := must[string](t)(srv.EntryUUID(bob))
	if p := must[store.Principal](t)(st.GetPrincipal(ctx, bobAnchor)); p.Enabled {
		t.Error("locked bob still enabled")
	}

	// Re-enable.
	mustDo(t, srv.Unlock(bob))
	mustDo(t, srv.Replace(carol, "nsAccountLock"))
	if sum = b.check(ctx, s, "incremental"); sum.Enabled != 2 {
		t.Errorf("re-enable: %+v", sum)
	}

	// Rename: the anchor stays, name and DN follow; refint rewrites the group.
	carolAnchor := must[string](t)(srv.EntryUUID(carol))
	carol2 := must[string](t)(srv.Rename(carol, "uid=carol2"))
	waitFor(t, "refint on rename", func() bool {
		m, _ := srv.Attr(ops, "member")
		return slices.ContainsFunc(m, func(v string) bool { return strings.EqualFold(v, carol2) })
	})
	b.check(ctx, s, groupChangeMode)
	p = must[store.Principal](t)(st.GetPrincipal(ctx, carolAnchor))
	if p.Name != "carol2" || !strings.EqualFold(p.DN, carol2) {
		t.Errorf("renamed carol %+v", p)
	}
	if gs := must[[]store.Group](t)(st.TransitiveGroups(ctx, carolAnchor)); !slices.Equal(groupNames(gs), []string{"ops"}) {
		t.Errorf("renamed carol's groups %v", groupNames(gs))
	}

	// Nested group change: staff leaves admins, ops joins it.
	mustDo(t, srv.AddMember(admins, ops))
	mustDo(t, srv.RemoveMember(admins, staff))
	b.check(ctx, s, groupChangeMode)
	if gs := must[[]store.Group](t)(st.TransitiveGroups(ctx, aliceAnchor)); !slices.Equal(groupNames(gs), []string{"staff"}) {
		t.Errorf("alice after nesting change %v", groupNames(gs))
	}
	if gs := must[[]store.Group](t)(st.TransitiveGroups(ctx, carolAnchor)); !slices.Equal(groupNames(gs), []string{"admins", "ops"}) {
		t.Errorf("carol after nesting change %v", groupNames(gs))
	}

	// A cycle: admins and ops contain each other, staff rejoins admins.
	// Resolution terminates and each group on the cycle counts once.
	mustDo(t, srv.AddMember(ops, admins))
	mustDo(t, srv.AddMember(admins, staff))
	b.check(ctx, s, groupChangeMode)
	if gs := must[[]store.Group](t)(st.TransitiveGroups(ctx, aliceAnchor)); !slices.Equal(groupNames(gs), []string{"admins", "ops", "staff"}) {
		t.Errorf("alice with a group cycle %v", groupNames(gs))
	}
	if _, gs, err := s.LiveLookup(ctx, carolAnchor); err != nil || !slices.Equal(groupNames(gs), []string{"admins", "ops"}) {
		t.Errorf("carol live with a group cycle %v %v", groupNames(gs), err)
	}

	// Delete: RFC 2307 keeps no tombstones, so the next full pass marks it.
	mustDo(t, srv.Delete(bob))
	waitFor(t, "refint on delete", func() bool {
		m, _ := srv.Attr(staff, "member")
		return len(m) == 1
	})
	sum, err := s.Sync(ctx, SyncOptions{Full: true})
	if err != nil || sum.Deleted != 1 || sum.Mode != "full" || sum.Reason != "requested" {
		t.Fatalf("full after delete: %+v %v", sum, err)
	}
	if p := must[store.Principal](t)(st.GetPrincipal(ctx, bobAnchor)); !p.Deleted {
		t.Error("deleted bob not marked deleted")
	}
	b.check(ctx, s, "")
}

func TestOpenLDAPBadInput(t *testing.T) {
	b := newLDAPBed(t, MembershipMember)
	ctx := context.Background()
	st := memory.New()
	for i := range 30 {
		must[string](t)(b.srv.AddUser(slapd.User{UID: fmt.Sprintf("u%02d", i)}))
	}
	if _, err := b.syncer(st).Sync(ctx, SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	before := must[string](t)(mirrorSnapshot(ctx, st, "default", true))
	stateBefore := must[store.SyncState](t)(st.GetSyncState(ctx, "default"))
	writes := st.Commits()

	// Later entries change, and one malformed entry arrives after several pages.
	mustDo(t, b.srv.Lock(b.srv.UserDN("u03")))
	for i := range 250 {
		must[string](t)(b.srv.AddUser(slapd.User{UID: fmt.Sprintf("v%03d", i)}))
	}
	must[string](t)(b.srv.AddUser(slapd.User{UID: "zz-bad", SambaSID: "S-1-5-21-not-a-sid"}))

	wrongPW := filepath.Join(t.TempDir(), "wrong.pw")
	mustDo(t, os.WriteFile(wrongPW, []byte("nope\n"), 0o600))
	closed := "ldap://127.0.0.1:1"
	cases := []struct {
		name string
		edit func(*testSource)
		is   []error
		msg  string
	}{
		{"unreachable", func(c *testSource) { c.LDAP.URL = closed }, []error{ErrUnreachable}, "127.0.0.1:1"},
		{"wrong password", func(c *testSource) { c.LDAP.BindPasswordFile = wrongPW }, []error{ErrBadCredentials}, "Invalid Credentials"},
		{"untrusted certificate", func(c *testSource) { c.LDAP.URL = b.srv.LDAPSURL }, []error{ErrTLS}, "certificate"},
		{"malformed SID", func(*testSource) {}, []error{ErrMalformedEntry, ErrBadSID}, "zz-bad"},
		{"full pass, malformed SID", func(c *testSource) { c.Opts.FullInterval = time.Nanosecond }, []error{ErrMalformedEntry, ErrBadSID}, "sambaSID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.syncer(st, c.edit).Sync(ctx, SyncOptions{})
			for _, want := range c.is {
				if !errors.Is(err, want) {
					t.Errorf("error %v is not %v", err, want)
				}
			}
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %v does not mention %q", err, c.msg)
			}
			after := must[string](t)(mirrorSnapshot(ctx, st, "default", true))
			stateAfter := must[store.SyncState](t)(st.GetSyncState(ctx, "default"))
			if after != before || stateAfter != stateBefore || st.Commits() != writes {
				t.Errorf("store changed by a failed sync (%d writes)", st.Commits()-writes)
			}
		})
	}
	// With the CA the LDAPS URL works.
	s := b.syncer(memory.New(), func(c *testSource) { c.LDAP.URL, c.LDAP.CAFile = b.srv.LDAPSURL, b.srv.CAFile })
	if _, err := s.Sync(ctx, SyncOptions{}); !errors.Is(err, ErrBadSID) {
		t.Errorf("ldaps with CA: %v", err)
	}
}

func TestOpenLDAPDryRun(t *testing.T) {
	b := newLDAPBed(t, MembershipMember)
	ctx := context.Background()
	u := must[string](t)(b.srv.AddUser(slapd.User{UID: "alice"}))
	must[string](t)(b.srv.AddGroup("staff", u))
	st := openSQLite(t)
	sum, err := b.syncer(st).Sync(ctx, SyncOptions{DryRun: true})
	if err != nil || sum.Added != 1 || sum.GroupsNew != 1 || !sum.DryRun || !strings.Contains(sum.String(), "dry run") {
		t.Fatalf("dry run: %+v %v", sum, err)
	}
	ps := must[[]store.Principal](t)(st.ListPrincipals(ctx, store.PrincipalFilter{IncludeDeleted: true}))
	state := must[store.SyncState](t)(st.GetSyncState(ctx, "default"))
	audit := must[[]store.AuditRecord](t)(st.ListAudit(ctx, 0, 0))
	if len(ps) != 0 || !state.LastSync.IsZero() || len(audit) != 0 {
		t.Errorf("dry run wrote: %d principals, state %+v, %d audit records", len(ps), state, len(audit))
	}
	sum, err = b.syncer(st).Sync(ctx, SyncOptions{})
	if err != nil || sum.Added != 1 {
		t.Fatalf("real run: %+v %v", sum, err)
	}
	audit = must[[]store.AuditRecord](t)(st.ListAudit(ctx, 0, 0))
	if len(audit) != 1 || audit[0].Event != "sync" || audit[0].Result != "ok" {
		t.Errorf("audit %+v", audit)
	}
}

func TestOpenLDAPLiveLookup(t *testing.T) {
	for _, v := range []struct {
		name  string
		store func(*testing.T) store.Store
	}{
		{"memory", func(*testing.T) store.Store { return memory.New() }},
		{"sqlite", func(t *testing.T) store.Store { return openSQLite(t) }},
	} {
		t.Run(v.name, func(t *testing.T) { liveLookup(t, v.store(t)) })
	}
}

func liveLookup(t *testing.T, st store.Store) {
	b := newLDAPBed(t, MembershipMember)
	ctx := context.Background()
	alice := must[string](t)(b.srv.AddUser(slapd.User{UID: "alice"}))
	bob := must[string](t)(b.srv.AddUser(slapd.User{UID: "bob"}))
	staff := must[string](t)(b.srv.AddGroup("staff", alice, bob))
	must[string](t)(b.srv.AddGroup("admins", staff))
	now := time.Now()
	s := b.syncer(st)
	s.o.Now = func() time.Time { return now }
	must[Summary](t)(s.Sync(ctx, SyncOptions{}))
	anchor := must[string](t)(b.srv.EntryUUID(alice))
	bobAnchor := must[string](t)(b.srv.EntryUUID(bob))

	// A lock and a group change count at once, without a sync.
	mustDo(t, b.srv.Lock(alice))
	mustDo(t, b.srv.RemoveMember(staff, alice))
	p, gs, err := s.LiveLookup(ctx, strings.ToUpper(anchor))
	if err != nil || p.Enabled || len(gs) != 0 || p.Anchor != anchor {
		t.Fatalf("live: %+v %v %v", p, groupNames(gs), err)
	}
	if mp := must[store.Principal](t)(st.GetPrincipal(ctx, anchor)); !mp.Enabled {
		t.Error("LiveLookup wrote the store")
	}
	_, gs, err = s.LiveLookup(ctx, bobAnchor)
	if err != nil || !slices.Equal(groupNames(gs), []string{"admins", "staff"}) {
		t.Fatalf("bob live groups %v %v", groupNames(gs), err)
	}

	// Deleted in the directory: reported deleted.
	mustDo(t, b.srv.Delete(bob))
	if p, _, err := s.LiveLookup(ctx, bobAnchor); err != nil || !p.Deleted || p.Enabled {
		t.Errorf("deleted bob live: %+v %v", p, err)
	}
	if _, _, err := s.LiveLookup(ctx, "00000000-0000-0000-0000-000000000001"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown anchor: %v", err)
	}
	if _, _, err := s.LiveLookup(ctx, "bob"); !errors.Is(err, ErrBadGUID) {
		t.Errorf("bad anchor: %v", err)
	}

	// Directory down: the mirror within max_staleness, then fail closed.
	mustDo(t, b.srv.Stop())
	now = now.Add(30 * time.Minute)
	p, gs, err = s.LiveLookup(ctx, anchor)
	if err != nil || !p.Enabled || !slices.Equal(groupNames(gs), []string{"admins", "staff"}) {
		t.Fatalf("mirror fallback: %+v %v %v", p, groupNames(gs), err)
	}
	now = now.Add(time.Hour)
	_, _, err = s.LiveLookup(ctx, anchor)
	var se *StaleError
	if !errors.Is(err, ErrStale) || !errors.As(err, &se) || !errors.Is(err, ErrUnreachable) || se.Age < 90*time.Minute ||
		!strings.Contains(err.Error(), "mirror older than max_staleness") {
		t.Fatalf("stale: %v", err)
	}
	// A sync against the stopped server fails and writes nothing.
	snap := must[string](t)(mirrorSnapshot(ctx, st, "default", true))
	if _, err := s.Sync(ctx, SyncOptions{}); !errors.Is(err, ErrUnreachable) {
		t.Errorf("sync with slapd down: %v", err)
	}
	if after := must[string](t)(mirrorSnapshot(ctx, st, "default", true)); after != snap {
		t.Error("failed sync changed the store")
	}
	// live_check off: the mirror only, same bound.
	s.o.LiveCheck = false
	if _, _, err := s.LiveLookup(ctx, anchor); !errors.Is(err, ErrStale) {
		t.Errorf("live_check off, stale: %v", err)
	}
	now = now.Add(-time.Hour)
	if _, _, err := s.LiveLookup(ctx, anchor); err != nil {
		t.Errorf("live_check off, fresh: %v", err)
	}
}
