package ccache

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/test/testdata"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// re-encodes to bytes that parse to the same cache.
func FuzzParse(f *testing.F) {
	for _, v := range []uint8{Version4, Version3} {
		b, err := tinyCCache(v).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	if b, err := hex.DecodeString(testdata.CCACHE_TEST); err == nil {
		f.Add(b)
	}
	f.Add([]byte{5, 4, 0, 0})
	f.Add([]byte{5, 2})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		out, err := c.Marshal()
		if err != nil {
			// Only a DeltaTime of extreme seconds+microseconds or an empty
			// default principal can be read but not written.
			if c.DefaultPrincipal.IsZero() || c.TimeOffset != 0 {
				return
			}
			t.Fatalf("parsed cache does not re-encode: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-encoded cache does not parse: %v", err)
		}
		if d := diffCCache(again, c); d != nil {
			t.Fatalf("re-encoding changed the cache:\n%s", strings.Join(d, "\n"))
		}
	})
}
