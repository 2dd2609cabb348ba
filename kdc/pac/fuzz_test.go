package pac

import (
	"encoding/hex"
	"testing"

	"github.com/jcmturner/gokrb5/v8/test/testdata"

	"github.com/passkdc/passkdc/kdc/sid"
)

// FuzzParse feeds arbitrary bytes to Parse and every accessor and verifier:
// none may panic, and a PAC that parses must re-parse identically.
func FuzzParse(f *testing.F) {
	win, _ := hex.DecodeString(testdata.MarshaledPAC_AD_WIN2K_PAC)
	f.Add(win)
	key := aesKey(18, 1)
	for _, rodc := range []uint16{0, 9} {
		b, err := samplePAC().Sign(SigningKeys{Server: key, KDC: key, RODCNumber: rodc},
			SignOptions{TicketSignData: []byte{0}, FullChecksum: true})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		_, _ = p.ClientInfo()
		_, _ = p.RequesterSID()
		_, _ = p.Attributes()
		_, _ = p.UPNDNS()
		for _, typ := range []uint32{TypeServerChecksum, TypeKDCChecksum, TypeTicketChecksum, TypeFullChecksum} {
			_, _ = p.Signature(typ)
		}
		_ = p.VerifyServer(key)
		_ = p.VerifyKDC(key)
		_ = p.VerifyFull(key)
		_ = p.VerifyTicket(key, b)
		q, err := Parse(append([]byte(nil), b...))
		if err != nil || len(q.Buffers) != len(p.Buffers) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

// FuzzBufferParsers feeds arbitrary bytes to the individual buffer decoders.
func FuzzBufferParsers(f *testing.F) {
	for _, h := range []string{testdata.MarshaledPAC_Client_Info, testdata.MarshaledPAC_UPN_DNS_Info,
		testdata.MarshaledPAC_Server_Signature, testdata.MarshaledPAC_KDC_Signature} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	sid, _ := sid.Parse("S-1-5-21-1-2-3-1105")
	u, _ := UPNDNSInfo{UPN: "a@b", DNSDomainName: "B", SAMName: "a", SID: &sid}.MarshalBinary()
	f.Add(u)
	f.Fuzz(func(t *testing.T, b []byte) {
		if ci, err := ParseClientInfo(b); err == nil {
			if _, err := ci.MarshalBinary(); err != nil && ci.Name != "" {
				t.Logf("re-encode client info: %v", err)
			}
		}
		if u, err := ParseUPNDNSInfo(b); err == nil {
			if _, err := u.MarshalBinary(); err != nil {
				t.Logf("re-encode UPN_DNS_INFO: %v", err)
			}
		}
		_, _ = ParseSignature(b)
	})
}
