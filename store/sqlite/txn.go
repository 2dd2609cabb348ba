package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/passkdc/passkdc/store"
)

// querier runs the statements of a txn: poolQ on a pool (standalone reads),
// connQ on the writer's connection (a transaction, see writer.go).
type querier interface {
	exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	query(ctx context.Context, query string, args ...any) (rowsIter, error)
	queryRow(ctx context.Context, query string, args ...any) rowScanner
}

// txn runs the operations of store.Tx on a pool (standalone reads) or in a
// writer transaction.
type txn struct {
	q querier
	// hc is the writer's driver connection inside a transaction, db the
	// pool of standalone reads: the hot statements run on their driver
	// connection.
	hc *hotConn
	db *sql.DB
	// marked: this txn has moved the directory change marker already (once
	// per transaction, or per savepoint of a group commit: it is rolled back
	// with the write that moved it).
	marked bool
	// markedCreds is marked for the credential change marker.
	markedCreds bool
}

var _ store.Tx = (*txn)(nil)

func (x *txn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return x.q.exec(x.context(ctx), query, args...)
}

func (x *txn) query(ctx context.Context, query string, args ...any) (rowsIter, error) {
	return x.q.query(x.context(ctx), query, args...)
}

func (x *txn) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	return x.q.queryRow(x.context(ctx), query, args...)
}

// poolQ runs statements on a pool, prepared when stmts has them.
type poolQ struct {
	db    *sql.DB
	stmts *stmtCache
}

func (q poolQ) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := q.stmts.m[query]; st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.db.ExecContext(ctx, query, args...)
}

func (q poolQ) query(ctx context.Context, query string, args ...any) (rowsIter, error) {
	var rows *sql.Rows
	var err error
	if st := q.stmts.m[query]; st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = q.db.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (q poolQ) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	if st := q.stmts.m[query]; st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.db.QueryRowContext(ctx, query, args...)
}

// context is the context statements of x run under: the caller's when it
// has ended (the statement then fails with its error without running, and
// a write fails, rolled back alone), otherwise the caller's detached from its
// cancellation. A statement takes microseconds (a standalone read in WAL mode
// never waits for a writer), while a cancellable context costs a goroutine
// per statement in the driver (modernc's interrupt watcher) and, at BEGIN,
// one in database/sql; a write inside a group transaction must not be
// interrupted either (that would roll back the other writes of the group).
// So a caller's cancellation takes effect between statements, not within
// one (nor within a wait for another process's write lock).
func (x *txn) context(ctx context.Context) context.Context {
	if ctx.Err() != nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// execCount runs a statement and returns the number of rows it changed.
func (x *txn) execCount(ctx context.Context, op, query string, args ...any) (int, error) {
	res, err := x.exec(ctx, query, args...)
	if err != nil {
		return 0, mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, mapErr(op, err)
	}
	return int(n), nil
}

// execOne runs a statement that must change exactly one row: ErrNotFound
// when it changed none.
func (x *txn) execOne(ctx context.Context, op, query string, args ...any) error {
	n, err := x.execCount(ctx, op, query, args...)
	if err == nil && n == 0 {
		err = notFound(op)
	}
	return err
}

// markChange moves the directory change marker in x's transaction, once:
// every write of principals, groups or memberships calls it before writing.
func (x *txn) markChange(ctx context.Context, op string) error {
	return x.moveMarker(ctx, op, &x.marked, qMoveChangeMarker)
}

// moveMarker runs move, the statement moving one change marker, unless
// *moved says this transaction has run it already.
func (x *txn) moveMarker(ctx context.Context, op string, moved *bool, move string) error {
	if *moved {
		return nil
	}
	if _, err := x.exec(ctx, move); err != nil {
		return mapErr(op+": change marker", err)
	}
	*moved = true
	return nil
}

// ChangeMarker returns the directory change marker.
func (x *txn) ChangeMarker(ctx context.Context) (int64, error) {
	var m int64
	err := x.queryRow(ctx, qChangeMarker).Scan(&m)
	return m, mapErr("change marker", err)
}

// fold is the case-insensitive key of a name or realm.
func fold(s string) string { return strings.ToLower(s) }

// errInvalid reports an object the store cannot hold (a missing key).
func errInvalid(op, what string) error {
	return fmt.Errorf("sqlite: %s: %s is empty", op, what)
}

// ---- principals

func scanPrincipal(r rowScanner) (store.Principal, error) {
	var p store.Principal
	var expires, synced sql.NullInt64
	err := r.Scan(&p.Anchor, &p.Directory, &p.Name, &p.Realm, &p.UPN, &p.SID, &p.DN, &p.DisplayName,
		&p.Enabled, &p.Deleted, &expires, &p.ChangeMark, &synced, &p.Generation)
	p.Expires, p.SyncedAt = decTime(expires), decTime(synced)
	return p, err
}

// samePrincipal compares everything but SyncedAt and Generation.
func samePrincipal(a, b store.Principal) bool {
	return a.Directory == b.Directory && a.Name == b.Name && a.Realm == b.Realm && a.UPN == b.UPN &&
		a.SID == b.SID && a.DN == b.DN && a.DisplayName == b.DisplayName && a.Enabled == b.Enabled &&
		a.Deleted == b.Deleted && a.Expires.Equal(b.Expires) && a.ChangeMark == b.ChangeMark
}

// UpsertPrincipal creates or replaces p; see store.Tx.
func (x *txn) UpsertPrincipal(ctx context.Context, p store.Principal) (bool, error) {
	const op = "upsert principal"
	if p.Anchor == "" {
		return false, errInvalid(op, "anchor")
	}
	ts, err := encTimes(p.Expires, p.SyncedAt)
	if err != nil {
		return false, fmt.Errorf("sqlite: %s %s: %w", op, p.Anchor, err)
	}
	if err := x.markChange(ctx, op); err != nil {
		return false, err
	}
	old, err := x.GetPrincipal(ctx, p.Anchor)
	switch {
	case errors.Is(err, store.ErrNotFound):
		_, err = x.exec(ctx, qInsertPrincipal, fold(p.Name), fold(p.Realm), p.Anchor, p.Directory, p.Name,
			p.Realm, p.UPN, p.SID, p.DN, p.DisplayName, p.Enabled, p.Deleted, ts[0], p.ChangeMark, ts[1], p.Generation)
		return err == nil, mapErr(op, err)
	case err != nil:
		return false, err
	}
	_, err = x.exec(ctx, qUpdatePrincipal, fold(p.Name), fold(p.Realm), p.Directory, p.Name, p.Realm, p.UPN,
		p.SID, p.DN, p.DisplayName, p.Enabled, p.Deleted, ts[0], p.ChangeMark, ts[1], p.Generation, p.Anchor)
	if err != nil {
		return false, mapErr(op, err)
	}
	return !samePrincipal(old, p), nil
}

// GetPrincipal returns the principal with that anchor.
func (x *txn) GetPrincipal(ctx context.Context, anchor string) (store.Principal, error) {
	p, err := scanPrincipal(x.rawRow(ctx, qGetPrincipal, anchor))
	return p, mapErr("get principal "+anchor, err)
}

// LockPrincipal is GetPrincipal: a writer transaction holds SQLite's write
// lock from BEGIN IMMEDIATE (and a deferred one takes it before its first
// write, or fails with a conflict), so writers never overlap.
func (x *txn) LockPrincipal(ctx context.Context, anchor string) (store.Principal, error) {
	return x.GetPrincipal(ctx, anchor)
}

// GetPrincipalByName finds a principal by realm and name, case-insensitively.
func (x *txn) GetPrincipalByName(ctx context.Context, realm, name string) (store.Principal, error) {
	p, err := scanPrincipal(x.queryRow(ctx, qGetPrincipalByName, fold(realm), fold(name)))
	return p, mapErr(fmt.Sprintf("get principal %s@%s", name, realm), err)
}

// ListPrincipals lists principals ordered by name, then anchor.
func (x *txn) ListPrincipals(ctx context.Context, f store.PrincipalFilter) ([]store.Principal, error) {
	noCursor := f.After == "" && f.AfterAnchor == ""
	rows, err := x.query(ctx, qListPrincipals, f.Directory, f.Directory, f.IncludeDeleted,
		noCursor, f.After, f.AfterAnchor != "", f.After, f.AfterAnchor, limitArg(f.Limit))
	if err != nil {
		return nil, mapErr("list principals", err)
	}
	return collect(rows, "list principals", scanPrincipal)
}

// MarkUnseenDeleted marks principals and groups of directory older than gen as deleted.
func (x *txn) MarkUnseenDeleted(ctx context.Context, directory string, gen int64) (int, error) {
	if err := x.markChange(ctx, "mark deleted"); err != nil {
		return 0, err
	}
	n, err := x.execCount(ctx, "mark deleted principals", qMarkPrincipalsDeleted, directory, gen)
	if err != nil {
		return 0, err
	}
	if _, err := x.execCount(ctx, "mark deleted groups", qMarkGroupsDeleted, directory, gen); err != nil {
		return 0, err
	}
	return n, nil
}

// ---- groups

func scanGroup(r rowScanner) (store.Group, error) {
	var g store.Group
	var synced sql.NullInt64
	err := r.Scan(&g.Anchor, &g.Directory, &g.Name, &g.DN, &g.SID, &g.Deleted, &g.ChangeMark, &synced, &g.Generation)
	g.SyncedAt = decTime(synced)
	return g, err
}

// sameGroup compares everything but SyncedAt and Generation.
func sameGroup(a, b store.Group) bool {
	return a.Directory == b.Directory && a.Name == b.Name && a.DN == b.DN && a.SID == b.SID &&
		a.Deleted == b.Deleted && a.ChangeMark == b.ChangeMark
}

// UpsertGroup creates or replaces g; see store.Tx.
func (x *txn) UpsertGroup(ctx context.Context, g store.Group) (bool, error) {
	const op = "upsert group"
	if g.Anchor == "" {
		return false, errInvalid(op, "anchor")
	}
	synced, err := encTime(g.SyncedAt)
	if err != nil {
		return false, fmt.Errorf("sqlite: %s %s: %w", op, g.Anchor, err)
	}
	if err := x.markChange(ctx, op); err != nil {
		return false, err
	}
	old, err := x.GetGroup(ctx, g.Anchor)
	switch {
	case errors.Is(err, store.ErrNotFound):
		_, err = x.exec(ctx, qInsertGroup, g.Anchor, g.Directory, g.Name, g.DN, g.SID, g.Deleted,
			g.ChangeMark, synced, g.Generation)
		return err == nil, mapErr(op, err)
	case err != nil:
		return false, err
	}
	_, err = x.exec(ctx, qUpdateGroup, g.Directory, g.Name, g.DN, g.SID, g.Deleted, g.ChangeMark,
		synced, g.Generation, g.Anchor)
	if err != nil {
		return false, mapErr(op, err)
	}
	return !sameGroup(old, g), nil
}

// GetGroup returns the group with that anchor.
func (x *txn) GetGroup(ctx context.Context, anchor string) (store.Group, error) {
	g, err := scanGroup(x.queryRow(ctx, qGetGroup, anchor))
	return g, mapErr("get group "+anchor, err)
}

// ListGroups lists the non-deleted groups of directory ("" all).
func (x *txn) ListGroups(ctx context.Context, directory string) ([]store.Group, error) {
	rows, err := x.query(ctx, qListGroups, directory, directory)
	if err != nil {
		return nil, mapErr("list groups", err)
	}
	return collect(rows, "list groups", scanGroup)
}

// SetMemberships replaces the direct groups of member.
func (x *txn) SetMemberships(ctx context.Context, member string, groups []string) error {
	const op = "set memberships"
	if member == "" {
		return errInvalid(op, "member")
	}
	if err := x.markChange(ctx, op); err != nil {
		return err
	}
	if _, err := x.exec(ctx, qDeleteMemberships, member); err != nil {
		return mapErr(op, err)
	}
	for _, g := range groups {
		if _, err := x.exec(ctx, qInsertMembership, member, g); err != nil {
			return mapErr(op, err)
		}
	}
	return nil
}

// TransitiveGroups returns the non-deleted groups member is in, directly or not.
func (x *txn) TransitiveGroups(ctx context.Context, member string) ([]store.Group, error) {
	rows, err := x.rawRows(ctx, qTransitiveGroups, member)
	if err != nil {
		return nil, mapErr("transitive groups", err)
	}
	return collect(rows, "transitive groups", scanGroup)
}

// ---- sync state

// GetSyncState returns the sync state of directory (zero when none).
func (x *txn) GetSyncState(ctx context.Context, directory string) (store.SyncState, error) {
	s := store.SyncState{Directory: directory}
	var full, last sql.NullInt64
	err := x.queryRow(ctx, qGetSyncState, directory).Scan(&s.Directory, &s.HighWater, &s.InvocationID,
		&s.Generation, &full, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return store.SyncState{Directory: directory}, nil
	}
	if err != nil {
		return store.SyncState{}, mapErr("get sync state", err)
	}
	s.LastFull, s.LastSync = decTime(full), decTime(last)
	return s, nil
}

// PutSyncState stores s.
func (x *txn) PutSyncState(ctx context.Context, s store.SyncState) error {
	const op = "put sync state"
	ts, err := encTimes(s.LastFull, s.LastSync)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	_, err = x.exec(ctx, qPutSyncState, s.Directory, s.HighWater, s.InvocationID, s.Generation, ts[0], ts[1])
	return mapErr(op, err)
}
