package pac

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"

	"github.com/passkdc/passkdc/kdc/sid"
)

// TestRPCSID: an RPC_SID is the conformance (sub-authority count as
// uint32) followed by the binary SID.
func TestRPCSID(t *testing.T) {
	s, err := sid.Parse("S-1-5-21-397955417-626881126-188441444")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString("0104000000000005150000005951b81766725d2564633b0b")
	w := newNDRWriter()
	w.rpcSID(s)
	if !bytes.Equal(w.buf, append([]byte{4, 0, 0, 0}, want...)) {
		t.Errorf("NDR RPC_SID %x", w.buf)
	}
}

func TestFileTime(t *testing.T) {
	// MS-PAC sample LogonTime: 0x01c66a650f6686d1 = 2006-04-28 01:42:50.9256401 UTC.
	ref := time.Date(2006, 4, 28, 1, 42, 50, 925640100, time.UTC)
	if got := FileTimeFromTime(ref); got != 0x01c66a650f6686d1 {
		t.Errorf("FileTimeFromTime = %#x", uint64(got))
	}
	if got := FileTime(0x01c66a650f6686d1).Time(); !got.Equal(ref) {
		t.Errorf("Time = %v", got)
	}
	unix := time.Unix(1700000000, 0)
	if got := FileTimeFromTime(unix); got != FileTime(1700000000*10000000+116444736000000000) {
		t.Errorf("whole seconds: %d", got)
	}
	if FileTimeFromTime(time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)) != FileTimeNotSet {
		t.Error("pre-1601 not mapped to NotSet")
	}
	if FileTimeFromTime(time.Date(40000, 1, 1, 0, 0, 0, 0, time.UTC)) != FileTimeNever {
		t.Error("far future not mapped to Never")
	}
}
