package krbcred

import (
	"bytes"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/types"
)

// reflectEncPart is the reflection-based encoding the DER encoder replaces.
func reflectEncPart(t *testing.T, w encKrbCredPartWire) []byte {
	t.Helper()
	b, err := asn1.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	b, err = tlv(asn1.ClassApplication, appTagEncKrbCredPart, true, b)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reflectOuter is the reflection-based KRB-CRED envelope.
func reflectOuter(t *testing.T, tickets [][]byte, ed types.EncryptedData) []byte {
	t.Helper()
	p, _ := explicitValue(0, pvno)
	m, _ := explicitValue(1, msgTypeKRBCred)
	ts, _ := sequence(tickets...)
	ts, _ = explicit(2, ts)
	e, _ := explicitValue(3, ed)
	body, _ := sequence(p, m, ts, e)
	out, err := tlv(asn1.ClassApplication, appTagKRBCred, true, body)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDERMatchesReflection: the hand-written encoder gives the bytes of the
// reflection-based one for the shapes of KRB-CRED passkdc and MIT write
// (optional fields present and absent, several tickets, addresses).
func TestDERMatchesReflection(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 8, 7, 0, time.UTC)
	full := Info{
		Key:    types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{1}, 32)},
		PRealm: "CORP.EXAMPLE.TEST", PName: types.PrincipalName{NameType: 1, NameString: []string{"alice"}},
		Flags: 0x50e10000, AuthTime: now, StartTime: now, EndTime: now.Add(10 * time.Hour), RenewTill: now.Add(7 * 24 * time.Hour),
		SRealm: "CORP.EXAMPLE.TEST", SName: types.PrincipalName{NameType: 2, NameString: []string{"krbtgt", "CORP.EXAMPLE.TEST"}},
	}
	addr := types.HostAddress{AddrType: 2, Address: []byte{127, 0, 0, 1}}
	cases := []struct {
		name string
		cred Cred
	}{
		{"one full info", Cred{Infos: []Info{full}}},
		{"key only", Cred{Infos: []Info{{Key: full.Key}}}},
		{"name type without strings", Cred{Infos: []Info{{Key: full.Key, PName: types.PrincipalName{NameType: 1}}}}},
		{"replay fields and addresses", Cred{Infos: []Info{full, full}, Nonce: -5, Timestamp: now, Usec: 999999,
			SAddress: &addr, RAddress: &types.HostAddress{AddrType: 0, Address: []byte{}}}},
		{"caddr", func() Cred { i := full; i.CAddr = []types.HostAddress{addr, addr}; return Cred{Infos: []Info{i}} }()},
		{"no infos", Cred{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.cred.encPartWire(nil)
			got, err := marshalEncPartDER(0, w)
			if err != nil {
				t.Fatal(err)
			}
			if want := reflectEncPart(t, w); !bytes.Equal(got, want) {
				t.Fatalf("EncKrbCredPart differs\n got  %x\n want %x", got, want)
			}
		})
	}
	ticket := append([]byte{0x61, 0x82, 0x01, 0x00}, bytes.Repeat([]byte{3}, 256)...)
	for _, ed := range []types.EncryptedData{
		{EType: 0, Cipher: []byte{0x7d, 0x00}},
		{EType: 18, KVNO: 0, Cipher: bytes.Repeat([]byte{4}, 300)},
		{EType: 18, KVNO: -1, Cipher: bytes.Repeat([]byte{4}, 70000)},
	} {
		for _, tickets := range [][][]byte{nil, {ticket}, {ticket, ticket}} {
			got, err := marshalOuterDER(tickets, ed)
			if err != nil {
				t.Fatal(err)
			}
			if want := reflectOuter(t, tickets, ed); !bytes.Equal(got, want) {
				t.Fatalf("KRB-CRED (etype %d, %d tickets) differs\n got  %x\n want %x", ed.EType, len(tickets), got[:min(len(got), 100)], want[:min(len(want), 100)])
			}
		}
	}
}
