package keytabs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func rodcKeytab(t *testing.T) *Keytab {
	t.Helper()
	const p = "krbtgt_40000@CORP.EXAMPLE.TEST"
	return &Keytab{Entries: []Entry{
		entry(t, p, EncodeKVNO(40000, 1), 17, fill(0x11, 16)),
		entry(t, p, EncodeKVNO(40000, 1), 18, fill(0x12, 32)),
		entry(t, "other@CORP.EXAMPLE.TEST", 9, 18, fill(0x99, 32)),
		entry(t, p, EncodeKVNO(40000, 2), 17, fill(0x21, 16)),
		entry(t, p, EncodeKVNO(40000, 2), 18, fill(0x22, 32)),
		entry(t, p, EncodeKVNO(40000, 3), 18, fill(0x32, 32)),
		entry(t, p, EncodeKVNO(40000, 1), 18, fill(0x12, 32)), // exact duplicate
	}}
}

func TestKeySet(t *testing.T) {
	kt := rodcKeytab(t)
	// Realm matched case-insensitively.
	ks, err := kt.KeySet(mustPrincipal(t, "krbtgt_40000@corp.example.test"))
	if err != nil {
		t.Fatal(err)
	}
	wantVersions := []uint32{EncodeKVNO(40000, 1), EncodeKVNO(40000, 2), EncodeKVNO(40000, 3)}
	if !slices.Equal(ks.Versions(), wantVersions) {
		t.Errorf("Versions() = %#x, want %#x", ks.Versions(), wantVersions)
	}
	if ks.RODCNumber() != 40000 || ks.CurrentKVNO() != EncodeKVNO(40000, 3) {
		t.Errorf("RODCNumber %d CurrentKVNO %#x", ks.RODCNumber(), ks.CurrentKVNO())
	}
	tests := []struct {
		name  string
		get   func() (Entry, error)
		key   byte
		found bool
	}{
		{"current aes256", func() (Entry, error) { return ks.Current(18) }, 0x32, true},
		{"current aes128 missing in newest", func() (Entry, error) { return ks.Current(17) }, 0, false},
		{"v1 aes128", func() (Entry, error) { return ks.Lookup(EncodeKVNO(40000, 1), 17) }, 0x11, true},
		{"v2 aes256", func() (Entry, error) { return ks.Lookup(EncodeKVNO(40000, 2), 18) }, 0x22, true},
		{"wire kvno", func() (Entry, error) { return ks.Lookup(FromWireKVNO(WireKVNO(EncodeKVNO(40000, 2))), 17) }, 0x21, true},
		{"unknown version", func() (Entry, error) { return ks.Lookup(EncodeKVNO(40000, 4), 18) }, 0, false},
		{"other rodc", func() (Entry, error) { return ks.Lookup(EncodeKVNO(40001, 1), 18) }, 0, false},
		{"low kvno alone", func() (Entry, error) { return ks.Lookup(1, 18) }, 0, false},
		{"unknown etype", func() (Entry, error) { return ks.Lookup(EncodeKVNO(40000, 1), 23) }, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := tc.get()
			if !tc.found {
				if !errors.Is(err, ErrKeyNotFound) {
					t.Fatalf("got %+v, %v; want ErrKeyNotFound", e, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Key.KeyValue[0] != tc.key {
				t.Fatalf("key %x, want %x...", e.Key.KeyValue, tc.key)
			}
		})
	}
}

func TestKeySetReturnsCopies(t *testing.T) {
	kt := rodcKeytab(t)
	ks, err := kt.KeySet(mustPrincipal(t, "krbtgt_40000@CORP.EXAMPLE.TEST"))
	if err != nil {
		t.Fatal(err)
	}
	kt.Entries[5].Key.KeyValue[0] = 0 // mutate the keytab after building
	e, _ := ks.Current(18)
	e.Key.KeyValue[1] = 0 // mutate a returned entry
	again, _ := ks.Current(18)
	if !bytes.Equal(again.Key.KeyValue, fill(0x32, 32)) {
		t.Fatal("KeySet shares key bytes with its keytab or callers")
	}
}

func TestKeySetDeterministic(t *testing.T) {
	base := rodcKeytab(t)
	p := mustPrincipal(t, "krbtgt_40000@CORP.EXAMPLE.TEST")
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		kt := &Keytab{Entries: slices.Clone(base.Entries)}
		r.Shuffle(len(kt.Entries), func(a, b int) { kt.Entries[a], kt.Entries[b] = kt.Entries[b], kt.Entries[a] })
		ks, err := kt.KeySet(p)
		if err != nil {
			t.Fatal(err)
		}
		e, err := ks.Current(18)
		if err != nil || e.Key.KeyValue[0] != 0x32 || len(ks.Versions()) != 3 {
			t.Fatalf("shuffle %d: %v %x %v", i, err, e.Key.KeyValue, ks.Versions())
		}
	}
}

func TestKeySetErrors(t *testing.T) {
	const p = "krbtgt_40000@CORP.EXAMPLE.TEST"
	tests := []struct {
		name    string
		entries []Entry
		want    error
	}{
		{"absent", []Entry{entry(t, "other@CORP.EXAMPLE.TEST", 1, 18, fill(1, 32))}, ErrKeyNotFound},
		{"component case differs", []Entry{entry(t, "KRBTGT_40000@CORP.EXAMPLE.TEST", 1, 18, fill(1, 32))}, ErrKeyNotFound},
		{"conflict", []Entry{
			entry(t, p, EncodeKVNO(40000, 1), 18, fill(1, 32)),
			entry(t, p, EncodeKVNO(40000, 1), 18, fill(2, 32)),
		}, ErrKeyConflict},
		{"mixed rodc numbers", []Entry{
			entry(t, p, EncodeKVNO(40000, 1), 18, fill(1, 32)),
			entry(t, p, EncodeKVNO(40001, 2), 18, fill(2, 32)),
		}, ErrMixedRODCNumbers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := (&Keytab{Entries: tc.entries}).KeySet(mustPrincipal(t, p))
			if !errors.Is(err, tc.want) {
				t.Fatalf("KeySet = %v, %v; want %v", ks, err, tc.want)
			}
		})
	}
}

func TestKeySetCurrentAES(t *testing.T) {
	const p = "HTTP/passkdc.corp.example.test@CORP.EXAMPLE.TEST"
	for _, tc := range []struct {
		name    string
		entries []Entry
		want    int32 // 0: ErrKeyNotFound
	}{
		{"AES256 preferred", []Entry{entry(t, p, 2, 17, fill(1, 16)), entry(t, p, 2, 18, fill(2, 32))}, 18},
		{"AES128 alone", []Entry{entry(t, p, 2, 17, fill(1, 16))}, 17},
		{"RC4 only", []Entry{entry(t, p, 2, 23, fill(3, 16))}, 0},
		{"AES only at an older version", []Entry{entry(t, p, 1, 18, fill(2, 32)), entry(t, p, 2, 23, fill(3, 16))}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := (&Keytab{Entries: tc.entries}).KeySet(mustPrincipal(t, p))
			if err != nil {
				t.Fatal(err)
			}
			e, err := ks.CurrentAES()
			if tc.want == 0 {
				if !errors.Is(err, ErrKeyNotFound) {
					t.Fatalf("CurrentAES = %v, %v; want ErrKeyNotFound", e.Key.KeyType, err)
				}
				return
			}
			if err != nil || e.Key.KeyType != tc.want || e.KVNO != 2 {
				t.Fatalf("CurrentAES = etype %d kvno %d, %v; want etype %d kvno 2", e.Key.KeyType, e.KVNO, err, tc.want)
			}
		})
	}
}
