package ldapsync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/memory"
	"github.com/passkdc/passkdc/store/view"
)

// queryCounter counts the principal and group queries that reach the store.
type queryCounter struct {
	store.Store
	queries int
}

func (c *queryCounter) GetPrincipal(ctx context.Context, a string) (store.Principal, error) {
	c.queries++
	return c.Store.GetPrincipal(ctx, a)
}

func (c *queryCounter) TransitiveGroups(ctx context.Context, a string) ([]store.Group, error) {
	c.queries++
	return c.Store.TransitiveGroups(ctx, a)
}

// TestMirrorLookupThroughTheView: without the live check, LiveLookup answers
// a second sign-in from the view (no principal or group query), and a
// disable written to the store is its next answer; the staleness rule still
// reads the sync state.
func TestMirrorLookupThroughTheView(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
	qc := &queryCounter{Store: memory.New()}
	const anchor = "7c1e0a52-93c8-4b8e-8f55-1f6f2b6c0a01"
	alice := store.Principal{Anchor: anchor, Directory: "default", Name: "alice", Realm: "CORP.EXAMPLE.TEST",
		SID: "S-1-5-21-1-2-3-1105", Enabled: true, SyncedAt: now}
	mustNil := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := qc.UpsertGroup(ctx, store.Group{Anchor: "g1", Directory: "default", Name: "staff", SID: "S-1-5-21-1-2-3-571"})
	mustNil(err)
	_, err = qc.UpsertPrincipal(ctx, alice)
	mustNil(err)
	mustNil(qc.SetMemberships(ctx, anchor, []string{"g1"}))
	fl, err := NewFlavour(FlavourAD, FlavourOptions{Realm: "CORP.EXAMPLE.TEST"})
	mustNil(err)
	s, err := New(Options{UserBaseDN: "DC=corp", Flavour: fl, Store: qc, View: view.New(qc, 0),
		Dial:         func(context.Context) (SearchConn, error) { return nil, errors.New("not dialled") },
		MaxStaleness: time.Hour, Now: func() time.Time { return now }})
	mustNil(err)
	for i := 0; i < 2; i++ {
		p, groups, err := s.LiveLookup(ctx, anchor)
		mustNil(err)
		if !p.Enabled || len(groups) != 1 {
			t.Fatalf("lookup %d: %+v %+v", i, p, groups)
		}
	}
	if qc.queries != 2 {
		t.Fatalf("two lookups: %d principal and group queries, want 2 (the second from the view)", qc.queries)
	}
	alice.Enabled = false
	_, err = qc.UpsertPrincipal(ctx, alice)
	mustNil(err)
	p, _, err := s.LiveLookup(ctx, anchor)
	mustNil(err)
	if p.Enabled {
		t.Fatal("the lookup after the disable answered from before it")
	}
	alice.SyncedAt = now.Add(-2 * time.Hour)
	_, err = qc.UpsertPrincipal(ctx, alice)
	mustNil(err)
	if _, _, err := s.LiveLookup(ctx, anchor); !errors.Is(err, ErrStale) {
		t.Fatalf("mirror older than max_staleness: %v, want ErrStale", err)
	}
}
