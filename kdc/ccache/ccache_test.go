package ccache

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/types"
)

// tinyCCache and its expected encodings were assembled by hand from MIT's
// doc/formats/ccache_file_format.rst, independently of the encoder.
func tinyCCache(version uint8) *CCache {
	a := Principal{Realm: "R", NameType: 1, Components: []string{"a"}}
	c := &CCache{Version: version, DefaultPrincipal: a}
	if version == Version4 {
		c.TimeOffset = 3*time.Second + 250*time.Microsecond
	}
	c.Credentials = []Credential{{
		Client:    a,
		Server:    Principal{Realm: "R", NameType: 2, Components: []string{"b", "R"}},
		Key:       types.EncryptionKey{KeyType: 18, KeyValue: []byte("k1")},
		AuthTime:  time.Unix(1, 0).UTC(),
		StartTime: time.Unix(2, 0).UTC(),
		EndTime:   time.Unix(3, 0).UTC(),
		RenewTill: time.Unix(4, 0).UTC(),
		IsSKey:    true,
		Flags:     0x40e00000,
		Addresses: []types.HostAddress{{AddrType: 2, Address: []byte{127, 0, 0, 1}}},
		AuthData:  []types.AuthorizationDataEntry{{ADType: -128, ADData: []byte("x")}},
		Ticket:    []byte("T"),
	}}
	return c
}

const (
	tinyPrincipalHex = "00000001" + "00000001" + "0000000152" + "0000000161"
	tinyCredTail     = "00000002" + "00000002" + "0000000152" + "0000000162" + "0000000152" + // server b/R@R
		"%s" + "000000026b31" + // enctype(s), key "k1"
		"00000001" + "00000002" + "00000003" + "00000004" + // times
		"01" + "40e00000" + // is_skey, flags FRIA
		"00000001" + "0002" + "000000047f000001" + // one IPv4 address
		"00000001" + "ff80" + "0000000178" + // authdata type -128, "x"
		"0000000154" + "00000000" // ticket "T", empty second ticket
	tinyV4Hex = "0504" + "000c" + "0001" + "0008" + "00000003" + "000000fa" + tinyPrincipalHex + tinyPrincipalHex
	tinyV3Hex = "0503" + tinyPrincipalHex + tinyPrincipalHex
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMarshalLayout(t *testing.T) {
	tests := []struct {
		name    string
		version uint8
		want    string
	}{
		{"v4", Version4, tinyV4Hex + strings.Replace(tinyCredTail, "%s", "0012", 1)},
		{"v3 repeats the enctype", Version3, tinyV3Hex + strings.Replace(tinyCredTail, "%s", "00120012", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := mustHex(t, tt.want)
			got, err := tinyCCache(tt.version).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Marshal:\n got %x\nwant %x", got, want)
			}
			parsed, err := Parse(want)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffCCache(parsed, tinyCCache(tt.version)); d != nil {
				t.Fatalf("Parse differs:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

func TestMarshalDefaultsToVersion4WithZeroOffset(t *testing.T) {
	c := &CCache{DefaultPrincipal: Principal{Realm: "R", NameType: 1, Components: []string{"a"}}}
	got, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := mustHex(t, "0504"+"000c"+"0001"+"0008"+"00000000"+"00000000"+tinyPrincipalHex)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	sample := sampleCCache(t)
	sample.Version = Version4
	v3 := sampleCCache(t)
	v3.Version = Version3
	negative := tinyCCache(Version4)
	negative.TimeOffset = -(90*time.Second + 999999*time.Microsecond)
	zeroTimes := tinyCCache(Version4)
	zeroTimes.Credentials[0].AuthTime, zeroTimes.Credentials[0].StartTime = time.Time{}, time.Time{}
	zeroTimes.Credentials[0].EndTime, zeroTimes.Credentials[0].RenewTill = time.Time{}, time.Time{}
	late := tinyCCache(Version4)
	late.Credentials[0].EndTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC) // past 2038: unsigned 32 bits
	tests := []struct {
		name string
		in   *CCache
	}{
		{"sample v4", sample},
		{"sample v3", v3},
		{"negative time offset", negative},
		{"zero times", zeroTimes},
		{"time after 2038", late},
		{"no credentials", &CCache{Version: Version4, DefaultPrincipal: Principal{Realm: "R", NameType: 1}}},
		{"unicode and empty components", &CCache{Version: Version4, DefaultPrincipal: Principal{Realm: "RÉALM", NameType: 10, Components: []string{"", "ü/x@y"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.in.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffCCache(got, tt.in); d != nil {
				t.Fatalf("round trip differs:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

func TestMarshalRefusesUnencodableValues(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *CCache)
		want   error
	}{
		{"no default principal", func(c *CCache) { c.DefaultPrincipal = Principal{} }, ErrInvalid},
		{"negative enctype", func(c *CCache) { c.Credentials[0].Key.KeyType = -1 }, ErrInvalid},
		{"enctype over 16 bits", func(c *CCache) { c.Credentials[0].Key.KeyType = 70000 }, ErrInvalid},
		{"time before 1970", func(c *CCache) { c.Credentials[0].EndTime = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC) }, ErrInvalid},
		{"time after 2106", func(c *CCache) { c.Credentials[0].EndTime = time.Date(2107, 1, 1, 0, 0, 0, 0, time.UTC) }, ErrInvalid},
		{"address type over 16 bits", func(c *CCache) { c.Credentials[0].Addresses[0].AddrType = 1 << 16 }, ErrInvalid},
		{"authdata type under -32768", func(c *CCache) { c.Credentials[0].AuthData[0].ADType = -40000 }, ErrInvalid},
		{"huge time offset", func(c *CCache) { c.TimeOffset = 1 << 62 }, ErrInvalid},
		{"time offset in v3", func(c *CCache) { c.Version = Version3 }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tinyCCache(Version4)
			tt.mutate(c)
			if _, err := c.Marshal(); !errors.Is(err, tt.want) {
				t.Fatalf("Marshal error = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("version 2", func(t *testing.T) {
		c := tinyCCache(2)
		var ve *VersionError
		if _, err := c.Marshal(); !errors.As(err, &ve) || ve.Version != 2 {
			t.Fatalf("Marshal error = %v, want *VersionError{2}", err)
		}
	})
}

func TestFlagsBitString(t *testing.T) {
	tests := []struct {
		bit  int
		want uint32
	}{
		{flags.Reserved, FlagReserved},
		{flags.Forwardable, FlagForwardable},
		{flags.Forwarded, FlagForwarded},
		{flags.Proxiable, FlagProxiable},
		{flags.Proxy, FlagProxy},
		{flags.MayPostDate, FlagMayPostdate},
		{flags.PostDated, FlagPostdated},
		{flags.Invalid, FlagInvalid},
		{flags.Renewable, FlagRenewable},
		{flags.Initial, FlagInitial},
		{flags.PreAuthent, FlagPreAuthent},
		{flags.HWAuthent, FlagHWAuthent},
		{flags.TransitedPolicyChecked, FlagTransitedPolicyChecked},
		{flags.OKAsDelegate, FlagOKAsDelegate},
		{flags.EncPARep, FlagEncPARep},
		{16, FlagAnonymous},
		{31, 1},
	}
	for _, tt := range tests {
		bs := types.NewKrbFlags()
		types.SetFlag(&bs, tt.bit)
		if got := FlagsFromBitString(bs); got != tt.want {
			t.Errorf("bit %d: FlagsFromBitString = %#08x, want %#08x", tt.bit, got, tt.want)
		}
		back := FlagsToBitString(tt.want)
		if back.BitLength != 32 || !types.IsFlagSet(&back, tt.bit) || !bytes.Equal(back.Bytes, bs.Bytes) {
			t.Errorf("bit %d: FlagsToBitString(%#08x) = %+v", tt.bit, tt.want, back)
		}
	}
	// Short and long bit strings: missing bits are clear, extra bits ignored.
	if got := FlagsFromBitString(asn1.BitString{Bytes: []byte{0x40}, BitLength: 8}); got != FlagForwardable {
		t.Errorf("8-bit string: %#08x", got)
	}
	if got := FlagsFromBitString(asn1.BitString{Bytes: []byte{0, 0, 0, 1, 0xff}, BitLength: 40}); got != 1 {
		t.Errorf("40-bit string: %#08x", got)
	}
}

func TestParseErrors(t *testing.T) {
	valid := mustHex(t, tinyV4Hex+strings.Replace(tinyCredTail, "%s", "0012", 1))
	tests := []struct {
		name    string
		in      string
		version uint8 // non-zero: want *VersionError
	}{
		{"empty", "", 0},
		{"one byte", "05", 0},
		{"wrong marker", "0604000000000001000000000000000152", 0},
		{"version 1", "0501", 1},
		{"version 2", "0502" + tinyPrincipalHex, 2},
		{"version 9", "0509", 9},
		{"header longer than file", "0504ffff0001", 0},
		{"time offset field of length 4", "05040008000100040000000" + "0" + tinyPrincipalHex, 0},
		{"header field longer than header", "0504000600010008000000000000000000000000" + tinyPrincipalHex, 0},
		{"component count too large", "0503" + "00000001" + "ffffffff" + "0000000152", 0},
		{"realm length too large", "0503" + "00000001" + "00000000" + "7fffffff52", 0},
		{"realm length 2^32-1", "0503" + "00000001" + "00000000" + "ffffffff52", 0},
		{"address count too large", tinyV3Hex + "00000001000000010000000152000000016100120000000000000000000000000000000000000000000000000000fffffff0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(mustHex(t, tt.in))
			if tt.version != 0 {
				var ve *VersionError
				if !errors.As(err, &ve) || ve.Version != tt.version {
					t.Fatalf("Parse error = %v, want *VersionError{%d}", err, tt.version)
				}
				return
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error = %v, want ErrMalformed", err)
			}
		})
	}
	// Every prefix either fails or is a complete cache (it ends exactly
	// after the default principal or after a credential).
	for i := 0; i < len(valid); i++ {
		c, err := Parse(valid[:i])
		if err == nil {
			b, merr := c.Marshal()
			if merr != nil || !bytes.Equal(b, valid[:i]) {
				t.Errorf("prefix %d parsed as %+v, re-encodes as %x (%v)", i, c, b, merr)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Errorf("prefix %d: error %v does not wrap ErrMalformed", i, err)
		}
	}
	// Unknown header tags are skipped.
	withUnknown := mustHex(t, "0504"+"0012"+"0007"+"0002"+"abcd"+"0001"+"0008"+"00000003"+"000000fa"+tinyPrincipalHex)
	c, err := Parse(withUnknown)
	if err != nil || c.TimeOffset != 3*time.Second+250*time.Microsecond {
		t.Fatalf("unknown header tag: %+v, %v", c, err)
	}
}

func TestConfigEntries(t *testing.T) {
	c := sampleCCache(t)
	tgs := NewPrincipal(testRealm, tgsName)
	if v, ok := c.Config(ConfigFASTAvail, nil); !ok || string(v) != "yes" {
		t.Fatalf("fast_avail = %q, %v", v, ok)
	}
	if v, ok := c.Config(ConfigPAType, &tgs); !ok || string(v) != "2" {
		t.Fatalf("pa_type = %q, %v", v, ok)
	}
	if _, ok := c.Config(ConfigPAType, nil); ok {
		t.Fatal("pa_type without principal found")
	}
	c.SetConfig(ConfigFASTAvail, nil, []byte("no"))
	if v, _ := c.Config(ConfigFASTAvail, nil); string(v) != "no" || len(c.Credentials) != 4 {
		t.Fatalf("SetConfig did not replace: %q, %d credentials", v, len(c.Credentials))
	}
	entries := c.Entries()
	if len(entries) != 2 || entries[0].Server.Components[0] != "krbtgt" || entries[1].Server.Components[0] != "HTTP" {
		t.Fatalf("Entries = %+v", entries)
	}
	conf := c.Credentials[3]
	key, assoc, ok := conf.ConfigKey()
	if !ok || key != ConfigPAType || assoc != "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST" {
		t.Fatalf("ConfigKey = %q %q %v", key, assoc, ok)
	}
	want := Credential{Client: c.DefaultPrincipal, Server: Principal{Realm: "X-CACHECONF:", NameType: 1,
		Components: []string{"krb5_ccache_conf_data", "pa_type", "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST"}}, Ticket: []byte("2")}
	if !reflect.DeepEqual(conf, want) {
		t.Fatalf("config entry = %+v\nwant %+v", conf, want)
	}
}

func TestPrincipalString(t *testing.T) {
	tests := []struct {
		p    Principal
		want string
	}{
		{NewPrincipal(testRealm, tgsName), "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST"},
		{Principal{Realm: "R@X", Components: []string{"a/b", "c@d", `e\f`, "g\n\t\b\x00"}}, `a\/b/c\@d/e\\f/g\n\t\b\0@R\@X`},
		{Principal{Realm: "R/S"}, "@R/S"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
