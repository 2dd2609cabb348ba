package krbcred

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/ccache"

	"github.com/passkdc/passkdc/internal/testenv"
)

const testRealm = "EXAMPLE.TEST"

// mitEnv writes a private krb5.conf and returns an environment using it.
func mitEnv(t *testing.T, dir string) []string {
	t.Helper()
	return testenv.KRB5Env(t, dir, testRealm, "")
}

// runMIT runs the libkrb5 ctypes driver shared with kdc/ccache. It returns
// stdout, or the error and stderr when wantFail is set.
func runMIT(t *testing.T, env []string, wantFail bool, args ...string) (string, error) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "ccache", "testdata", "mitkrb5.py"))
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
	if wantFail {
		if err == nil {
			t.Fatalf("mitkrb5.py %v succeeded, want failure", args)
		}
		return stderr.String(), err
	}
	if err != nil {
		t.Fatalf("mitkrb5.py %v: %v\n%s", args, err, stderr.String())
	}
	return string(out), nil
}

var (
	userName = types.PrincipalName{NameType: nametype.KRB_NT_PRINCIPAL, NameString: []string{"alice"}}
	tgsName  = types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", testRealm}}
	cifsName = types.PrincipalName{NameType: nametype.KRB_NT_SRV_HST, NameString: []string{"cifs", "dc1.example.test"}}
	tAuth    = time.Date(2035, 1, 2, 3, 4, 5, 0, time.UTC)
)

// newTicket returns the DER of a real AES256 ticket for sname and its
// session key.
func newTicket(t testing.TB, sname types.PrincipalName, flags uint32, end, renew time.Time) ([]byte, types.EncryptionKey) {
	t.Helper()
	kt := keytab.New()
	if err := kt.AddEntry(sname.PrincipalNameString(), testRealm, "service password", tAuth, 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	tkt, key, err := messages.NewTicket(userName, testRealm, sname, testRealm, ccache.FlagsToBitString(flags), kt,
		etypeID.AES256_CTS_HMAC_SHA1_96, 1, tAuth, tAuth, end, renew)
	if err != nil {
		t.Fatal(err)
	}
	der, err := tkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// sampleCred has a TGT and a service ticket with addresses, and every
// optional EncKrbCredPart field set.
func sampleCred(t testing.TB) *Cred {
	t.Helper()
	const fria = ccache.FlagForwardable | ccache.FlagRenewable | ccache.FlagInitial | ccache.FlagPreAuthent
	tgt, tgtKey := newTicket(t, tgsName, fria, tAuth.Add(10*time.Hour), tAuth.Add(7*24*time.Hour))
	svc, svcKey := newTicket(t, cifsName, ccache.FlagForwardable|ccache.FlagPreAuthent, tAuth.Add(10*time.Hour), time.Time{})
	return &Cred{
		Tickets: [][]byte{tgt, svc},
		Infos: []Info{{
			Key: tgtKey, PRealm: testRealm, PName: userName, Flags: fria,
			AuthTime: tAuth, StartTime: tAuth, EndTime: tAuth.Add(10 * time.Hour), RenewTill: tAuth.Add(7 * 24 * time.Hour),
			SRealm: testRealm, SName: tgsName,
		}, {
			Key: svcKey, PRealm: testRealm, PName: userName, Flags: ccache.FlagForwardable | ccache.FlagPreAuthent,
			AuthTime: tAuth, StartTime: tAuth.Add(time.Minute), EndTime: tAuth.Add(10 * time.Hour),
			SRealm: testRealm, SName: cifsName,
			CAddr: []types.HostAddress{{AddrType: 2, Address: []byte{192, 0, 2, 7}}},
		}},
		Nonce:     123456789,
		Timestamp: tAuth.Add(-time.Second),
		Usec:      654321,
		SAddress:  &types.HostAddress{AddrType: 2, Address: []byte{198, 51, 100, 1}},
		RAddress:  &types.HostAddress{AddrType: 24, Address: bytes.Repeat([]byte{0x20}, 16)},
	}
}

// randomKey returns a fresh key of the given etype.
func randomKey(t *testing.T, etype int32) *types.EncryptionKey {
	t.Helper()
	et, err := crypto.GetEtype(etype)
	if err != nil {
		t.Fatal(err)
	}
	// types.GenerateEncryptionKey sizes aes256-sha384 keys wrongly.
	k := make([]byte, keySize(et))
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return &types.EncryptionKey{KeyType: etype, KeyValue: k}
}

// diffCred lists field differences between two Creds.
func diffCred(got, want *Cred) []string {
	if reflect.DeepEqual(got, want) {
		return nil
	}
	var d []string
	gv, wv := reflect.ValueOf(*got), reflect.ValueOf(*want)
	for i := 0; i < gv.NumField(); i++ {
		name := gv.Type().Field(i).Name
		if name == "Infos" {
			continue
		}
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			d = append(d, fmt.Sprintf("%s: got %#v, want %#v", name, gv.Field(i).Interface(), wv.Field(i).Interface()))
		}
	}
	if len(got.Infos) != len(want.Infos) {
		return append(d, fmt.Sprintf("got %d infos, want %d", len(got.Infos), len(want.Infos)))
	}
	for n := range got.Infos {
		gi, wi := reflect.ValueOf(got.Infos[n]), reflect.ValueOf(want.Infos[n])
		for i := 0; i < gi.NumField(); i++ {
			if !reflect.DeepEqual(gi.Field(i).Interface(), wi.Field(i).Interface()) {
				d = append(d, fmt.Sprintf("info %d %s: got %#v, want %#v", n, gi.Type().Field(i).Name,
					gi.Field(i).Interface(), wi.Field(i).Interface()))
			}
		}
	}
	return d
}
