package kdc

import (
	"bytes"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/types"
)

// TestEncTicketPartDERMatchesReflection: the hand-written encoder gives the
// bytes of the reflection-based asn1.Marshal (tagged [APPLICATION 3] by
// asn1tools.AddASNAppTag) for every shape of
// EncTicketPart a KDC issues (optional times, groups of authorization data,
// multi-component names, long keys and contents, negative numbers).
func TestEncTicketPartDERMatchesReflection(t *testing.T) {
	auth := time.Date(2026, 11, 24, 9, 8, 7, 0, time.UTC)
	fl := types.NewKrbFlags()
	types.SetFlag(&fl, 1)
	types.SetFlag(&fl, 8)
	types.SetFlag(&fl, 31)
	base := encTicketPart{
		Flags: fl, Key: types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{0xa5}, 32)},
		CRealm: "CORP.EXAMPLE.TEST", CName: types.PrincipalName{NameType: 1, NameString: []string{"alice"}},
		Transited: transitedEncoding{TRType: domainX500Compress, Contents: []byte{}},
		AuthTime:  auth, StartTime: auth, EndTime: auth.Add(10 * time.Hour), RenewTill: auth.Add(7 * 24 * time.Hour),
		AuthorizationData: types.AuthorizationData{{ADType: 1, ADData: bytes.Repeat([]byte{7}, 300)}},
	}
	cases := []struct {
		name string
		mod  func(p *encTicketPart)
	}{
		{"full", func(*encTicketPart) {}},
		{"no start, no renew", func(p *encTicketPart) { p.StartTime, p.RenewTill = time.Time{}, time.Time{} }},
		{"no authorization data", func(p *encTicketPart) { p.AuthorizationData = nil }},
		{"several ad entries", func(p *encTicketPart) {
			p.AuthorizationData = append(p.AuthorizationData, types.AuthorizationData{{ADType: 128, ADData: []byte{0}}, {ADType: -140, ADData: nil}}...)
		}},
		{"service name", func(p *encTicketPart) {
			p.CName = types.PrincipalName{NameType: 2, NameString: []string{"host", "srv.corp.example.test"}}
		}},
		{"aes128 key, empty realm", func(p *encTicketPart) {
			p.Key = types.EncryptionKey{KeyType: 17, KeyValue: make([]byte, 16)}
			p.CRealm = ""
		}},
		{"long PAC (multi-byte lengths)", func(p *encTicketPart) {
			p.AuthorizationData = types.AuthorizationData{{ADType: 1, ADData: bytes.Repeat([]byte{1}, 70000)}}
		}},
		{"transited contents, year 2049", func(p *encTicketPart) {
			p.Transited = transitedEncoding{TRType: 1, Contents: []byte("EXAMPLE.COM,")}
			p.EndTime = time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			tc.mod(&p)
			der, err := asn1.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			want := asn1tools.AddASNAppTag(der, asnAppTag.EncTicketPart)
			got, err := marshalEncTicketPart(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("DER differs\n got  %x\n want %x", got[:min(len(got), 200)], want[:min(len(want), 200)])
			}
		})
	}
}

// TestTicketDERMatchesReflection: the same for the Ticket envelope
// ([APPLICATION 1]), with
// the kvno encodings an RODC key gives (large, negative as Int32, absent).
func TestTicketDERMatchesReflection(t *testing.T) {
	rodc := uint32(40000<<16 | 3)
	for _, kvno := range []int{0, 1, 127, 128, 1<<16 | 3, int(int32(rodc)), -1} {
		for _, n := range []int{0, 100, 1200, 70000} {
			tk := ticketASN1{TktVNO: 5, Realm: "CORP.EXAMPLE.TEST",
				SName:   types.PrincipalName{NameType: 2, NameString: []string{"krbtgt", "CORP.EXAMPLE.TEST"}},
				EncPart: types.EncryptedData{EType: 18, KVNO: kvno, Cipher: bytes.Repeat([]byte{9}, n)}}
			der, err := asn1.Marshal(tk)
			if err != nil {
				t.Fatal(err)
			}
			want := asn1tools.AddASNAppTag(der, asnAppTag.Ticket)
			got, err := marshalTicket(tk)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("kvno %d, %d bytes: DER differs\n got  %x\n want %x", kvno, n, got[:min(len(got), 120)], want[:min(len(want), 120)])
			}
		}
	}
}

// TestPACAuthDataMatchesReflection: an EncTicketPart encoded with a PAC
// gives the bytes of asn1.Marshal for the same part whose authorization data
// is AD-IF-RELEVANT holding the asn1.Marshal of [ AD-WIN2K-PAC pac ] (short
// and long lengths; the PAC takes the place of other authorization data),
// tagged [APPLICATION 3].
func TestPACAuthDataMatchesReflection(t *testing.T) {
	auth := time.Date(2026, 11, 24, 9, 8, 7, 0, time.UTC)
	p := encTicketPart{
		Flags: types.NewKrbFlags(), Key: types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{0xa5}, 32)},
		CRealm: "CORP.EXAMPLE.TEST", CName: types.PrincipalName{NameType: 1, NameString: []string{"alice"}},
		Transited: transitedEncoding{TRType: domainX500Compress, Contents: []byte{}},
		AuthTime:  auth, EndTime: auth.Add(10 * time.Hour),
	}
	for _, n := range []int{1, 90, 127, 128, 300, 70000} {
		pac := bytes.Repeat([]byte{7}, n)
		if n == 1 {
			pac = []byte{0} // the ticket checksum's stand-in
		}
		inner, err := asn1.Marshal(types.AuthorizationData{{ADType: 128, ADData: pac}})
		if err != nil {
			t.Fatal(err)
		}
		ref := p
		ref.AuthorizationData = types.AuthorizationData{{ADType: 1, ADData: inner}}
		der, err := asn1.Marshal(ref)
		if err != nil {
			t.Fatal(err)
		}
		want := asn1tools.AddASNAppTag(der, asnAppTag.EncTicketPart)
		withOther := p
		withOther.AuthorizationData = types.AuthorizationData{{ADType: 5, ADData: []byte{1}}}
		for _, part := range []encTicketPart{p, withOther} {
			got, err := marshalEncTicketPart(part, pac)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d-byte PAC: DER differs\n got  %x\n want %x", n, got[:min(len(got), 200)], want[:min(len(want), 200)])
			}
		}
	}
}
