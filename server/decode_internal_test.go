package server

import (
	"bytes"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
)

// TestDecodeB64MatchesGoWebauthn: the direct base64url path gives what
// go-webauthn's JSON string decoding gives, value and error, for padded,
// unpadded, empty, wrong-length and escaped input.
func TestDecodeB64MatchesGoWebauthn(t *testing.T) {
	for _, s := range []string{"", "AQID", "AQIDBA", "AQIDBA==", "AQIDBA=", "A", "null", "-_-_", "a+b/", "AQ\\u0049D", "AQ ID", "AQIDB", "AQIDBAU_x", "é"} {
		var want protocol.URLEncodedBase64
		wantErr := want.UnmarshalJSON([]byte(`"` + s + `"`))
		got, err := decodeB64(s)
		if !bytes.Equal(got, want) || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Errorf("decodeB64(%q) = %x, %v; go-webauthn gives %x, %v", s, got, err, []byte(want), wantErr)
		}
	}
}
