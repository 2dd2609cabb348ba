package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/conformance"
)

// openTest opens a store on a new file in t.TempDir with options o.
func openTest(t testing.TB, o options) *Store {
	t.Helper()
	s, err := open(context.Background(), filepath.Join(t.TempDir(), "passkdc.db"), o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	conformance.RunTests(t, func(t *testing.T) store.Store { return openTest(t, defaultOptions()) })
}

// TestConformanceSinglePool runs the suite on the one-connection layout (the
// alternative measured in the benchmarks): the semantics must not depend on it.
func TestConformanceSinglePool(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	o := defaultOptions()
	o.readConns, o.noStmtCache = 0, true
	conformance.RunTests(t, func(t *testing.T) store.Store { return openTest(t, o) })
}

// rawDB opens the file with database/sql directly, as an administrator would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrateFromEmpty(t *testing.T) {
	ctx := t.Context()
	for _, name := range []string{"new file", "existing empty file"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "passkdc.db")
			if name == "existing empty file" {
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			db := rawDB(t, path)
			var versions []int
			rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var v int
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				versions = append(versions, v)
			}
			rows.Close()
			if len(versions) != len(migrations()) || versions[len(versions)-1] != len(migrations()) {
				t.Fatalf("applied versions %v, want 1..%d", versions, len(migrations()))
			}
			for _, table := range []string{"principals", "directory_groups", "memberships", "sync_state",
				"generations", "credentials", "sessions", "taps", "audit"} {
				var n int
				if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`,
					table).Scan(&n); err != nil || n != 1 {
					t.Errorf("table %s: count %d, err %v", table, n, err)
				}
			}
		})
	}
}

// testMigrations is the real history plus a step that adds a column.
func testMigrations(extra ...string) []migration {
	return append(migrations(), migration{
		version: len(migrations()) + 1,
		name:    "test step",
		stmts:   extra,
	})
}

func TestMigrateUpgradeKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "passkdc.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	p := store.Principal{Anchor: "a1", Name: "alice", Realm: "R", Directory: "default"}
	if _, err := s.UpsertPrincipal(ctx, p); err != nil {
		t.Fatal(err)
	}
	s.Close()

	o := defaultOptions()
	o.migrations = testMigrations(`ALTER TABLE principals ADD COLUMN extra TEXT NOT NULL DEFAULT 'x'`)
	s, err = open(ctx, path, o)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer s.Close()
	got, err := s.GetPrincipal(ctx, "a1")
	if err != nil || got.Name != "alice" {
		t.Fatalf("after upgrade: %+v, %v", got, err)
	}
	var extra string
	if err := s.rdb.QueryRowContext(ctx, `SELECT extra FROM principals WHERE anchor = 'a1'`).Scan(&extra); err != nil || extra != "x" {
		t.Fatalf("new column: %q, %v", extra, err)
	}
	var v int
	if err := s.rdb.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != len(o.migrations) {
		t.Fatalf("version %d, %v; want %d", v, err, len(o.migrations))
	}
}

func TestMigrationFailureRollsBack(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "passkdc.db")
	o := defaultOptions()
	o.migrations = testMigrations(`CREATE TABLE half_done (x INTEGER)`, `THIS IS NOT SQL`)
	if _, err := open(ctx, path, o); err == nil {
		t.Fatal("broken migration: open succeeded")
	} else if !strings.Contains(err.Error(), fmt.Sprintf("migration %d", len(migrations())+1)) {
		t.Fatalf("error %q does not name the migration", err)
	}
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("open at the last good version: %v", err)
	}
	defer s.Close()
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("half-applied migration left table half_done: %d, %v", n, err)
	}
}

func TestFutureSchemaRefused(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "passkdc.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := rawDB(t, path)
	if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(ctx, path)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("open of a future schema: %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "999") {
		t.Fatalf("error %q does not give the version", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "passkdc.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	p := store.Principal{Anchor: "a1", Name: "alice", Realm: "R", Directory: "default", Enabled: true,
		SyncedAt: time.Unix(1700000000, 123456789)}
	c := store.Credential{ID: []byte{0, 1, 2}, Principal: "a1", PublicKey: []byte{9}, SignCount: 5,
		Transports: []string{"internal"}}
	id1, err := seed(ctx, s, p, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gotP, err := s.GetPrincipal(ctx, "a1")
	if err != nil || !gotP.SyncedAt.Equal(p.SyncedAt) || !gotP.Enabled {
		t.Fatalf("principal after reopen: %+v, %v", gotP, err)
	}
	gotC, err := s.GetCredential(ctx, c.ID)
	if err != nil || gotC.SignCount != 5 || len(gotC.Transports) != 1 {
		t.Fatalf("credential after reopen: %+v, %v", gotC, err)
	}
	if _, err := s.ConsumeSession(ctx, "s1", "login", time.Now()); err != nil {
		t.Fatalf("session after reopen: %v", err)
	}
	id2, err := s.AppendAudit(ctx, store.AuditRecord{Event: "after"})
	if err != nil || id2 <= id1 {
		t.Fatalf("audit ID after reopen %d (%v), want > %d", id2, err, id1)
	}
}

// seed stores p, c, a session "s1" and an audit record; it returns the audit ID.
func seed(ctx context.Context, s *Store, p store.Principal, c store.Credential) (int64, error) {
	var id int64
	err := s.WithTx(ctx, func(tx store.Tx) error {
		if _, err := tx.UpsertPrincipal(ctx, p); err != nil {
			return err
		}
		if err := tx.CreateCredential(ctx, c); err != nil {
			return err
		}
		if err := tx.CreateSession(ctx, store.Session{ID: "s1", Kind: "login", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			return err
		}
		var err error
		id, err = tx.AppendAudit(ctx, store.AuditRecord{Event: "before"})
		return err
	})
	return id, err
}

func TestFileMode(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "passkdc.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A write and a read make sure the -wal and -shm files exist.
	if _, err := s.AppendAudit(ctx, store.AuditRecord{Event: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListAudit(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		fi, err := os.Stat(path + suffix)
		if err != nil {
			t.Fatalf("%s: %v", suffix, err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("passkdc.db%s mode %o, want 600", suffix, mode)
		}
	}
}

func TestIntegrityCheck(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, defaultOptions())
	p := store.Principal{Anchor: "a1", Name: "alice", Realm: "R"}
	if _, err := seed(ctx, s, p, store.Credential{ID: []byte{1}, Principal: "a1"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct{ pragma, want string }{
		{"PRAGMA integrity_check", "ok"},
		{"PRAGMA foreign_key_check", ""},
	} {
		rows, err := s.wdb.QueryContext(ctx, q.pragma)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprint(vals...))
		}
		rows.Close()
		if strings.Join(got, "\n") != q.want {
			t.Errorf("%s: %q, want %q", q.pragma, got, q.want)
		}
	}
}

func TestPragmas(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, defaultOptions())
	for name, db := range map[string]*sql.DB{"writer": s.wdb, "reader": s.rdb} {
		want := map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1",
			"busy_timeout": fmt.Sprint(defaultBusyTimeoutMS), "query_only": "0"}
		if name == "reader" {
			want["query_only"] = "1"
		} else {
			want["journal_size_limit"] = "67108864"
		}
		for pragma, v := range want {
			var got string
			if err := db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(got, v) {
				t.Errorf("%s: PRAGMA %s = %q, want %q", name, pragma, got, v)
			}
		}
	}
	if _, err := s.rdb.ExecContext(ctx, `DELETE FROM audit`); err == nil {
		t.Error("the read pool accepted a write")
	}
}

func TestOpenRejectsNonFiles(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if s, err := Open(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestPathWithURICharacters(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "a b?c#d%20e")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pass kdc.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAudit(ctx, store.AuditRecord{Event: "x"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("database not at %q: %v", path, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "pass kdc.db") {
			t.Errorf("stray file %q", e.Name())
		}
	}
}

func TestTimeRange(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, defaultOptions())
	cases := []struct {
		name string
		t    time.Time
		ok   bool
	}{
		{"zero", time.Time{}, true},
		{"epoch", time.Unix(0, 0), true},
		{"1700", time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"2262", time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"3000", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"year 1 plus a second", time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), false},
	}
	for i, tc := range cases {
		p := store.Principal{Anchor: fmt.Sprint("a", i), Name: "n", Expires: tc.t}
		_, err := s.UpsertPrincipal(ctx, p)
		if tc.ok != (err == nil) {
			t.Errorf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		if err != nil {
			continue
		}
		got, err := s.GetPrincipal(ctx, p.Anchor)
		if err != nil || !got.Expires.Equal(tc.t) || got.Expires.IsZero() != tc.t.IsZero() {
			t.Errorf("%s: read back %v (%v), want %v", tc.name, got.Expires, err, tc.t)
		}
	}
}

// TestTwoStoresOneFile: two Stores on one file stand for two processes (the
// server and the CLI): their writers serialise on the file lock without
// SQLITE_BUSY, and single-use semantics hold across them.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "passkdc.db")
	var stores [2]*Store
	var wg sync.WaitGroup
	var errs [2]error
	for i := range stores {
		wg.Add(1)
		go func() { defer wg.Done(); stores[i], errs[i] = Open(ctx, path) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	a, b := stores[0], stores[1]
	if _, err := a.UpsertPrincipal(ctx, store.Principal{Anchor: "a1", Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	const uses, n = 5, 16
	hash := []byte("hash")
	if err := b.CreateTAP(ctx, store.TAP{ID: "t", Principal: "a1", Hash: hash, UsesLeft: uses,
		ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	results := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = stores[i%2].UseTAP(ctx, hash, time.Now())
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range results {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrExhausted):
			t.Fatalf("use across stores: %v", err)
		}
	}
	if ok != uses {
		t.Fatalf("%d uses succeeded, want %d", ok, uses)
	}
}

func TestCancelledContext(t *testing.T) {
	s := openTest(t, defaultOptions())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.WithTx(ctx, func(tx store.Tx) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WithTx with a cancelled context: %v", err)
	}
	if _, err := s.GetPrincipal(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetPrincipal with a cancelled context: %v", err)
	}
	// The writer is free again.
	if _, err := s.AppendAudit(t.Context(), store.AuditRecord{Event: "x"}); err != nil {
		t.Fatal(err)
	}
}

// TestReadsDuringWriteTx: standalone reads do not wait for an open writer
// transaction (a long sync batch) and do not see its uncommitted writes.
func TestReadsDuringWriteTx(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, defaultOptions())
	if _, err := s.UpsertPrincipal(ctx, store.Principal{Anchor: "a1", Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.WithTx(ctx, func(tx store.Tx) error {
			if _, err := tx.UpsertPrincipal(ctx, store.Principal{Anchor: "a2", Name: "bob"}); err != nil {
				return err
			}
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := s.GetPrincipal(rctx, "a1"); err != nil {
		t.Fatalf("read during a write transaction: %v", err)
	}
	if _, err := s.GetPrincipal(rctx, "a2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("uncommitted principal visible to a reader: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetPrincipal(ctx, "a2"); err != nil {
		t.Fatalf("committed principal: %v", err)
	}
}

// TestConformanceShared runs the two-handle tests on two stores opened on
// one file (two processes on one database).
func TestConformanceShared(t *testing.T) {
	conformance.RunSharedTests(t, func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "passkdc.db")
		var st [2]store.Store
		for i := range st {
			s, err := Open(t.Context(), path)
			if err != nil {
				t.Fatalf("open %d: %v", i, err)
			}
			t.Cleanup(func() { s.Close() })
			st[i] = s
		}
		return st[0], st[1]
	})
}
