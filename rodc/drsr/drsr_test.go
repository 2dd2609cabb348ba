package drsr

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
	"unicode/utf16"
)

// kerbNew builds a KERB_STORED_CREDENTIAL_NEW with the given current and old keys.
func kerbNew(cur, old []Key) []byte {
	le := binary.LittleEndian
	all := append(append([]Key(nil), cur...), old...)
	h := make([]byte, 24+24*len(all))
	le.PutUint16(h, 4)
	le.PutUint16(h[4:], uint16(len(cur)))
	le.PutUint16(h[8:], uint16(len(old)))
	var data []byte
	for i, k := range all {
		d := h[24+24*i:]
		le.PutUint32(d[12:], uint32(k.EType))
		le.PutUint32(d[16:], uint32(len(k.Value)))
		le.PutUint32(d[20:], uint32(len(h)+len(data)))
		data = append(data, k.Value...)
	}
	return append(h, data...)
}

// userProps wraps a KERB_STORED_CREDENTIAL_NEW in USER_PROPERTIES.
func userProps(kerb []byte) []byte {
	le := binary.LittleEndian
	b := make([]byte, 112)
	le.PutUint16(b[108:], 0x50)
	le.PutUint16(b[110:], 2)
	add := func(name string, value []byte) {
		u := utf16.Encode([]rune(name))
		nb := make([]byte, 2*len(u))
		for i, c := range u {
			le.PutUint16(nb[2*i:], c)
		}
		v := []byte(hex.EncodeToString(value))
		b = le.AppendUint16(b, uint16(len(nb)))
		b = le.AppendUint16(b, uint16(len(v)))
		b = le.AppendUint16(b, 0)
		b = append(append(b, nb...), v...)
	}
	add("Packages", []byte("Kerberos-Newer-Keys"))
	add(kerberosNewerKeys, kerb)
	return b
}

func testKeys() ([]Key, []Key) {
	k := func(e int32, n int, c byte) Key { return Key{e, bytes.Repeat([]byte{c}, n)} }
	return []Key{k(ETypeAES256, 32, 1), k(ETypeAES128, 16, 2), k(3, 8, 3)},
		[]Key{k(ETypeAES256, 32, 4), k(ETypeAES128, 16, 5)}
}

func TestDecryptAndParse(t *testing.T) {
	cur, old := testKeys()
	session := []byte("0123456789abcdef")
	enc := encryptSecret(session, bytes.Repeat([]byte{9}, 16), userProps(kerbNew(cur, old)))
	plain, err := DecryptSecret(session, enc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSupplementalCredentials(plain)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Current) != 2 || len(got.Previous) != 2 || !bytes.Equal(got.Current[0].Value, cur[0].Value) ||
		got.Previous[1].EType != ETypeAES128 || !bytes.Equal(got.Previous[1].Value, old[1].Value) {
		t.Fatalf("parsed %+v", got)
	}
}

func TestBadInput(t *testing.T) {
	cur, old := testKeys()
	session := []byte("0123456789abcdef")
	good := encryptSecret(session, make([]byte, 16), userProps(kerbNew(cur, old)))
	flipped := append([]byte(nil), good...)
	flipped[40] ^= 1
	noAES := kerbNew([]Key{{3, []byte("12345678")}}, nil)
	badOff := kerbNew(cur, nil)
	binary.LittleEndian.PutUint32(badOff[24+20:], 1<<30)
	short := kerbNew([]Key{{ETypeAES256, make([]byte, 31)}}, nil)
	for _, tc := range []struct {
		name string
		run  func() error
		want error
	}{
		{"wrong session key", func() error { _, err := DecryptSecret([]byte("other"), good); return err }, ErrBadReply},
		{"flipped bit", func() error { _, err := DecryptSecret(session, flipped); return err }, ErrBadReply},
		{"too short", func() error { _, err := DecryptSecret(session, good[:19]); return err }, ErrBadReply},
		{"no session key", func() error { _, err := DecryptSecret(nil, good); return err }, ErrBadReply},
		{"no AES key", func() error { _, err := ParseKerbStoredCredentialNew(noAES); return err }, ErrNoKeys},
		{"offset outside", func() error { _, err := ParseKerbStoredCredentialNew(badOff); return err }, ErrBadReply},
		{"short AES key", func() error { _, err := ParseKerbStoredCredentialNew(short); return err }, ErrBadReply},
		{"bad revision", func() error { _, err := ParseKerbStoredCredentialNew(make([]byte, 24)); return err }, ErrBadReply},
		{"bad signature", func() error { _, err := ParseSupplementalCredentials(make([]byte, 112)); return err }, ErrBadReply},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzDecryptSecret(f *testing.F) {
	cur, old := testKeys()
	session := []byte("0123456789abcdef")
	f.Add(encryptSecret(session, make([]byte, 16), userProps(kerbNew(cur, old))))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		plain, err := DecryptSecret(session, b)
		if err != nil {
			return
		}
		_, _ = ParseSupplementalCredentials(plain)
	})
}

func FuzzParseKerbStoredCredentialNew(f *testing.F) {
	cur, old := testKeys()
	f.Add(kerbNew(cur, old))
	f.Add(userProps(kerbNew(cur, old)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, err := ParseKerbStoredCredentialNew(b); err == nil && len(k.Current) == 0 {
			t.Fatal("success without a current key")
		}
		_, _ = ParseSupplementalCredentials(b)
	})
}

// FuzzDecryptThenParse drives the parser through the decryption, as a DC's
// reply reaches it: any plaintext is sealed with a valid checksum, must
// decrypt to itself, must not panic the parser, and must be refused once a
// byte of its sealed form is changed.
func FuzzDecryptThenParse(f *testing.F) {
	cur, old := testKeys()
	f.Add(userProps(kerbNew(cur, old)), uint(0))
	f.Add(userProps(kerbNew(cur, nil)), uint(7))
	f.Add([]byte{}, uint(3))
	session := []byte("fedcba9876543210")
	salt := []byte("0123456789abcdef")
	f.Fuzz(func(t *testing.T, data []byte, flip uint) {
		sealed := encryptSecret(session, salt, data)
		plain, err := DecryptSecret(session, sealed)
		if err != nil || !bytes.Equal(plain, data) {
			t.Fatalf("round trip: %v", err)
		}
		if k, err := ParseSupplementalCredentials(plain); err == nil && len(k.Current) == 0 {
			t.Fatal("success without a current key")
		}
		i := saltLen + int(flip%uint(len(sealed)-saltLen))
		sealed[i] ^= 0x01
		if _, err := DecryptSecret(session, sealed); !errors.Is(err, ErrBadReply) {
			t.Fatalf("a changed byte %d passed the checksum: %v", i, err)
		}
	})
}
