package keytabs

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse. Whatever parses must marshal
// and parse back to the same entries.
func FuzzParse(f *testing.F) {
	f.Add(mustHex(f, mitKeytab))
	f.Add([]byte{5, 2})
	f.Add([]byte{5, 1})
	f.Add(file(sized(record(7, []byte{0, 1, 0, 7}))))
	f.Add(file(hole(10), sized(record(1, nil)), []byte{0, 0, 0, 0, 1}))
	v1 := []byte{5, 1}
	rec := []byte{2, 0, 1, 0, 'R', 1, 0, 'a', 1, 0, 0, 0, 3, 17, 0, 1, 0, 0xaa}
	v1 = binary.NativeEndian.AppendUint32(v1, uint32(len(rec)))
	f.Add(append(v1, rec...))
	if b, err := (&Keytab{Entries: []Entry{
		entry(f, "krbtgt_40000@CORP.EXAMPLE.TEST", EncodeKVNO(40000, 1), 18, fill(1, 32)),
		entry(f, "krbtgt/CORP.EXAMPLE.TEST@CORP.EXAMPLE.TEST", 300, 20, fill(2, 32)),
	}}).Marshal(); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		kt, err := Parse(b)
		if err != nil {
			return
		}
		out, err := kt.Marshal()
		if err != nil {
			t.Fatalf("parsed keytab does not marshal: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("marshalled keytab does not parse: %v", err)
		}
		if !entriesEqual(back.Entries, kt.Entries) {
			t.Fatalf("round trip changed entries:\n%+v\n%+v", kt.Entries, back.Entries)
		}
		again, err := back.Marshal()
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("Marshal not stable: %v", err)
		}
	})
}

// FuzzParsePrincipal checks that String and ParsePrincipal are inverse on
// everything ParsePrincipal accepts.
func FuzzParsePrincipal(f *testing.F) {
	for _, s := range []string{
		"alice@EXAMPLE.TEST", "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST", `a\/b\@c\\d\n\t\b\0@R/x`,
		"a@b@c", `a\`, "", "/@", `host/h@R\@x`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrincipal(s)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted invalid principal %#v: %v", p, err)
		}
		q, err := ParsePrincipal(p.String())
		if err != nil {
			t.Fatalf("String() %q of %#v does not parse: %v", p.String(), p, err)
		}
		if !p.Equal(q) || p.Realm != q.Realm || p.NameType != q.NameType {
			t.Fatalf("round trip %#v -> %q -> %#v", p, p.String(), q)
		}
	})
}
