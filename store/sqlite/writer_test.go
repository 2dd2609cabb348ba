package sqlite

import (
	"database/sql"
	"database/sql/driver"
	"math"
	"reflect"
	"testing"
)

// TestAssign: the writer's scan converts driver values as database/sql does
// for this package's destination types, and refuses what database/sql
// refuses (NULL into a string or an integer, an integer out of range).
func TestAssign(t *testing.T) {
	for _, tc := range []struct {
		name string
		dest any
		v    driver.Value
		want any // nil: an error
	}{
		{"text", new(string), "alice", "alice"},
		{"blob as text", new(string), []byte("x"), "x"},
		{"NULL text", new(string), nil, nil},
		{"blob", new([]byte), []byte{1, 2}, []byte{1, 2}},
		{"NULL blob", new([]byte), nil, []byte(nil)},
		{"true", new(bool), int64(1), true},
		{"false", new(bool), int64(0), false},
		{"bool 2", new(bool), int64(2), nil},
		{"int64", new(int64), int64(math.MinInt64), int64(math.MinInt64)},
		{"int", new(int), int64(-1), -1},
		{"uint32 max", new(uint32), int64(math.MaxUint32), uint32(math.MaxUint32)},
		{"uint32 over", new(uint32), int64(math.MaxUint32 + 1), nil},
		{"uint32 negative", new(uint32), int64(-1), nil},
		{"NULL int", new(int64), nil, nil},
		{"null time", new(sql.NullInt64), nil, sql.NullInt64{}},
		{"time", new(sql.NullInt64), int64(7), sql.NullInt64{Int64: 7, Valid: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := assign(tc.dest, tc.v)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("assign(%T, %#v) succeeded", tc.dest, tc.v)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := reflect.ValueOf(tc.dest).Elem().Interface(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// TestDriverValue: arguments are converted as database/sql's default
// converter does, and an unknown type is refused.
func TestDriverValue(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want driver.Value
	}{
		{"s", "s"}, {[]byte{1}, []byte{1}}, {true, true}, {int64(-3), int64(-3)}, {5, int64(5)},
		{uint32(math.MaxUint32), int64(math.MaxUint32)}, {nil, nil},
		{sql.NullInt64{}, nil}, {sql.NullInt64{Int64: 9, Valid: true}, int64(9)},
	} {
		got, err := driverValue(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("driverValue(%#v) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
	if _, err := driverValue(1.5); err == nil {
		t.Error("driverValue(float64) succeeded")
	}
}
