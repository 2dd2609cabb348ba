package keytabs

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrKeyConflict is returned (wrapped in a *ConflictError) when two entries
// have the same principal, kvno and enctype but different key bytes.
var ErrKeyConflict = errors.New("keytabs: conflicting keys")

// ConflictError names the principal, kvno and enctype that have two
// different keys. It never contains key bytes.
type ConflictError struct {
	// Principal is the principal of the conflicting entries.
	Principal Principal
	// KVNO is the key version number of the conflicting entries.
	KVNO uint32
	// EType is the encryption type of the conflicting entries.
	EType int32
}

// Error describes the conflict.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("keytabs: %s kvno %d enctype %d: two different keys for the same version", e.Principal, e.KVNO, e.EType)
}

// Unwrap returns ErrKeyConflict.
func (e *ConflictError) Unwrap() error { return ErrKeyConflict }

// slot identifies an entry for duplicate detection.
type slot struct {
	principal string
	kvno      uint32
	etype     int32
}

func slotOf(e Entry) slot {
	return slot{principal: e.Principal.identity(), kvno: e.KVNO, etype: e.Key.KeyType}
}

// Merge appends to kt the entries of other it does not hold yet, in order,
// and returns how many it added. An entry is already held when kt has one
// with an equal principal (see Principal.Equal), kvno, enctype and key
// bytes; timestamps and name types do not matter. If an entry of other has
// the same principal, kvno and enctype as one in kt (or earlier in other)
// but different key bytes, Merge returns a *ConflictError and leaves kt
// unchanged: a key version is never silently overwritten.
func (kt *Keytab) Merge(other *Keytab) (int, error) {
	seen := make(map[slot][]byte, len(kt.Entries))
	for _, e := range kt.Entries {
		if err := remember(seen, e); err != nil {
			return 0, err
		}
	}
	var add []Entry
	for _, e := range other.Entries {
		s := slotOf(e)
		if _, dup := seen[s]; dup {
			if err := remember(seen, e); err != nil {
				return 0, err
			}
			continue
		}
		seen[s] = e.Key.KeyValue
		add = append(add, cloneEntry(e))
	}
	kt.Entries = append(kt.Entries, add...)
	return len(add), nil
}

// remember records e in seen, or reports a conflict with a recorded entry.
func remember(seen map[slot][]byte, e Entry) error {
	s := slotOf(e)
	if k, ok := seen[s]; ok {
		if !bytes.Equal(k, e.Key.KeyValue) {
			return &ConflictError{Principal: e.Principal, KVNO: e.KVNO, EType: e.Key.KeyType}
		}
		return nil
	}
	seen[s] = e.Key.KeyValue
	return nil
}

func cloneEntry(e Entry) Entry {
	e.Principal.Components = append([]string(nil), e.Principal.Components...)
	e.Key.KeyValue = bytes.Clone(e.Key.KeyValue)
	return e
}

// Prune removes the entries of principal p whose key version is older than
// the keep newest versions of p, and returns how many entries it removed.
// Versions are ordered by full kvno. keep must be at least 1.
func (kt *Keytab) Prune(p Principal, keep int) (int, error) {
	if keep < 1 {
		return 0, fmt.Errorf("keytabs: prune %s: keep must be at least 1, got %d", p, keep)
	}
	ks, err := kt.KeySet(p)
	if err != nil {
		return 0, fmt.Errorf("keytabs: prune: %w", err)
	}
	versions := ks.Versions()
	if len(versions) <= keep {
		return 0, nil
	}
	oldest := versions[len(versions)-keep]
	kept := kt.Entries[:0:0]
	for _, e := range kt.Entries {
		if e.Principal.Equal(p) && e.KVNO < oldest {
			continue
		}
		kept = append(kept, e)
	}
	removed := len(kt.Entries) - len(kept)
	kt.Entries = kept
	return removed, nil
}
