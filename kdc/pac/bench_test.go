package pac

import (
	"bytes"
	"testing"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/sid"
)

// benchPAC is a PAC like the KDC's sign-in one (kdc.buildPAC): a logon info
// with a few domain groups and one ExtraSid, client info, UPN_DNS_INFO with
// the S extension, attributes and requester SID.
func benchPAC(b *testing.B) *PAC {
	b.Helper()
	user, err := sid.Parse("S-1-5-21-1004336348-1177238915-682003330-1105")
	if err != nil {
		b.Fatal(err)
	}
	other, err := sid.Parse("S-1-5-21-1-2-3-1106")
	if err != nil {
		b.Fatal(err)
	}
	domain := user.Domain()
	li := &LogonInfo{
		LogonTime: 133000000000000000, LogoffTime: FileTimeNever, KickOffTime: FileTimeNever,
		PasswordMustChange: FileTimeNever, EffectiveName: "alice", FullName: "Alice Example",
		UserID: 1105, PrimaryGroupID: RIDDomainUsers, LogonServer: "DC1", LogonDomainName: "EXAMPLE",
		LogonDomainID: &domain, UserAccountControl: UserNormalAccount,
		GroupIDs: []GroupMembership{{513, DefaultGroupAttributes}, {512, DefaultGroupAttributes},
			{1200, DefaultGroupAttributes}},
		ExtraSIDs: []SIDAndAttributes{{SID: other, Attributes: DefaultGroupAttributes}},
	}
	return &PAC{
		LogonInfo:    li,
		ClientInfo:   ClientInfo{ClientID: 133000000000000000, Name: "alice"},
		UPNDNS:       &UPNDNSInfo{UPN: "alice@example.com", DNSDomainName: "EXAMPLE.COM", SAMName: "alice", SID: &user},
		Attributes:   &AttributesInfo{Flags: AttributePACWasRequested},
		RequesterSID: &user,
	}
}

// BenchmarkSign signs the sign-in PAC with derived checksum keys passed in,
// as the KDC does; -benchmem gives the allocations of the PAC writers.
func BenchmarkSign(b *testing.B) {
	p := benchPAC(b)
	key := types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{7}, 32)}
	kc, err := ChecksumKey(key)
	if err != nil {
		b.Fatal(err)
	}
	keys := SigningKeys{Server: key, KDC: key, ServerKc: kc, KDCKc: kc}
	opts := SignOptions{TicketSignData: bytes.Repeat([]byte{1}, 300), FullChecksum: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Sign(keys, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshalLogonInfo is the NDR writer alone.
func BenchmarkMarshalLogonInfo(b *testing.B) {
	li := benchPAC(b).LogonInfo
	b.ReportAllocs()
	for b.Loop() {
		if _, err := li.MarshalNDR(); err != nil {
			b.Fatal(err)
		}
	}
}
