// Package postgres is the store.Store backend for deployments with several
// passkdc replicas sharing one PostgreSQL database, on github.com/jackc/pgx/v5
// (pure Go) and its connection pool.
//
// Open takes a postgres:// (or postgresql://) URL; every libpq-style setting
// pgx knows can be given in it (sslmode, sslrootcert, pool_max_conns, ...),
// and unknown ones are sent to the server as run-time parameters, so
// ?search_path=passkdc puts passkdc's tables in their own schema. Keep the
// password out of the URL (and the configuration file) with a PostgreSQL
// password file: postgres://passkdc@db.example/passkdc?passfile=/etc/passkdc/pgpass
// (lines host:port:database:user:password, mode 0600). The schema
// is migrated by Open, versioned in code like the SQLite backend's, each step
// under a transaction-scoped advisory lock so that replicas starting together
// are safe.
//
// Concurrency: transactions run at READ COMMITTED. Every check-and-change that
// guards sign-in (consuming a ceremony session, using a temporary access pass,
// moving a sign counter) is a single conditional UPDATE or DELETE: the row lock
// it takes plays the part of SELECT ... FOR UPDATE, and a concurrent statement
// on the same row waits and then re-checks its condition against the committed
// row, so two replicas can never both consume a session or a pass use, and a
// counter only ever moves from the value its caller read. Create-or-replace of
// directory objects locks the row it compares (SELECT ... FOR UPDATE);
// SetMemberships takes an advisory lock on the member; LockPrincipal locks the
// principal's row. AppendAudit takes no lock: the audit reader pages only up
// to a horizon below which every drawn ID has settled. A deadlock or a
// serialization failure (possible inside a long WithTx) is reported as
// store.ErrConflict; WithTx does not retry fn.
//
// Store errors (ErrExists, ErrNotFound, ...) never abort a transaction: a
// WithTx caller may go on after one, as with SQLite.
//
// Round trips: a transaction sends its BEGIN with its first statement, and
// the sign-in's statements (the credential read, the consumed challenge, the
// counter, the audit append) are prepared once per connection and encoded
// and decoded in binary by hand (hot.go), so a sign-in's finish costs one
// read, then BEGIN with the challenge, the counter, the audit record and
// COMMIT.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/passkdc/passkdc/store"
)

// Store is the PostgreSQL backend of store.Store. It is safe for concurrent use,
// by several processes too.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// IsURL reports whether s names a PostgreSQL database (a postgres:// or
// postgresql:// URL) rather than a SQLite file.
func IsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
}

// Open connects to the database at rawURL (postgres://user@host/db?...) and
// brings its schema up to date. It refuses, with ErrSchemaTooNew, a database
// migrated by a newer passkdc. Errors never contain the URL's password.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	return open(ctx, rawURL, migrations())
}

func open(ctx context.Context, rawURL string, migs []migration) (*Store, error) {
	if !IsURL(rawURL) {
		return nil, errors.New("postgres: want a postgres:// or postgresql:// URL")
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse URL: %w", err) // pgx redacts the password
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "passkdc"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := migrate(ctx, pool, migs); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// WithTx runs fn in one READ COMMITTED transaction: committed when fn returns
// nil, rolled back (and fn's error returned as is) otherwise.
func (s *Store) WithTx(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.inTx(ctx, func(x *txn) error { return fn(x) })
}

// inTx runs fn in a transaction, rolled back unless fn returns nil and the
// commit succeeds (also when fn panics or calls runtime.Goexit). The
// transaction starts with its first statement (lazyTx).
func (s *Store) inTx(ctx context.Context, fn func(x *txn) error) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer pc.Release() // the pool closes a connection left in a transaction
	x := &txn{conn: pc.Conn(), pool: s.pool}
	x.q = lazyTx{x}
	defer x.rollback(ctx)
	if err := fn(x); err != nil {
		return err
	}
	if x.changed || x.changedCreds {
		if _, err := x.q.Exec(ctx, qMoveChangeMarkers, boolInt(x.changed), boolInt(x.changedCreds)); err != nil {
			return mapErr("change marker", err)
		}
	}
	if err := x.commit(ctx); err != nil {
		return mapErr("commit", err)
	}
	if x.directoryWrites >= analyzeAfter {
		s.analyzeDirectory(ctx)
	}
	return nil
}

// analyzeAfter is the number of directory writes in one transaction (a
// sync's apply: the first sync of a directory, a bulk change) after which
// the planner's statistics of the directory tables are refreshed at once.
const analyzeAfter = 100

// analyzeDirectory refreshes PostgreSQL's statistics of the directory
// tables, which the sign-in's group query is planned from. Without them
// (tables filled since autovacuum last ran, up to a minute by default, and
// never when autovacuum is off), PostgreSQL plans the query's recursive
// step as a hash join over all of memberships: measured on the 2-core bench
// machine with 10,000 principals, 11.5 ms per group read instead of 0.16 ms
// with statistics; one replica with 64 sign-ins in flight went from 480 to
// 1,040 sign-ins/s, and at half load its p50 from 42-73 to 3 ms. ANALYZE
// samples each table (at most 30,000 rows), so it costs tens of
// milliseconds, once per bulk change. It is an optimisation: a failure
// (ctx ended, or the role does not own the tables, which PostgreSQL only
// warns about) changes nothing, and autovacuum still refreshes them later.
func (s *Store) analyzeDirectory(ctx context.Context) {
	_, _ = s.pool.Exec(ctx, qAnalyzeDirectory)
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

// direct runs operations of one statement (or whose statements each stand
// alone) on the pool, each statement in its own implicit transaction.
func (s *Store) direct() *txn { return &txn{q: s.pool, pool: s.pool} }

// NextGeneration allocates a new sync generation for directory (one
// INSERT ... ON CONFLICT DO UPDATE ... RETURNING: concurrent callers on any
// replica get distinct, increasing values).
func (s *Store) NextGeneration(ctx context.Context, directory string) (int64, error) {
	if err := checkText("next generation", directory); err != nil {
		return 0, err
	}
	var gen int64
	err := s.pool.QueryRow(ctx, qNextGeneration, directory).Scan(&gen)
	return gen, mapErr("next generation", err)
}
