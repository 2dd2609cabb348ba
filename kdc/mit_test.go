package kdc_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/nametype"

	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/kdc"
	"github.com/passkdc/passkdc/kdc/ccache"
	"github.com/passkdc/passkdc/kdc/sid"
	"github.com/passkdc/passkdc/keytabs"
)

// TestMITKvnoAcceptsOurServiceTicket has MIT's kvno verify, with the service's
// keytab, a ticket built by kdc/ and cached by kdc/ccache: kvno finds the ticket
// in the cache (no KDC is contacted) and decrypts it with the keytab entry.
func TestMITKvnoAcceptsOurServiceTicket(t *testing.T) {
	kvnoTool := testenv.RequireTool(t, "kvno")
	klist := testenv.RequireTool(t, "klist")
	const realm = "EXAMPLE.TEST"
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	// A realm with an unreachable KDC: the test passes only if nothing needs one.
	err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = "+realm+"\n dns_lookup_kdc = false\n rdns = false\n"+
		"[realms]\n "+realm+" = {\n  kdc = 127.0.0.1:9\n }\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	svc := keytabs.NewPrincipal(realm, "host", "svc.example.test")
	svc.NameType = nametype.KRB_NT_SRV_HST
	key, err := keytabs.StringToKey(18, "service password", keytabs.DefaultSalt(svc))
	if err != nil {
		t.Fatal(err)
	}
	ktPath := filepath.Join(dir, "svc.keytab")
	kt := &keytabs.Keytab{Entries: []keytabs.Entry{{Principal: svc, KVNO: 7, Key: key, Timestamp: time.Now()}}}
	if err := kt.WriteFile(ktPath); err != nil {
		t.Fatal(err)
	}
	sid, _ := sid.Parse("S-1-5-21-1-2-3-1105")
	client := kdc.Principal{Name: "alice", Realm: realm, SID: sid}
	iss, err := kdc.IssueTicket(context.Background(), client, svc.PrincipalName(), realm,
		kdc.TicketKey{Key: key, KVNO: 7}, kdc.DefaultTicketPolicy(), time.Now(), kdc.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cc := &ccache.CCache{
		Version:          ccache.Version4,
		DefaultPrincipal: ccache.NewPrincipal(realm, iss.CName),
		Credentials: []ccache.Credential{{
			Client: ccache.NewPrincipal(realm, iss.CName), Server: ccache.NewPrincipal(realm, iss.SName),
			Key: iss.SessionKey, AuthTime: iss.AuthTime, StartTime: iss.StartTime, EndTime: iss.EndTime,
			RenewTill: iss.RenewTill, Flags: ccache.FlagsFromBitString(iss.Flags), Ticket: iss.TicketDER,
		}},
	}
	ccPath := filepath.Join(dir, "cc")
	if err := cc.WriteFile(ccPath); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "KRB5_CONFIG="+conf, "KRB5CCNAME=FILE:"+ccPath)
	out, err := run(env, kvnoTool, "-k", ktPath, "host/svc.example.test@"+realm)
	if err != nil || !strings.Contains(out, "kvno = 7, keytab entry valid") {
		t.Fatalf("kvno -k refused our ticket: %v\n%s", err, out)
	}
	// A keytab with another key for the same kvno must make kvno fail: the check is real.
	wrong, _ := keytabs.StringToKey(18, "another password", keytabs.DefaultSalt(svc))
	kt.Entries[0].Key = wrong
	if err := kt.WriteFile(ktPath); err != nil {
		t.Fatal(err)
	}
	if out, err := run(env, kvnoTool, "-k", ktPath, "host/svc.example.test@"+realm); err == nil {
		t.Fatalf("kvno -k accepted a ticket with the wrong service key:\n%s", out)
	}
	out, err = run(env, klist, "-e", "-f")
	if err != nil || !strings.Contains(out, "host/svc.example.test@"+realm) || !strings.Contains(out, "aes256-cts-hmac-sha1-96") {
		t.Fatalf("klist: %v\n%s", err, out)
	}
}

func run(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	b, err := cmd.CombinedOutput()
	return string(b), err
}
