package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"

	"modernc.org/sqlite"
)

// The hot path. The statements of every sign-in (the credential read, the
// consumed challenge, the sign counter, the audit record) run on the driver
// connection itself (database/sql's Conn.Raw), with statements prepared once
// per connection: database/sql's per-call machinery (a bound statement per
// transaction, argument conversion, Rows, Scan's copies) was most of the
// store's allocations per sign-in. Ownership stays database/sql's: Raw
// hands out the connection of the caller's transaction (or a reader taken
// from the pool) and holds its lock for the call. Errors are the driver's,
// as through database/sql, and are mapped by mapErr like every other.

// driverConn is what database/sql uses of a modernc.org/sqlite connection;
// hotConn embeds it so that database/sql sees every one of these methods.
type driverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// hotConn is a driver connection with the hot statements prepared on it.
type hotConn struct {
	driverConn
	// stmts are prepared on first use; only used under database/sql's lock
	// of the connection (inside Raw), so never concurrently. Every query is
	// one of this package's constants: the map stays small.
	stmts   map[string]driver.Stmt
	noCache bool // prepare and close per call (for measurement)
	// args is the arguments' buffer of every call (the driver keeps none
	// of them after the call).
	args []driver.NamedValue
}

// Close closes the hot statements, then the connection.
func (c *hotConn) Close() error {
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	c.stmts = nil
	return errors.Join(append(errs, c.driverConn.Close())...)
}

// hotConnector opens modernc.org/sqlite connections as hotConns.
type hotConnector struct {
	inner   driver.Connector
	noCache bool
}

func newHotConnector(dsn string, noCache bool) (*hotConnector, error) {
	inner, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return &hotConnector{inner: inner, noCache: noCache}, nil
}

// Connect opens a connection.
func (h *hotConnector) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := h.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	dc, ok := c.(driverConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("sqlite: driver connection %T lacks a method passkdc uses", c)
	}
	return &hotConn{driverConn: dc, stmts: map[string]driver.Stmt{}, noCache: h.noCache}, nil
}

// Driver returns the modernc.org/sqlite driver.
func (h *hotConnector) Driver() driver.Driver { return h.inner.Driver() }

// errNotHot: a pool handed out a connection hotConnector did not open.
var errNotHot = errors.New("sqlite: connection was not opened by the hot connector")

// rawOn runs f on conn's driver connection.
func rawOn(conn *sql.Conn, f func(c *hotConn) error) error {
	return conn.Raw(func(dc any) error {
		hc, ok := dc.(*hotConn)
		if !ok {
			return errNotHot
		}
		return f(hc)
	})
}

// raw runs f on the driver connection of x: its transaction's (the writer's,
// held for the whole transaction), or one taken from its pool for the call. Like every statement of x (see
// txn.context) it fails when ctx has ended, and does not watch ctx otherwise.
func (x *txn) raw(ctx context.Context, f func(c *hotConn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if x.hc != nil {
		return f(x.hc)
	}
	conn, err := x.db.Conn(ctx)
	if err != nil {
		return err
	}
	err = rawOn(conn, f)
	return errors.Join(err, conn.Close())
}

// rawRows runs query on x's driver connection and reads every row: for the
// reads of a sign-in whose principal the view does not hold (GetPrincipal,
// TransitiveGroups), small results.
func (x *txn) rawRows(ctx context.Context, query string, args ...any) (*bufRows, error) {
	return queryAllVia(ctx, x.raw, query, args)
}

// rawRow is the first row of rawRows (sql.ErrNoRows for none).
func (x *txn) rawRow(ctx context.Context, query string, args ...any) rowScanner {
	return firstRow(x.rawRows(ctx, query, args...))
}

// rawExec runs query, which takes no argument, on x's driver connection.
func (x *txn) rawExec(ctx context.Context, query string) error {
	return x.raw(ctx, func(c *hotConn) error {
		_, err := c.exec(query)
		return err
	})
}

// stmt returns the prepared statement of query on c.
func (c *hotConn) stmt(query string) (driver.Stmt, error) {
	if st := c.stmts[query]; st != nil {
		return st, nil
	}
	st, err := c.PrepareContext(context.Background(), query)
	if err != nil {
		return nil, err
	}
	if !c.noCache {
		c.stmts[query] = st
	}
	return st, nil
}

// release closes st when c does not keep its statements.
func (c *hotConn) release(st driver.Stmt) {
	if c.noCache {
		st.Close()
	}
}

// exec runs query with args and returns its result.
func (c *hotConn) exec(query string, args ...driver.Value) (driver.Result, error) {
	st, err := c.stmt(query)
	if err != nil {
		return nil, err
	}
	defer c.release(st)
	return st.(driver.StmtExecContext).ExecContext(context.Background(), c.named(args))
}

// queryRow runs query with args and reads its first row into dest (as many
// values as the query has columns); sql.ErrNoRows when there is none.
func (c *hotConn) queryRow(dest []driver.Value, query string, args ...driver.Value) error {
	st, err := c.stmt(query)
	if err != nil {
		return err
	}
	defer c.release(st)
	rows, err := st.(driver.StmtQueryContext).QueryContext(context.Background(), c.named(args))
	if err != nil {
		return err
	}
	err = rows.Next(dest)
	if errors.Is(err, io.EOF) {
		err = sql.ErrNoRows
	}
	return errors.Join(err, rows.Close())
}

// named numbers args as the driver wants them, in c's buffer.
func (c *hotConn) named(args []driver.Value) []driver.NamedValue {
	clear(c.args)
	c.args = c.args[:0]
	for i, a := range args {
		c.args = append(c.args, driver.NamedValue{Ordinal: i + 1, Value: a})
	}
	return c.args
}

// nullable is the driver value of an encoded time (nil for NULL).
func nullable(n sql.NullInt64) driver.Value {
	if !n.Valid {
		return nil
	}
	return n.Int64
}

// Typed readers of driver values, for the hot reads. They accept what the
// driver returns for the declared column types (and NULL as the zero value,
// as no column they read may hold it but the times).

func valString(v driver.Value) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("sqlite: column holds %T, want text", v)
}

func valBytes(v driver.Value) ([]byte, error) {
	switch v := v.(type) {
	case []byte:
		return nilIfEmpty(v), nil // the driver's own copy
	case string:
		return nilIfEmpty([]byte(v)), nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("sqlite: column holds %T, want a blob", v)
}

func valInt(v driver.Value) (int64, error) {
	if n, ok := v.(int64); ok {
		return n, nil
	}
	return 0, fmt.Errorf("sqlite: column holds %T, want an integer", v)
}

func valTime(v driver.Value) (sql.NullInt64, error) {
	if v == nil {
		return sql.NullInt64{}, nil
	}
	n, err := valInt(v)
	return sql.NullInt64{Int64: n, Valid: err == nil}, err
}
