package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/pgtest"
	"github.com/passkdc/passkdc/store"
)

// testAnalyzeAfterBulkSync: a transaction with many directory writes (a
// first sync) leaves the directory tables with planner statistics, so the
// sign-in's group query walks memberships by its index instead of scanning
// it; a small change (a live check, an incremental sync) runs no ANALYZE.
func testAnalyzeAfterBulkSync(t *testing.T, srv *pgtest.Server) {
	ctx := t.Context()
	s := openTest(t, srv.NewSchema(t))
	write := func(from, n int) {
		t.Helper()
		mustDo(t, "directory transaction", s.WithTx(ctx, func(tx store.Tx) error {
			g := store.Group{Anchor: "g-allowed", Directory: "default", Name: "Allowed", SID: "S-1-5-21-1-2-3-571", SyncedAt: base}
			if _, err := tx.UpsertGroup(ctx, g); err != nil {
				return err
			}
			for i := from; i < from+n; i++ {
				p := store.Principal{Anchor: fmt.Sprint("p-", i), Directory: "default", Name: fmt.Sprint("user", i),
					Realm: "R", Enabled: true, SyncedAt: base}
				if _, err := tx.UpsertPrincipal(ctx, p); err != nil {
					return err
				}
				if err := tx.SetMemberships(ctx, p.Anchor, []string{g.Anchor}); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	analyzed := func() bool {
		t.Helper()
		var n int
		err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND last_analyze IS NOT NULL
			AND relname IN ('principals', 'directory_groups', 'memberships')`).Scan(&n)
		mustDo(t, "read pg_stat_user_tables", err)
		return n == 3
	}
	write(0, 20) // 1 + 2 × 20 directory writes: below analyzeAfter
	if analyzed() {
		t.Fatal("a transaction of a few directory writes ran ANALYZE")
	}
	write(1000, 5000)
	deadline := time.Now().Add(10 * time.Second) // statistics views may lag the ANALYZE
	for !analyzed() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !analyzed() {
		t.Fatal("after a transaction of 10,000 directory writes the directory tables have no statistics")
	}
	plan := explain(t, ctx, s, strings.Replace(qTransitiveGroups, "$1", "'p-3000'", 1))
	if !strings.Contains(plan, "memberships_pkey") || strings.Contains(plan, "Seq Scan on memberships") {
		t.Errorf("the group query does not use memberships' index:\n%s", plan)
	}
	if gs, err := s.TransitiveGroups(ctx, "p-3000"); err != nil || len(gs) != 1 {
		t.Errorf("TransitiveGroups = %v, %v", gs, err)
	}
}

func explain(t *testing.T, ctx context.Context, s *Store, q string) string {
	t.Helper()
	rows, err := s.pool.Query(ctx, "EXPLAIN (COSTS OFF) "+q)
	mustDo(t, "explain", err)
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		mustDo(t, "explain row", rows.Scan(&line))
		b.WriteString(line + "\n")
	}
	mustDo(t, "explain rows", rows.Err())
	return b.String()
}
