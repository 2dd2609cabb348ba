package view_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/passkdc/passkdc/integration/pgtest"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/postgres"
	"github.com/passkdc/passkdc/store/sqlite"
	"github.com/passkdc/passkdc/store/view"
)

// BenchmarkSignInReads measures the reads of one sign-in's decision, on
// SQLite and on PostgreSQL: "queries" is what a sign-in read before the view
// (the credential, the principal, its transitive groups: three queries),
// "view" what it reads now (the credential with the change marker, one
// query; principal and groups from memory).
//
//	CI=true go test -run '^$' -bench SignInReads -benchmem ./store/view/
func BenchmarkSignInReads(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "passkdc.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		benchReads(b, s)
	})
	b.Run("postgres", func(b *testing.B) {
		srv := pgtest.Start(b)
		s, err := postgres.Open(b.Context(), srv.NewSchema(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		benchReads(b, s)
	})
}

func benchReads(b *testing.B, s store.Store) {
	ctx := context.Background()
	p := user(1)
	for _, g := range []string{"g-1", "g-2", "g-3"} {
		if _, err := s.UpsertGroup(ctx, store.Group{Anchor: g, Directory: "default", Name: g, SID: "S-1-5-21-1-2-3-" + g[2:]}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.SetMemberships(ctx, "g-1", []string{"g-2"}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.UpsertPrincipal(ctx, p); err != nil {
		b.Fatal(err)
	}
	if err := s.SetMemberships(ctx, p.Anchor, []string{"g-1", "g-3"}); err != nil {
		b.Fatal(err)
	}
	id := []byte("cred-1")
	if err := s.CreateCredential(ctx, store.Credential{ID: id, Principal: p.Anchor, PublicKey: []byte{1}}); err != nil {
		b.Fatal(err)
	}
	b.Run("queries", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, err := s.GetCredential(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.GetPrincipal(ctx, c.Principal); err != nil {
				b.Fatal(err)
			}
			if gs, err := s.TransitiveGroups(ctx, c.Principal); err != nil || len(gs) != 3 {
				b.Fatal(gs, err)
			}
		}
	})
	b.Run("view", func(b *testing.B) {
		v := view.New(s, 0)
		b.ReportAllocs()
		for b.Loop() {
			c, m, err := s.GetCredentialAndMarker(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := v.Principal(ctx, c.Principal, m.Directory); err != nil {
				b.Fatal(err)
			}
			if gs, err := v.Groups(ctx, c.Principal, m.Directory); err != nil || len(gs) != 3 {
				b.Fatal(gs, err)
			}
		}
	})
}
