package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/passkdc/passkdc/store"
)

// errTimeRange reports a time that int64 Unix nanoseconds cannot hold
// (before 1678 or after 2262).
var errTimeRange = errors.New("sqlite: time out of range (years 1678-2262)")

// encTime encodes t as UTC Unix nanoseconds; the zero time is NULL.
func encTime(t time.Time) (sql.NullInt64, error) {
	if t.IsZero() {
		return sql.NullInt64{}, nil
	}
	if t.Before(time.Unix(0, math.MinInt64)) || t.After(time.Unix(0, math.MaxInt64)) {
		return sql.NullInt64{}, fmt.Errorf("%w: %s", errTimeRange, t.UTC().Format(time.RFC3339))
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}, nil
}

// encTimes encodes several times, stopping at the first error.
func encTimes(ts ...time.Time) ([]sql.NullInt64, error) {
	out := make([]sql.NullInt64, len(ts))
	for i, t := range ts {
		v, err := encTime(t)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// decTime decodes a value written by encTime.
func decTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// nilIfEmpty returns nil for an empty slice, so that callers never have to tell
// nil from empty.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// encStrings encodes a string list as JSON text ("[]" when empty).
func encStrings(v []string) (string, error) {
	if len(v) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("sqlite: encode list: %w", err)
	}
	return string(b), nil
}

// decStrings decodes encStrings' JSON; an empty list is nil.
func decStrings(s string) ([]string, error) {
	if v, ok := decPlainStrings(s); ok {
		return v, nil
	}
	var v []string
	if s != "" {
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("sqlite: decode list: %w", err)
		}
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

// decPlainStrings decodes, without encoding/json, a JSON list of printable
// ASCII strings without escapes, as encStrings writes a credential's
// transports (a sign-in reads one); ok is false for any other text, which
// decStrings leaves to encoding/json.
func decPlainStrings(s string) (v []string, ok bool) {
	if s == "[]" {
		return nil, true
	}
	if len(s) < 4 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, false
	}
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '\\' {
			return nil, false // an escape, a control or a non-ASCII byte: encoding/json decides
		}
	}
	body := s[1 : len(s)-1]
	v = make([]string, 0, strings.Count(body, ",")+1)
	for item := range strings.SplitSeq(body, ",") {
		if len(item) < 2 || item[0] != '"' || item[len(item)-1] != '"' || strings.Contains(item[1:len(item)-1], `"`) {
			return nil, false
		}
		v = append(v, item[1:len(item)-1])
	}
	return v, true
}

// mapErr wraps a driver error with what was being done, and adds the store
// sentinel it stands for: a unique or primary key violation is store.ErrExists,
// a foreign key violation (a reference to a missing principal) store.ErrNotFound,
// sql.ErrNoRows store.ErrNotFound.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrExists, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("sqlite: %s: %w: referenced principal: %w", op, store.ErrNotFound, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// notFound is the error for a missing object.
func notFound(op string) error {
	return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
}

// limitArg turns "0 or less: no limit" into SQLite's LIMIT -1.
func limitArg(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

// rowScanner is *sql.Row, *sql.Rows or a row of the writer (writer.go).
type rowScanner interface {
	Scan(dest ...any) error
}

// collect scans every row with scan and closes rows.
func collect[T any](rows rowsIter, op string, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(op, err)
	}
	return out, nil
}

func scanString(r rowScanner) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}
