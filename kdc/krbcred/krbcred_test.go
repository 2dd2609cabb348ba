package krbcred

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/ccache"
)

func TestRoundTrip(t *testing.T) {
	full := sampleCred(t)
	minimal := &Cred{Tickets: full.Tickets[:1], Infos: []Info{{Key: full.Infos[0].Key}}}
	none := &Cred{}
	tests := []struct {
		name  string
		cred  *Cred
		etype int32 // 0: no key
	}{
		{"clear, all fields", full, 0},
		{"aes256, all fields", full, etypeID.AES256_CTS_HMAC_SHA1_96},
		{"aes128, all fields", full, etypeID.AES128_CTS_HMAC_SHA1_96},
		{"aes256-sha384, all fields", full, etypeID.AES256_CTS_HMAC_SHA384_192},
		{"rc4, all fields", full, etypeID.RC4_HMAC},
		{"clear, key only", minimal, 0},
		{"aes256, key only", minimal, etypeID.AES256_CTS_HMAC_SHA1_96},
		{"clear, no tickets", none, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var key *types.EncryptionKey
			if tt.etype != 0 {
				key = randomKey(t, tt.etype)
			}
			b, err := tt.cred.Marshal(key)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(b, key)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffCred(got, tt.cred); d != nil {
				t.Fatalf("round trip differs:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

func TestMarshalNormalisesTimes(t *testing.T) {
	c := sampleCred(t)
	loc := time.FixedZone("UTC+2", 2*3600)
	c.Infos[0].AuthTime = tAuth.In(loc).Add(700 * time.Millisecond)
	b, err := c.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Infos[0].AuthTime.Equal(tAuth) || got.Infos[0].AuthTime.Location() != time.UTC {
		t.Fatalf("authtime %v, want %v in UTC", got.Infos[0].AuthTime, tAuth)
	}
}

// node is one DER element, decoded here without the asn1 package so that
// the encoder is checked against the bytes themselves.
type node struct {
	class, tag int
	compound   bool
	content    []byte
	full       []byte
}

func readNode(b []byte) (node, []byte, error) {
	if len(b) < 2 {
		return node{}, nil, errors.New("short element")
	}
	n := node{class: int(b[0] >> 6), compound: b[0]&0x20 != 0, tag: int(b[0] & 0x1f)}
	if n.tag == 0x1f {
		return node{}, nil, errors.New("multi-byte tag")
	}
	l, off := int(b[1]), 2
	if l&0x80 != 0 {
		nb := l & 0x7f
		if nb == 0 || nb > 3 || len(b) < 2+nb {
			return node{}, nil, errors.New("bad length")
		}
		l = 0
		for _, c := range b[2 : 2+nb] {
			l = l<<8 | int(c)
		}
		off += nb
	}
	if len(b)-off < l {
		return node{}, nil, errors.New("truncated")
	}
	n.content, n.full = b[off:off+l], b[:off+l]
	return n, b[off+l:], nil
}

func children(t *testing.T, b []byte) []node {
	t.Helper()
	var out []node
	for len(b) > 0 {
		n, rest, err := readNode(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
		b = rest
	}
	return out
}

// only returns the single element of b, checking its class and tag.
func only(t *testing.T, b []byte, class, tag int) node {
	t.Helper()
	ns := children(t, b)
	if len(ns) != 1 || ns[0].class != class || ns[0].tag != tag {
		t.Fatalf("want one element of class %d tag %d, got %+v", class, tag, ns)
	}
	return ns[0]
}

// field returns the context-tagged [tag] among ns.
func field(t *testing.T, ns []node, tag int) node {
	t.Helper()
	for _, n := range ns {
		if n.class == 2 && n.tag == tag {
			return n
		}
	}
	t.Fatalf("no [%d] field among %d elements", tag, len(ns))
	return node{}
}

const (
	classUniversal   = 0
	classApplication = 1
	tagGeneralString = 0x1b
	tagIA5String     = 0x16
	tagGeneralized   = 0x18
)

// credInfos walks a clear-text KRB-CRED down to its KrbCredInfo fields and
// also returns the SEQUENCE OF Ticket elements.
func credInfos(t *testing.T, der []byte) (infos [][]node, tickets []node) {
	t.Helper()
	app := only(t, der, classApplication, 22)
	top := children(t, only(t, app.content, classUniversal, 16).content)
	tickets = children(t, only(t, field(t, top, 2).content, classUniversal, 16).content)
	ed := children(t, only(t, field(t, top, 3).content, classUniversal, 16).content)
	if et := field(t, ed, 0).content; !bytes.Equal(et, []byte{2, 1, 0}) {
		t.Fatalf("enc-part etype %x, want INTEGER 0", et)
	}
	cipher := only(t, field(t, ed, 2).content, classUniversal, 4)
	encPart := only(t, cipher.content, classApplication, 29)
	parts := children(t, only(t, encPart.content, classUniversal, 16).content)
	for _, info := range children(t, only(t, field(t, parts, 0).content, classUniversal, 16).content) {
		if info.class != classUniversal || info.tag != 16 {
			t.Fatalf("KrbCredInfo is class %d tag %d", info.class, info.tag)
		}
		infos = append(infos, children(t, info.content))
	}
	return infos, tickets
}

func TestDEREncoding(t *testing.T) {
	c := sampleCred(t)
	der, err := c.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	infos, tickets := credInfos(t, der)
	if len(tickets) != 2 || !bytes.Equal(tickets[0].full, c.Tickets[0]) || !bytes.Equal(tickets[1].full, c.Tickets[1]) {
		t.Fatal("tickets are not carried byte for byte")
	}
	for i, fields := range infos {
		for _, tag := range []int{1, 8} { // prealm, srealm
			v := only(t, field(t, fields, tag).content, classUniversal, tagGeneralString)
			if string(v.content) != testRealm {
				t.Errorf("info %d [%d] = %q", i, tag, v.content)
			}
		}
		for _, tag := range []int{4, 6} { // authtime, endtime
			v := only(t, field(t, fields, tag).content, classUniversal, tagGeneralized)
			if len(v.content) != 15 || v.content[14] != 'Z' {
				t.Errorf("info %d [%d] KerberosTime %q is not YYYYMMDDHHMMSSZ", i, tag, v.content)
			}
		}
		flags := only(t, field(t, fields, 3).content, classUniversal, 3)
		if len(flags.content) != 5 || flags.content[0] != 0 {
			t.Errorf("info %d flags %x: want 32 bits, 0 unused", i, flags.content)
		}
	}
	if got := string(only(t, field(t, infos[0], 4).content, 0, tagGeneralized).content); got != "20350102030405Z" {
		t.Errorf("authtime %q", got)
	}
	// Absent OPTIONAL fields are omitted: the TGT has no caddr, the service
	// ticket no renew-till.
	for _, n := range infos[0] {
		if n.tag == 10 {
			t.Error("empty caddr encoded")
		}
	}
	for _, n := range infos[1] {
		if n.tag == 7 {
			t.Error("zero renew-till encoded")
		}
	}
}

// TestGokrb5EncodesIA5Realm documents why this package exists: gokrb5's
// own KrbCredInfo puts srealm in an IA5String.
func TestGokrb5EncodesIA5Realm(t *testing.T) {
	b := gokrb5EncPart(t, sampleCred(t))
	parts := children(t, only(t, only(t, b, classApplication, 29).content, classUniversal, 16).content)
	info := children(t, only(t, field(t, parts, 0).content, classUniversal, 16).content)
	fields := children(t, info[0].content)
	if tag := only(t, field(t, fields, 8).content, classUniversal, tagIA5String).tag; tag != tagIA5String {
		t.Fatalf("gokrb5 srealm tag %#x", tag)
	}
}

// gokrb5EncPart encodes c's enc-part with gokrb5's structures.
func gokrb5EncPart(t *testing.T, c *Cred) []byte {
	t.Helper()
	var ep messages.EncKrbCredPart
	for _, i := range c.Infos {
		ep.TicketInfo = append(ep.TicketInfo, messages.KrbCredInfo{
			Key: i.Key, PRealm: i.PRealm, PName: i.PName, Flags: ccache.FlagsToBitString(i.Flags),
			AuthTime: i.AuthTime, StartTime: i.StartTime, EndTime: i.EndTime, RenewTill: i.RenewTill,
			SRealm: i.SRealm, SName: i.SName, CAddr: i.CAddr,
		})
	}
	b, err := asn1.Marshal(ep)
	if err != nil {
		t.Fatal(err)
	}
	return asn1tools.AddASNAppTag(b, 29)
}

func TestGokrb5ParsesOurs(t *testing.T) {
	for _, etype := range []int32{0, etypeID.AES256_CTS_HMAC_SHA1_96} {
		t.Run(fmt.Sprintf("etype %d", etype), func(t *testing.T) {
			c := sampleCred(t)
			var key *types.EncryptionKey
			if etype != 0 {
				key = randomKey(t, etype)
			}
			b, err := c.Marshal(key)
			if err != nil {
				t.Fatal(err)
			}
			var g messages.KRBCred
			if err := g.Unmarshal(b); err != nil {
				t.Fatalf("gokrb5 KRBCred.Unmarshal: %v", err)
			}
			if g.PVNO != 5 || g.MsgType != 22 || g.EncPart.EType != etype {
				t.Fatalf("gokrb5 header %d %d etype %d", g.PVNO, g.MsgType, g.EncPart.EType)
			}
			if key != nil {
				err = g.DecryptEncPart(*key)
			} else {
				err = g.DecryptedEncPart.Unmarshal(g.EncPart.Cipher)
			}
			if err != nil {
				t.Fatalf("gokrb5 enc-part: %v", err)
			}
			compareGokrb5(t, c, &g)
		})
	}
}

func compareGokrb5(t *testing.T, c *Cred, g *messages.KRBCred) {
	t.Helper()
	if len(g.Tickets) != len(c.Tickets) {
		t.Fatalf("gokrb5 read %d tickets", len(g.Tickets))
	}
	for i, tkt := range g.Tickets {
		if b, err := tkt.Marshal(); err != nil || !bytes.Equal(b, c.Tickets[i]) {
			t.Errorf("ticket %d differs after gokrb5 decoding (%v)", i, err)
		}
	}
	ep := g.DecryptedEncPart
	if ep.Nouce != int(c.Nonce) || !ep.Timestamp.Equal(c.Timestamp) || ep.Usec != int(c.Usec) ||
		!ep.SAddress.Equal(*c.SAddress) || !ep.RAddress.Equal(*c.RAddress) {
		t.Errorf("enc-part header: gokrb5 %+v", ep)
	}
	if len(ep.TicketInfo) != len(c.Infos) {
		t.Fatalf("gokrb5 read %d infos", len(ep.TicketInfo))
	}
	for i, gi := range ep.TicketInfo {
		o := c.Infos[i]
		ok := gi.Key.KeyType == o.Key.KeyType && bytes.Equal(gi.Key.KeyValue, o.Key.KeyValue) &&
			gi.PRealm == o.PRealm && gi.PName.Equal(o.PName) && gi.PName.NameType == o.PName.NameType &&
			ccache.FlagsFromBitString(gi.Flags) == o.Flags &&
			gi.AuthTime.Equal(o.AuthTime) && gi.StartTime.Equal(o.StartTime) && gi.EndTime.Equal(o.EndTime) &&
			gi.RenewTill.Equal(o.RenewTill) &&
			gi.SRealm == o.SRealm && gi.SName.Equal(o.SName) && gi.SName.NameType == o.SName.NameType &&
			types.HostAddressesEqual(gi.CAddr, o.CAddr)
		if !ok {
			t.Errorf("info %d: gokrb5 %+v\nours %+v", i, gi, o)
		}
	}
}

func TestParseKeyErrors(t *testing.T) {
	c := sampleCred(t)
	aes := randomKey(t, etypeID.AES256_CTS_HMAC_SHA1_96)
	enc, err := c.Marshal(aes)
	if err != nil {
		t.Fatal(err)
	}
	clear, err := c.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	shortKey := &types.EncryptionKey{KeyType: aes.KeyType, KeyValue: aes.KeyValue[:16]}
	tests := []struct {
		name string
		in   []byte
		key  *types.EncryptionKey
		want error
	}{
		{"wrong key", enc, randomKey(t, etypeID.AES256_CTS_HMAC_SHA1_96), ErrDecrypt},
		{"no key", enc, nil, ErrKeyRequired},
		{"other etype", enc, randomKey(t, etypeID.AES128_CTS_HMAC_SHA1_96), ErrEtypeMismatch},
		{"key for clear text", clear, aes, ErrNotEncrypted},
		{"key of wrong length", enc, shortKey, ErrDecrypt},
		{"unknown etype", withEtype(t, enc, 99), &types.EncryptionKey{KeyType: 99, KeyValue: make([]byte, 32)}, ErrDecrypt},
		{"short cipher", withCipher(t, enc, make([]byte, 27)), aes, ErrDecrypt},
		{"tampered cipher", withCipher(t, enc, flipLast(encCipher(t, enc))), aes, ErrDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.in, tt.key); !errors.Is(err, tt.want) {
				t.Fatalf("Parse error = %v, want %v", err, tt.want)
			}
		})
	}
}

func decodeOuter(t *testing.T, b []byte) krbCredWire {
	t.Helper()
	var w krbCredWire
	if _, err := asn1.UnmarshalWithParams(b, &w, "application,explicit,tag:22"); err != nil {
		t.Fatal(err)
	}
	return w
}

func encCipher(t *testing.T, b []byte) []byte {
	return decodeOuter(t, b).EncPart.Cipher
}

func reencode(t *testing.T, b []byte, ed types.EncryptedData) []byte {
	t.Helper()
	w := decodeOuter(t, b)
	tickets, err := parseTickets(w.Tickets)
	if err != nil {
		t.Fatal(err)
	}
	out, err := (&Cred{Tickets: tickets}).marshalOuter(ed)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func withEtype(t *testing.T, b []byte, etype int32) []byte {
	ed := decodeOuter(t, b).EncPart
	ed.EType = etype
	return reencode(t, b, ed)
}

func withCipher(t *testing.T, b []byte, cipher []byte) []byte {
	ed := decodeOuter(t, b).EncPart
	ed.Cipher = cipher
	return reencode(t, b, ed)
}

func flipLast(b []byte) []byte {
	out := append([]byte{}, b...)
	out[len(out)-1] ^= 1
	return out
}

func TestParseMalformed(t *testing.T) {
	c := sampleCred(t)
	clear, err := c.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	encPart := decodeOuter(t, clear).EncPart.Cipher
	mk := func(pv, mt int, tickets [][]byte, ed types.EncryptedData) []byte {
		t.Helper()
		p, _ := explicitValue(0, pv)
		m, _ := explicitValue(1, mt)
		ts, _ := sequence(tickets...)
		ts, _ = explicit(2, ts)
		e, _ := explicitValue(3, ed)
		body, _ := sequence(p, m, ts, e)
		out, err := tlv(asn1.ClassApplication, 22, true, body)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	clearED := types.EncryptedData{Cipher: encPart}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"garbage", []byte("not a KRB-CRED")},
		{"trailing byte", append(append([]byte{}, clear...), 0)},
		{"pvno 4", mk(4, 22, c.Tickets, clearED)},
		{"msg-type 21", mk(5, 21, c.Tickets, clearED)},
		{"one ticket, two infos", mk(5, 22, c.Tickets[:1], clearED)},
		{"ticket not [APPLICATION 1]", mk(5, 22, [][]byte{{0x30, 0x00}, c.Tickets[1]}, clearED)},
		{"enc-part not EncKrbCredPart", mk(5, 22, c.Tickets, types.EncryptedData{Cipher: []byte{0x30, 0x00}})},
		{"enc-part with trailing bytes", mk(5, 22, c.Tickets, types.EncryptedData{Cipher: append(append([]byte{}, encPart...), 0)})},
		{"gokrb5 wrapper (wrong application tag)", append([]byte{0x75}, clear[1:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.in, nil); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error = %v, want ErrMalformed", err)
			}
		})
	}
	for i := 0; i < len(clear); i++ {
		if _, err := Parse(clear[:i], nil); err == nil {
			t.Errorf("prefix of %d/%d bytes parsed", i, len(clear))
		}
	}
	for i := range clear {
		b := append([]byte{}, clear...)
		b[i] ^= 0xff
		_, _ = Parse(b, nil) // must not panic
	}
}

func TestMarshalInvalid(t *testing.T) {
	c := sampleCred(t)
	tests := []struct {
		name   string
		mutate func(c *Cred)
		key    *types.EncryptionKey
	}{
		{"fewer infos than tickets", func(c *Cred) { c.Infos = c.Infos[:1] }, nil},
		{"ticket not DER", func(c *Cred) { c.Tickets[0] = []byte{1, 2, 3} }, nil},
		{"ticket with trailing bytes", func(c *Cred) { c.Tickets[0] = append(append([]byte{}, c.Tickets[0]...), 0) }, nil},
		{"ticket is a SEQUENCE", func(c *Cred) { c.Tickets[0] = []byte{0x30, 0} }, nil},
		{"unknown key etype", func(c *Cred) {}, &types.EncryptionKey{KeyType: 99, KeyValue: []byte{1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := *c
			cc.Tickets = append([][]byte{}, c.Tickets...)
			tt.mutate(&cc)
			if _, err := cc.Marshal(tt.key); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Marshal error = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestCCacheConversion(t *testing.T) {
	c := sampleCred(t)
	c.Nonce, c.Timestamp, c.Usec, c.SAddress, c.RAddress = 0, time.Time{}, 0, nil, nil
	creds, err := ToCCache(c)
	if err != nil {
		t.Fatal(err)
	}
	want := ccache.Credential{
		Client: ccache.Principal{Realm: testRealm, NameType: 1, Components: []string{"alice"}},
		Server: ccache.Principal{Realm: testRealm, NameType: 3, Components: []string{"cifs", "dc1.example.test"}},
		Key:    c.Infos[1].Key, AuthTime: tAuth, StartTime: tAuth.Add(time.Minute), EndTime: tAuth.Add(10 * time.Hour),
		Flags: ccache.FlagForwardable | ccache.FlagPreAuthent, Addresses: c.Infos[1].CAddr, Ticket: c.Tickets[1],
	}
	if fmt.Sprintf("%#v", creds[1]) != fmt.Sprintf("%#v", want) {
		t.Fatalf("ToCCache:\n got %#v\nwant %#v", creds[1], want)
	}
	back, err := FromCCache(creds)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffCred(back, c); d != nil {
		t.Fatalf("FromCCache(ToCCache) differs:\n%s", strings.Join(d, "\n"))
	}
	cc, err := NewCCache(c)
	if err != nil {
		t.Fatal(err)
	}
	if cc.DefaultPrincipal.String() != "alice@EXAMPLE.TEST" || len(cc.Credentials) != 2 || cc.Version != ccache.Version4 {
		t.Fatalf("NewCCache = %+v", cc)
	}
	cc.SetConfig(ccache.ConfigFASTAvail, nil, []byte("yes"))
	if _, err := FromCCache(cc.Credentials); !errors.Is(err, ErrInvalid) {
		t.Errorf("FromCCache with a config entry: %v", err)
	}
	noName := sampleCred(t)
	noName.Infos[0].PName = types.PrincipalName{}
	if _, err := ToCCache(noName); !errors.Is(err, ErrNoPrincipal) {
		t.Errorf("ToCCache without pname: %v", err)
	}
	if _, err := NewCCache(&Cred{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewCCache of nothing: %v", err)
	}
}
