package keytabs

import (
	"bytes"
	"math"
	"testing"

	"github.com/jcmturner/gokrb5/v8/types"
)

func TestKVNOEncoding(t *testing.T) {
	tests := []struct {
		rodc, version uint16
		kvno          uint32
		wire          int
	}{
		{0, 0, 0, 0},
		{0, 3, 3, 3},
		{0, 300, 300, 300},
		{1, 1, 0x00010001, 65537},
		{1234, 7, 0x04d20007, 0x04d20007},
		{32767, 65535, 0x7fffffff, math.MaxInt32},
		{32768, 0, 0x80000000, math.MinInt32},
		{40000, 1, 0x9c400001, -1673527295},
		{65535, 65535, 0xffffffff, -1},
	}
	for _, tc := range tests {
		kvno := EncodeKVNO(tc.rodc, tc.version)
		if kvno != tc.kvno {
			t.Errorf("EncodeKVNO(%d, %d) = %#x, want %#x", tc.rodc, tc.version, kvno, tc.kvno)
		}
		if r, v := SplitKVNO(kvno); r != tc.rodc || v != tc.version {
			t.Errorf("SplitKVNO(%#x) = %d, %d", kvno, r, v)
		}
		if w := WireKVNO(kvno); w != tc.wire {
			t.Errorf("WireKVNO(%#x) = %d, want %d", kvno, w, tc.wire)
		}
		if back := FromWireKVNO(tc.wire); back != kvno {
			t.Errorf("FromWireKVNO(%d) = %#x", tc.wire, back)
		}
		// The unsigned form (as a 5-byte INTEGER would decode) maps back too.
		if back := FromWireKVNO(int(kvno)); back != kvno {
			t.Errorf("FromWireKVNO(%d) = %#x", int(kvno), back)
		}
	}
}

// TestWireKVNOEncryptedData checks the DER of EncryptedData.kvno as gokrb5
// marshals it: RODC numbers >= 32768 give a 4-byte negative INTEGER.
func TestWireKVNOEncryptedData(t *testing.T) {
	tests := []struct {
		name string
		kvno uint32
		der  []byte // [1] EXPLICIT INTEGER
	}{
		{"rodc 40000 v1", EncodeKVNO(40000, 1), []byte{0xa1, 0x06, 0x02, 0x04, 0x9c, 0x40, 0x00, 0x01}},
		{"rodc 65535 v65535", EncodeKVNO(65535, 65535), []byte{0xa1, 0x03, 0x02, 0x01, 0xff}},
		{"rodc 32768 v0", EncodeKVNO(32768, 0), []byte{0xa1, 0x06, 0x02, 0x04, 0x80, 0x00, 0x00, 0x00}},
		{"rodc 1234 v7", EncodeKVNO(1234, 7), []byte{0xa1, 0x06, 0x02, 0x04, 0x04, 0xd2, 0x00, 0x07}},
		{"plain 3", 3, []byte{0xa1, 0x03, 0x02, 0x01, 0x03}},
		{"plain 200", 200, []byte{0xa1, 0x04, 0x02, 0x02, 0x00, 0xc8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ed := types.EncryptedData{EType: 18, KVNO: WireKVNO(tc.kvno), Cipher: []byte{1, 2, 3}}
			b, err := ed.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, tc.der) {
				t.Fatalf("DER %x does not contain kvno %x", b, tc.der)
			}
			var back types.EncryptedData
			if err := back.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			if back.KVNO != ed.KVNO || FromWireKVNO(back.KVNO) != tc.kvno {
				t.Fatalf("round trip kvno %d (%#x), want %#x", back.KVNO, FromWireKVNO(back.KVNO), tc.kvno)
			}
		})
	}
	// Without WireKVNO, the same kvno would take five bytes.
	naive := types.EncryptedData{EType: 18, KVNO: int(EncodeKVNO(40000, 1)), Cipher: []byte{1}}
	b, err := naive.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte{0xa1, 0x07, 0x02, 0x05, 0x00, 0x9c, 0x40, 0x00, 0x01}) {
		t.Fatalf("naive DER %x: expected the 5-byte form this package avoids", b)
	}
}
