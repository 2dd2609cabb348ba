package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/passkdc/passkdc/store"
)

// querier is what *pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// txn runs the operations of store.Tx on the pool (each statement in its own
// implicit transaction) or in a transaction.
type txn struct {
	q querier
	// pool runs statements outside the transaction (the audit horizon's).
	pool *pgxpool.Pool
	// conn is the transaction's connection (nil outside one); begun: its
	// BEGIN has been sent, and beginErr is why it failed.
	conn     *pgx.Conn
	begun    bool
	beginErr error
	// args holds the parameters of hot statements (hot.go).
	args hotArgs
	// changed: a write of principals, groups or memberships ran in the
	// transaction; inTx moves the change marker just before it commits (the
	// marker's row lock is then the last lock the transaction takes and is
	// held for one statement, so directory writers of several replicas never
	// wait on it for a whole transaction nor deadlock on it).
	changed bool
	// directoryWrites counts the transaction's directory writes (a sync's
	// apply makes one per changed object): past analyzeAfter, inTx has
	// PostgreSQL's planner statistics refreshed after the commit.
	directoryWrites int
	// changedCreds is changed for the credential change marker: a write of
	// a credential but a use ran in the transaction.
	changedCreds bool
}

// noteChange records a directory write: the marker moves at commit. Only
// transactions of inTx write directory objects.
func (x *txn) noteChange() { x.changed, x.directoryWrites = true, x.directoryWrites+1 }

// boolInt is 1 for true, 0 for false.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// noteCredentialChange records a credential write but a use: the
// credential marker moves at commit.
func (x *txn) noteCredentialChange() { x.changedCreds = true }

// ChangeMarker returns the directory change marker.
func (x *txn) ChangeMarker(ctx context.Context) (int64, error) {
	var m int64
	err := x.q.QueryRow(ctx, qChangeMarker).Scan(&m)
	return m, mapErr("change marker", err)
}

var _ store.Tx = (*txn)(nil)

// execCount runs a statement and returns the number of rows it changed.
func (x *txn) execCount(ctx context.Context, op, query string, args ...any) (int, error) {
	tag, err := x.q.Exec(ctx, query, args...)
	if err != nil {
		return 0, mapErr(op, err)
	}
	return int(tag.RowsAffected()), nil
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

// exists runs a SELECT EXISTS query.
func (x *txn) exists(ctx context.Context, op, query string, args ...any) (bool, error) {
	var ok bool
	err := x.q.QueryRow(ctx, query, args...).Scan(&ok)
	return ok, mapErr(op, err)
}

// fold is the case-insensitive key of a name or realm.
func fold(s string) string { return strings.ToLower(s) }

// ---- principals

func scanPrincipal(r rowScanner) (store.Principal, error) {
	var p store.Principal
	var expires, synced *int64
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

// upsert is the create-or-replace of principals and groups. It must run in a
// transaction: lock reads the stored row and locks it (ErrNotFound when there
// is none), insert inserts unless a row appeared meanwhile (then it reports
// false and the row is read and locked again), update replaces the row.
func upsert[T any](ctx context.Context, lock func() (T, error), insert func() (bool, error),
	update func() error, same func(old T) bool) (bool, error) {
	for try := 0; try < 2; try++ {
		old, err := lock()
		if err == nil {
			if err := update(); err != nil {
				return false, err
			}
			return !same(old), nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
		inserted, err := insert()
		if err != nil || inserted {
			return inserted, err
		}
		// Another transaction inserted the same anchor after our read: it has
		// committed now (ON CONFLICT waited for it), so lock it and update.
	}
	return false, errors.New("postgres: upsert: row inserted and gone again")
}

// UpsertPrincipal creates or replaces p; see store.Tx. Outside WithTx the
// store runs it in its own transaction.
func (x *txn) UpsertPrincipal(ctx context.Context, p store.Principal) (bool, error) {
	const op = "upsert principal"
	if p.Anchor == "" {
		return false, errInvalid(op, "anchor")
	}
	if err := checkText(op, p.Anchor, p.Directory, p.Name, p.Realm, p.UPN, p.SID, p.DN, p.DisplayName, p.ChangeMark); err != nil {
		return false, err
	}
	ts, err := encTimes(p.Expires, p.SyncedAt)
	if err != nil {
		return false, fmt.Errorf("postgres: %s %s: %w", op, p.Anchor, err)
	}
	x.noteChange()
	return upsert(ctx,
		func() (store.Principal, error) {
			old, err := scanPrincipal(x.q.QueryRow(ctx, qLockPrincipal, p.Anchor))
			return old, mapErr(op, err)
		},
		func() (bool, error) {
			n, err := x.execCount(ctx, op, qInsertPrincipal, fold(p.Name), fold(p.Realm), p.Anchor, p.Directory,
				p.Name, p.Realm, p.UPN, p.SID, p.DN, p.DisplayName, p.Enabled, p.Deleted, ts[0], p.ChangeMark,
				ts[1], p.Generation)
			return n == 1, err
		},
		func() error {
			_, err := x.execCount(ctx, op, qUpdatePrincipal, fold(p.Name), fold(p.Realm), p.Directory, p.Name,
				p.Realm, p.UPN, p.SID, p.DN, p.DisplayName, p.Enabled, p.Deleted, ts[0], p.ChangeMark, ts[1],
				p.Generation, p.Anchor)
			return err
		},
		func(old store.Principal) bool { return samePrincipal(old, p) })
}

// GetPrincipal returns the principal with that anchor.
func (x *txn) GetPrincipal(ctx context.Context, anchor string) (store.Principal, error) {
	return x.principal(ctx, "get principal ", qGetPrincipal, anchor)
}

// LockPrincipal returns the principal and locks its row (SELECT ... FOR
// UPDATE) until the transaction ends.
func (x *txn) LockPrincipal(ctx context.Context, anchor string) (store.Principal, error) {
	return x.principal(ctx, "lock principal ", qLockPrincipal, anchor)
}

// principal reads one principal by anchor with query (qGetPrincipal or
// qLockPrincipal); op names the operation in errors.
func (x *txn) principal(ctx context.Context, op, query, anchor string) (store.Principal, error) {
	op += anchor
	if !storable(anchor) {
		return store.Principal{}, notFound(op)
	}
	p, err := scanPrincipal(x.q.QueryRow(ctx, query, anchor))
	return p, mapErr(op, err)
}

// GetPrincipalByName finds a principal by realm and name, case-insensitively.
func (x *txn) GetPrincipalByName(ctx context.Context, realm, name string) (store.Principal, error) {
	op := fmt.Sprintf("get principal %q@%q", name, realm)
	if !storable(realm, name) {
		return store.Principal{}, notFound(op)
	}
	p, err := scanPrincipal(x.q.QueryRow(ctx, qGetPrincipalByName, fold(realm), fold(name)))
	return p, mapErr(op, err)
}

// ListPrincipals lists principals ordered by name, then anchor.
func (x *txn) ListPrincipals(ctx context.Context, f store.PrincipalFilter) ([]store.Principal, error) {
	const op = "list principals"
	if err := checkText(op, f.Directory, f.After, f.AfterAnchor); err != nil {
		return nil, err
	}
	noCursor := f.After == "" && f.AfterAnchor == ""
	rows, err := x.q.Query(ctx, qListPrincipals, f.Directory, f.IncludeDeleted, noCursor, f.After,
		f.AfterAnchor != "", f.AfterAnchor, limitArg(f.Limit))
	if err != nil {
		return nil, mapErr(op, err)
	}
	return collect(rows, op, scanPrincipal)
}

// MarkUnseenDeleted marks principals and groups of directory older than gen
// as deleted. Outside WithTx the store runs it in its own transaction.
func (x *txn) MarkUnseenDeleted(ctx context.Context, directory string, gen int64) (int, error) {
	if err := checkText("mark deleted", directory); err != nil {
		return 0, err
	}
	x.noteChange()
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
	var synced *int64
	err := r.Scan(&g.Anchor, &g.Directory, &g.Name, &g.DN, &g.SID, &g.Deleted, &g.ChangeMark, &synced, &g.Generation)
	g.SyncedAt = decTime(synced)
	return g, err
}

// sameGroup compares everything but SyncedAt and Generation.
func sameGroup(a, b store.Group) bool {
	return a.Directory == b.Directory && a.Name == b.Name && a.DN == b.DN && a.SID == b.SID &&
		a.Deleted == b.Deleted && a.ChangeMark == b.ChangeMark
}

// UpsertGroup creates or replaces g; see store.Tx. Outside WithTx the store
// runs it in its own transaction.
func (x *txn) UpsertGroup(ctx context.Context, g store.Group) (bool, error) {
	const op = "upsert group"
	if g.Anchor == "" {
		return false, errInvalid(op, "anchor")
	}
	if err := checkText(op, g.Anchor, g.Directory, g.Name, g.DN, g.SID, g.ChangeMark); err != nil {
		return false, err
	}
	synced, err := encTime(g.SyncedAt)
	if err != nil {
		return false, fmt.Errorf("postgres: %s %s: %w", op, g.Anchor, err)
	}
	x.noteChange()
	return upsert(ctx,
		func() (store.Group, error) {
			old, err := scanGroup(x.q.QueryRow(ctx, qLockGroup, g.Anchor))
			return old, mapErr(op, err)
		},
		func() (bool, error) {
			n, err := x.execCount(ctx, op, qInsertGroup, g.Anchor, g.Directory, g.Name, g.DN, g.SID, g.Deleted,
				g.ChangeMark, synced, g.Generation)
			return n == 1, err
		},
		func() error {
			_, err := x.execCount(ctx, op, qUpdateGroup, g.Directory, g.Name, g.DN, g.SID, g.Deleted,
				g.ChangeMark, synced, g.Generation, g.Anchor)
			return err
		},
		func(old store.Group) bool { return sameGroup(old, g) })
}

// GetGroup returns the group with that anchor.
func (x *txn) GetGroup(ctx context.Context, anchor string) (store.Group, error) {
	op := "get group " + anchor
	if !storable(anchor) {
		return store.Group{}, notFound(op)
	}
	g, err := scanGroup(x.q.QueryRow(ctx, qGetGroup, anchor))
	return g, mapErr(op, err)
}

// ListGroups lists the non-deleted groups of directory ("" all).
func (x *txn) ListGroups(ctx context.Context, directory string) ([]store.Group, error) {
	const op = "list groups"
	if err := checkText(op, directory); err != nil {
		return nil, err
	}
	rows, err := x.q.Query(ctx, qListGroups, directory)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return collect(rows, op, scanGroup)
}

// SetMemberships replaces the direct groups of member. It must run in a
// transaction (outside WithTx the store runs it in its own).
func (x *txn) SetMemberships(ctx context.Context, member string, groups []string) error {
	const op = "set memberships"
	if member == "" {
		return errInvalid(op, "member")
	}
	if err := checkText(op, append([]string{member}, groups...)...); err != nil {
		return err
	}
	x.noteChange()
	if _, err := x.q.Exec(ctx, qLockMember, lockMemberships, member); err != nil {
		return mapErr(op, err)
	}
	if _, err := x.q.Exec(ctx, qDeleteMemberships, member); err != nil {
		return mapErr(op, err)
	}
	if len(groups) == 0 {
		return nil
	}
	_, err := x.q.Exec(ctx, qInsertMemberships, member, groups)
	return mapErr(op, err)
}

// TransitiveGroups returns the non-deleted groups member is in, directly or not.
func (x *txn) TransitiveGroups(ctx context.Context, member string) ([]store.Group, error) {
	const op = "transitive groups"
	if !storable(member) {
		return nil, nil
	}
	rows, err := x.q.Query(ctx, qTransitiveGroups, member)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return collect(rows, op, scanGroup)
}

// ---- sync state

// GetSyncState returns the sync state of directory (zero when none).
func (x *txn) GetSyncState(ctx context.Context, directory string) (store.SyncState, error) {
	s := store.SyncState{Directory: directory}
	if !storable(directory) {
		return s, nil
	}
	var full, last *int64
	err := x.q.QueryRow(ctx, qGetSyncState, directory).Scan(&s.Directory, &s.HighWater, &s.InvocationID,
		&s.Generation, &full, &last)
	if errors.Is(err, pgx.ErrNoRows) {
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
	if err := checkText(op, s.Directory, s.HighWater, s.InvocationID); err != nil {
		return err
	}
	ts, err := encTimes(s.LastFull, s.LastSync)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	_, err = x.q.Exec(ctx, qPutSyncState, s.Directory, s.HighWater, s.InvocationID, s.Generation, ts[0], ts[1])
	return mapErr(op, err)
}
