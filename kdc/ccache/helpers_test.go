package ccache

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/internal/testenv"
)

const testRealm = "EXAMPLE.TEST"

// writeKrb5Conf writes a private krb5.conf (extra lines go to [libdefaults])
// and returns the environment MIT tools need to use it and nothing else.
func writeKrb5Conf(t *testing.T, dir, extra string) []string {
	t.Helper()
	return testenv.KRB5Env(t, dir, testRealm, extra)
}

// runMIT runs the ctypes driver of libkrb5 in testdata/mitkrb5.py.
func runMIT(t *testing.T, env []string, args ...string) []byte {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "mitkrb5.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Python(t), append([]string{script}, args...)...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 77 {
		testenv.Missing(t, "libkrb5 (krb5-user): "+stderr.String())
	}
	if err != nil {
		t.Fatalf("mitkrb5.py %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// newTicket returns the DER of a real AES256 ticket for sname, encrypted
// with a key from a throw-away keytab, and its session key.
func newTicket(t *testing.T, client types.PrincipalName, sname types.PrincipalName, flags uint32, auth, end, renew time.Time) ([]byte, types.EncryptionKey) {
	t.Helper()
	kt := keytab.New()
	spn := sname.PrincipalNameString()
	if err := kt.AddEntry(spn, testRealm, "service password", auth, 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	tkt, key, err := messages.NewTicket(client, testRealm, sname, testRealm, FlagsToBitString(flags), kt,
		etypeID.AES256_CTS_HMAC_SHA1_96, 1, auth, auth, end, renew)
	if err != nil {
		t.Fatal(err)
	}
	der, err := tkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// Fixed times (before 2038, after now) so klist output is predictable.
var (
	tAuth  = time.Date(2035, 1, 2, 3, 4, 5, 0, time.UTC)
	tEnd   = tAuth.Add(10 * time.Hour)
	tRenew = tAuth.Add(7 * 24 * time.Hour)
)

var (
	userName = types.PrincipalName{NameType: nametype.KRB_NT_PRINCIPAL, NameString: []string{"alice"}}
	tgsName  = types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", testRealm}}
	httpName = types.PrincipalName{NameType: nametype.KRB_NT_SRV_HST, NameString: []string{"HTTP", "web.example.test"}}
)

// sampleCCache builds a cache with a TGT, a service ticket carrying
// addresses and authorization data, and two configuration entries.
func sampleCCache(t *testing.T) *CCache {
	t.Helper()
	const fria = FlagForwardable | FlagRenewable | FlagInitial | FlagPreAuthent
	tgt, tgtKey := newTicket(t, userName, tgsName, fria, tAuth, tEnd, tRenew)
	svc, svcKey := newTicket(t, userName, httpName, FlagForwardable|FlagPreAuthent|FlagOKAsDelegate, tAuth, tEnd, time.Time{})
	c := &CCache{DefaultPrincipal: NewPrincipal(testRealm, userName)}
	c.Credentials = []Credential{{
		Client: NewPrincipal(testRealm, userName), Server: NewPrincipal(testRealm, tgsName),
		Key: tgtKey, AuthTime: tAuth, StartTime: tAuth, EndTime: tEnd, RenewTill: tRenew,
		Flags: fria, Ticket: tgt,
	}, {
		Client: NewPrincipal(testRealm, userName), Server: NewPrincipal(testRealm, httpName),
		Key: svcKey, AuthTime: tAuth, StartTime: tAuth.Add(time.Minute), EndTime: tEnd,
		Flags:     FlagForwardable | FlagPreAuthent | FlagOKAsDelegate,
		Addresses: []types.HostAddress{{AddrType: 2, Address: []byte{192, 0, 2, 1}}, {AddrType: 24, Address: bytes.Repeat([]byte{0xfe}, 16)}},
		AuthData:  []types.AuthorizationDataEntry{{ADType: 1, ADData: []byte{0x30, 0x00}}, {ADType: -1, ADData: []byte("neg")}},
		Ticket:    svc, SecondTicket: []byte{0x61, 0x00},
	}}
	tgsPrinc := NewPrincipal(testRealm, tgsName)
	c.SetConfig(ConfigFASTAvail, nil, []byte("yes"))
	c.SetConfig(ConfigPAType, &tgsPrinc, []byte("2"))
	return c
}

// diffCCache describes the first differences between two caches field by
// field (nil when they are deeply equal).
func diffCCache(got, want *CCache) []string {
	if reflect.DeepEqual(got, want) {
		return nil
	}
	var d []string
	gv, wv := reflect.ValueOf(*got), reflect.ValueOf(*want)
	for i := 0; i < gv.NumField(); i++ {
		name := gv.Type().Field(i).Name
		if name == "Credentials" {
			continue
		}
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			d = append(d, fmt.Sprintf("%s: got %#v, want %#v", name, gv.Field(i).Interface(), wv.Field(i).Interface()))
		}
	}
	if len(got.Credentials) != len(want.Credentials) {
		return append(d, fmt.Sprintf("got %d credentials, want %d", len(got.Credentials), len(want.Credentials)))
	}
	for n := range got.Credentials {
		gc, wc := reflect.ValueOf(got.Credentials[n]), reflect.ValueOf(want.Credentials[n])
		for i := 0; i < gc.NumField(); i++ {
			if !reflect.DeepEqual(gc.Field(i).Interface(), wc.Field(i).Interface()) {
				d = append(d, fmt.Sprintf("credential %d %s: got %#v, want %#v", n, gc.Type().Field(i).Name,
					gc.Field(i).Interface(), wc.Field(i).Interface()))
			}
		}
	}
	return d
}
