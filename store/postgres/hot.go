package postgres

// The sign-in's statements (the credential read, the consumed challenge,
// the counter's compare-and-set, the audit append) run below pgx's generic
// layer: each is prepared once per connection (pgx keeps the statement
// descriptions), its parameters are encoded in binary into one buffer of the
// transaction, its row is decoded from the binary wire format without scan
// plans, and a transaction's BEGIN goes in the same flight as its first
// statement (txn.begin). The SQL is the same as the generic statements', and
// so are the results and the errors: only the client's work differs.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// hotStmt names one statement of the sign-in's hot path.
type hotStmt int

const (
	hotBegin hotStmt = iota
	hotGetCredentialAndMarker
	hotConsumeChallenge
	hotUpdateCredentialUse
	hotUpdateCredentialUseIf
	hotAppendAudit
)

// beginSQL starts every transaction of inTx.
const beginSQL = `BEGIN ISOLATION LEVEL READ COMMITTED`

// sql is the statement's text and name is its prepared statement's name.
func (h hotStmt) sql() string {
	switch h {
	case hotBegin:
		return beginSQL
	case hotGetCredentialAndMarker:
		return qGetCredentialAndMarker
	case hotConsumeChallenge:
		return qConsumeChallenge
	case hotUpdateCredentialUse:
		return qUpdateCredentialUse
	case hotUpdateCredentialUseIf:
		return qUpdateCredentialUseIf
	default:
		return qAppendAudit
	}
}

func (h hotStmt) name() string {
	switch h {
	case hotBegin:
		return "passkdc_begin"
	case hotGetCredentialAndMarker:
		return "passkdc_get_credential_and_marker"
	case hotConsumeChallenge:
		return "passkdc_consume_challenge"
	case hotUpdateCredentialUse:
		return "passkdc_update_credential_use"
	case hotUpdateCredentialUseIf:
		return "passkdc_update_credential_use_if"
	default:
		return "passkdc_append_audit"
	}
}

// binaryFormat: every parameter and every result column in binary.
var binaryFormat = []int16{pgtype.BinaryFormatCode}

// hotArgs encodes a statement's parameters in binary: values point into one
// buffer, reused by the transaction's next statement.
type hotArgs struct {
	buf  []byte
	vals [9][]byte
	n    int
	arr  [256]byte // buf's first array
}

// reset starts the parameters of a new statement.
func (a *hotArgs) reset() {
	if a.buf == nil {
		a.buf = a.arr[:0]
	}
	a.buf, a.n = a.buf[:0], 0
}

// add appends one parameter's encoding (nil: NULL).
func (a *hotArgs) add(b []byte, null bool) {
	if null {
		a.vals[a.n] = nil
	} else {
		start := len(a.buf)
		a.buf = append(a.buf, b...)
		a.vals[a.n] = a.buf[start:len(a.buf):len(a.buf)]
	}
	a.n++
}

func (a *hotArgs) bytes(b []byte) { a.add(b, false) }

func (a *hotArgs) text(s string) {
	start := len(a.buf)
	a.buf = append(a.buf, s...)
	a.vals[a.n] = a.buf[start:len(a.buf):len(a.buf)]
	a.n++
}

func (a *hotArgs) int8(v int64) {
	start := len(a.buf)
	a.buf = binary.BigEndian.AppendUint64(a.buf, uint64(v))
	a.vals[a.n] = a.buf[start:len(a.buf):len(a.buf)]
	a.n++
}

// time encodes a time as encTime does (the zero time: NULL).
func (a *hotArgs) time(t time.Time) error {
	n, null, err := encTimeValue(t)
	switch {
	case err != nil:
		return err
	case null:
		a.add(nil, true)
	default:
		a.int8(n)
	}
	return nil
}

func (a *hotArgs) bool(v bool) {
	b := byte(0)
	if v {
		b = 1
	}
	a.buf = append(a.buf, b)
	a.vals[a.n] = a.buf[len(a.buf)-1 : len(a.buf) : len(a.buf)]
	a.n++
}

// params are the encoded parameters. A value appended before the buffer
// grew still points at the old array, whose bytes are unchanged.
func (a *hotArgs) params() [][]byte { return a.vals[:a.n] }

// prepared returns the statement description of h on c, preparing it the
// first time on this connection (pgx caches it by name).
func prepared(ctx context.Context, c *pgx.Conn, h hotStmt) (*pgconn.StatementDescription, error) {
	return c.Prepare(ctx, h.name(), h.sql())
}

// hotRun runs h on c with args, preceded in the same flight by the
// transaction's BEGIN when begin is set; row (nil: none expected) is called
// with each result row's binary values. It returns the rows h affected. A
// BEGIN that fails or is not sent is reported as errBegin.
func hotRun(ctx context.Context, c *pgx.Conn, begin bool, h hotStmt, args *hotArgs, row func([][]byte) error) (int64, error) {
	sd, err := prepared(ctx, c, h)
	if err != nil {
		if begin { // BEGIN not sent: no statement may run outside the transaction
			err = fmt.Errorf("%w: %w", errBegin, err)
		}
		return 0, err
	}
	if !begin {
		return readResult(c.PgConn().ExecStatement(ctx, sd, args.params(), binaryFormat, binaryFormat), row)
	}
	bd, err := prepared(ctx, c, hotBegin)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errBegin, err)
	}
	var batch pgconn.Batch
	batch.ExecStatement(bd, nil, nil, nil)
	batch.ExecStatement(sd, args.params(), binaryFormat, binaryFormat)
	mrr := c.PgConn().ExecBatch(ctx, &batch)
	n, err := batched(mrr, row)
	if cerr := mrr.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return n, err
}

// errBegin marks a failed BEGIN.
var errBegin = errors.New("begin")

// batched reads the results of hotRun's batch: BEGIN's, then the
// statement's. An error (the server skips what follows it) is left to the
// reader's Close.
func batched(mrr *pgconn.MultiResultReader, row func([][]byte) error) (int64, error) {
	if !mrr.NextResult() {
		err := mrr.Close()
		if err == nil {
			err = errors.New("no result")
		}
		return 0, fmt.Errorf("%w: %w", errBegin, err)
	}
	if _, err := mrr.ResultReader().Close(); err != nil {
		return 0, fmt.Errorf("%w: %w", errBegin, err)
	}
	if !mrr.NextResult() {
		return 0, mrr.Close()
	}
	return readResult(mrr.ResultReader(), row)
}

// readResult calls row with each row of rr, closes rr and returns the rows
// affected; no row at all, when row is set, is pgx.ErrNoRows.
func readResult(rr *pgconn.ResultReader, row func([][]byte) error) (int64, error) {
	var rowErr error
	rows := 0
	for rr.NextRow() {
		rows++
		if row != nil && rowErr == nil {
			rowErr = row(rr.Values())
		}
	}
	tag, err := rr.Close()
	switch {
	case err != nil:
		return 0, err
	case rowErr != nil:
		return 0, rowErr
	case row != nil && rows == 0:
		return 0, pgx.ErrNoRows
	}
	return tag.RowsAffected(), nil
}

// run runs hot statement h in x: in its transaction (sending BEGIN with it
// when it is the first statement), or on a connection of the pool.
func (x *txn) run(ctx context.Context, h hotStmt, row func([][]byte) error) (int64, error) {
	if x.conn == nil {
		pc, err := x.pool.Acquire(ctx)
		if err != nil {
			return 0, err
		}
		defer pc.Release()
		return hotRun(ctx, pc.Conn(), false, h, &x.args, row)
	}
	if x.beginErr != nil {
		return 0, x.beginErr
	}
	first := !x.begun
	x.begun = true
	n, err := hotRun(ctx, x.conn, first, h, &x.args, row)
	if first && errors.Is(err, errBegin) {
		x.begun, x.beginErr = false, err
	}
	return n, err
}

// errWire reports a binary value of an unexpected size or shape.
var errWire = errors.New("postgres: unexpected binary value")

// wireInt8 decodes a binary BIGINT.
func wireInt8(v []byte) (int64, error) {
	if len(v) != 8 {
		return 0, errWire
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// wireTime decodes a nullable binary BIGINT written by encTime, as decTime.
func wireTime(v []byte) (time.Time, error) {
	if v == nil {
		return time.Time{}, nil
	}
	n, err := wireInt8(v)
	return decTime(&n), err
}

// wireBool decodes a binary BOOLEAN.
func wireBool(v []byte) (bool, error) {
	if len(v) != 1 {
		return false, errWire
	}
	return v[0] != 0, nil
}

// wireTextArray appends the elements of a one-dimensional binary TEXT[]
// without NULLs to text, returning it and each element's end in it.
func wireTextArray(v []byte, text []byte, ends []int) ([]byte, []int, error) {
	if len(v) < 12 {
		return text, ends, errWire
	}
	ndim := binary.BigEndian.Uint32(v)
	if ndim == 0 {
		return text, ends, nil
	}
	if ndim != 1 || len(v) < 20 {
		return text, ends, errWire
	}
	count := int(binary.BigEndian.Uint32(v[12:]))
	v = v[20:]
	for range count {
		if len(v) < 4 {
			return text, ends, errWire
		}
		n := int(int32(binary.BigEndian.Uint32(v)))
		if n < 0 || len(v)-4 < n {
			return text, ends, errWire // a NULL element, or truncated
		}
		text = append(text, v[4:4+n]...)
		ends = append(ends, len(text))
		v = v[4+n:]
	}
	return text, ends, nil
}
