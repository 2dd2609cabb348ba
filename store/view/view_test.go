package view_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/memory"
	"github.com/passkdc/passkdc/store/view"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func user(n int) store.Principal {
	return store.Principal{Anchor: fmt.Sprintf("a-%d", n), Directory: "default", Name: fmt.Sprintf("u%d", n),
		Realm: "CORP.EXAMPLE.TEST", SID: fmt.Sprintf("S-1-5-21-1-2-3-%d", 1100+n), Enabled: true}
}

// setUp stores users 0..n-1, each in group "staff".
func setUp(t *testing.T, n int) *memory.ReadCounter {
	t.Helper()
	ctx := t.Context()
	c := memory.CountReads(memory.New())
	_, err := c.UpsertGroup(ctx, store.Group{Anchor: "g-staff", Directory: "default", Name: "staff", SID: "S-1-5-21-1-2-3-571"})
	must(t, err)
	for i := 0; i < n; i++ {
		_, err := c.UpsertPrincipal(ctx, user(i))
		must(t, err)
		must(t, c.SetMemberships(ctx, user(i).Anchor, []string{"g-staff"}))
	}
	return c
}

func marker(t *testing.T, s store.Store) int64 {
	t.Helper()
	m, err := s.ChangeMarker(t.Context())
	must(t, err)
	return m
}

// TestHitMissAndInvalidation: a second read at the same marker is answered
// from memory; a write moves the marker and the next read (with the marker
// read after the write) sees the write.
func TestHitMissAndInvalidation(t *testing.T) {
	ctx := t.Context()
	c := setUp(t, 1)
	v := view.New(c, 0)
	alice := user(0)
	m := marker(t, c)
	for i := 0; i < 3; i++ {
		p, err := v.Principal(ctx, alice.Anchor, m)
		must(t, err)
		gs, err := v.Groups(ctx, alice.Anchor, m)
		must(t, err)
		if !p.Enabled || len(gs) != 1 || gs[0].Name != "staff" {
			t.Fatalf("read %d: %+v %+v", i, p, gs)
		}
	}
	if p, g := c.Reads(); p != 1 || g != 1 {
		t.Fatalf("three reads at one marker reached the store %d+%d times, want 1+1", p, g)
	}

	cases := []struct {
		name  string
		write func() error
		check func(p store.Principal, gs []store.Group) error
	}{
		{"disabled", func() error {
			d := alice
			d.Enabled = false
			_, err := c.UpsertPrincipal(ctx, d)
			return err
		}, func(p store.Principal, _ []store.Group) error {
			if p.Enabled {
				return errors.New("still enabled")
			}
			return nil
		}},
		{"out of the group", func() error { return c.SetMemberships(ctx, alice.Anchor, nil) }, func(_ store.Principal, gs []store.Group) error {
			if len(gs) != 0 {
				return fmt.Errorf("groups %+v", gs)
			}
			return nil
		}},
		{"another principal written", func() error { _, err := c.UpsertPrincipal(ctx, user(7)); return err }, func(store.Principal, []store.Group) error { return nil }},
	}
	for _, tc := range cases {
		must(t, tc.write())
		m2 := marker(t, c)
		if m2 <= m {
			t.Fatalf("%s: marker did not move", tc.name)
		}
		p0, g0 := c.Reads()
		p, err := v.Principal(ctx, alice.Anchor, m2)
		must(t, err)
		gs, err := v.Groups(ctx, alice.Anchor, m2)
		must(t, err)
		if err := tc.check(p, gs); err != nil {
			t.Fatalf("%s: the view answered from before the write: %v", tc.name, err)
		}
		if p1, g1 := c.Reads(); p1 != p0+1 || g1 != g0+1 {
			t.Fatalf("%s: %d+%d store reads after the marker moved, want 1+1", tc.name, p1-p0, g1-g0)
		}
		m = m2
	}
}

// TestOtherMarker: a caller whose marker is not the one the view files under
// (older: its read began before a change; or the store went back to an older
// state) reads the store, and the view then files under that marker.
func TestOtherMarker(t *testing.T) {
	ctx := t.Context()
	c := setUp(t, 1)
	v := view.New(c, 0)
	alice := user(0)
	old := marker(t, c)
	d := alice
	d.Enabled = false
	_, err := c.UpsertPrincipal(ctx, d)
	must(t, err)
	now := marker(t, c)
	p, err := v.Principal(ctx, alice.Anchor, now)
	must(t, err)
	if p.Enabled {
		t.Fatal("enabled after the disable")
	}
	for i, m := range []int64{old, old, now} {
		if _, err := v.Principal(ctx, alice.Anchor, m); err != nil {
			t.Fatal(err)
		}
		want := []int64{2, 2, 3}[i]
		if got, _ := c.Reads(); got != want {
			t.Fatalf("read %d (marker %d): %d store reads, want %d", i, m, got, want)
		}
	}
}

// TestNotFoundIsNotKept: an unknown principal is the store's ErrNotFound,
// and once stored it is found (the store's marker moved with the write).
func TestNotFoundIsNotKept(t *testing.T) {
	ctx := t.Context()
	c := setUp(t, 0)
	v := view.New(c, 0)
	bob := user(1)
	if _, err := v.Principal(ctx, bob.Anchor, marker(t, c)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown principal: %v, want ErrNotFound", err)
	}
	_, err := c.UpsertPrincipal(ctx, bob)
	must(t, err)
	p, err := v.Principal(ctx, bob.Anchor, marker(t, c))
	must(t, err)
	if p.Name != bob.Name {
		t.Fatalf("got %+v", p)
	}
}

// TestBoundAndSharedGroups: the view holds at most its bound of principals,
// and principals with the same groups share one list.
func TestBoundAndSharedGroups(t *testing.T) {
	ctx := t.Context()
	c := setUp(t, 3)
	v := view.New(c, 2)
	m := marker(t, c)
	var lists [][]store.Group
	for i := 0; i < 3; i++ {
		gs, err := v.Groups(ctx, user(i).Anchor, m)
		must(t, err)
		lists = append(lists, gs)
	}
	if &lists[0][0] != &lists[1][0] {
		t.Fatal("two principals with the same groups do not share the list")
	}
	_, g0 := c.Reads()
	for i := 0; i < 3; i++ {
		_, err := v.Groups(ctx, user(i).Anchor, m)
		must(t, err)
	}
	if _, g1 := c.Reads(); g1-g0 < 1 {
		t.Fatal("a view bounded to 2 principals answered 3 from memory")
	}
}

// TestConcurrentDisable: sign-ins read through the view while the account is
// disabled; every read whose marker was read after the disable returned sees
// it disabled (run with -race).
func TestConcurrentDisable(t *testing.T) {
	ctx := t.Context()
	c := setUp(t, 1)
	v := view.New(c, 0)
	alice := user(0)
	var disabled atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				after := disabled.Load()
				m, err := c.ChangeMarker(ctx)
				if err != nil {
					errs <- err
					return
				}
				p, err := v.Principal(ctx, alice.Anchor, m)
				if err != nil {
					errs <- err
					return
				}
				if after && p.Enabled {
					errs <- fmt.Errorf("read %d: enabled after the disable returned (marker %d)", i, m)
					return
				}
			}
		}()
	}
	d := alice
	d.Enabled = false
	_, err := c.UpsertPrincipal(ctx, d)
	must(t, err)
	disabled.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
