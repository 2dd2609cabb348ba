package pac

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	gopac "github.com/jcmturner/gokrb5/v8/pac"
	"github.com/jcmturner/gokrb5/v8/test/testdata"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/sid"
)

func sysHTTPKey(t *testing.T) types.EncryptionKey {
	t.Helper()
	b, _ := hex.DecodeString(testdata.KEYTAB_SYSHTTP_TEST_GOKRB5)
	kt := keytab.New()
	if err := kt.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	pn, _ := types.ParseSPNString("sysHTTP")
	key, _, err := kt.GetEncryptionKey(pn, "TEST.GOKRB5", 2, 18)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestLayoutMatchesWindowsPAC takes a complete PAC issued by a Windows DC
// (gokrb5 test data: LOGON_INFO, CLIENT_INFO, UPN_DNS_INFO, server and KDC
// signatures), decodes every data buffer with gokrb5, re-encodes them with
// our encoders, lays them out with our PACTYPE writer (keeping the original
// signature buffers) and requires the exact original bytes. It also checks
// that our verifier accepts Windows' server signature.
func TestLayoutMatchesWindowsPAC(t *testing.T) {
	want, _ := hex.DecodeString(testdata.MarshaledPAC_AD_WIN2K_PAC)
	p, err := Parse(want)
	if err != nil {
		t.Fatal(err)
	}
	var bufs []rawBuffer
	for _, b := range p.Buffers {
		var data []byte
		switch b.Type {
		case TypeLogonInfo:
			var k gopac.KerbValidationInfo
			if err := k.Unmarshal(b.Data); err != nil {
				t.Fatal(err)
			}
			data, err = logonInfoFromGokrb5(t, &k).MarshalNDR()
		case TypeClientInfo:
			var k gopac.ClientInfo
			if err := k.Unmarshal(b.Data); err != nil {
				t.Fatal(err)
			}
			data, err = ClientInfo{FileTime(uint64(k.ClientID.MSEpoch())), k.Name}.MarshalBinary()
		case TypeUPNDNSInfo:
			var k gopac.UPNDNSInfo
			if err := k.Unmarshal(b.Data); err != nil {
				t.Fatal(err)
			}
			data, err = UPNDNSInfo{UPN: k.UPN, DNSDomainName: k.DNSDomain, Flags: k.Flags}.MarshalBinary()
		default:
			data = b.Data
		}
		if err != nil {
			t.Fatal(err)
		}
		bufs = append(bufs, rawBuffer{b.Type, data})
	}
	got, _ := layout(bufs)
	if !bytes.Equal(got, want) {
		t.Fatalf("layout differs at %d\n got %x\nwant %x", firstDiff(got, want), got, want)
	}
	if err := p.VerifyServer(sysHTTPKey(t)); err != nil {
		t.Errorf("Windows server signature: %v", err)
	}
}

func aesKey(etype int32, fill byte) types.EncryptionKey {
	n := 32
	if etype == 17 {
		n = 16
	}
	return types.EncryptionKey{KeyType: etype, KeyValue: bytes.Repeat([]byte{fill}, n)}
}

func samplePAC() *PAC {
	user, _ := sid.Parse("S-1-5-21-1004336348-1177238915-682003330-1105")
	dom := user.Domain()
	other, _ := sid.Parse("S-1-5-21-9-9-9-1000")
	return &PAC{
		LogonInfo: &LogonInfo{
			LogonTime: FileTime(133000000000000000), LogoffTime: FileTimeNever, KickOffTime: FileTimeNever,
			PasswordMustChange: FileTimeNever,
			EffectiveName:      "alice", FullName: "Alice Example",
			UserID: user.RID(), PrimaryGroupID: RIDDomainUsers,
			GroupIDs:        []GroupMembership{{RIDDomainUsers, DefaultGroupAttributes}},
			LogonDomainName: "CORP", LogonDomainID: &dom, UserAccountControl: UserNormalAccount,
			ExtraSIDs: []SIDAndAttributes{{other, DefaultGroupAttributes | SEGroupResource}},
		},
		ClientInfo:   ClientInfo{ClientID: FileTime(133000000000000000), Name: "alice"},
		UPNDNS:       &UPNDNSInfo{UPN: "alice@corp.example.test", DNSDomainName: "CORP.EXAMPLE.TEST", SAMName: "alice", SID: &user},
		Attributes:   &AttributesInfo{Flags: AttributePACWasRequested},
		RequesterSID: &user,
	}
}

// independentVerify re-checks the signatures with gokrb5's PAC header parser
// and gokrb5's checksum code, implementing the zeroing rules of Heimdal's
// krb5_pac_verify directly in the test.
func independentVerify(t *testing.T, pacBytes []byte, srv, kdc types.EncryptionKey, rodc uint16, ticketData []byte) {
	t.Helper()
	var hdr gopac.PACType
	if err := hdr.Unmarshal(pacBytes); err != nil {
		t.Fatal(err)
	}
	find := func(typ uint32) []byte {
		for _, b := range hdr.Buffers {
			if b.ULType == typ {
				return pacBytes[b.Offset : b.Offset+uint64(b.CBBufferSize)]
			}
		}
		return nil
	}
	zero := func(types ...uint32) []byte {
		c := append([]byte(nil), pacBytes...)
		for _, typ := range types {
			for _, b := range hdr.Buffers {
				if b.ULType == typ {
					clear(c[b.Offset+4 : b.Offset+uint64(b.CBBufferSize)])
				}
			}
		}
		return c
	}
	check := func(name string, key types.EncryptionKey, buf, data []byte, wantTrailer bool) {
		t.Helper()
		if buf == nil {
			t.Fatalf("%s buffer missing", name)
		}
		if got := binary.LittleEndian.Uint32(buf); int32(got) != int32(key.KeyType-2) { // 17->15, 18->16
			t.Errorf("%s signature type %d for etype %d", name, got, key.KeyType)
		}
		et, _ := crypto.GetEtype(key.KeyType)
		sum, _ := et.GetChecksumHash(key.KeyValue, data, keyusage.KERB_NON_KERB_CKSUM_SALT)
		if !bytes.Equal(buf[4:16], sum) {
			t.Errorf("%s signature does not verify", name)
		}
		wantLen := 16
		if wantTrailer && rodc != 0 {
			wantLen = 18
			if got := binary.LittleEndian.Uint16(buf[16:]); got != rodc {
				t.Errorf("%s RODC identifier %d, want %d", name, got, rodc)
			}
		}
		if len(buf) != wantLen {
			t.Errorf("%s buffer is %d bytes, want %d", name, len(buf), wantLen)
		}
	}
	srvBuf := find(TypeServerChecksum)
	check("server", srv, srvBuf, zero(TypeServerChecksum, TypeKDCChecksum), false)
	check("KDC", kdc, find(TypeKDCChecksum), srvBuf[4:], true)
	if ticketData != nil {
		check("ticket", kdc, find(TypeTicketChecksum), ticketData, true)
	}
	if full := find(TypeFullChecksum); full != nil {
		check("full", kdc, full, zero(TypeServerChecksum, TypeKDCChecksum, TypeFullChecksum), true)
	}
}

func TestSignAndVerify(t *testing.T) {
	ticketData := []byte("stand-in for the EncTicketPart with a zeroed PAC")
	tests := []struct {
		name       string
		srv, kdc   types.EncryptionKey
		rodc       uint16
		ticket     []byte
		full       bool
		wantBuffer []uint32
	}{
		{"RODC partial TGT aes256", aesKey(18, 1), aesKey(18, 1), 12345, ticketData, true,
			[]uint32{1, 10, 12, 17, 18, 6, 7, 16, 19}},
		{"RODC number 0xffff", aesKey(18, 1), aesKey(18, 1), 0xffff, ticketData, true,
			[]uint32{1, 10, 12, 17, 18, 6, 7, 16, 19}},
		{"writable DC service ticket", aesKey(18, 2), aesKey(18, 3), 0, ticketData, true,
			[]uint32{1, 10, 12, 17, 18, 6, 7, 16, 19}},
		{"aes128 keys, no optional signatures", aesKey(17, 4), aesKey(17, 5), 7, nil, false,
			[]uint32{1, 10, 12, 17, 18, 6, 7}},
		{"mixed aes128 server, aes256 KDC", aesKey(17, 4), aesKey(18, 5), 0, ticketData, false,
			[]uint32{1, 10, 12, 17, 18, 6, 7, 16}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys := SigningKeys{Server: tc.srv, KDC: tc.kdc, RODCNumber: tc.rodc}
			b, err := samplePAC().Sign(keys, SignOptions{TicketSignData: tc.ticket, FullChecksum: tc.full})
			if err != nil {
				t.Fatal(err)
			}
			if len(b)%8 != 0 {
				t.Errorf("PAC length %d not a multiple of 8", len(b))
			}
			p, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			var types []uint32
			for _, buf := range p.Buffers {
				types = append(types, buf.Type)
			}
			if !equalU32(types, tc.wantBuffer) {
				t.Errorf("buffers %v, want %v", types, tc.wantBuffer)
			}
			independentVerify(t, b, tc.srv, tc.kdc, tc.rodc, tc.ticket)
			ourVerify(t, p, tc.srv, tc.kdc, tc.ticket, tc.full)
			if tc.rodc == 0 {
				gokrb5Process(t, b, tc.srv)
			}
			tamper(t, b, tc.srv, tc.kdc, tc.full)
		})
	}
}

func ourVerify(t *testing.T, p *Parsed, srv, kdc types.EncryptionKey, ticket []byte, full bool) {
	t.Helper()
	if err := p.VerifyServer(srv); err != nil {
		t.Errorf("VerifyServer: %v", err)
	}
	if err := p.VerifyKDC(kdc); err != nil {
		t.Errorf("VerifyKDC: %v", err)
	}
	if ticket != nil {
		if err := p.VerifyTicket(kdc, ticket); err != nil {
			t.Errorf("VerifyTicket: %v", err)
		}
		if err := p.VerifyTicket(kdc, append([]byte{1}, ticket...)); !errors.Is(err, ErrBadChecksum) {
			t.Errorf("VerifyTicket over other data: %v", err)
		}
	}
	if full {
		if err := p.VerifyFull(kdc); err != nil {
			t.Errorf("VerifyFull: %v", err)
		}
	} else if err := p.VerifyFull(kdc); !errors.Is(err, ErrMissingBuffer) {
		t.Errorf("VerifyFull without buffer: %v", err)
	}
}

// gokrb5Process runs gokrb5's full PAC processing (NDR decoding of every
// buffer and server signature check). gokrb5 zeroes only the 12 signature
// bytes of the KDC buffer, not the RODC trailer that Heimdal and Samba zero,
// so it can only check PACs without an RODC identifier.
func gokrb5Process(t *testing.T, b []byte, srv types.EncryptionKey) {
	t.Helper()
	var p gopac.PACType
	if err := p.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if err := p.ProcessPACInfoBuffers(srv, nil); err != nil {
		t.Fatalf("gokrb5 ProcessPACInfoBuffers: %v", err)
	}
	k := p.KerbValidationInfo
	if k.EffectiveName.Value != "alice" || k.UserID != 1105 || k.PrimaryGroupID != 513 ||
		k.LogonDomainID.String() != "S-1-5-21-1004336348-1177238915-682003330" ||
		k.UserFlags != UserFlagExtraSIDs || len(k.ExtraSIDs) != 1 || k.ExtraSIDs[0].SID.String() != "S-1-5-21-9-9-9-1000" ||
		k.GroupCount != 1 || k.GroupIDs[0].RelativeID != 513 || k.GroupIDs[0].Attributes != 7 ||
		k.LogOffTime.MSEpoch() != int64(FileTimeNever) || k.LogonDomainName.Value != "CORP" {
		t.Errorf("gokrb5 decoded LOGON_INFO %+v", k)
	}
	if p.ClientInfo.Name != "alice" || p.ClientInfo.ClientID.MSEpoch() != 133000000000000000 {
		t.Errorf("gokrb5 decoded CLIENT_INFO %+v", p.ClientInfo)
	}
	if p.UPNDNSInfo.UPN != "alice@corp.example.test" || p.UPNDNSInfo.DNSDomain != "CORP.EXAMPLE.TEST" {
		t.Errorf("gokrb5 decoded UPN_DNS_INFO %+v", p.UPNDNSInfo)
	}
}

// tamper flips one byte of LOGON_INFO: the server and full signatures must
// fail, the KDC signature (over the server signature only) still verifies.
func tamper(t *testing.T, b []byte, srv, kdc types.EncryptionKey, full bool) {
	t.Helper()
	p, _ := Parse(append([]byte(nil), b...))
	li, _ := p.Buffer(TypeLogonInfo)
	p.Raw[li.Offset+40] ^= 1
	if err := p.VerifyServer(srv); !errors.Is(err, ErrBadChecksum) {
		t.Errorf("tampered VerifyServer: %v", err)
	}
	if err := p.VerifyKDC(kdc); err != nil {
		t.Errorf("tampered VerifyKDC: %v", err)
	}
	if full {
		if err := p.VerifyFull(kdc); !errors.Is(err, ErrBadChecksum) {
			t.Errorf("tampered VerifyFull: %v", err)
		}
	}
	if err := p.VerifyServer(aesKey(srv.KeyType, 0xee)); !errors.Is(err, ErrBadChecksum) {
		t.Errorf("wrong key: %v", err)
	}
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

func TestParsedAccessors(t *testing.T) {
	b, err := samplePAC().Sign(SigningKeys{Server: aesKey(18, 1), KDC: aesKey(18, 1), RODCNumber: 3}, SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := p.ClientInfo()
	if err != nil || ci.Name != "alice" || ci.ClientID != 133000000000000000 {
		t.Errorf("ClientInfo %+v %v", ci, err)
	}
	rs, err := p.RequesterSID()
	if err != nil || rs.String() != "S-1-5-21-1004336348-1177238915-682003330-1105" {
		t.Errorf("RequesterSID %v %v", rs, err)
	}
	rsBuf, _ := p.Buffer(TypeRequesterSID)
	if len(rsBuf.Data) != 28 {
		t.Errorf("REQUESTER_SID buffer %d bytes, want 28 (bare SID)", len(rsBuf.Data))
	}
	at, err := p.Attributes()
	if err != nil || at.Flags != AttributePACWasRequested {
		t.Errorf("Attributes %+v %v", at, err)
	}
	u, err := p.UPNDNS()
	if err != nil || u.SAMName != "alice" || u.SID == nil || !u.SID.Equal(rs) {
		t.Errorf("UPNDNS %+v %v", u, err)
	}
	s, err := p.Signature(TypeKDCChecksum)
	if err != nil || !s.HasRODC || s.RODCIdentifier != 3 || s.Type != 16 {
		t.Errorf("KDC signature %+v %v", s, err)
	}
	s, err = p.Signature(TypeServerChecksum)
	if err != nil || s.HasRODC {
		t.Errorf("server signature %+v %v", s, err)
	}
}

func TestSignRejectsKeys(t *testing.T) {
	rc4 := types.EncryptionKey{KeyType: 23, KeyValue: make([]byte, 16)}
	short := types.EncryptionKey{KeyType: 18, KeyValue: make([]byte, 16)}
	for name, keys := range map[string]SigningKeys{
		"rc4 server":   {Server: rc4, KDC: aesKey(18, 1)},
		"rc4 kdc":      {Server: aesKey(18, 1), KDC: rc4},
		"short aes256": {Server: short, KDC: aesKey(18, 1)},
		"zero key":     {},
	} {
		if _, err := samplePAC().Sign(keys, SignOptions{}); !errors.Is(err, ErrUnsupportedKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := (&PAC{}).Sign(SigningKeys{Server: aesKey(18, 1), KDC: aesKey(18, 1)}, SignOptions{}); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("PAC without client name: %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	good, err := samplePAC().Sign(SigningKeys{Server: aesKey(18, 1), KDC: aesKey(18, 1)}, SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	put32 := func(at int, v uint32) []byte {
		return mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[at:], v); return b })
	}
	cases := map[string][]byte{
		"empty":          nil,
		"7 bytes":        good[:7],
		"zero buffers":   put32(0, 0),
		"many buffers":   put32(0, 1000),
		"version 1":      put32(4, 1),
		"unaligned":      put32(8+8, uint32(binary.LittleEndian.Uint64(good[16:])+4)),
		"inside header":  put32(8+8, 8),
		"past the end":   put32(8+4, uint32(len(good))),
		"truncated":      good[:len(good)-40],
		"duplicate type": put32(8+16, 1),
	}
	for name, b := range cases {
		if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
