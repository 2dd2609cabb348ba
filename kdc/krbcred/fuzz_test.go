package krbcred

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// fuzzKeys are fixed keys the fuzzer can select; mode 0 means no key.
var fuzzKeys = []*types.EncryptionKey{
	nil,
	{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: bytes.Repeat([]byte{1}, 32)},
	{KeyType: etypeID.RC4_HMAC, KeyValue: bytes.Repeat([]byte{2}, 16)},
}

// FuzzParse checks that Parse never panics, with or without a key, and that
// whatever it accepts re-encodes to a fixed point.
func FuzzParse(f *testing.F) {
	c := sampleCred(f)
	for mode, key := range fuzzKeys {
		b, err := c.Marshal(key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(mode))
		f.Add(b[:len(b)/2], uint8(mode))
	}
	empty, _ := (&Cred{}).Marshal(nil)
	f.Add(empty, uint8(0))
	f.Add([]byte{0x76, 0x00}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, mode uint8) {
		key := fuzzKeys[int(mode)%len(fuzzKeys)]
		c, err := Parse(b, key)
		if err != nil {
			return
		}
		out, err := c.Marshal(key)
		if err != nil {
			return // e.g. strings gofork will not encode
		}
		again, err := Parse(out, key)
		if err != nil {
			t.Fatalf("re-encoded KRB-CRED does not parse: %v", err)
		}
		out2, err := again.Marshal(nil)
		if err != nil {
			t.Fatal(err)
		}
		third, err := Parse(out2, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := diffCred(third, again); d != nil {
			t.Fatalf("not a fixed point:\n%s", strings.Join(d, "\n"))
		}
	})
}
