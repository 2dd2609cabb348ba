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
// bytes of the reflection-based asn1.Marshal for every shape of
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
			want, err := asn1.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := marshalEncTicketPartDER(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("DER differs\n got  %x\n want %x", got[:min(len(got), 200)], want[:min(len(want), 200)])
			}
		})
	}
}

// TestTicketDERMatchesReflection: the same for the Ticket envelope, with
// the kvno encodings an RODC key gives (large, negative as Int32, absent).
func TestTicketDERMatchesReflection(t *testing.T) {
	rodc := uint32(40000<<16 | 3)
	for _, kvno := range []int{0, 1, 127, 128, 1<<16 | 3, int(int32(rodc)), -1} {
		for _, n := range []int{0, 100, 1200, 70000} {
			tk := ticketASN1{TktVNO: 5, Realm: "CORP.EXAMPLE.TEST",
				SName:   types.PrincipalName{NameType: 2, NameString: []string{"krbtgt", "CORP.EXAMPLE.TEST"}},
				EncPart: types.EncryptedData{EType: 18, KVNO: kvno, Cipher: bytes.Repeat([]byte{9}, n)}}
			want, err := asn1.Marshal(tk)
			if err != nil {
				t.Fatal(err)
			}
			got, err := marshalTicketDER(tk)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("kvno %d, %d bytes: DER differs\n got  %x\n want %x", kvno, n, got[:min(len(got), 120)], want[:min(len(want), 120)])
			}
		}
	}
}

// TestAuthDataAndAppTagMatchReflection: the AuthorizationData encoder and
// the [APPLICATION n] wrapper give the bytes of asn1.Marshal and
// asn1tools.AddASNAppTag (short and long lengths, several entries).
func TestAuthDataAndAppTagMatchReflection(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 300, 70000} {
		ads := types.AuthorizationData{{ADType: 128, ADData: bytes.Repeat([]byte{7}, n)}, {ADType: 1, ADData: []byte{0}}}
		for _, ad := range []types.AuthorizationData{ads[:1], ads} {
			want, err := asn1.Marshal(ad)
			if err != nil {
				t.Fatal(err)
			}
			got, err := marshalAuthData(ad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bytes of ad-data: DER differs\n got  %x\n want %x", n, got[:min(len(got), 80)], want[:min(len(want), 80)])
			}
			for _, tag := range []int{asnAppTag.Ticket, asnAppTag.EncTicketPart} {
				app, err := withAppTag(uint8(tag), want)
				if err != nil {
					t.Fatal(err)
				}
				if w := asn1tools.AddASNAppTag(want, tag); !bytes.Equal(app, w) {
					t.Fatalf("[APPLICATION %d] of %d bytes differs", tag, len(want))
				}
			}
		}
	}
}
