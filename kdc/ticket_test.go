package kdc

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	gopac "github.com/jcmturner/gokrb5/v8/pac"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/pac"
	"github.com/passkdc/passkdc/kdc/sid"
)

const testRealm = "CORP.EXAMPLE.TEST"

func testKey(etype int32, fill byte, kvno uint32) TicketKey {
	n := 32
	if etype == 17 {
		n = 16
	}
	return TicketKey{Key: types.EncryptionKey{KeyType: etype, KeyValue: bytes.Repeat([]byte{fill}, n)}, KVNO: kvno}
}

func testPrincipal(t testing.TB) Principal {
	t.Helper()
	sid, err := sid.Parse("S-1-5-21-1004336348-1177238915-682003330-1105")
	if err != nil {
		t.Fatal(err)
	}
	return Principal{Name: "alice", Realm: testRealm, SID: sid, DNSDomain: "corp.example.test",
		NetBIOSDomain: "CORP", DisplayName: "Alice Example"}
}

var testNow = time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.FixedZone("CET", 3600))

// decoded is a ticket taken apart with gokrb5 only.
type decoded struct {
	plain []byte
	part  messages.EncTicketPart
	pac   []byte
}

func decodeTicket(t *testing.T, iss *Issued, key TicketKey) decoded {
	t.Helper()
	var tkt messages.Ticket
	if err := tkt.Unmarshal(iss.TicketDER); err != nil {
		t.Fatalf("gokrb5 Ticket.Unmarshal: %v", err)
	}
	plain, err := crypto.DecryptEncPart(tkt.EncPart, key.Key, keyusage.KDC_REP_TICKET)
	if err != nil {
		t.Fatalf("decrypt with key usage 2: %v", err)
	}
	d := decoded{plain: plain}
	if err := d.part.Unmarshal(plain); err != nil {
		t.Fatalf("gokrb5 EncTicketPart.Unmarshal: %v", err)
	}
	ad := d.part.AuthorizationData
	if len(ad) == 0 {
		return d
	}
	if len(ad) != 1 || ad[0].ADType != 1 {
		t.Fatalf("authorization data %+v, want one AD-IF-RELEVANT", ad)
	}
	var inner types.AuthorizationData
	if _, err := asn1.Unmarshal(ad[0].ADData, &inner); err != nil {
		t.Fatal(err)
	}
	if len(inner) != 1 || inner[0].ADType != 128 {
		t.Fatalf("AD-IF-RELEVANT content %+v, want one AD-WIN2K-PAC", inner)
	}
	d.pac = inner[0].ADData
	return d
}

// ticketSignData rebuilds the ticket signature input from gokrb5's decoding
// of the EncTicketPart, re-encoded through gokrb5's own struct: the PAC ad-data
// becomes a single zero byte.
func ticketSignData(t *testing.T, part messages.EncTicketPart) []byte {
	t.Helper()
	inner, err := asn1.Marshal(types.AuthorizationData{{ADType: 128, ADData: []byte{0}}})
	if err != nil {
		t.Fatal(err)
	}
	part.AuthorizationData = types.AuthorizationData{{ADType: 1, ADData: inner}}
	b, err := asn1.Marshal(part)
	if err != nil {
		t.Fatal(err)
	}
	return asn1tools.AddASNAppTag(b, 3)
}

func TestIssuePartialTGTDecodes(t *testing.T) {
	for _, kvno := range []uint32{1<<16 | 3, 12345<<16 | 3, 32767<<16 | 3, 32768<<16 | 3, 40000<<16 | 3, 65535<<16 | 3, 0xffffffff} {
		key := testKey(18, 7, kvno)
		iss, err := IssuePartialTGT(context.Background(), testPrincipal(t), key, DefaultTicketPolicy(), testNow)
		if err != nil {
			t.Fatal(err)
		}
		checkEnvelope(t, iss, key)
		d := decodeTicket(t, iss, key)
		checkEncPart(t, iss, d)
		checkPAC(t, iss, d, key, key, true)
	}
}

// checkEnvelope checks the outer Ticket, including the kvno INTEGER bytes.
func checkEnvelope(t *testing.T, iss *Issued, key TicketKey) {
	t.Helper()
	tk := iss.Ticket
	// gokrb5 re-marshals Issued.Ticket (e.g. inside a TGS-REQ) to the same bytes.
	if b, err := tk.Marshal(); err != nil || !bytes.Equal(b, iss.TicketDER) {
		t.Errorf("gokrb5 Ticket.Marshal differs from TicketDER: %v", err)
	}
	if tk.TktVNO != 5 || tk.Realm != testRealm || tk.SName.NameType != nametype.KRB_NT_SRV_INST ||
		len(tk.SName.NameString) != 2 || tk.SName.NameString[0] != "krbtgt" || tk.SName.NameString[1] != testRealm {
		t.Errorf("ticket header %+v", tk)
	}
	if tk.EncPart.EType != 18 || tk.EncPart.KVNO != int(int32(key.KVNO)) {
		t.Errorf("enc-part etype %d kvno %d, want 18 %d", tk.EncPart.EType, tk.EncPart.KVNO, int32(key.KVNO))
	}
	if (key.KVNO >= 0x80000000) != (tk.EncPart.KVNO < 0) {
		t.Errorf("kvno %#x decoded as %d", key.KVNO, tk.EncPart.KVNO)
	}
	// The kvno is a DER INTEGER of the signed 32-bit value: minimal two's
	// complement, never the 5-byte positive form of the uint32.
	v := derInt32(int32(key.KVNO))
	want := append([]byte{0xa1, byte(2 + len(v)), 0x02, byte(len(v))}, v...)
	if !bytes.Contains(iss.TicketDER, want) {
		t.Errorf("kvno %#x not encoded as %x in %x", key.KVNO, want, iss.TicketDER[:40])
	}
}

// derInt32 is the minimal big-endian two's complement encoding of v.
func derInt32(v int32) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(v))
	for len(b) > 1 && ((b[0] == 0 && b[1]&0x80 == 0) || (b[0] == 0xff && b[1]&0x80 != 0)) {
		b = b[1:]
	}
	return b
}

var generalizedTime = regexp.MustCompile(`\x18\x0f[0-9]{14}Z`)

func checkEncPart(t *testing.T, iss *Issued, d decoded) {
	t.Helper()
	p := d.part
	auth := testNow.UTC().Truncate(time.Second)
	if !p.AuthTime.Equal(auth) || !p.StartTime.Equal(auth) || !p.EndTime.Equal(auth.Add(10*time.Hour)) ||
		!p.RenewTill.Equal(auth.Add(7*24*time.Hour)) {
		t.Errorf("times %v %v %v %v", p.AuthTime, p.StartTime, p.EndTime, p.RenewTill)
	}
	if !iss.AuthTime.Equal(auth) || iss.AuthTime.Location() != time.UTC || !iss.RenewTill.Equal(p.RenewTill) {
		t.Errorf("Issued times %v %v", iss.AuthTime, iss.RenewTill)
	}
	if n := len(generalizedTime.FindAll(d.plain, -1)); n != 4 {
		t.Errorf("%d UTC GeneralizedTime values without fraction, want 4", n)
	}
	if !bytes.Equal(p.Flags.Bytes, []byte{0x40, 0xe0, 0, 0}) || p.Flags.BitLength != 32 {
		t.Errorf("flags %x/%d, want 40e00000/32 (forwardable renewable initial pre-authent)", p.Flags.Bytes, p.Flags.BitLength)
	}
	if !bytes.Equal(iss.Flags.Bytes, p.Flags.Bytes) {
		t.Errorf("Issued.Flags %x", iss.Flags.Bytes)
	}
	if p.CRealm != testRealm || p.CName.NameType != nametype.KRB_NT_PRINCIPAL || len(p.CName.NameString) != 1 ||
		p.CName.NameString[0] != "alice" {
		t.Errorf("client %v@%s", p.CName, p.CRealm)
	}
	if p.Transited.TRType != 1 || len(p.Transited.Contents) != 0 || len(p.CAddr) != 0 {
		t.Errorf("transited %+v caddr %v", p.Transited, p.CAddr)
	}
	if p.Key.KeyType != 18 || len(p.Key.KeyValue) != 32 || !bytes.Equal(p.Key.KeyValue, iss.SessionKey.KeyValue) {
		t.Errorf("session key type %d len %d", p.Key.KeyType, len(p.Key.KeyValue))
	}
}

// checkPAC decodes every PAC buffer with gokrb5 (or by hand for the types
// gokrb5 does not know) and verifies each signature independently.
func checkPAC(t *testing.T, iss *Issued, d decoded, key, kdcKey TicketKey, tgt bool) {
	t.Helper()
	var hdr gopac.PACType
	if err := hdr.Unmarshal(d.pac); err != nil {
		t.Fatal(err)
	}
	bufs := map[uint32][]byte{}
	var order []uint32
	for _, b := range hdr.Buffers {
		if b.Offset%8 != 0 {
			t.Errorf("buffer %d at unaligned offset %d", b.ULType, b.Offset)
		}
		bufs[b.ULType] = d.pac[b.Offset : b.Offset+uint64(b.CBBufferSize)]
		order = append(order, b.ULType)
	}
	want := []uint32{1, 10, 12, 6, 7, 16, 19}
	if tgt {
		want = []uint32{1, 10, 12, 17, 18, 6, 7, 16, 19}
	}
	if !equalU32(order, want) {
		t.Errorf("PAC buffers %v, want %v", order, want)
	}
	checkLogonInfo(t, iss, bufs[1])
	checkClientInfo(t, iss, bufs[10])
	if tgt {
		if hex.EncodeToString(bufs[17]) != "0200000001000000" {
			t.Errorf("ATTRIBUTES_INFO %x", bufs[17])
		}
		if sid, n, err := sid.ParseBytes(bufs[18]); err != nil || n != len(bufs[18]) ||
			sid.String() != "S-1-5-21-1004336348-1177238915-682003330-1105" {
			t.Errorf("REQUESTER_SID %x: %v", bufs[18], err)
		}
	}
	checkSignatures(t, d, hdr, bufs, key, kdcKey)
}

func checkLogonInfo(t *testing.T, iss *Issued, b []byte) {
	t.Helper()
	var k gopac.KerbValidationInfo
	if err := k.Unmarshal(b); err != nil {
		t.Fatalf("gokrb5 LOGON_INFO: %v", err)
	}
	if k.UserID != 1105 || k.PrimaryGroupID != 513 || k.LogonDomainID.String() != "S-1-5-21-1004336348-1177238915-682003330" ||
		k.GroupCount != 1 || k.GroupIDs[0].RelativeID != 513 || k.GroupIDs[0].Attributes != 7 ||
		k.EffectiveName.Value != "alice" || k.FullName.Value != "Alice Example" || k.LogonDomainName.Value != "CORP" ||
		k.UserAccountControl != 0x10 || k.SIDCount != 0 || k.UserFlags != 0 ||
		k.LogOnTime.Unix() != iss.AuthTime.Unix() || uint64(k.LogOffTime.MSEpoch()) != 0x7fffffffffffffff {
		t.Errorf("LOGON_INFO %+v", k)
	}
}

func checkClientInfo(t *testing.T, iss *Issued, b []byte) {
	t.Helper()
	var ci gopac.ClientInfo
	if err := ci.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	wantFT := iss.AuthTime.Unix()*10000000 + 116444736000000000
	if ci.Name != iss.CName.NameString[0] || ci.ClientID.MSEpoch() != wantFT {
		t.Errorf("CLIENT_INFO %q %d, want %q %d (authtime exactly)", ci.Name, ci.ClientID.MSEpoch(), iss.CName.NameString[0], wantFT)
	}
}

func checkSignatures(t *testing.T, d decoded, hdr gopac.PACType, bufs map[uint32][]byte, key, kdcKey TicketKey) {
	t.Helper()
	zero := func(types ...uint32) []byte {
		c := append([]byte(nil), d.pac...)
		for _, b := range hdr.Buffers {
			for _, typ := range types {
				if b.ULType == typ {
					clear(c[b.Offset+4 : b.Offset+uint64(b.CBBufferSize)])
				}
			}
		}
		return c
	}
	rodc := kdcKey.RODCNumber()
	verify := func(name string, k TicketKey, buf, data []byte, trailer bool) {
		t.Helper()
		et, _ := crypto.GetEtype(k.Key.KeyType)
		sum, _ := et.GetChecksumHash(k.Key.KeyValue, data, keyusage.KERB_NON_KERB_CKSUM_SALT)
		if binary.LittleEndian.Uint32(buf) != 16 || !bytes.Equal(buf[4:16], sum) {
			t.Errorf("%s signature does not verify (type %d)", name, binary.LittleEndian.Uint32(buf))
		}
		switch {
		case trailer && rodc != 0:
			if len(buf) != 18 || binary.LittleEndian.Uint16(buf[16:]) != rodc {
				t.Errorf("%s: RODC identifier %x, want %d", name, buf[16:], rodc)
			}
		case len(buf) != 16:
			t.Errorf("%s: %d bytes, want 16 (no RODC identifier)", name, len(buf))
		}
	}
	verify("server", key, bufs[6], zero(6, 7), false)
	verify("KDC", kdcKey, bufs[7], bufs[6][4:], true)
	verify("ticket", kdcKey, bufs[16], ticketSignData(t, d.part), true)
	verify("full", kdcKey, bufs[19], zero(6, 7, 19), true)
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestIssueServiceTicket issues a service ticket under a normal service key
// (no RODC number) with a separate KDC key, and has gokrb5's service-side PAC
// processing (NDR decoding and server signature) accept it.
func TestIssueServiceTicket(t *testing.T) {
	svcKey := testKey(18, 9, 2)
	kdcKey := testKey(18, 10, 1)
	server := types.PrincipalName{NameType: nametype.KRB_NT_SRV_HST, NameString: []string{"HTTP", "web.corp.example.test"}}
	iss, err := IssueTicket(context.Background(), testPrincipal(t), server, testRealm, svcKey, DefaultTicketPolicy(), testNow,
		IssueOptions{KDCKey: &kdcKey})
	if err != nil {
		t.Fatal(err)
	}
	if iss.Ticket.EncPart.KVNO != 2 || iss.Ticket.SName.NameString[0] != "HTTP" || iss.Ticket.SName.NameType != 3 {
		t.Errorf("ticket %+v", iss.Ticket)
	}
	d := decodeTicket(t, iss, svcKey)
	checkPAC(t, iss, d, svcKey, kdcKey, false)
	var p gopac.PACType
	if err := p.Unmarshal(d.pac); err != nil {
		t.Fatal(err)
	}
	if err := p.ProcessPACInfoBuffers(svcKey.Key, nil); err != nil {
		t.Errorf("gokrb5 ProcessPACInfoBuffers: %v", err)
	}
}

func TestIssueOptions(t *testing.T) {
	key := testKey(17, 3, 5<<16|1)
	pol := TicketPolicy{Lifetime: time.Hour}
	sname := types.PrincipalName{NameType: 2, NameString: []string{"krbtgt", testRealm}}
	iss, err := IssueTicket(context.Background(), testPrincipal(t), sname, testRealm, key, pol, testNow,
		IssueOptions{OmitTicketChecksum: true, OmitFullChecksum: true, Flags: []int{flags.Forwardable, flags.Renewable}})
	if err != nil {
		t.Fatal(err)
	}
	if !iss.RenewTill.IsZero() || !bytes.Equal(iss.Flags.Bytes, []byte{0x40, 0, 0, 0}) {
		t.Errorf("no renew lifetime: renew-till %v flags %x", iss.RenewTill, iss.Flags.Bytes)
	}
	d := decodeTicket(t, iss, key)
	if !d.part.RenewTill.IsZero() || d.part.Key.KeyType != 17 || len(d.part.Key.KeyValue) != 16 {
		t.Errorf("enc part %+v", d.part)
	}
	p, err := pac.Parse(d.pac)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Buffer(pac.TypeTicketChecksum); ok {
		t.Error("ticket checksum present")
	}
	if _, ok := p.Buffer(pac.TypeFullChecksum); ok {
		t.Error("full checksum present")
	}
	if err := p.VerifyServer(key.Key); err != nil {
		t.Error(err)
	}
	iss, err = IssueTicket(context.Background(), testPrincipal(t), sname, testRealm, key, pol, testNow, IssueOptions{NoPAC: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := decodeTicket(t, iss, key); d.part.AuthorizationData != nil {
		t.Error("NoPAC ticket has authorization data")
	}
}

func TestIssueGroupsAndUPN(t *testing.T) {
	pr := testPrincipal(t)
	pr.UPN = "alice.example@example.org"
	dom := pr.SID.Domain()
	builtin, _ := sid.Parse("S-1-5-32-545")
	pr.Groups = []pac.SID{dom.WithRID(1200), dom.WithRID(513), builtin, dom.WithRID(1200)}
	key := testKey(18, 1, 7<<16|2)
	iss, err := IssuePartialTGT(context.Background(), pr, key, DefaultTicketPolicy(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pac.Parse(decodeTicket(t, iss, key).pac)
	if err != nil {
		t.Fatal(err)
	}
	li, _ := p.Buffer(pac.TypeLogonInfo)
	var k gopac.KerbValidationInfo
	if err := k.Unmarshal(li.Data); err != nil {
		t.Fatal(err)
	}
	if k.GroupCount != 2 || k.GroupIDs[0].RelativeID != 513 || k.GroupIDs[1].RelativeID != 1200 ||
		k.SIDCount != 1 || k.ExtraSIDs[0].SID.String() != "S-1-5-32-545" || k.UserFlags != 0x20 {
		t.Errorf("groups %+v extra %+v flags %#x", k.GroupIDs, k.ExtraSIDs, k.UserFlags)
	}
	u, err := p.UPNDNS()
	if err != nil || u.UPN != pr.UPN || u.Flags != pac.UPNFlagSAMNameAndSID || u.DNSDomainName != "CORP.EXAMPLE.TEST" {
		t.Errorf("UPN_DNS_INFO %+v %v", u, err)
	}
	pr.UPN = ""
	iss, _ = IssuePartialTGT(context.Background(), pr, key, DefaultTicketPolicy(), testNow)
	p, _ = pac.Parse(decodeTicket(t, iss, key).pac)
	if u, _ := p.UPNDNS(); u.UPN != "alice@corp.example.test" || u.Flags != pac.UPNFlagSAMNameAndSID|pac.UPNFlagConstructed {
		t.Errorf("constructed UPN %+v", u)
	}
}

func TestTicketKeyKVNO(t *testing.T) {
	// Literal DER of EncryptedData.kvno [1] INTEGER for RODC number 32768.
	ed, err := asn1.Marshal(types.EncryptedData{EType: 18, KVNO: TicketKey{KVNO: 32768<<16 | 1}.WireKVNO(), Cipher: []byte{1}})
	if err != nil || !bytes.Contains(ed, []byte{0xa1, 0x06, 0x02, 0x04, 0x80, 0x00, 0x00, 0x01}) {
		t.Errorf("kvno 0x80000001 encoded as %x (%v)", ed, err)
	}
	for _, tc := range []struct {
		kvno uint32
		rodc uint16
		wire int
	}{
		{3, 0, 3},
		{1<<16 | 2, 1, 65538},
		{32767<<16 | 1, 32767, 2147418113},
		{32768<<16 | 1, 32768, -2147483647},
		{0xffffffff, 65535, -1},
	} {
		k := TicketKey{KVNO: tc.kvno}
		if k.RODCNumber() != tc.rodc || k.WireKVNO() != tc.wire {
			t.Errorf("kvno %#x: rodc %d wire %d", tc.kvno, k.RODCNumber(), k.WireKVNO())
		}
	}
}

func TestIssueRejects(t *testing.T) {
	good := testPrincipal(t)
	key := testKey(18, 1, 9<<16|1)
	with := func(f func(*Principal)) Principal { p := good; f(&p); return p }
	sid := func(s string) pac.SID { v, _ := sid.Parse(s); return v }
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		p    Principal
		key  TicketKey
		pol  TicketPolicy
		want error
	}{
		{"empty name", nil, with(func(p *Principal) { p.Name = "" }), key, DefaultTicketPolicy(), ErrInvalidPrincipal},
		{"name with slash", nil, with(func(p *Principal) { p.Name = "a/b" }), key, DefaultTicketPolicy(), ErrInvalidPrincipal},
		{"name with at", nil, with(func(p *Principal) { p.Name = "a@b" }), key, DefaultTicketPolicy(), ErrInvalidPrincipal},
		{"name with control", nil, with(func(p *Principal) { p.Name = "a\x00" }), key, DefaultTicketPolicy(), ErrInvalidPrincipal},
		{"empty realm", nil, with(func(p *Principal) { p.Realm = "" }), key, DefaultTicketPolicy(), ErrInvalidPrincipal},
		{"missing SID", nil, with(func(p *Principal) { p.SID = pac.SID{} }), key, DefaultTicketPolicy(), ErrInvalidSID},
		{"builtin SID", nil, with(func(p *Principal) { p.SID = sid("S-1-5-32-544") }), key, DefaultTicketPolicy(), ErrInvalidSID},
		{"domain SID without RID", nil, with(func(p *Principal) { p.SID = sid("S-1-5-21-1-2-3") }), key, DefaultTicketPolicy(), ErrInvalidSID},
		{"RID 0", nil, with(func(p *Principal) { p.SID = sid("S-1-5-21-1-2-3-0") }), key, DefaultTicketPolicy(), ErrInvalidSID},
		{"bad group SID", nil, with(func(p *Principal) { p.Groups = []pac.SID{{Revision: 1}} }), key, DefaultTicketPolicy(), ErrInvalidSID},
		{"rc4 key", nil, good, TicketKey{Key: types.EncryptionKey{KeyType: 23, KeyValue: make([]byte, 16)}, KVNO: 9 << 16}, DefaultTicketPolicy(), ErrUnsupportedKey},
		{"des key", nil, good, TicketKey{Key: types.EncryptionKey{KeyType: 3, KeyValue: make([]byte, 8)}, KVNO: 9 << 16}, DefaultTicketPolicy(), ErrUnsupportedKey},
		{"short aes256 key", nil, good, TicketKey{Key: types.EncryptionKey{KeyType: 18, KeyValue: make([]byte, 16)}, KVNO: 9 << 16}, DefaultTicketPolicy(), ErrUnsupportedKey},
		{"not an RODC key", nil, good, testKey(18, 1, 2), DefaultTicketPolicy(), ErrNotRODCKey},
		{"zero lifetime", nil, good, key, TicketPolicy{}, ErrInvalidPolicy},
		{"two-minute TGT", nil, good, key, TicketPolicy{Lifetime: 2 * time.Minute}, ErrInvalidPolicy},
		{"negative renew", nil, good, key, TicketPolicy{Lifetime: time.Hour, RenewLifetime: -time.Hour}, ErrInvalidPolicy},
		{"renew shorter than lifetime", nil, good, key, TicketPolicy{Lifetime: time.Hour, RenewLifetime: time.Minute}, ErrInvalidPolicy},
		{"canceled context", canceled, good, key, DefaultTicketPolicy(), context.Canceled},
	}
	for _, tc := range tests {
		ctx := tc.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		iss, err := IssuePartialTGT(ctx, tc.p, tc.key, tc.pol, testNow)
		if !errors.Is(err, tc.want) || iss != nil {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	_, err := IssueTicket(context.Background(), good, types.PrincipalName{}, testRealm, key, DefaultTicketPolicy(), testNow, IssueOptions{})
	if !errors.Is(err, ErrInvalidPrincipal) {
		t.Errorf("empty server: %v", err)
	}
	bad := TicketKey{Key: types.EncryptionKey{KeyType: 23}}
	_, err = IssueTicket(context.Background(), good, types.PrincipalName{NameType: 2, NameString: []string{"krbtgt", testRealm}},
		testRealm, key, DefaultTicketPolicy(), testNow, IssueOptions{KDCKey: &bad})
	if !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("bad KDC key: %v", err)
	}
	_, err = IssueTicket(context.Background(), good, types.PrincipalName{NameType: 2, NameString: []string{"krbtgt", testRealm}},
		testRealm, key, DefaultTicketPolicy(), testNow, IssueOptions{Flags: []int{32}})
	if !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("bad flag: %v", err)
	}
}

func TestSessionKeysDiffer(t *testing.T) {
	key := testKey(18, 1, 9<<16|1)
	a, _ := IssuePartialTGT(context.Background(), testPrincipal(t), key, DefaultTicketPolicy(), testNow)
	b, _ := IssuePartialTGT(context.Background(), testPrincipal(t), key, DefaultTicketPolicy(), testNow)
	if bytes.Equal(a.SessionKey.KeyValue, b.SessionKey.KeyValue) || bytes.Equal(a.TicketDER, b.TicketDER) {
		t.Error("two issuances share a session key or ticket")
	}
}
