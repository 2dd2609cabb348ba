package pac

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
	"unicode/utf16"

	gopac "github.com/jcmturner/gokrb5/v8/pac"
	"github.com/jcmturner/gokrb5/v8/test/testdata"

	"github.com/passkdc/passkdc/kdc/sid"
)

// TestClientInfoMatchesWindows re-encodes the PAC_CLIENT_INFO of gokrb5's
// Windows capture byte for byte.
func TestClientInfoMatchesWindows(t *testing.T) {
	want, _ := hex.DecodeString(testdata.MarshaledPAC_Client_Info)
	var k gopac.ClientInfo
	if err := k.Unmarshal(want); err != nil {
		t.Fatal(err)
	}
	got, err := ClientInfo{ClientID: FileTime(uint64(k.ClientID.MSEpoch())), Name: k.Name}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got %x want %x", got, want)
	}
	back, err := ParseClientInfo(got)
	if err != nil || back.Name != "testuser1" || uint64(back.ClientID) != uint64(k.ClientID.MSEpoch()) {
		t.Errorf("ParseClientInfo: %+v %v", back, err)
	}
}

// TestUPNDNSInfoMatchesWindows re-encodes the UPN_DNS_INFO of gokrb5's Windows
// capture (no S extension) byte for byte, padding included.
func TestUPNDNSInfoMatchesWindows(t *testing.T) {
	want, _ := hex.DecodeString(testdata.MarshaledPAC_UPN_DNS_Info)
	var k gopac.UPNDNSInfo
	if err := k.Unmarshal(want); err != nil {
		t.Fatal(err)
	}
	got, err := UPNDNSInfo{UPN: k.UPN, DNSDomainName: k.DNSDomain, Flags: k.Flags}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got %x\nwant %x", got, want)
	}
}

func TestUPNDNSInfoWithSAMNameAndSID(t *testing.T) {
	sid, _ := sid.Parse("S-1-5-21-1-2-3-1105")
	in := UPNDNSInfo{UPN: "alice@corp.example.test", DNSDomainName: "CORP.EXAMPLE.TEST", SAMName: "alice", SID: &sid}
	b, err := in.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%8 != 0 {
		t.Errorf("size %d not a multiple of 8", len(b))
	}
	for _, at := range []int{2, 6, 14, 18} { // every offset 8-aligned
		if off := int(b[at]) | int(b[at+1])<<8; off%8 != 0 || off < 24 {
			t.Errorf("offset field at %d = %d", at, off)
		}
	}
	got, err := ParseUPNDNSInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.UPN != in.UPN || got.DNSDomainName != in.DNSDomainName || got.SAMName != "alice" ||
		got.SID == nil || !got.SID.Equal(sid) || got.Flags != UPNFlagSAMNameAndSID {
		t.Errorf("round trip: %+v", got)
	}
	var k gopac.UPNDNSInfo // gokrb5 reads the base fields and ignores the extension
	if err := k.Unmarshal(b); err != nil || k.UPN != in.UPN || k.DNSDomain != in.DNSDomainName || k.Flags != 2 {
		t.Errorf("gokrb5: %+v %v", k, err)
	}
}

func TestAttributesInfo(t *testing.T) {
	b, _ := AttributesInfo{Flags: AttributePACWasRequested}.MarshalBinary()
	if hex.EncodeToString(b) != "0200000001000000" {
		t.Errorf("got %x", b)
	}
}

func TestBufferEncodersReject(t *testing.T) {
	long := string(make([]rune, 0x8000))
	if _, err := (ClientInfo{Name: ""}).MarshalBinary(); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("empty client name: %v", err)
	}
	if _, err := (ClientInfo{Name: long}).MarshalBinary(); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("long client name: %v", err)
	}
	if _, err := (&LogonInfo{EffectiveName: long}).MarshalNDR(); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("long effective name: %v", err)
	}
	bad := SID{Revision: 1, SubAuthorities: make([]uint32, 16)}
	if _, err := (&LogonInfo{LogonDomainID: &bad}).MarshalNDR(); !errors.Is(err, ErrInvalidSID) {
		t.Errorf("bad domain SID: %v", err)
	}
	if _, err := (&LogonInfo{ResourceGroupIDs: []GroupMembership{{1, 7}}}).MarshalNDR(); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("resource groups without domain: %v", err)
	}
	if _, err := (UPNDNSInfo{UPN: string(make([]rune, 0x8000))}).MarshalBinary(); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("huge UPN: %v", err)
	}
}

// TestAppendUTF16MatchesEncode: the PAC's UTF-16LE strings are what
// utf16.Encode([]rune(s)) gives, for non-ASCII, astral and invalid UTF-8.
func TestAppendUTF16MatchesEncode(t *testing.T) {
	for _, s := range []string{"", "alice", "Zoë Ørsted", "测试用户", "emoji 🔑 key", "bad \xff\xfe utf-8", "\xed\xa0\x80 surrogate", "\U0010ffff"} {
		var want []byte
		for _, c := range utf16.Encode([]rune(s)) {
			want = binary.LittleEndian.AppendUint16(want, c)
		}
		if got := appendUTF16(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendUTF16(%q) = %x, want %x", s, got, want)
		}
		if got := utf16Len(s); got != len(want)/2 {
			t.Errorf("utf16Len(%q) = %d, want %d", s, got, len(want)/2)
		}
	}
}
