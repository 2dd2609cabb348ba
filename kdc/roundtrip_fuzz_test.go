package kdc

import (
	"context"
	"fmt"
	"testing"
	"time"

	gopac "github.com/jcmturner/gokrb5/v8/pac"

	"github.com/passkdc/passkdc/kdc/sid"
)

// FuzzIssueRoundTrip issues partial TGTs for arbitrary principals, RODC
// numbers and times, then takes each apart with gokrb5 alone: whatever
// IssuePartialTGT accepts must decrypt under the RODC key, carry a PAC whose
// LOGON_INFO and CLIENT_INFO name the principal, and whose four signatures
// verify (the round trip of the PAC encoder through an independent decoder).
func FuzzIssueRoundTrip(f *testing.F) {
	f.Add("alice", "Alice Example", "alice@corp.example.test", uint32(1105), uint16(28032), uint16(1), int64(1741064767))
	f.Add("Ünal", "", "", uint32(500), uint16(40000), uint16(65535), int64(0))
	f.Add("a b", "x\x00y", "@", uint32(0xffffffff), uint16(1), uint16(0), int64(-1))
	f.Fuzz(func(t *testing.T, name, display, upn string, rid uint32, rodc, version uint16, unix int64) {
		sid, err := sid.Parse(fmt.Sprintf("S-1-5-21-1004336348-1177238915-682003330-%d", rid))
		if err != nil {
			return
		}
		if beyondBMP(name) || beyondBMP(display) {
			return // gokrb5's NDR decoder reads each UTF-16 unit as a rune: it cannot check surrogate pairs
		}
		p := Principal{Name: name, Realm: testRealm, SID: sid, UPN: upn, DisplayName: display}
		key := testKey(18, 7, uint32(rodc)<<16|uint32(version))
		now := time.Unix(unix%(1<<33), 0)
		iss, err := IssuePartialTGT(context.Background(), p, key, DefaultTicketPolicy(), now)
		if err != nil {
			return
		}
		d := decodeTicket(t, iss, key)
		var hdr gopac.PACType
		if err := hdr.Unmarshal(d.pac); err != nil {
			t.Fatalf("gokrb5 cannot read the PAC of %q: %v", name, err)
		}
		bufs := map[uint32][]byte{}
		for _, b := range hdr.Buffers {
			bufs[b.ULType] = d.pac[b.Offset : b.Offset+uint64(b.CBBufferSize)]
		}
		var k gopac.KerbValidationInfo
		if err := k.Unmarshal(bufs[1]); err != nil {
			t.Fatalf("gokrb5 LOGON_INFO of %q: %v", name, err)
		}
		if k.EffectiveName.Value != name || k.UserID != rid || k.FullName.Value != display {
			t.Fatalf("LOGON_INFO names %q rid %d full %q, want %q %d %q", k.EffectiveName.Value, k.UserID, k.FullName.Value, name, rid, display)
		}
		checkClientInfo(t, iss, bufs[10])
		checkSignatures(t, d, hdr, bufs, key, key)
	})
}

func beyondBMP(s string) bool {
	for _, r := range s {
		if r > 0xFFFF {
			return true
		}
	}
	return false
}
