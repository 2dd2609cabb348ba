package storeopen

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/passkdc/passkdc/integration/pgtest"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/postgres"
	"github.com/passkdc/passkdc/store/sqlite"
)

// The config's store key picks the backend: a file path is SQLite, a
// postgres:// URL is PostgreSQL; both hold what they were given.
func TestOpenPicksTheBackendFromTheStoreKey(t *testing.T) {
	srv := pgtest.Start(t)
	cases := []struct {
		name, dsn string
		want      func(store.Store) bool
	}{
		{"sqlite", filepath.Join(t.TempDir(), "passkdc.db"), func(s store.Store) bool { _, ok := s.(*sqlite.Store); return ok }},
		{"postgres", srv.NewSchema(t), func(s store.Store) bool { _, ok := s.(*postgres.Store); return ok }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := Open(ctx, tc.dsn, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if !tc.want(st) {
				t.Fatalf("Open(%s) gave a %T", tc.name, st)
			}
			if IsURL(tc.dsn) != (tc.name == "postgres") {
				t.Fatalf("IsURL(%q) wrong", tc.dsn)
			}
			p := store.Principal{Anchor: "7a1e2b3c-0000-4000-8000-000000000001", Name: "alice", Realm: "EXAMPLE.TEST", Enabled: true}
			if err := st.WithTx(ctx, func(tx store.Tx) error { _, err := tx.UpsertPrincipal(ctx, p); return err }); err != nil {
				t.Fatal(err)
			}
			got, err := st.GetPrincipal(ctx, p.Anchor)
			if err != nil || got.Name != "alice" {
				t.Fatalf("GetPrincipal: %+v, %v", got, err)
			}
		})
	}
	if _, err := Open(context.Background(), "postgres://127.0.0.1:1/none?connect_timeout=1", nil); err == nil {
		t.Fatal("Open of an unreachable PostgreSQL succeeded")
	}
}
