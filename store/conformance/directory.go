package conformance

import (
	"sort"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
)

func directoryTests() []test {
	return []test{
		{"PrincipalRoundTrip", testPrincipalRoundTrip},
		{"PrincipalUpsertChanged", testPrincipalUpsertChanged},
		{"PrincipalByName", testPrincipalByName},
		{"ListPrincipals", testListPrincipals},
		{"MarkUnseenDeleted", testMarkUnseenDeleted},
		{"NextGeneration", testNextGeneration},
		{"GroupRoundTrip", testGroupRoundTrip},
		{"MembershipsReplace", testMembershipsReplace},
		{"GroupMembers", testGroupMembers},
		{"TransitiveGroups", testTransitiveGroups},
		{"SyncState", testSyncState},
	}
}

func testPrincipalRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := principal(1, "Alice")
	changed, err := s.UpsertPrincipal(ctx, p)
	must(t, "upsert", err)
	if !changed {
		t.Fatal("upsert of a new principal: changed = false")
	}
	got, err := s.GetPrincipal(ctx, p.Anchor)
	must(t, "get", err)
	equal(t, "get", got, normPrincipal(p))

	// Zero times and false booleans round-trip as such.
	q := store.Principal{Anchor: anchor(2), Directory: "default", Name: "bare", Realm: "CORP.EXAMPLE.TEST"}
	mustUpsertPrincipal(t, s, q)
	got, err = s.GetPrincipal(ctx, q.Anchor)
	must(t, "get bare", err)
	equal(t, "get bare", got, q)

	_, err = s.GetPrincipal(ctx, anchor(99))
	checkErr(t, "get unknown", err, store.ErrNotFound)
	if _, err := s.UpsertPrincipal(ctx, store.Principal{Name: "noanchor"}); err == nil {
		t.Fatal("upsert without anchor: no error")
	}
}

func testPrincipalUpsertChanged(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := []struct {
		name    string
		mutate  func(p *store.Principal)
		changed bool
	}{
		{"new pass only (SyncedAt, Generation)", func(p *store.Principal) {
			p.SyncedAt = p.SyncedAt.Add(time.Hour)
			p.Generation++
		}, false},
		{"same expiry in another zone", func(p *store.Principal) {
			p.Expires = p.Expires.In(time.FixedZone("EST", -5*3600))
		}, false},
		{"directory", func(p *store.Principal) { p.Directory = "other" }, true},
		{"name", func(p *store.Principal) { p.Name = "renamed" }, true},
		{"name case", func(p *store.Principal) { p.Name = "USER" }, true},
		{"realm", func(p *store.Principal) { p.Realm = "OTHER.TEST" }, true},
		{"upn", func(p *store.Principal) { p.UPN = "x@y" }, true},
		{"sid", func(p *store.Principal) { p.SID = "S-1-5-21-9-9-9-1" }, true},
		{"dn", func(p *store.Principal) { p.DN = "CN=x" }, true},
		{"display name", func(p *store.Principal) { p.DisplayName = "X" }, true},
		{"disabled", func(p *store.Principal) { p.Enabled = false }, true},
		{"deleted", func(p *store.Principal) { p.Deleted = true }, true},
		{"expiry", func(p *store.Principal) { p.Expires = p.Expires.Add(time.Nanosecond) }, true},
		{"expiry cleared", func(p *store.Principal) { p.Expires = time.Time{} }, true},
		{"change mark", func(p *store.Principal) { p.ChangeMark = "99999" }, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := principal(100+i, "user")
			mustUpsertPrincipal(t, s, p)
			tc.mutate(&p)
			changed, err := s.UpsertPrincipal(ctx, p)
			must(t, "second upsert", err)
			if changed != tc.changed {
				t.Fatalf("changed = %v, want %v", changed, tc.changed)
			}
			got, err := s.GetPrincipal(ctx, p.Anchor)
			must(t, "get", err)
			// Everything is stored, SyncedAt and Generation included.
			equal(t, "stored", got, normPrincipal(p))
		})
	}
}

func testPrincipalByName(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := principal(1, "Alice")
	unal := principal(2, "Ünal")
	// A deleted "bob", synced more recently than the live, re-created one.
	oldBob := principal(3, "bob")
	oldBob.Deleted, oldBob.SyncedAt = true, base().Add(time.Hour)
	newBob := principal(4, "Bob")
	// Two live "carol": the most recently synced wins.
	carol1 := principal(5, "carol")
	carol2 := principal(6, "carol")
	carol2.SyncedAt = base().Add(time.Minute)
	for _, p := range []store.Principal{alice, unal, oldBob, newBob, carol1, carol2} {
		mustUpsertPrincipal(t, s, p)
	}
	cases := []struct {
		realm, name string
		want        string // anchor; "" for ErrNotFound
	}{
		{"CORP.EXAMPLE.TEST", "Alice", alice.Anchor},
		{"CORP.EXAMPLE.TEST", "alice", alice.Anchor},
		{"corp.example.test", "ALICE", alice.Anchor},
		{"CORP.EXAMPLE.TEST", "üNAL", unal.Anchor},
		{"CORP.EXAMPLE.TEST", "BOB", newBob.Anchor},
		{"CORP.EXAMPLE.TEST", "carol", carol2.Anchor},
		{"CORP.EXAMPLE.TEST", "alic", ""},
		{"OTHER.TEST", "alice", ""},
		{"CORP.EXAMPLE.TEST", "", ""},
	}
	for _, tc := range cases {
		got, err := s.GetPrincipalByName(ctx, tc.realm, tc.name)
		if tc.want == "" {
			checkErr(t, tc.name+"@"+tc.realm, err, store.ErrNotFound)
			continue
		}
		must(t, tc.name+"@"+tc.realm, err)
		if got.Anchor != tc.want {
			t.Fatalf("%s@%s: got %s (%s), want %s", tc.name, tc.realm, got.Anchor, got.Name, tc.want)
		}
	}
	got, err := s.GetPrincipalByName(ctx, "CORP.EXAMPLE.TEST", "alice")
	must(t, "alice", err)
	equal(t, "alice by name", got, normPrincipal(alice))
}

func testListPrincipals(t *testing.T, s store.Store) {
	ctx := t.Context()
	mk := func(n int, name, dir string, deleted bool) store.Principal {
		p := principal(n, name)
		p.Directory, p.Deleted = dir, deleted
		return p
	}
	// Sorted by (name, anchor): a1 a6 a2 a3 a4 [a5 deleted].
	ps := []store.Principal{
		mk(3, "carol", "default", false),
		mk(1, "alice", "default", false),
		mk(5, "eve", "default", true),
		mk(2, "bob", "default", false),
		mk(6, "alice", "other", false),
		mk(4, "dave", "other", false),
	}
	for _, p := range ps {
		mustUpsertPrincipal(t, s, p)
	}
	a := anchor
	cases := []struct {
		name string
		f    store.PrincipalFilter
		want []string
	}{
		{"all", store.PrincipalFilter{}, []string{a(1), a(6), a(2), a(3), a(4)}},
		{"with deleted", store.PrincipalFilter{IncludeDeleted: true}, []string{a(1), a(6), a(2), a(3), a(4), a(5)}},
		{"directory", store.PrincipalFilter{Directory: "default"}, []string{a(1), a(2), a(3)}},
		{"other directory", store.PrincipalFilter{Directory: "other"}, []string{a(6), a(4)}},
		{"directory with deleted", store.PrincipalFilter{Directory: "default", IncludeDeleted: true}, []string{a(1), a(2), a(3), a(5)}},
		{"unknown directory", store.PrincipalFilter{Directory: "nope"}, []string{}},
		{"limit", store.PrincipalFilter{Limit: 2}, []string{a(1), a(6)}},
		{"after name", store.PrincipalFilter{After: "alice"}, []string{a(2), a(3), a(4)}},
		{"after name, limit", store.PrincipalFilter{After: "bob", Limit: 1}, []string{a(3)}},
		{"after (name, anchor)", store.PrincipalFilter{After: "alice", AfterAnchor: a(1)}, []string{a(6), a(2), a(3), a(4)}},
		{"after (name, last anchor)", store.PrincipalFilter{After: "alice", AfterAnchor: a(6)}, []string{a(2), a(3), a(4)}},
		{"after the end", store.PrincipalFilter{After: "zz"}, []string{}},
	}
	for _, tc := range cases {
		got, err := s.ListPrincipals(ctx, tc.f)
		must(t, tc.name, err)
		equal(t, tc.name, anchorsOf(got), tc.want)
	}

	// Paging by (Name, Anchor) visits everything once, in order.
	var paged []string
	f := store.PrincipalFilter{IncludeDeleted: true, Limit: 2}
	for i := 0; i < 10; i++ {
		page, err := s.ListPrincipals(ctx, f)
		must(t, "page", err)
		if len(page) == 0 {
			break
		}
		paged = append(paged, anchorsOf(page)...)
		last := page[len(page)-1]
		f.After, f.AfterAnchor = last.Name, last.Anchor
	}
	equal(t, "paged", paged, []string{a(1), a(6), a(2), a(3), a(4), a(5)})

	got, err := s.ListPrincipals(ctx, store.PrincipalFilter{Directory: "other", Limit: 1})
	must(t, "full record", err)
	equal(t, "full record", got, []store.Principal{normPrincipal(ps[4])})
}

func testMarkUnseenDeleted(t *testing.T, s store.Store) {
	ctx := t.Context()
	p1, p2, p3 := principal(1, "p1"), principal(2, "p2"), principal(3, "p3")
	p3.Directory = "other"
	g1, g2, g3 := group("g-1", "g1"), group("g-2", "g2"), group("g-3", "g3")
	g3.Directory = "other"
	for _, p := range []store.Principal{p1, p2, p3} {
		mustUpsertPrincipal(t, s, p)
	}
	for _, g := range []store.Group{g1, g2, g3} {
		mustUpsertGroup(t, s, g)
	}
	// Generation 2 of "default" sees p1 and g2 only.
	p1.Generation, g2.Generation = 2, 2
	mustUpsertPrincipal(t, s, p1)
	mustUpsertGroup(t, s, g2)

	n, err := s.MarkUnseenDeleted(ctx, "default", 2)
	must(t, "mark", err)
	if n != 1 {
		t.Fatalf("marked %d principals, want 1", n)
	}
	wantDeleted := map[string]bool{p1.Anchor: false, p2.Anchor: true, p3.Anchor: false}
	for a, want := range wantDeleted {
		p, err := s.GetPrincipal(ctx, a)
		must(t, "get principal", err)
		if p.Deleted != want {
			t.Errorf("principal %s (%s, gen %d): deleted = %v, want %v", p.Name, p.Directory, p.Generation, p.Deleted, want)
		}
	}
	for a, want := range map[string]bool{g1.Anchor: true, g2.Anchor: false, g3.Anchor: false} {
		g, err := s.GetGroup(ctx, a)
		must(t, "get group", err)
		if g.Deleted != want {
			t.Errorf("group %s (%s, gen %d): deleted = %v, want %v", g.Name, g.Directory, g.Generation, g.Deleted, want)
		}
	}
	n, err = s.MarkUnseenDeleted(ctx, "default", 2)
	must(t, "mark again", err)
	if n != 0 {
		t.Fatalf("second mark: %d principals, want 0 (already deleted)", n)
	}
	list, err := s.ListPrincipals(ctx, store.PrincipalFilter{Directory: "default"})
	must(t, "list", err)
	equal(t, "live principals", anchorsOf(list), []string{p1.Anchor})
}

func testNextGeneration(t *testing.T, s store.Store) {
	ctx := t.Context()
	prev := int64(0)
	for i := 0; i < 3; i++ {
		g, err := s.NextGeneration(ctx, "default")
		must(t, "next generation", err)
		if g <= prev {
			t.Fatalf("generation %d after %d: not increasing", g, prev)
		}
		prev = g
	}
	o, err := s.NextGeneration(ctx, "other")
	must(t, "next generation other", err)
	if o <= 0 {
		t.Fatalf("first generation of another directory: %d, want > 0", o)
	}
	g, err := s.NextGeneration(ctx, "default")
	must(t, "next generation", err)
	if g <= prev {
		t.Fatalf("generation %d after %d: not increasing", g, prev)
	}
}

func testGroupRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := group("g-1", "Staff")
	changed, err := s.UpsertGroup(ctx, g)
	must(t, "upsert", err)
	if !changed {
		t.Fatal("new group: changed = false")
	}
	got, err := s.GetGroup(ctx, g.Anchor)
	must(t, "get", err)
	equal(t, "get", got, normGroup(g))

	g.SyncedAt, g.Generation = g.SyncedAt.Add(time.Hour), 5
	changed, err = s.UpsertGroup(ctx, g)
	must(t, "upsert same", err)
	if changed {
		t.Fatal("unchanged group: changed = true")
	}
	got, err = s.GetGroup(ctx, g.Anchor)
	must(t, "get", err)
	equal(t, "generation stored", got, normGroup(g))
	for _, mutate := range []func(*store.Group){
		func(g *store.Group) { g.Name = "Staff2" },
		func(g *store.Group) { g.SID = "S-1-5-21-1-2-3-9" },
		func(g *store.Group) { g.DN = "CN=x" },
		func(g *store.Group) { g.Deleted = true },
		func(g *store.Group) { g.ChangeMark = "78" },
		func(g *store.Group) { g.Directory = "other" },
	} {
		mutate(&g)
		changed, err = s.UpsertGroup(ctx, g)
		must(t, "upsert changed", err)
		if !changed {
			t.Fatalf("changed group %+v: changed = false", g)
		}
	}
	_, err = s.GetGroup(ctx, "g-none")
	checkErr(t, "get unknown", err, store.ErrNotFound)

	b, a, c, d := group("g-b", "b"), group("g-a", "a"), group("g-c", "c"), group("g-d", "d")
	c.Directory, d.Deleted = "other", true
	for _, x := range []store.Group{b, a, c, d} {
		mustUpsertGroup(t, s, x)
	}
	list, err := s.ListGroups(ctx, "default")
	must(t, "list", err)
	equal(t, "list default", groupNames(list), []string{"a", "b"})
	list, err = s.ListGroups(ctx, "")
	must(t, "list all", err)
	equal(t, "list all", groupNames(list), []string{"a", "b", "c"})
	equal(t, "listed record", list[0], normGroup(a))
}

func testMembershipsReplace(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, n := range []string{"g1", "g2", "g3"} {
		mustUpsertGroup(t, s, group("a-"+n, n))
	}
	u, v := anchor(1), anchor(2)
	must(t, "set v", s.SetMemberships(ctx, v, []string{"a-g1"}))
	steps := []struct {
		groups []string
		want   []string
	}{
		{[]string{"a-g1", "a-g2", "a-g2"}, []string{"g1", "g2"}},
		{[]string{"a-g3"}, []string{"g3"}},
		{[]string{"a-g3", "a-g1"}, []string{"g1", "g3"}},
		{nil, []string{}},
	}
	for i, st := range steps {
		must(t, "set", s.SetMemberships(ctx, u, st.groups))
		got, err := s.TransitiveGroups(ctx, u)
		must(t, "transitive", err)
		equal(t, "step groups", groupNames(got), st.want)
		got, err = s.TransitiveGroups(ctx, v)
		must(t, "transitive v", err)
		if len(got) != 1 || got[0].Name != "g1" {
			t.Fatalf("step %d changed another member's groups: %v", i, groupNames(got))
		}
	}
}

func testTransitiveGroups(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := []struct {
		name    string
		groups  []string // stored groups
		deleted []string // stored, deleted groups
		edges   map[string][]string
		member  string
		want    []string
	}{
		{"none", []string{"A"}, nil, map[string][]string{}, "u", []string{}},
		{"direct", []string{"A", "B"}, nil, map[string][]string{"u": {"A"}}, "u", []string{"A"}},
		{"chain", []string{"A", "B", "C"}, nil,
			map[string][]string{"u": {"A"}, "A": {"B"}, "B": {"C"}}, "u", []string{"A", "B", "C"}},
		{"diamond", []string{"A", "B", "C"}, nil,
			map[string][]string{"u": {"A", "B"}, "A": {"C"}, "B": {"C"}}, "u", []string{"A", "B", "C"}},
		{"cycle", []string{"A", "B", "C"}, nil,
			map[string][]string{"u": {"A"}, "A": {"B"}, "B": {"C"}, "C": {"A"}}, "u", []string{"A", "B", "C"}},
		{"cycle seen from a group", []string{"A", "B", "C"}, nil,
			map[string][]string{"A": {"B"}, "B": {"C"}, "C": {"A"}}, "A", []string{"A", "B", "C"}},
		{"self loop", []string{"A"}, nil, map[string][]string{"u": {"A"}, "A": {"A"}}, "u", []string{"A"}},
		{"deleted group left out and not followed", []string{"A", "C"}, []string{"B"},
			map[string][]string{"u": {"A"}, "A": {"B"}, "B": {"C"}}, "u", []string{"A"}},
		{"deleted direct group", []string{"A"}, []string{"B"},
			map[string][]string{"u": {"A", "B"}}, "u", []string{"A"}},
		{"deleted group in a cycle", []string{"A", "C"}, []string{"B"},
			map[string][]string{"u": {"A"}, "A": {"B"}, "B": {"C"}, "C": {"A"}}, "u", []string{"A"}},
		{"unknown group not followed", []string{"A"}, nil,
			map[string][]string{"u": {"X"}, "X": {"A"}}, "u", []string{}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Anchors unique to the case; names are the symbols.
			id := func(sym string) string { return string(rune('a'+i)) + "-" + sym }
			for _, n := range tc.groups {
				mustUpsertGroup(t, s, group(id(n), n))
			}
			for _, n := range tc.deleted {
				g := group(id(n), n)
				g.Deleted = true
				mustUpsertGroup(t, s, g)
			}
			for m, gs := range tc.edges {
				ids := make([]string, len(gs))
				for j, g := range gs {
					ids[j] = id(g)
				}
				must(t, "set memberships", s.SetMemberships(ctx, id(m), ids))
			}
			got, err := s.TransitiveGroups(ctx, id(tc.member))
			must(t, "transitive groups", err)
			equal(t, "groups", groupNames(got), tc.want)
			for _, g := range got {
				if g.Anchor != id(g.Name) || g.Deleted {
					t.Fatalf("returned group %+v: wrong anchor or deleted", g)
				}
			}
		})
	}
}

func testSyncState(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.GetSyncState(ctx, "default")
	must(t, "get zero", err)
	equal(t, "zero state", got, store.SyncState{Directory: "default"})

	st := store.SyncState{
		Directory:    "default",
		HighWater:    "123456",
		InvocationID: "7d3a2c1e-0000-4000-8000-000000000001",
		Generation:   4,
		LastFull:     base(),
		LastSync:     base().Add(5 * time.Minute),
	}
	must(t, "put", s.PutSyncState(ctx, st))
	other := store.SyncState{Directory: "other", HighWater: "cookie", Generation: 1}
	must(t, "put other", s.PutSyncState(ctx, other))
	got, err = s.GetSyncState(ctx, "default")
	must(t, "get", err)
	equal(t, "round trip", got, normSyncState(st))

	st.HighWater, st.Generation, st.LastSync = "200000", 5, base().Add(time.Hour)
	must(t, "put again", s.PutSyncState(ctx, st))
	got, err = s.GetSyncState(ctx, "default")
	must(t, "get", err)
	equal(t, "overwritten", got, normSyncState(st))
	got, err = s.GetSyncState(ctx, "other")
	must(t, "get other", err)
	equal(t, "other directory", got, other)
}

// testGroupMembers checks GroupMembers (ldapsync's incremental pass uses it
// to re-read the former members of a changed group).
func testGroupMembers(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, n := range []string{"g1", "g2"} {
		mustUpsertGroup(t, s, group("a-"+n, n))
	}
	u, v := anchor(1), anchor(2)
	must(t, "set u", s.SetMemberships(ctx, u, []string{"a-g1", "a-g2"}))
	must(t, "set v", s.SetMemberships(ctx, v, []string{"a-g1"}))
	must(t, "set g2", s.SetMemberships(ctx, "a-g2", []string{"a-g1"}))
	got, err := s.GroupMembers(ctx, "a-g1")
	must(t, "members of g1", err)
	equal(t, "members of g1", got, sortedStrings(u, v, "a-g2"))
	must(t, "drop u", s.SetMemberships(ctx, u, nil))
	got, err = s.GroupMembers(ctx, "a-g1")
	must(t, "members of g1 after", err)
	equal(t, "members of g1 after u left", got, sortedStrings(v, "a-g2"))
	got, err = s.GroupMembers(ctx, "no-such-group")
	must(t, "members of an unknown group", err)
	if len(got) != 0 {
		t.Fatalf("unknown group has members %v", got)
	}
	// Inside a transaction, with the transaction's own writes.
	must(t, "in a transaction", s.WithTx(ctx, func(tx store.Tx) error {
		if err := tx.SetMemberships(ctx, u, []string{"a-g1"}); err != nil {
			return err
		}
		got, err := tx.GroupMembers(ctx, "a-g1")
		if err != nil {
			return err
		}
		equal(t, "members of g1 in the transaction", got, sortedStrings(u, v, "a-g2"))
		return nil
	}))
}

func sortedStrings(s ...string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
