package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// A writer transaction runs every statement on the writer's driver
// connection (see raw.go), BEGIN and COMMIT included, with no sql.Tx:
// database/sql's transaction costs a watcher goroutine per BEGIN and
// modernc prepares BEGIN and COMMIT again per transaction, while a bound
// statement per query and transaction cost the rest. Every statement is
// prepared once per connection (on first use). The arguments are converted
// and the columns scanned as database/sql would for the types this package
// uses.

// connQ runs statements on the writer's driver connection, inside the
// transaction's one Raw call (see Store.directTx).
type connQ struct{ hc *hotConn }

func (q connQ) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	vals, err := driverValues(args)
	if err != nil {
		return nil, err
	}
	var res driver.Result
	err = q.raw(ctx, func(c *hotConn) error {
		var err error
		res, err = c.exec(query, vals...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (q connQ) query(ctx context.Context, query string, args ...any) (rowsIter, error) {
	rows, err := q.queryAll(ctx, query, args)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (q connQ) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	return firstRow(q.queryAll(ctx, query, args))
}

// queryAll reads every row.
func (q connQ) queryAll(ctx context.Context, query string, args []any) (*bufRows, error) {
	return queryAllVia(ctx, q.raw, query, args)
}

// queryAllVia runs query with args on the driver connection raw hands out
// and reads every row.
func queryAllVia(ctx context.Context, raw func(context.Context, func(*hotConn) error) error, query string, args []any) (*bufRows, error) {
	vals, err := driverValues(args)
	if err != nil {
		return nil, err
	}
	var rows *bufRows
	err = raw(ctx, func(c *hotConn) error {
		var err error
		rows, err = c.queryAll(query, vals)
		return err
	})
	return rows, err
}

// firstRow is the first of rows (sql.ErrNoRows for none), or err.
func firstRow(rows *bufRows, err error) rowScanner {
	switch {
	case err != nil:
		return errRow{err}
	case len(rows.rows) == 0:
		return errRow{sql.ErrNoRows}
	}
	return rows.row(0)
}

func (q connQ) raw(ctx context.Context, f func(c *hotConn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return f(q.hc)
}

// queryAll runs query and reads all of its rows.
func (c *hotConn) queryAll(query string, args []driver.Value) (*bufRows, error) {
	st, err := c.stmt(query)
	if err != nil {
		return nil, err
	}
	defer c.release(st)
	rows, err := st.(driver.StmtQueryContext).QueryContext(context.Background(), c.named(args))
	if err != nil {
		return nil, err
	}
	b := &bufRows{next: -1}
	n := len(rows.Columns())
	for {
		vals := make([]driver.Value, n)
		if err = rows.Next(vals); err != nil {
			break
		}
		b.rows = append(b.rows, vals)
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return b, errors.Join(err, rows.Close())
}

// rowsIter is what collect reads: *sql.Rows or bufRows.
type rowsIter interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// bufRows are rows read in full.
type bufRows struct {
	rows [][]driver.Value
	next int
}

func (b *bufRows) Next() bool {
	b.next++
	return b.next < len(b.rows)
}

func (b *bufRows) Scan(dest ...any) error {
	if b.next < 0 || b.next >= len(b.rows) {
		return errors.New("sqlite: Scan without a row")
	}
	return b.row(b.next).Scan(dest...)
}

func (b *bufRows) Err() error   { return nil }
func (b *bufRows) Close() error { return nil }

func (b *bufRows) row(i int) valRow { return valRow(b.rows[i]) }

// valRow is one row's values.
type valRow []driver.Value

// Scan stores the row's values in dest, converting as database/sql does for
// the destination types of this package.
func (r valRow) Scan(dest ...any) error {
	if len(dest) != len(r) {
		return fmt.Errorf("sqlite: Scan: %d destinations for %d columns", len(dest), len(r))
	}
	for i, d := range dest {
		if err := assign(d, r[i]); err != nil {
			return fmt.Errorf("sqlite: Scan column %d: %w", i, err)
		}
	}
	return nil
}

// errRow is a row that failed.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// assign stores v in dest.
func assign(dest any, v driver.Value) error {
	switch d := dest.(type) {
	case sql.Scanner:
		return d.Scan(v)
	case *string:
		switch v := v.(type) {
		case string:
			*d = v
		case []byte:
			*d = string(v)
		case int64:
			*d = strconv.FormatInt(v, 10)
		default:
			return fmt.Errorf("cannot store %T in a string", v)
		}
	case *[]byte:
		switch v := v.(type) {
		case []byte:
			*d = v // the driver's own copy
		case string:
			*d = []byte(v)
		case nil:
			*d = nil
		default:
			return fmt.Errorf("cannot store %T in bytes", v)
		}
	case *bool:
		b, err := driver.Bool.ConvertValue(v)
		if err != nil {
			return err
		}
		*d = b.(bool)
	case *int64:
		n, err := intValue(v, math.MinInt64, math.MaxInt64)
		*d = n
		return err
	case *int:
		n, err := intValue(v, math.MinInt, math.MaxInt)
		*d = int(n)
		return err
	case *uint32:
		n, err := intValue(v, 0, math.MaxUint32)
		*d = uint32(n)
		return err
	default:
		return fmt.Errorf("unsupported destination %T", dest)
	}
	return nil
}

// intValue reads an integer column within [lo, hi].
func intValue(v driver.Value, lo, hi int64) (int64, error) {
	var n int64
	switch v := v.(type) {
	case int64:
		n = v
	case string:
		var err error
		if n, err = strconv.ParseInt(v, 10, 64); err != nil {
			return 0, err
		}
	case []byte:
		var err error
		if n, err = strconv.ParseInt(string(v), 10, 64); err != nil {
			return 0, err
		}
	default:
		return 0, fmt.Errorf("cannot store %T in an integer", v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("value %d out of range", n)
	}
	return n, nil
}

// driverValues converts the arguments of a statement.
func driverValues(args []any) ([]driver.Value, error) {
	vals := make([]driver.Value, len(args))
	for i, a := range args {
		v, err := driverValue(a)
		if err != nil {
			return nil, fmt.Errorf("sqlite: argument %d: %w", i+1, err)
		}
		vals[i] = v
	}
	return vals, nil
}

// driverValue converts one argument as database/sql's default converter
// does for the types this package passes.
func driverValue(a any) (driver.Value, error) {
	switch a := a.(type) {
	case nil, string, []byte, bool, int64:
		return a, nil
	case int:
		return int64(a), nil
	case uint32:
		return int64(a), nil
	case driver.Valuer:
		return a.Value()
	}
	return nil, fmt.Errorf("unsupported argument type %T", a)
}
