// Package sqlite is the embedded store.Store backend, on modernc.org/sqlite
// (pure Go, no cgo).
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a write
// is on disk (the WAL is fsynced) before the call that made it returns; an
// acknowledged write survives a crash of the process or of the machine.
// Checkpoints (copying the WAL into the database file) run in the
// background on a connection of their own, not inside a commit (see
// checkpoint.go).
//
// Concurrency: one writer connection and a pool of read-only connections.
// Every write and every WithTx transaction runs on the writer, in a transaction
// begun IMMEDIATE (the write lock is taken at BEGIN, so a transaction never
// fails half-way with SQLITE_BUSY when it upgrades from reading to writing);
// writers of this process queue in Go for the one connection, writers of other
// processes (e.g. the passkdc CLI next to a running server) wait on the file
// lock for up to the busy timeout. Standalone reads run on the reader pool,
// concurrently with each other and with the writer (WAL readers see the last
// committed state). Inside WithTx, reads run on the writer and see the
// transaction's own writes.
//
// Why (measured with the benchmarks of this package, 2-core VM): with four
// writer connections and deferred transactions, 94% of concurrent sign-in
// transactions that read before writing failed with SQLITE_BUSY (the busy
// handler cannot resolve a read-to-write upgrade); with one writer and BEGIN
// IMMEDIATE none failed, at the same throughput. One connection for everything
// gives that throughput too, but then every read waits for any open write
// transaction (a sync batch of thousands of upserts, a commit's fsync); the
// reader pool avoids that. Every statement is prepared once per connection (a
// sign-in transaction costs about 40% less CPU than unprepared): the
// standalone reads' at Open, through database/sql; the writer's on first use
// on its driver connection, where every writer transaction runs, BEGIN and
// COMMIT included, without database/sql's per-call machinery (writer.go,
// raw.go); the sign-in's credential read runs there on a reader's.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"github.com/sirupsen/logrus"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/passkdc/passkdc/store"
)

// Defaults of Open.
const (
	defaultBusyTimeoutMS = 5000
	defaultReadConns     = 4
)

// options tune Open; the zero value is not valid, use defaultOptions.
type options struct {
	busyTimeoutMS int
	// readConns is the size of the read-only pool; 0 runs reads on the writer
	// (one connection for everything).
	readConns int
	// writeConns is the size of the writer pool (1 in production: more only to
	// measure the alternative).
	writeConns int
	// txLock is the BEGIN mode of writer transactions: "immediate" or "deferred".
	txLock string
	// noStmtCache disables prepared statement reuse (for measurement).
	noStmtCache bool
	// noGroupCommit runs every standalone write in its own transaction (for
	// measurement; group commit is off anyway with several writers).
	noGroupCommit bool
	// linger: how long the committer holds a lone write for a second one
	// under load (0: not at all; see committer.leadQueued).
	linger time.Duration
	// checkpointPages > 0: the writer does not checkpoint, a background
	// checkpointer does, every checkpointPages WAL pages and every
	// checkpointEvery while pages were written (see checkpoint.go). 0 leaves
	// SQLite's automatic checkpoint in the writer's commits (for measurement).
	checkpointPages int64
	checkpointEvery time.Duration
	migrations      []migration
	// log receives the store's own log lines (nil: a logger to standard
	// error made at open).
	log logrus.FieldLogger
}

func defaultOptions() options {
	return options{
		busyTimeoutMS:   defaultBusyTimeoutMS,
		readConns:       defaultReadConns,
		writeConns:      1,
		txLock:          "immediate",
		checkpointPages: checkpointPages,
		checkpointEvery: checkpointEvery,
		migrations:      migrations(),
	}
}

// Store is the SQLite backend of store.Store. It is safe for concurrent use.
type Store struct {
	path string
	wdb  *sql.DB // writer: every write and every transaction
	rdb  *sql.DB // readers (== wdb when there is no separate read pool)
	// rstmt are the standalone reads' statements, prepared on rdb at Open;
	// the writer's are prepared on its driver connection (writer.go).
	rstmt *stmtCache
	begin string // BEGIN IMMEDIATE (or DEFERRED, to measure the alternative)
	// commit batches standalone writes (nil: each in its own transaction).
	commit *committer
	// ckpt checkpoints the WAL in the background (nil: the writer's commits
	// do, SQLite's automatic checkpoint).
	ckpt *checkpointer
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it, mode 0600, if missing) the database file at path and
// brings its schema up to date. It refuses, with ErrSchemaTooNew, a database
// written by a newer passkdc. path is a file name, not a URI; ":memory:" is not
// supported (the backend needs several connections to one database).
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	return open(ctx, path, o)
}

// Option is a setting of Open.
type Option func(*options)

// WithLog sends the store's own log lines (a background checkpoint that
// failed, and its recovery) to log; without it they go to a logger of the
// store's own on standard error. A nil log is ignored.
func WithLog(log logrus.FieldLogger) Option {
	return func(o *options) {
		if log != nil {
			o.log = log
		}
	}
}

func open(ctx context.Context, path string, o options) (*Store, error) {
	abs, err := checkPath(path)
	if err != nil {
		return nil, err
	}
	if err := createFile(abs); err != nil {
		return nil, err
	}
	s := &Store{path: abs}
	if s.wdb, err = openPool(ctx, abs, o, o.writeConns, false); err != nil {
		return nil, err
	}
	if err := s.setUp(ctx, o); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// setUp migrates, opens the reader pool and prepares the statements.
func (s *Store) setUp(ctx context.Context, o options) error {
	if err := migrate(ctx, s.wdb, o.migrations); err != nil {
		return err
	}
	s.rdb = s.wdb
	if o.readConns > 0 {
		db, err := openPool(ctx, s.path, o, o.readConns, true)
		if err != nil {
			return err
		}
		s.rdb = db
	}
	var err error
	if s.rstmt, err = prepareAll(ctx, s.rdb, readQueries(), o.noStmtCache); err != nil {
		return err
	}
	s.begin = "BEGIN " + strings.ToUpper(o.txLock)
	if o.checkpointPages > 0 {
		db, err := openPool(ctx, s.path, o, 1, false)
		if err != nil {
			return err
		}
		log := o.log
		if log == nil {
			log = logrus.New()
		}
		s.ckpt = newCheckpointer(db, s.path, o.checkpointPages, o.checkpointEvery, log)
	}
	if !o.noGroupCommit && o.writeConns == 1 {
		s.commit = newCommitter(s, o.linger)
	}
	return nil
}

// checkPath refuses names SQLite would read as something else than a file.
func checkPath(path string) (string, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return "", fmt.Errorf("sqlite: database path %q: want a file name", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("sqlite: database path %q: %w", path, err)
	}
	return abs, nil
}

// createFile creates the database file with mode 0600 when it does not exist
// yet. SQLite gives the -wal and -shm files the mode of the database file.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	return f.Close()
}

// dsn builds the modernc.org/sqlite data source name: a file: URI (so that any
// character of the path is escaped) with the per-connection settings.
func dsn(path string, o options, readOnly bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.Itoa(o.busyTimeoutMS))
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "FULL")
	if readOnly {
		q.Set("_query_only", "on")
	} else {
		q.Set("_journal_mode", "WAL")
		q.Set("_txlock", o.txLock)
		// Truncate the WAL back to 64 MiB after a checkpoint (it otherwise
		// keeps the largest size it ever reached).
		q.Add("_pragma", "journal_size_limit(67108864)")
		if o.checkpointPages > 0 {
			// The background checkpointer checkpoints, not the commits.
			q.Add("_pragma", "wal_autocheckpoint(0)")
		}
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	// url.URL renders "file:///abs/path"; SQLite accepts the empty authority.
	return u.String()
}

// openPool opens a database/sql pool of at most conns connections and checks
// that the settings took effect.
func openPool(ctx context.Context, path string, o options, conns int, readOnly bool) (*sql.DB, error) {
	connector, err := newHotConnector(dsn(path, o, readOnly), o.noStmtCache)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := retryBusy(ctx, time.Duration(o.busyTimeoutMS)*time.Millisecond, func() error {
		return checkPragmas(ctx, db)
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// retryBusy calls fn until it does not fail with SQLITE_BUSY, for at most
// timeout. Opening a connection can fail with SQLITE_BUSY without waiting on
// the busy handler, when another process is switching a new database to WAL
// or recovering its WAL at the same moment.
func retryBusy(ctx context.Context, timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := fn()
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// isBusy reports an SQLITE_BUSY or SQLITE_LOCKED error (any extended code).
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// checkPragmas verifies the durability settings on a connection of db.
func checkPragmas(ctx context.Context, db *sql.DB) error {
	want := []struct{ pragma, value string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
	}
	for _, w := range want {
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+w.pragma).Scan(&got); err != nil {
			return fmt.Errorf("PRAGMA %s: %w", w.pragma, err)
		}
		if !strings.EqualFold(got, w.value) {
			return fmt.Errorf("PRAGMA %s is %q, want %q", w.pragma, got, w.value)
		}
	}
	return nil
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close closes every connection; the last one, the writer, checkpoints the
// WAL into the database file.
func (s *Store) Close() error {
	if s.commit != nil {
		s.commit.close()
	}
	errs := []error{s.rstmt.close()}
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close())
	}
	if s.rdb != nil && s.rdb != s.wdb {
		errs = append(errs, s.rdb.Close())
	}
	errs = append(errs, s.wdb.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Ping checks that the reader and the writer answer.
func (s *Store) Ping(ctx context.Context) error {
	for _, db := range []*sql.DB{s.rdb, s.wdb} {
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return fmt.Errorf("sqlite: ping: %w", err)
		}
	}
	return nil
}

// WithTx runs fn in one writer transaction: committed when fn returns nil,
// rolled back (and fn's error returned as is) otherwise. fn must use only tx:
// calling the Store's write methods from fn deadlocks on the one writer.
//
// It goes through the group committer like a standalone write (see
// commit.go): a sign-in's one transaction (session, counter, audit record)
// then shares its fsync with the sign-ins waiting at the same moment. fn may
// share the transaction with other writes, each in a savepoint of its own:
// its failure rolls back only its own changes. A panic in fn is returned as
// an error.
func (s *Store) WithTx(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.inTx(ctx, func(x *txn) error { return fn(x) })
}

// inTx runs a standalone write: through the group committer (see commit.go),
// or directly when group commit is off.
func (s *Store) inTx(ctx context.Context, fn func(x *txn) error) error {
	if s.commit == nil {
		return s.directTx(ctx, fn)
	}
	return s.commit.submit(ctx, fn)
}

// directTx runs fn in a writer transaction, rolled back unless fn returns nil and
// the commit succeeds (also when fn panics or calls runtime.Goexit).
//
// The transaction itself does not end with ctx (see txn.context): its
// statements check ctx, and it is rolled back when fn fails.
func (s *Store) directTx(ctx context.Context, fn func(x *txn) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	// The transaction holds the writer's connection as a Conn and runs on
	// its driver connection, in one Raw call (see writer.go).
	conn, err := s.wdb.Conn(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer conn.Close()
	var txErr error
	err = rawOn(conn, func(hc *hotConn) error {
		var begun bool
		begun, txErr = s.runTx(hc, fn)
		if txErr != nil && begun && !hc.rollback() {
			return driver.ErrBadConn // discard the connection: closing it rolls back
		}
		return nil
	})
	if txErr == nil && err != nil {
		txErr = fmt.Errorf("sqlite: begin: %w", err)
	}
	return txErr
}

// runTx begins a transaction on hc, runs fn and commits; begun reports
// whether the transaction was begun (and has to be rolled back on error).
func (s *Store) runTx(hc *hotConn, fn func(x *txn) error) (begun bool, err error) {
	if _, err := hc.exec(s.begin); err != nil {
		return false, fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(&txn{q: connQ{hc}, hc: hc}); err != nil {
		return true, err
	}
	if _, err := hc.exec("COMMIT"); err != nil {
		return true, fmt.Errorf("sqlite: commit: %w", err)
	}
	if s.ckpt != nil {
		s.ckpt.wrote(walPages(hc))
	}
	return true, nil
}

// rollback ends the transaction of c, and reports whether it could. It
// fails too when SQLite has already rolled back (e.g. after a failed
// COMMIT): the caller then replaces the connection, which is rare and
// harmless.
func (c *hotConn) rollback() bool {
	_, err := c.exec("ROLLBACK")
	return err == nil
}

// inTxValue is inTx for functions with a result.
func inTxValue[T any](ctx context.Context, s *Store, fn func(x *txn) (T, error)) (T, error) {
	var v T
	err := s.inTx(ctx, func(x *txn) error {
		var err error
		v, err = fn(x)
		return err
	})
	return v, err
}

// reader runs standalone reads on the read pool.
func (s *Store) reader() *txn { return &txn{q: poolQ{s.rdb, s.rstmt}, db: s.rdb} }

// NextGeneration allocates a new sync generation for directory.
func (s *Store) NextGeneration(ctx context.Context, directory string) (int64, error) {
	return inTxValue(ctx, s, func(x *txn) (int64, error) {
		var gen int64
		err := x.queryRow(ctx, qNextGeneration, directory).Scan(&gen)
		return gen, mapErr("next generation", err)
	})
}

// stmtCache holds the statements of one pool, all prepared at Open: preparing
// later could need a pool connection while a transaction holds the only writer.
// database/sql prepares each statement again on every connection it runs on.
type stmtCache struct {
	m map[string]*sql.Stmt // read-only after prepareAll
}

// prepareAll prepares queries on db; with disabled it prepares nothing (every
// query then runs unprepared).
func prepareAll(ctx context.Context, db *sql.DB, queries []string, disabled bool) (*stmtCache, error) {
	c := &stmtCache{m: map[string]*sql.Stmt{}}
	if disabled {
		return c, nil
	}
	for _, q := range queries {
		if _, ok := c.m[q]; ok {
			continue
		}
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("sqlite: prepare %q: %w", firstLine(q), err)
		}
		c.m[q] = st
	}
	return c, nil
}

// firstLine shortens a query for an error message.
func firstLine(q string) string {
	q, _, _ = strings.Cut(strings.TrimSpace(q), "\n")
	return q
}

func (c *stmtCache) close() error {
	if c == nil {
		return nil
	}
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}
