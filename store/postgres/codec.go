package postgres

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/passkdc/passkdc/store"
)

// errTimeRange reports a time that int64 Unix nanoseconds cannot hold
// (before 1678 or after 2262).
var errTimeRange = errors.New("postgres: time out of range (years 1678-2262)")

// ErrText is returned when a string cannot be stored: PostgreSQL text holds
// neither NUL bytes nor invalid UTF-8. Lookups by such a string find nothing
// (store.ErrNotFound) instead.
var ErrText = errors.New("postgres: text with a NUL byte or invalid UTF-8")

// encTime encodes t as UTC Unix nanoseconds (PostgreSQL timestamps only keep
// microseconds); the zero time is NULL.
func encTime(t time.Time) (*int64, error) {
	n, null, err := encTimeValue(t)
	if null || err != nil {
		return nil, err
	}
	return &n, nil
}

// encTimeValue is encTime without the pointer: null for the zero time.
func encTimeValue(t time.Time) (n int64, null bool, err error) {
	if t.IsZero() {
		return 0, true, nil
	}
	if t.Before(time.Unix(0, math.MinInt64)) || t.After(time.Unix(0, math.MaxInt64)) {
		return 0, false, fmt.Errorf("%w: %s", errTimeRange, t.UTC().Format(time.RFC3339))
	}
	return t.UnixNano(), false, nil
}

// encTimes encodes several times, stopping at the first error.
func encTimes(ts ...time.Time) ([]*int64, error) {
	out := make([]*int64, len(ts))
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
func decTime(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}

// nilIfEmpty returns nil for an empty slice.
func nilIfEmpty[T any](b []T) []T {
	if len(b) == 0 {
		return nil
	}
	return b
}

// storable reports whether PostgreSQL text can hold every s.
func storable(ss ...string) bool {
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// checkText returns ErrText when one of ss cannot be stored.
func checkText(op string, ss ...string) error {
	if storable(ss...) {
		return nil
	}
	return fmt.Errorf("postgres: %s: %w", op, ErrText)
}

// scrub makes s storable, replacing NUL bytes and invalid UTF-8 with U+FFFD
// (for the audit trail, which must record a refusal whatever the input was).
func scrub(s string) string {
	if storable(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// SQLSTATE codes mapped to store sentinels.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// mapErr wraps a driver error with what was being done, and adds the store
// sentinel it stands for: no row is store.ErrNotFound, a unique violation
// store.ErrExists, a foreign key violation store.ErrNotFound (a reference to a
// missing principal), a serialization failure or a deadlock store.ErrConflict
// (the transaction lost a race; it may be retried).
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation:
			return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrExists, err)
		case codeForeignKeyViolation:
			return fmt.Errorf("postgres: %s: %w: referenced principal: %w", op, store.ErrNotFound, err)
		case codeSerializationFailure, codeDeadlockDetected:
			return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrConflict, err)
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// notFound is the error for a missing object.
func notFound(op string) error {
	return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
}

// errInvalid reports an object the store cannot hold (a missing key).
func errInvalid(op, what string) error {
	return fmt.Errorf("postgres: %s: %s is empty", op, what)
}

// limitArg turns "0 or less: no limit" into LIMIT NULL.
func limitArg(limit int) any {
	if limit <= 0 {
		return nil
	}
	return limit
}

// rowScanner is pgx.Row or pgx.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// collect scans every row with scan and closes rows.
func collect[T any](rows pgx.Rows, op string, scan func(rowScanner) (T, error)) ([]T, error) {
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
