package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// lazyTx is the querier of a transaction of inTx: it sends BEGIN before the
// transaction's first statement (a hot statement sends it in the same
// flight instead, see hotRun), so that a transaction costs no round trip of
// its own to start.
type lazyTx struct{ x *txn }

// begin starts the transaction on its connection unless it has started.
func (l lazyTx) begin(ctx context.Context) error {
	x := l.x
	if x.beginErr != nil || x.begun {
		return x.beginErr
	}
	x.begun = true
	if _, err := x.conn.Exec(ctx, beginSQL); err != nil {
		x.begun, x.beginErr = false, fmt.Errorf("%w: %w", errBegin, err)
	}
	return x.beginErr
}

func (l lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := l.begin(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return l.x.conn.Exec(ctx, sql, args...)
}

func (l lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := l.begin(ctx); err != nil {
		return nil, err
	}
	return l.x.conn.Query(ctx, sql, args...)
}

func (l lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := l.begin(ctx); err != nil {
		return errRow{err}
	}
	return l.x.conn.QueryRow(ctx, sql, args...)
}

// errRow is a row that failed before its query was sent.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// commit commits the transaction, if it started. A transaction the server
// had aborted (a statement failed) answers COMMIT with ROLLBACK: that is
// pgx.ErrTxCommitRollback.
func (x *txn) commit(ctx context.Context) error {
	if x.beginErr != nil {
		return x.beginErr
	}
	if !x.begun {
		return nil
	}
	x.begun = false // whatever the outcome, nothing is left to roll back
	tag, err := x.conn.Exec(ctx, "COMMIT")
	if err != nil {
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// rollback rolls back the transaction if it started and was not committed,
// even when ctx has ended. A connection left in a transaction (the ROLLBACK
// failed) is closed by the pool when released.
func (x *txn) rollback(ctx context.Context) {
	if !x.begun {
		return
	}
	x.begun = false
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := x.conn.Exec(rctx, "ROLLBACK"); err != nil {
		_ = x.conn.Close(rctx)
	}
}
