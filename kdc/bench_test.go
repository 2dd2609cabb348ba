package kdc

import (
	"context"
	"testing"

	"github.com/passkdc/passkdc/kdc/ccache"
	"github.com/passkdc/passkdc/kdc/krbcred"
)

// BenchmarkIssuePartialTGT issues the sign-in's partial TGT (ticket and
// signed PAC) under a key with its usage keys derived, as the issuer does;
// -benchmem gives its allocations.
func BenchmarkIssuePartialTGT(b *testing.B) {
	key, err := testKey(18, 9, 40000<<16|3).WithDerivedKeys()
	if err != nil {
		b.Fatal(err)
	}
	p := benchPrincipal(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := IssuePartialTGT(context.Background(), p, key, DefaultTicketPolicy(), testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealKRBCred encodes and encrypts the sign-in's KRB-CRED under a
// fresh AES256 key (the binding key's derivation is not included).
func BenchmarkSealKRBCred(b *testing.B) {
	key, err := testKey(18, 9, 40000<<16|3).WithDerivedKeys()
	if err != nil {
		b.Fatal(err)
	}
	iss, err := IssuePartialTGT(context.Background(), benchPrincipal(b), key, DefaultTicketPolicy(), testNow)
	if err != nil {
		b.Fatal(err)
	}
	sealKey := testKey(18, 0x5a, 0).Key
	b.ReportAllocs()
	for b.Loop() {
		c := krbcred.Cred{Tickets: [][]byte{iss.TicketDER}, Infos: []krbcred.Info{{
			Key: iss.SessionKey, PRealm: iss.CRealm, PName: iss.CName, Flags: ccache.FlagsFromBitString(iss.Flags),
			AuthTime: iss.AuthTime, StartTime: iss.StartTime, EndTime: iss.EndTime, RenewTill: iss.RenewTill,
			SRealm: iss.SRealm, SName: iss.SName,
		}}}
		if _, err := c.Marshal(&sealKey); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPrincipal is a sign-in's principal as the issuer builds it (no
// groups: the DC rebuilds them; no UPN: the PAC carries a constructed one).
func benchPrincipal(b *testing.B) Principal {
	b.Helper()
	p := testPrincipal(b)
	p.UPN, p.DNSDomain, p.NetBIOSDomain = "", "", ""
	return p
}
