package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passkdc/passkdc/integration/pgtest"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/conformance"
)

// TestPostgres runs everything against one throwaway server (starting one
// costs ~3 s); each subtest works in schemas of its own.
func TestPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	t.Run("Conformance", func(t *testing.T) {
		conformance.RunTests(t, func(t *testing.T) store.Store { return openTest(t, srv.NewSchema(t)) })
	})
	t.Run("ConformanceShared", func(t *testing.T) {
		conformance.RunSharedTests(t, func(t *testing.T) (store.Store, store.Store) {
			url := srv.NewSchema(t)
			return openTest(t, url), openTest(t, url)
		})
	})
	t.Run("TwoReplicas", func(t *testing.T) { testTwoReplicas(t, srv) })
	t.Run("ReplicaRace", func(t *testing.T) { testReplicaRace(t, srv) })
	t.Run("AuditCommitOrder", func(t *testing.T) { testAuditCommitOrder(t, srv) })
	t.Run("AuditPagingTwoWriters", func(t *testing.T) { testAuditPagingTwoWriters(t, srv) })
	t.Run("MigrateConcurrentOpen", func(t *testing.T) { testMigrateConcurrentOpen(t, srv) })
	t.Run("MigrateUpgradeAndTooNew", func(t *testing.T) { testMigrateUpgradeAndTooNew(t, srv) })
	t.Run("OpenRefuses", func(t *testing.T) { testOpenRefuses(t, srv) })
	t.Run("Passfile", func(t *testing.T) { testPassfile(t, srv) })
	t.Run("StoreErrorKeepsTxUsable", func(t *testing.T) { testStoreErrorKeepsTxUsable(t, srv) })
	t.Run("UnstorableText", func(t *testing.T) { testUnstorableText(t, srv) })
	t.Run("LazyBegin", func(t *testing.T) { testLazyBegin(t, srv) })
	t.Run("HotDecoding", func(t *testing.T) { testHotDecoding(t, srv) })
	t.Run("AnalyzeAfterBulkSync", func(t *testing.T) { testAnalyzeAfterBulkSync(t, srv) })
}

// openTest opens a store on url and closes it when the test ends.
func openTest(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var base = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

func mustDo(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// seed stores principal "alice" (anchor a-1) in s.
func seed(t *testing.T, s store.Store) string {
	t.Helper()
	p := store.Principal{Anchor: "a-1", Directory: "default", Name: "alice", Realm: "CORP.EXAMPLE.TEST", Enabled: true}
	_, err := s.UpsertPrincipal(t.Context(), p)
	mustDo(t, "upsert", err)
	return p.Anchor
}

func tapHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// waitBlocked waits until some backend of the server waits on a lock: the
// second replica's statement is then queued behind the first's transaction.
func waitBlocked(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	mustDo(t, "connect", err)
	defer conn.Close(context.Background())
	for {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND application_name = 'passkdc'`).Scan(&n)
		mustDo(t, "pg_stat_activity", err)
		if n > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("second replica never waited on the first one's lock")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// testTwoReplicas: replica A changes sign-in state in a transaction it keeps
// open; replica B's competing change waits for A (checked in pg_stat_activity),
// then sees A's outcome: after A's commit B fails, after A's rollback B wins.
func testTwoReplicas(t *testing.T, srv *pgtest.Server) {
	type op func(ctx context.Context, tx store.Tx) error
	consume := func(ctx context.Context, tx store.Tx) error {
		_, err := tx.ConsumeSession(ctx, "s1", "login", base)
		return err
	}
	useTAP := func(ctx context.Context, tx store.Tx) error {
		_, err := tx.UseTAP(ctx, tapHash("t1"), base)
		return err
	}
	counter := func(old, new uint32) op {
		return func(ctx context.Context, tx store.Tx) error {
			return tx.UpdateCredentialUse(ctx, []byte("c1"), old, new, false, base)
		}
	}
	cases := []struct {
		name        string
		a, b        op
		commitA     bool
		wantB       error // nil: B succeeds
		wantCounter uint32
	}{
		{"session: A commits, B finds nothing", consume, consume, true, store.ErrNotFound, 10},
		{"session: A rolls back, B consumes", consume, consume, false, nil, 10},
		{"last pass use: A commits, B exhausted", useTAP, useTAP, true, store.ErrExhausted, 10},
		{"last pass use: A rolls back, B uses", useTAP, useTAP, false, nil, 10},
		{"counter 10->11 vs 10->12: A commits, B conflicts", counter(10, 11), counter(10, 12), true, store.ErrConflict, 11},
		{"counter 10->20 vs stale 10->11: A commits, never lowered", counter(10, 20), counter(10, 11), true, store.ErrConflict, 20},
		{"counter: A rolls back, B moves it", counter(10, 11), counter(10, 12), false, nil, 12},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			url := srv.NewSchema(t)
			a, b := openTest(t, url), openTest(t, url)
			alice := seed(t, a)
			mustDo(t, "session", a.CreateSession(ctx, store.Session{ID: "s1", Kind: "login", ExpiresAt: base.Add(time.Hour)}))
			mustDo(t, "pass", a.CreateTAP(ctx, store.TAP{ID: "t1", Principal: alice, Hash: tapHash("t1"), UsesLeft: 1,
				ExpiresAt: base.Add(time.Hour)}))
			mustDo(t, "credential", a.CreateCredential(ctx, store.Credential{ID: []byte("c1"), Principal: alice,
				PublicKey: []byte{1}, SignCount: 10}))

			aDone, locked, release := make(chan error, 1), make(chan struct{}), make(chan struct{})
			letGo := sync.OnceFunc(func() { close(release) })
			t.Cleanup(letGo) // runs before the stores close: a failed test does not hang
			go func() {
				aDone <- a.WithTx(ctx, func(tx store.Tx) error {
					err := tc.a(ctx, tx)
					close(locked) // A's change is made: it holds the row lock
					if err != nil {
						return err
					}
					<-release
					if !tc.commitA {
						return errors.New("roll back on purpose")
					}
					return nil
				})
			}()
			<-locked
			bDone := make(chan error, 1)
			go func() { bDone <- b.WithTx(ctx, func(tx store.Tx) error { return tc.b(ctx, tx) }) }()
			waitBlocked(t, url)
			letGo()
			errA := <-aDone
			if tc.commitA && errA != nil {
				t.Fatalf("A: %v", errA)
			}
			errB := <-bDone
			if tc.wantB == nil && errB != nil || tc.wantB != nil && !errors.Is(errB, tc.wantB) {
				t.Fatalf("B: error %v, want %v", errB, tc.wantB)
			}
			c, err := b.GetCredential(ctx, []byte("c1"))
			mustDo(t, "get credential", err)
			if c.SignCount != tc.wantCounter {
				t.Fatalf("counter %d, want %d", c.SignCount, tc.wantCounter)
			}
		})
	}
}

// testReplicaRace: three replicas, eight goroutines each, all consuming the
// same sessions and using the same passes at once: every session is consumed
// exactly once and every pass used exactly its number of uses.
func testReplicaRace(t *testing.T, srv *pgtest.Server) {
	ctx := t.Context()
	url := srv.NewSchema(t)
	replicas := []*Store{openTest(t, url), openTest(t, url), openTest(t, url)}
	alice := seed(t, replicas[0])
	const sessions, passes, uses, perReplica = 20, 5, 3, 8
	for i := 0; i < sessions; i++ {
		mustDo(t, "session", replicas[0].CreateSession(ctx, store.Session{ID: fmt.Sprint("s", i), Kind: "login",
			ExpiresAt: base.Add(time.Hour)}))
	}
	for i := 0; i < passes; i++ {
		id := fmt.Sprint("t", i)
		mustDo(t, "pass", replicas[0].CreateTAP(ctx, store.TAP{ID: id, Principal: alice, Hash: tapHash(id),
			UsesLeft: uses, ExpiresAt: base.Add(time.Hour)}))
	}
	var mu sync.Mutex
	consumed, used := map[string]int{}, map[string]int{}
	var unexpected []error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for r, s := range replicas {
		for g := 0; g < perReplica; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; i < sessions; i++ {
					id := fmt.Sprint("s", (i+g+r)%sessions)
					_, err := s.ConsumeSession(ctx, id, "login", base)
					mu.Lock()
					switch {
					case err == nil:
						consumed[id]++
					case !errors.Is(err, store.ErrNotFound):
						unexpected = append(unexpected, err)
					}
					mu.Unlock()
				}
				for i := 0; i < passes; i++ {
					id := fmt.Sprint("t", (i+g)%passes)
					_, err := s.UseTAP(ctx, tapHash(id), base)
					mu.Lock()
					switch {
					case err == nil:
						used[id]++
					case !errors.Is(err, store.ErrExhausted):
						unexpected = append(unexpected, err)
					}
					mu.Unlock()
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	if len(unexpected) > 0 {
		t.Fatalf("unexpected errors: %v", unexpected)
	}
	for i := 0; i < sessions; i++ {
		if n := consumed[fmt.Sprint("s", i)]; n != 1 {
			t.Errorf("session s%d consumed %d times, want 1", i, n)
		}
	}
	for i := 0; i < passes; i++ {
		if n := used[fmt.Sprint("t", i)]; n != uses {
			t.Errorf("pass t%d used %d times, want %d", i, n, uses)
		}
	}
}

// testAuditCommitOrder: an audit record appended by another replica while a
// transaction with an earlier record is open does not wait for that commit
// (no lock shared by the replicas), and a reader does not list it before the
// earlier one can be listed too: ListAudit waits for the open transaction,
// then lists both, in ID order.
func testAuditCommitOrder(t *testing.T, srv *pgtest.Server) {
	ctx := t.Context()
	url := srv.NewSchema(t)
	a, b := openTest(t, url), openTest(t, url)
	release, aID := make(chan struct{}), make(chan int64, 1)
	letGo := sync.OnceFunc(func() { close(release) })
	t.Cleanup(letGo) // runs before the stores close: a failed test does not hang
	aDone := make(chan error, 1)
	go func() {
		aDone <- a.WithTx(ctx, func(tx store.Tx) error {
			id, err := tx.AppendAudit(ctx, store.AuditRecord{Event: "a"})
			aID <- id
			<-release
			return err
		})
	}()
	idA := <-aID
	appendCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	idB, err := b.AppendAudit(appendCtx, store.AuditRecord{Event: "b"})
	mustDo(t, "append b while a is open (it must not wait)", err)
	if idB <= idA {
		t.Fatalf("record b got ID %d, a has %d", idB, idA)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	seen, err := b.ListAudit(short, 0, 0)
	cancelShort()
	if err == nil {
		t.Fatalf("listed %+v while a record below them was uncommitted", seen)
	}
	listed := make(chan []store.AuditRecord, 1)
	go func() {
		recs, err := b.ListAudit(ctx, 0, 0)
		if err != nil {
			t.Errorf("list: %v", err)
		}
		listed <- recs
	}()
	time.Sleep(100 * time.Millisecond)
	letGo()
	mustDo(t, "tx a", <-aDone)
	recs := <-listed
	if len(recs) != 2 || recs[0].ID != idA || recs[1].ID != idB {
		t.Fatalf("listed %+v, want a (%d) then b (%d)", recs, idA, idB)
	}
}

// testAuditPagingTwoWriters: two replicas append side by side, each record
// in a transaction held open for a while (some rolled back), while a reader
// pages with ListAudit(afterID): at the end the reader has seen every
// committed record exactly once, in increasing ID order.
func testAuditPagingTwoWriters(t *testing.T, srv *pgtest.Server) {
	ctx := t.Context()
	url := srv.NewSchema(t)
	writers := []*Store{openTest(t, url), openTest(t, url)}
	reader := openTest(t, url)
	const perWriter = 150
	var wg sync.WaitGroup
	for w, st := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				err := st.WithTx(ctx, func(tx store.Tx) error {
					if _, err := tx.AppendAudit(ctx, store.AuditRecord{Event: fmt.Sprint("w", w), Detail: fmt.Sprint(i)}); err != nil {
						return err
					}
					time.Sleep(time.Duration((i*7+w*3)%5) * time.Millisecond)
					if i%10 == 9 {
						return errRollback
					}
					return nil
				})
				if err != nil && !errors.Is(err, errRollback) {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var seen []store.AuditRecord
	var after int64
	deadline := time.Now().Add(60 * time.Second)
	for finished := false; time.Now().Before(deadline); {
		select {
		case <-done:
			finished = true
		default:
		}
		page, err := reader.ListAudit(ctx, after, 7)
		mustDo(t, "page", err)
		seen = append(seen, page...)
		if len(page) > 0 {
			after = page[len(page)-1].ID
		} else if finished {
			break
		}
	}
	<-done
	all, err := reader.ListAudit(ctx, 0, 0)
	mustDo(t, "list all", err)
	if want := 2 * perWriter * 9 / 10; len(all) != want {
		t.Fatalf("%d committed records, want %d", len(all), want)
	}
	if len(seen) != len(all) {
		got := map[int64]bool{}
		for _, r := range seen {
			got[r.ID] = true
		}
		var missed []int64
		for _, r := range all {
			if !got[r.ID] {
				missed = append(missed, r.ID)
			}
		}
		t.Fatalf("the pager saw %d records of %d committed: paging missed IDs %v", len(seen), len(all), missed)
	}
	for i := range all {
		if seen[i].ID != all[i].ID {
			t.Fatalf("record %d: the pager saw ID %d, the store has %d", i, seen[i].ID, all[i].ID)
		}
	}
}

var errRollback = errors.New("roll back")

func schemaVersions(t *testing.T, url string) []int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	mustDo(t, "connect", err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	mustDo(t, "versions", err)
	v, err := pgx.CollectRows(rows, pgx.RowTo[int])
	mustDo(t, "versions", err)
	return v
}

// testMigrateConcurrentOpen: replicas opening a new database together all
// succeed and the schema is migrated once.
func testMigrateConcurrentOpen(t *testing.T, srv *pgtest.Server) {
	url := srv.NewSchema(t)
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, err := Open(t.Context(), url)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	mustDo(t, "concurrent open", errors.Join(errs...))
	if v, n := schemaVersions(t, url), len(migrations()); len(v) != n || v[n-1] != n {
		t.Fatalf("schema versions %v, want 1..%d once each", v, n)
	}
}

// testMigrateUpgradeAndTooNew: a newer binary applies its extra migration to
// a database the current one made; the current one then refuses it.
func testMigrateUpgradeAndTooNew(t *testing.T, srv *pgtest.Server) {
	ctx := t.Context()
	url := srv.NewSchema(t)
	s := openTest(t, url)
	seed(t, s)
	s.Close()
	next := append(migrations(), migration{version: len(migrations()) + 1, name: "test column",
		stmts: []string{`ALTER TABLE principals ADD COLUMN note TEXT NOT NULL DEFAULT ''`}})
	s2, err := open(ctx, url, next)
	mustDo(t, "open with v2", err)
	_, err = s2.GetPrincipal(ctx, "a-1")
	mustDo(t, "data kept", err)
	s2.Close()
	if v := schemaVersions(t, url); len(v) != len(next) {
		t.Fatalf("schema versions %v, want 1..%d", v, len(next))
	}
	_, err = Open(ctx, url)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("old binary on a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

// testOpenRefuses: what is not a postgres URL, and a wrong password, fail
// with errors that do not show the password.
func testOpenRefuses(t *testing.T, srv *pgtest.Server) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, u := range []string{"", "/var/lib/passkdc/passkdc.db", "sqlite:///x.db", "mysql://u@h/db"} {
		if s, err := Open(ctx, u); err == nil {
			s.Close()
			t.Errorf("Open(%q): no error", u)
		}
	}
	const secret = "not-the-password-0123456789"
	u := "postgres://postgres:" + secret + "@" + strings.SplitN(srv.URL("postgres"), "@", 2)[1]
	_, err := Open(ctx, u)
	if err == nil {
		t.Fatal("open with a wrong password: no error")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error shows the password: %v", err)
	}
}

// testPassfile: the password can come from a password file named in the URL
// instead of the URL itself (secrets by file path).
func testPassfile(t *testing.T, srv *pgtest.Server) {
	pf := filepath.Join(t.TempDir(), "pgpass")
	line := fmt.Sprintf("127.0.0.1:%d:postgres:postgres:%s\n", srv.Port, srv.Password())
	mustDo(t, "write passfile", os.WriteFile(pf, []byte(line), 0o600))
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&passfile=%s", srv.Port, pf)
	s, err := Open(t.Context(), u)
	mustDo(t, "open with passfile", err)
	mustDo(t, "ping", s.Ping(t.Context()))
	s.Close()
}

// testStoreErrorKeepsTxUsable: a store error inside WithTx (duplicate, unknown
// principal) leaves the transaction usable, as with SQLite.
func testStoreErrorKeepsTxUsable(t *testing.T, srv *pgtest.Server) {
	ctx := t.Context()
	s := openTest(t, srv.NewSchema(t))
	alice := seed(t, s)
	c := store.Credential{ID: []byte("c1"), Principal: alice, PublicKey: []byte{1}}
	mustDo(t, "create", s.CreateCredential(ctx, c))
	mustDo(t, "session", s.CreateSession(ctx, store.Session{ID: "s1", Kind: "login", ExpiresAt: base.Add(time.Hour)}))
	err := s.WithTx(ctx, func(tx store.Tx) error {
		steps := []struct {
			name string
			err  error
			want error
		}{
			{"duplicate credential", tx.CreateCredential(ctx, c), store.ErrExists},
			{"credential of unknown principal", tx.CreateCredential(ctx, store.Credential{ID: []byte("c2"), Principal: "nobody"}), store.ErrNotFound},
			{"duplicate session", tx.CreateSession(ctx, store.Session{ID: "s1", Kind: "x", ExpiresAt: base}), store.ErrExists},
			{"pass of unknown principal", tx.CreateTAP(ctx, store.TAP{ID: "t", Principal: "nobody", Hash: []byte{1}, ExpiresAt: base}), store.ErrNotFound},
			{"new session after the errors", tx.CreateSession(ctx, store.Session{ID: "s2", Kind: "login", ExpiresAt: base.Add(time.Hour)}), nil},
		}
		for _, st := range steps {
			if st.want == nil && st.err != nil || st.want != nil && !errors.Is(st.err, st.want) {
				return fmt.Errorf("%s: %v, want %v", st.name, st.err, st.want)
			}
		}
		return nil
	})
	mustDo(t, "WithTx", err)
	_, err = s.ConsumeSession(ctx, "s2", "login", base)
	mustDo(t, "session committed after the store errors", err)
}

// testUnstorableText: strings PostgreSQL text cannot hold are not found on
// lookup, refused on write, and scrubbed in the audit trail.
func testUnstorableText(t *testing.T, srv *pgtest.Server) {
	ctx := t.Context()
	s := openTest(t, srv.NewSchema(t))
	seed(t, s)
	for _, bad := range []string{"al\x00ice", "al\xffice"} {
		_, err := s.GetPrincipalByName(ctx, "CORP.EXAMPLE.TEST", bad)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("lookup %q: %v, want ErrNotFound", bad, err)
		}
		_, err = s.ConsumeSession(ctx, bad, "login", base)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("consume %q: %v, want ErrNotFound", bad, err)
		}
		_, err = s.UpsertPrincipal(ctx, store.Principal{Anchor: "a-2", Name: bad})
		if !errors.Is(err, ErrText) {
			t.Errorf("upsert %q: %v, want ErrText", bad, err)
		}
	}
	id, err := s.AppendAudit(ctx, store.AuditRecord{Event: "login", Result: "refused", Principal: "al\x00i\xffce"})
	mustDo(t, "append audit", err)
	recs, err := s.ListAudit(ctx, id-1, 1)
	mustDo(t, "list audit", err)
	if len(recs) != 1 || recs[0].Principal != "al\uFFFDi\uFFFDce" {
		t.Fatalf("audit record %+v, want principal scrubbed", recs)
	}
}
