package keytabs

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

var (
	// ErrKeyNotFound is returned (wrapped, with the principal, kvno and
	// enctype) when no key matches a lookup.
	ErrKeyNotFound = errors.New("keytabs: key not found")
	// ErrMixedRODCNumbers is returned (wrapped) by Keytab.KeySet when the
	// entries of one principal carry different RODC numbers in their kvnos,
	// which makes "the newest version" ambiguous.
	ErrMixedRODCNumbers = errors.New("keytabs: entries of one principal have different RODC numbers")
)

// KeySet holds the keys of one principal across key versions. It is
// immutable; the entries it returns are copies.
type KeySet struct {
	principal Principal
	rodc      uint16
	entries   []Entry // sorted by kvno, then enctype; unique (kvno, enctype)
}

// KeySet collects the entries of principal p (matched with Principal.Equal:
// realm case-insensitive, components exact, name type ignored). Identical
// duplicates are folded. It fails with ErrKeyNotFound when p has no entry,
// with a *ConflictError when one kvno and enctype has two different keys, and
// with ErrMixedRODCNumbers when the kvnos' RODC numbers (high 16 bits)
// differ.
func (kt *Keytab) KeySet(p Principal) (*KeySet, error) {
	ks := &KeySet{principal: p}
	seen := make(map[slot][]byte)
	for _, e := range kt.Entries {
		if !e.Principal.Equal(p) {
			continue
		}
		s := slotOf(e)
		if _, dup := seen[s]; dup {
			if err := remember(seen, e); err != nil {
				return nil, err
			}
			continue
		}
		seen[s] = e.Key.KeyValue
		ks.entries = append(ks.entries, cloneEntry(e))
	}
	if len(ks.entries) == 0 {
		return nil, fmt.Errorf("%w: no entry for %s", ErrKeyNotFound, p)
	}
	slices.SortFunc(ks.entries, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.KVNO, b.KVNO), cmp.Compare(a.Key.KeyType, b.Key.KeyType))
	})
	ks.rodc, _ = SplitKVNO(ks.entries[0].KVNO)
	for _, e := range ks.entries {
		if n, _ := SplitKVNO(e.KVNO); n != ks.rodc {
			return nil, fmt.Errorf("%w: %s has RODC numbers %d and %d", ErrMixedRODCNumbers, p, ks.rodc, n)
		}
	}
	return ks, nil
}

// Principal returns the principal the set was built for.
func (ks *KeySet) Principal() Principal { return ks.principal }

// RODCNumber returns the RODC number shared by all kvnos of the set (0 for
// accounts that are not RODC krbtgt accounts).
func (ks *KeySet) RODCNumber() uint16 { return ks.rodc }

// Versions returns the distinct full kvnos of the set, ascending.
func (ks *KeySet) Versions() []uint32 {
	var vs []uint32
	for _, e := range ks.entries {
		if len(vs) == 0 || vs[len(vs)-1] != e.KVNO {
			vs = append(vs, e.KVNO)
		}
	}
	return vs
}

// CurrentKVNO returns the newest kvno of the set: the highest version,
// all versions sharing one RODC number.
func (ks *KeySet) CurrentKVNO() uint32 {
	return ks.entries[len(ks.entries)-1].KVNO
}

// Current returns the key of the given enctype at the newest kvno. If the
// newest version has no key of that enctype it fails with ErrKeyNotFound
// rather than fall back to an older version the KDC may no longer accept.
func (ks *KeySet) Current(etype int32) (Entry, error) {
	return ks.Lookup(ks.CurrentKVNO(), etype)
}

// Lookup returns the key of the given full kvno and enctype, or an error
// wrapping ErrKeyNotFound.
func (ks *KeySet) Lookup(kvno uint32, etype int32) (Entry, error) {
	i, found := slices.BinarySearchFunc(ks.entries, slot{kvno: kvno, etype: etype}, func(e Entry, s slot) int {
		return cmp.Or(cmp.Compare(e.KVNO, s.kvno), cmp.Compare(e.Key.KeyType, s.etype))
	})
	if !found {
		return Entry{}, fmt.Errorf("%w: %s kvno %d enctype %d", ErrKeyNotFound, ks.principal, kvno, etype)
	}
	return cloneEntry(ks.entries[i]), nil
}

// CurrentAES returns the AES256 key at the newest kvno, else the AES128 one:
// the key a service accepting only AES tickets decrypts with. The newest
// version holding neither (RC4 only) fails with ErrKeyNotFound.
func (ks *KeySet) CurrentAES() (Entry, error) {
	if e, err := ks.Current(18); err == nil {
		return e, nil
	}
	return ks.Current(17)
}
