package keytabs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// mitKeytab was written by MIT ktutil 1.20 (addent -password, wkt):
// user@EXAMPLE.TEST kvno 3 aes256-cts-hmac-sha1-96 password "S3cret pass",
// host/x.example.test@EXAMPLE.TEST kvno 0x80010001 aes128-cts-hmac-sha1-96
// password "pw2". Both records end with the 32-bit kvno.
const mitKeytab = "0502000000470001000c4558414d504c452e5445535400047573657200000001" +
	"6b05d8950300120020807062edc2378e99d016c61862be04ad94b51ccb7eecc1" +
	"c5289f0c51569197ba00000003000000470002000c4558414d504c452e544553" +
	"540004686f7374000e782e6578616d706c652e74657374000000016b05d89501" +
	"00110010b71316bf6fa3d8360ac2bca494a4341080010001"

func TestParseMITGolden(t *testing.T) {
	b := mustHex(t, mitKeytab)
	kt, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{
			Principal: Principal{Realm: "EXAMPLE.TEST", Components: []string{"user"}, NameType: 1},
			Timestamp: time.Unix(0x6b05d895, 0).UTC(),
			KVNO:      3,
			Key: types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96,
				KeyValue: mustHex(t, "807062edc2378e99d016c61862be04ad94b51ccb7eecc1c5289f0c51569197ba")},
		},
		{
			Principal: Principal{Realm: "EXAMPLE.TEST", Components: []string{"host", "x.example.test"}, NameType: 1},
			Timestamp: time.Unix(0x6b05d895, 0).UTC(),
			KVNO:      0x80010001,
			Key: types.EncryptionKey{KeyType: etypeID.AES128_CTS_HMAC_SHA1_96,
				KeyValue: mustHex(t, "b71316bf6fa3d8360ac2bca494a43410")},
		},
	}
	if !entriesEqual(kt.Entries, want) {
		t.Fatalf("parsed %+v\nwant %+v", kt.Entries, want)
	}
	// Our writer produces MIT's bytes exactly.
	out, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, b) {
		t.Fatalf("Marshal differs from MIT's file:\n got %x\nwant %x", out, b)
	}
	// The keys are MIT's string2key with the default salt.
	for i, pw := range []string{"S3cret pass", "pw2"} {
		e := kt.Entries[i]
		k, err := StringToKey(e.Key.KeyType, pw, DefaultSalt(e.Principal))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k.KeyValue, e.Key.KeyValue) {
			t.Errorf("entry %d: StringToKey = %x, MIT wrote %x", i, k.KeyValue, e.Key.KeyValue)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	rodc := EncodeKVNO(40000, 1)
	tests := []struct {
		name    string
		entries []Entry
	}{
		{"empty", nil},
		{"one", []Entry{entry(t, "alice@EXAMPLE.TEST", 1, 18, fill(1, 32))}},
		{"kvnos", []Entry{
			entry(t, "svc/a.example.test@EXAMPLE.TEST", 0, 17, fill(2, 16)),
			entry(t, "svc/a.example.test@EXAMPLE.TEST", 255, 17, fill(3, 16)),
			entry(t, "svc/a.example.test@EXAMPLE.TEST", 256, 17, fill(4, 16)),
			entry(t, "svc/a.example.test@EXAMPLE.TEST", 70000, 17, fill(5, 16)),
			entry(t, "svc/a.example.test@EXAMPLE.TEST", 0xffffffff, 17, fill(6, 16)),
		}},
		{"rodc", []Entry{
			entry(t, "krbtgt_40000@CORP.EXAMPLE.TEST", rodc, 18, fill(7, 32)),
			entry(t, "krbtgt_40000@CORP.EXAMPLE.TEST", rodc, 17, fill(8, 16)),
			entry(t, "krbtgt_40000@CORP.EXAMPLE.TEST", EncodeKVNO(40000, 2), 18, fill(9, 32)),
			entry(t, "krbtgt_1234@CORP.EXAMPLE.TEST", EncodeKVNO(1234, 7), 23, fill(10, 16)),
			entry(t, "krbtgt_65535@CORP.EXAMPLE.TEST", EncodeKVNO(65535, 65535), 18, fill(11, 32)),
		}},
		{"etypes and names", []Entry{
			entry(t, "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST", 2, 19, fill(12, 16)),
			entry(t, "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST", 2, 20, fill(13, 32)),
			entry(t, `we\/ird\@name/with\\escapes@EXAMPLE.TEST`, 2, 23, fill(14, 16)),
			{Principal: Principal{Realm: "R", Components: []string{"a", "b", "c"}, NameType: 0},
				Timestamp: time.Unix(1, 0).UTC(), KVNO: 9, Key: types.EncryptionKey{KeyType: -128, KeyValue: []byte{1}}},
			{Principal: Principal{Realm: "R", Components: []string{"a"}, NameType: -5},
				Timestamp: time.Unix(0xffffffff, 0).UTC(), KVNO: 9, Key: types.EncryptionKey{KeyType: 32767, KeyValue: []byte{2}}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := (&Keytab{Entries: tc.entries}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			kt, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if !entriesEqual(kt.Entries, tc.entries) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", kt.Entries, tc.entries)
			}
		})
	}
}

// TestMarshalKVNOFields checks the two kvno fields of a written record.
func TestMarshalKVNOFields(t *testing.T) {
	for _, kvno := range []uint32{3, 255, 256, 0x12345678, EncodeKVNO(40000, 1)} {
		e := entry(t, "a@R", kvno, 17, fill(1, 16))
		b, err := (&Keytab{Entries: []Entry{e}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		// 2 version + 4 size + 2 count + 2+1 realm + 2+1 comp + 4 type + 4 time
		const vno8 = 2 + 4 + 2 + 3 + 3 + 4 + 4
		if b[vno8] != byte(kvno) {
			t.Errorf("kvno %#x: 8-bit field %#x, want low byte", kvno, b[vno8])
		}
		if got := binary.BigEndian.Uint32(b[len(b)-4:]); got != kvno {
			t.Errorf("kvno %#x: 32-bit field %#x", kvno, got)
		}
		if size := binary.BigEndian.Uint32(b[2:]); int(size) != len(b)-6 {
			t.Errorf("record size %d, want %d", size, len(b)-6)
		}
	}
}

// record builds one big-endian record body with an optional tail after the key.
func record(kvno8 byte, tail []byte) []byte {
	var b bytes.Buffer
	be := binary.BigEndian
	_ = binary.Write(&b, be, uint16(1))
	_ = binary.Write(&b, be, uint16(1))
	b.WriteString("R")
	_ = binary.Write(&b, be, uint16(1))
	b.WriteString("a")
	_ = binary.Write(&b, be, int32(1))
	_ = binary.Write(&b, be, uint32(1000))
	b.WriteByte(kvno8)
	_ = binary.Write(&b, be, uint16(17))
	_ = binary.Write(&b, be, uint16(2))
	b.Write([]byte{0xaa, 0xbb})
	b.Write(tail)
	return b.Bytes()
}

func file(parts ...[]byte) []byte {
	b := []byte{5, 2}
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func sized(rec []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(rec))), rec...)
}

func hole(n int) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(int32(-n))), make([]byte, n)...)
}

func TestParseMITSemantics(t *testing.T) {
	tests := []struct {
		name  string
		data  []byte
		kvnos []uint32
	}{
		{"no kvno32", file(sized(record(7, nil))), []uint32{7}},
		{"kvno32 overrides", file(sized(record(7, []byte{0, 1, 0, 7}))), []uint32{0x10007}},
		{"kvno32 zero means 8-bit", file(sized(record(7, []byte{0, 0, 0, 0}))), []uint32{7}},
		{"short tail ignored", file(sized(record(7, []byte{0, 1, 0}))), []uint32{7}},
		{"padding after kvno32", file(sized(record(7, []byte{0, 0, 1, 9, 0, 0, 0}))), []uint32{265}},
		{"holes skipped", file(hole(10), sized(record(1, nil)), hole(0x30), sized(record(2, nil))), []uint32{1, 2}},
		{"zero length ends", file(sized(record(1, nil)), []byte{0, 0, 0, 0}, []byte("garbage after end")), []uint32{1}},
		{"version only", file(), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kt, err := Parse(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint32
			for _, e := range kt.Entries {
				got = append(got, e.KVNO)
				if !bytes.Equal(e.Key.KeyValue, []byte{0xaa, 0xbb}) || e.Principal.String() != "a@R" {
					t.Errorf("entry %+v", e)
				}
			}
			if !equalU32(got, tc.kvnos) {
				t.Fatalf("kvnos %v, want %v", got, tc.kvnos)
			}
		})
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestParseVersion1 reads a 0x0501 keytab: native byte order, the realm
// counted as a component, no name type.
func TestParseVersion1(t *testing.T) {
	ne := binary.NativeEndian
	var rec bytes.Buffer
	_ = binary.Write(&rec, ne, int16(3)) // realm + 2 components
	for _, s := range []string{"EXAMPLE.TEST", "host", "h.example.test"} {
		_ = binary.Write(&rec, ne, int16(len(s)))
		rec.WriteString(s)
	}
	_ = binary.Write(&rec, ne, uint32(123456))
	rec.WriteByte(4)
	_ = binary.Write(&rec, ne, int16(18))
	_ = binary.Write(&rec, ne, int16(32))
	rec.Write(fill(0x5a, 32))
	_ = binary.Write(&rec, ne, uint32(300))
	b := []byte{5, 1}
	b = ne.AppendUint32(b, uint32(rec.Len()))
	b = append(b, rec.Bytes()...)

	kt, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{
		Principal: Principal{Realm: "EXAMPLE.TEST", Components: []string{"host", "h.example.test"}},
		Timestamp: time.Unix(123456, 0).UTC(),
		KVNO:      300,
		Key:       types.EncryptionKey{KeyType: 18, KeyValue: fill(0x5a, 32)},
	}
	if len(kt.Entries) != 1 || !entryEqual(kt.Entries[0], want) {
		t.Fatalf("got %+v, want %+v", kt.Entries, want)
	}
}

func TestParseErrors(t *testing.T) {
	good := record(1, nil)
	withField := func(off int, v ...byte) []byte {
		r := bytes.Clone(good)
		copy(r[off:], v)
		return r
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"one byte", []byte{5}, ErrMalformed},
		{"bad version", []byte{5, 3}, ErrUnsupportedVersion},
		{"not a keytab", []byte("hello world"), ErrUnsupportedVersion},
		{"partial length", file([]byte{0, 0}), ErrMalformed},
		{"length past end", file(binary.BigEndian.AppendUint32(nil, 100), good), ErrMalformed},
		{"hole past end", file(hole(8)[:8]), ErrMalformed},
		{"min int32 length", file([]byte{0x80, 0, 0, 0}), ErrMalformed},
		{"zero components", file(sized(withField(0, 0, 0))), ErrMalformed},
		{"negative components", file(sized(withField(0, 0x80, 0))), ErrMalformed},
		{"too many components", file(sized(withField(0, 0, 9))), ErrMalformed},
		{"empty realm", file(sized(withField(2, 0, 0))), ErrMalformed},
		{"realm too long", file(sized(withField(2, 0, 200))), ErrMalformed},
		{"empty component", file(sized(withField(5, 0, 0))), ErrMalformed},
		{"zero key length", file(sized(withField(len(good)-4, 0, 0))), ErrMalformed},
		{"key past record", file(sized(withField(len(good)-4, 0, 3))), ErrMalformed},
		{"record too short", file(sized(good[:len(good)-1])), ErrMalformed},
		{"bad second record", file(sized(good), sized(good[:10])), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kt, err := Parse(tc.data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %+v, %v; want %v", kt, err, tc.want)
			}
		})
	}
}

// TestParsePrefixes cuts a valid keytab at every length: no panic, and a cut
// inside a record is an error.
func TestParsePrefixes(t *testing.T) {
	b := mustHex(t, mitKeytab)
	boundaries := map[int]int{2: 0, 2 + 4 + 0x47: 1, len(b): 2}
	for n := 0; n <= len(b); n++ {
		kt, err := Parse(b[:n])
		want, ok := boundaries[n]
		switch {
		case ok && err != nil:
			t.Errorf("prefix %d: %v", n, err)
		case ok && len(kt.Entries) != want:
			t.Errorf("prefix %d: %d entries, want %d", n, len(kt.Entries), want)
		case !ok && err == nil:
			t.Errorf("prefix %d parsed without error", n)
		}
	}
}

func TestMarshalErrors(t *testing.T) {
	ok := entry(t, "a@R", 1, 17, fill(1, 16))
	mod := func(f func(e *Entry)) Entry {
		e := ok
		e.Principal.Components = append([]string(nil), ok.Principal.Components...)
		f(&e)
		return e
	}
	tests := []struct {
		name string
		e    Entry
	}{
		{"empty realm", mod(func(e *Entry) { e.Principal.Realm = "" })},
		{"no components", mod(func(e *Entry) { e.Principal.Components = nil })},
		{"empty component", mod(func(e *Entry) { e.Principal.Components = []string{"a", ""} })},
		{"long component", mod(func(e *Entry) { e.Principal.Components = []string{string(fill('x', 1<<15))} })},
		{"empty key", mod(func(e *Entry) { e.Key.KeyValue = nil })},
		{"etype too big", mod(func(e *Entry) { e.Key.KeyType = 1 << 15 })},
		{"before 1970", mod(func(e *Entry) { e.Timestamp = time.Unix(-1, 0) })},
		{"after 2106", mod(func(e *Entry) { e.Timestamp = time.Unix(1<<32, 0) })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&Keytab{Entries: []Entry{ok, tc.e}}).Marshal()
			if !errors.Is(err, ErrInvalidEntry) {
				t.Fatalf("Marshal error %v, want ErrInvalidEntry", err)
			}
		})
	}
	// A zero timestamp is written as 0.
	z := ok
	z.Timestamp = time.Time{}
	b, err := (&Keytab{Entries: []Entry{z}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	kt, err := Parse(b)
	if err != nil || kt.Entries[0].Timestamp.Unix() != 0 {
		t.Fatalf("zero timestamp: %v %v", kt, err)
	}
}
