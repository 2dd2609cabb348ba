package ccache

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/test/testdata"

	"github.com/passkdc/passkdc/internal/testenv"
)

// compareWithGokrb5 checks that gokrb5's reader agrees with ours on every
// field of every credential.
func compareWithGokrb5(t *testing.T, ours *CCache, theirs *credentials.CCache) {
	t.Helper()
	if theirs.Version != ours.Version {
		t.Errorf("version: gokrb5 %d, ours %d", theirs.Version, ours.Version)
	}
	if got := NewPrincipal(theirs.GetClientRealm(), theirs.GetClientPrincipalName()); !got.Equal(ours.DefaultPrincipal) {
		t.Errorf("default principal: gokrb5 %v, ours %v", got, ours.DefaultPrincipal)
	}
	if len(theirs.Credentials) != len(ours.Credentials) {
		t.Fatalf("gokrb5 read %d credentials, ours %d", len(theirs.Credentials), len(ours.Credentials))
	}
	for i, g := range theirs.Credentials {
		o := ours.Credentials[i]
		checks := []struct {
			name string
			ok   bool
		}{
			{"client", NewPrincipal(g.Client.Realm, g.Client.PrincipalName).Equal(o.Client)},
			{"server", NewPrincipal(g.Server.Realm, g.Server.PrincipalName).Equal(o.Server)},
			{"key type", g.Key.KeyType == o.Key.KeyType},
			{"key value", bytes.Equal(g.Key.KeyValue, o.Key.KeyValue)},
			{"authtime", sameTime(g.AuthTime, o.AuthTime)},
			{"starttime", sameTime(g.StartTime, o.StartTime)},
			{"endtime", sameTime(g.EndTime, o.EndTime)},
			{"renew_till", sameTime(g.RenewTill, o.RenewTill)},
			{"is_skey", g.IsSKey == o.IsSKey},
			{"flags", FlagsFromBitString(g.TicketFlags) == o.Flags},
			{"address count", len(g.Addresses) == len(o.Addresses)},
			{"authdata count", len(g.AuthData) == len(o.AuthData)},
			{"ticket", bytes.Equal(g.Ticket, o.Ticket)},
			{"second ticket", bytes.Equal(g.SecondTicket, o.SecondTicket)},
		}
		for j := range g.Addresses {
			if j < len(o.Addresses) {
				checks = append(checks, struct {
					name string
					ok   bool
				}{"address", g.Addresses[j].AddrType == o.Addresses[j].AddrType && bytes.Equal(g.Addresses[j].Address, o.Addresses[j].Address)})
			}
		}
		for j := range g.AuthData {
			if j < len(o.AuthData) {
				checks = append(checks, struct {
					name string
					ok   bool
				}{"authdata", g.AuthData[j].ADType == o.AuthData[j].ADType && bytes.Equal(g.AuthData[j].ADData, o.AuthData[j].ADData)})
			}
		}
		for _, c := range checks {
			if !c.ok {
				t.Errorf("credential %d: gokrb5 and ours disagree on %s:\ngokrb5 %+v\nours   %+v", i, c.name, g, o)
			}
		}
	}
	if len(theirs.GetEntries()) != len(ours.Entries()) {
		t.Errorf("non-config entries: gokrb5 %d, ours %d", len(theirs.GetEntries()), len(ours.Entries()))
	}
}

// sameTime compares a gokrb5 time (time.Unix of the raw value, 1970 for 0)
// with ours (zero time for 0).
func sameTime(g, o time.Time) bool {
	if o.IsZero() {
		return g.Unix() == 0
	}
	return g.Equal(o)
}

func TestGokrb5ReadsOurs(t *testing.T) {
	for _, v := range []uint8{Version4, Version3} {
		c := sampleCCache(t)
		c.Version = v
		path := filepath.Join(t.TempDir(), "cc")
		if err := c.WriteFile(path); err != nil {
			t.Fatal(err)
		}
		theirs, err := credentials.LoadCCache(path)
		if err != nil {
			t.Fatalf("v%d: gokrb5 LoadCCache: %v", v, err)
		}
		compareWithGokrb5(t, c, theirs)
	}
}

// TestPublishedMITCache reads the cache written by MIT kinit that gokrb5
// publishes as a test vector (one TGT, one HTTP service ticket, one
// fast_avail configuration entry, KDC time offset in the header).
func TestPublishedMITCache(t *testing.T) {
	b, err := hex.DecodeString(testdata.CCACHE_TEST)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.DefaultPrincipal.String(); got != "testuser1@TEST.GOKRB5" {
		t.Errorf("default principal %s", got)
	}
	if len(c.Credentials) != 3 || len(c.Entries()) != 2 {
		t.Fatalf("%d credentials, %d entries", len(c.Credentials), len(c.Entries()))
	}
	tgs := Principal{Realm: "TEST.GOKRB5", NameType: 2, Components: []string{"krbtgt", "TEST.GOKRB5"}}
	if !c.Credentials[0].Server.Equal(tgs) {
		t.Errorf("first server %v", c.Credentials[0].Server)
	}
	if v, ok := c.Config(ConfigFASTAvail, &tgs); !ok || string(v) != "yes" {
		t.Errorf("fast_avail = %q, %v", v, ok)
	}
	theirs := new(credentials.CCache)
	if err := theirs.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	compareWithGokrb5(t, c, theirs)
	again, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b) {
		t.Errorf("re-encoding the MIT cache changed it:\n got %x\nwant %x", again, b)
	}
}

func TestKlistReadsOurs(t *testing.T) {
	klist := testenv.RequireTool(t, "klist")
	tests := []struct {
		name    string
		version uint8
		useEnv  bool
	}{
		{"v4 with -c", Version4, false},
		{"v4 from KRB5CCNAME", Version4, true},
		{"v3 with -c", Version3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			env := writeKrb5Conf(t, dir, "")
			path := filepath.Join(dir, "krb5cc_test")
			c := sampleCCache(t)
			c.Version = tt.version
			if err := c.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			args := []string{"-e", "-f", "-a", "-c", "FILE:" + path}
			if tt.useEnv {
				args = []string{"-e", "-f", "-a"}
				env = append(env, "KRB5CCNAME=FILE:"+path)
			}
			out := runKlist(t, klist, env, args...)
			want := []string{
				"Ticket cache: FILE:" + path,
				"Default principal: alice@EXAMPLE.TEST",
				"01/02/35 03:04:05  01/02/35 13:04:05  krbtgt/EXAMPLE.TEST@EXAMPLE.TEST",
				"renew until 01/09/35 03:04:05, Flags: FRIA",
				"Etype (skey, tkt): aes256-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96",
				"01/02/35 03:05:05  01/02/35 13:04:05  HTTP/web.example.test@EXAMPLE.TEST",
				"Flags: FAO",
				"Addresses: 192.0.2.1, fefe:fefe:fefe:fefe:fefe:fefe:fefe:fefe",
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("klist output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "X-CACHECONF") {
				t.Errorf("klist shows configuration entries without -C:\n%s", out)
			}
			conf := runKlist(t, klist, env, "-C", "-c", "FILE:"+path)
			for _, w := range []string{"config: fast_avail = yes", "config: pa_type(krbtgt/EXAMPLE.TEST@EXAMPLE.TEST) = 2"} {
				if !strings.Contains(conf, w) {
					t.Errorf("klist -C output lacks %q:\n%s", w, conf)
				}
			}
		})
	}
}

func runKlist(t *testing.T, klist string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(klist, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("klist %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// mitSpec is the input of "mitkrb5.py writecc".
type mitSpec struct {
	CCache  string          `json:"ccache"`
	Default mitPrincipal    `json:"default"`
	Creds   []mitCred       `json:"creds"`
	Config  []mitConfigItem `json:"config"`
}

type mitPrincipal struct {
	Realm      string   `json:"realm"`
	Type       int32    `json:"type"`
	Components []string `json:"components"`
}

type mitCred struct {
	Client       mitPrincipal `json:"client"`
	Server       mitPrincipal `json:"server"`
	Enctype      int32        `json:"enctype"`
	Key          string       `json:"key"`
	AuthTime     uint32       `json:"authtime"`
	StartTime    uint32       `json:"starttime"`
	EndTime      uint32       `json:"endtime"`
	RenewTill    uint32       `json:"renew_till"`
	IsSKey       bool         `json:"is_skey"`
	Flags        uint32       `json:"flags"`
	Addresses    [][2]any     `json:"addresses"`
	AuthData     [][2]any     `json:"authdata"`
	Ticket       string       `json:"ticket"`
	SecondTicket string       `json:"second_ticket"`
}

type mitConfigItem struct {
	Key       string        `json:"key"`
	Principal *mitPrincipal `json:"principal"`
	Value     string        `json:"value"`
}

func toMIT(p Principal) mitPrincipal {
	return mitPrincipal{Realm: p.Realm, Type: p.NameType, Components: append([]string{}, p.Components...)}
}

func wireTime(t time.Time) uint32 {
	if t.IsZero() {
		return 0
	}
	return uint32(t.Unix())
}

// specFor describes c's non-configuration credentials for MIT.
func specFor(c *CCache, ccname string) mitSpec {
	s := mitSpec{CCache: ccname, Default: toMIT(c.DefaultPrincipal)}
	for _, cr := range c.Entries() {
		m := mitCred{
			Client: toMIT(cr.Client), Server: toMIT(cr.Server),
			Enctype: cr.Key.KeyType, Key: hex.EncodeToString(cr.Key.KeyValue),
			AuthTime: wireTime(cr.AuthTime), StartTime: wireTime(cr.StartTime),
			EndTime: wireTime(cr.EndTime), RenewTill: wireTime(cr.RenewTill),
			IsSKey: cr.IsSKey, Flags: cr.Flags,
			Ticket: hex.EncodeToString(cr.Ticket), SecondTicket: hex.EncodeToString(cr.SecondTicket),
		}
		for _, a := range cr.Addresses {
			m.Addresses = append(m.Addresses, [2]any{a.AddrType, hex.EncodeToString(a.Address)})
		}
		for _, a := range cr.AuthData {
			m.AuthData = append(m.AuthData, [2]any{a.ADType, hex.EncodeToString(a.ADData)})
		}
		s.Creds = append(s.Creds, m)
	}
	return s
}

// TestReadMITWritten has MIT's library (krb5_cc_initialize,
// krb5_cc_store_cred, krb5_cc_set_config) write a FILE cache from the
// sample credentials, in format 4 and 3, and checks that we read back exactly
// what MIT was given and re-encode MIT's credential bytes identically.
func TestReadMITWritten(t *testing.T) {
	for _, v := range []uint8{Version4, Version3} {
		t.Run("v"+string(rune('0'+v)), func(t *testing.T) {
			dir := t.TempDir()
			env := writeKrb5Conf(t, dir, " ccache_type = "+string(rune('0'+v))+"\n")
			want := sampleCCache(t)
			want.Version = v
			path := filepath.Join(dir, "mitcc")
			spec := specFor(want, "FILE:"+path)
			tgs := toMIT(want.Credentials[0].Server)
			spec.Config = []mitConfigItem{{Key: ConfigFASTAvail, Value: "yes"}, {Key: ConfigPAType, Principal: &tgs, Value: "2"}}
			js, err := json.Marshal(spec)
			if err != nil {
				t.Fatal(err)
			}
			specPath := filepath.Join(dir, "spec.json")
			if err := os.WriteFile(specPath, js, 0o600); err != nil {
				t.Fatal(err)
			}
			runMIT(t, env, "writecc", specPath)
			mit, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(mit)
			if err != nil {
				t.Fatalf("parse MIT cache: %v", err)
			}
			if d := diffCCache(got, want); d != nil {
				t.Fatalf("MIT-written cache differs from its input:\n%s", strings.Join(d, "\n"))
			}
			// MIT writes an empty v4 header (no time offset known); ours
			// carries DeltaTime 0,0. Everything after the header is identical.
			ours, err := got.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			mitBody, ourBody := mit[2:], ours[2:]
			if v == Version4 {
				if !bytes.Equal(mit[2:4], []byte{0, 0}) {
					t.Fatalf("MIT header %x, expected empty", mit[:4])
				}
				mitBody, ourBody = mit[4:], ours[16:]
			}
			if !bytes.Equal(mitBody, ourBody) {
				t.Fatalf("re-encoded body differs:\nmit  %x\nours %x", mitBody, ourBody)
			}
		})
	}
}
