package keytabs

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMerge(t *testing.T) {
	const p = "krbtgt_40000@CORP.EXAMPLE.TEST"
	v1 := entry(t, p, EncodeKVNO(40000, 1), 18, fill(1, 32))
	v1b := v1
	v1b.Timestamp = time.Unix(5, 0) // same key, other timestamp: a duplicate
	v1b.Principal = mustPrincipal(t, "krbtgt_40000@corp.example.test")
	v2 := entry(t, p, EncodeKVNO(40000, 2), 18, fill(2, 32))
	v2aes128 := entry(t, p, EncodeKVNO(40000, 2), 17, fill(3, 16))
	other := entry(t, "u@CORP.EXAMPLE.TEST", EncodeKVNO(40000, 1), 18, fill(1, 32))
	conflict := entry(t, p, EncodeKVNO(40000, 1), 18, fill(9, 32))

	tests := []struct {
		name      string
		base, add []Entry
		added     int
		want      []Entry
		conflict  bool
	}{
		{"into empty", nil, []Entry{v1, v2}, 2, []Entry{v1, v2}, false},
		{"duplicate skipped", []Entry{v1}, []Entry{v1b, v2}, 1, []Entry{v1, v2}, false},
		{"duplicates within other", []Entry{v1}, []Entry{v2, v2, v2aes128}, 2, []Entry{v1, v2, v2aes128}, false},
		{"same kvno other principal", []Entry{v1}, []Entry{other}, 1, []Entry{v1, other}, false},
		{"nothing new", []Entry{v1, v2}, []Entry{v2, v1}, 0, []Entry{v1, v2}, false},
		{"conflict refused", []Entry{v1}, []Entry{v2, conflict}, 0, []Entry{v1}, true},
		{"conflict within other", nil, []Entry{v1, v2, conflict}, 0, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kt := &Keytab{Entries: slices.Clone(tc.base)}
			added, err := kt.Merge(&Keytab{Entries: tc.add})
			if tc.conflict {
				var ce *ConflictError
				if !errors.As(err, &ce) || !errors.Is(err, ErrKeyConflict) {
					t.Fatalf("Merge error %v, want *ConflictError", err)
				}
				if ce.KVNO != EncodeKVNO(40000, 1) || ce.EType != 18 {
					t.Errorf("conflict %+v", ce)
				}
				if strings.Contains(err.Error(), fmt.Sprintf("%x", fill(9, 32))[:16]) {
					t.Error("conflict message contains key bytes")
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if added != tc.added || !entriesEqual(kt.Entries, tc.want) {
				t.Fatalf("added %d entries %v; want %d %v", added, kt.Entries, tc.added, tc.want)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	const p = "krbtgt_40000@CORP.EXAMPLE.TEST"
	build := func() *Keytab {
		return &Keytab{Entries: []Entry{
			entry(t, p, EncodeKVNO(40000, 1), 17, fill(1, 16)),
			entry(t, p, EncodeKVNO(40000, 1), 18, fill(1, 32)),
			entry(t, "u@CORP.EXAMPLE.TEST", 1, 18, fill(7, 32)),
			entry(t, p, EncodeKVNO(40000, 2), 18, fill(2, 32)),
			entry(t, p, EncodeKVNO(40000, 3), 18, fill(3, 32)),
		}}
	}
	tests := []struct {
		keep, removed int
		versions      []uint32
	}{
		{1, 3, []uint32{EncodeKVNO(40000, 3)}},
		{2, 2, []uint32{EncodeKVNO(40000, 2), EncodeKVNO(40000, 3)}},
		{3, 0, []uint32{EncodeKVNO(40000, 1), EncodeKVNO(40000, 2), EncodeKVNO(40000, 3)}},
		{10, 0, []uint32{EncodeKVNO(40000, 1), EncodeKVNO(40000, 2), EncodeKVNO(40000, 3)}},
	}
	for _, tc := range tests {
		kt := build()
		removed, err := kt.Prune(mustPrincipal(t, p), tc.keep)
		if err != nil {
			t.Fatal(err)
		}
		ks, err := kt.KeySet(mustPrincipal(t, p))
		if err != nil {
			t.Fatal(err)
		}
		if removed != tc.removed || !slices.Equal(ks.Versions(), tc.versions) {
			t.Errorf("keep %d: removed %d versions %#x", tc.keep, removed, ks.Versions())
		}
		if _, err := kt.KeySet(mustPrincipal(t, "u@CORP.EXAMPLE.TEST")); err != nil {
			t.Errorf("keep %d: other principal pruned: %v", tc.keep, err)
		}
	}
	if _, err := build().Prune(mustPrincipal(t, p), 0); err == nil {
		t.Error("Prune(keep=0) succeeded")
	}
	if _, err := build().Prune(mustPrincipal(t, "absent@R"), 1); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("Prune(absent) = %v", err)
	}
}
