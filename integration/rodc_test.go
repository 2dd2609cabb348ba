package integration

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/kdc"
	"github.com/passkdc/passkdc/kdc/issuer"
	"github.com/passkdc/passkdc/kdc/krbcred"
	"github.com/passkdc/passkdc/kdc/sid"
	"github.com/passkdc/passkdc/keytabs"
)

// writeCache writes an issued partial TGT as an MIT ccache.
func writeCache(t *testing.T, iss *kdc.Issued) string {
	t.Helper()
	cc, err := krbcred.NewCCache(issuer.Cred(iss))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cc")
	if err := cc.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRODCProvisionIsIdempotentAndShown(t *testing.T) {
	f := domain(t)
	ctx := context.Background()
	lines := strings.Split(f.Provisioned, "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "krbtgt_") || last != f.RODC.KrbtgtName {
		t.Fatalf("provision's last line %q, want the krbtgt account %s", last, f.RODC.KrbtgtName)
	}
	out, err := f.Directory(ctx, "rodc", "provision")
	if err != nil || !strings.Contains(out, "already provisioned, unchanged") {
		t.Fatalf("second provision: %v\n%s", err, out)
	}
	out, err = f.Directory(ctx, "rodc", "show")
	if err != nil || !strings.Contains(out, "never reveal: "+f.dc.DomainSID()+"-572") || !strings.Contains(out, "reveal:       "+f.dc.DomainSID()+"-571") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	kt, err := keytabs.Load(f.Keytab)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := keytabs.SplitKVNO(kt.Entries[0].KVNO)
	if n != f.RODC.Number || kt.Entries[0].Principal.String() != f.RODC.KrbtgtName+"@"+f.dc.Realm() {
		t.Fatalf("imported keytab entry %s kvno %#x, RODC number %d", kt.Entries[0].Principal, kt.Entries[0].KVNO, f.RODC.Number)
	}
}

// TestDCTradesPartialTGTForServiceTickets is the central claim: an unmodified
// MIT client presents passkdc's partial TGT and the DC returns service tickets.
func TestDCTradesPartialTGTForServiceTickets(t *testing.T) {
	f := domain(t)
	kvno := testenv.RequireTool(t, "kvno")
	klist := testenv.RequireTool(t, "klist")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	iss, err := f.issuer(t).Issue(ctx, f.principal("alice"))
	if err != nil {
		t.Fatal(err)
	}
	cc := writeCache(t, iss)
	svc := "cifs/" + f.dc.FQDN()
	if out, err := run(ctx, f.clientEnv(cc), kvno, svc); err != nil {
		t.Fatalf("kvno %s with a partial TGT: %v\n%s", svc, err, out)
	}
	out, err := run(ctx, f.clientEnv(cc), klist)
	if err != nil || !strings.Contains(out, svc+"@"+f.dc.Realm()) || !strings.Contains(out, "alice@"+f.dc.Realm()) {
		t.Fatalf("klist after kvno: %v\n%s", err, out)
	}
	smb := f.dc.SMBClient(ctx, cc, "netlogon", "-c", "ls")
	b, err := smb.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "blocks available") {
		t.Fatalf("smbclient -k //%s/netlogon: %v\n%s", f.dc.FQDN(), err, b)
	}
}

// TestReplicationPolicyFromBothSides: passkdc refuses, naming the rule, every
// user the DC would refuse; forced past the check, the DC refuses too.
func TestReplicationPolicyFromBothSides(t *testing.T) {
	f := domain(t)
	kvno := testenv.RequireTool(t, "kvno")
	iss, forcing := f.issuer(t), f.issuerWith(t, allowAll{})
	cases := []struct{ user, rule string }{
		{"bob", "not in any reveal-on-demand group"},
		{"carol", "never-reveal group"},
	}
	for _, c := range cases {
		t.Run(c.user, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			p := f.principal(c.user)
			_, err := iss.Issue(ctx, p)
			var r *issuer.Refusal
			if !errors.As(err, &r) || r.Code != issuer.CodeReplicationPolicy || !strings.Contains(r.Message, c.rule) {
				t.Fatalf("passkdc: err = %v, want replication_policy naming %q", err, c.rule)
			}
			forced, err := forcing.Issue(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			out, err := run(ctx, f.clientEnv(writeCache(t, forced)), kvno, "cifs/"+f.dc.FQDN())
			if err == nil || !strings.Contains(out, "TGT has been revoked") {
				t.Fatalf("DC accepted a partial TGT for %s, or refused it for another reason: %v\n%s", c.user, err, out)
			}
		})
	}
}

// TestDCRefusesATicketUnderAWrongKey: same RODC number and kvno, other key.
func TestDCRefusesATicketUnderAWrongKey(t *testing.T) {
	f := domain(t)
	kvno := testenv.RequireTool(t, "kvno")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kt, err := keytabs.Load(f.Keytab)
	if err != nil {
		t.Fatal(err)
	}
	real := kt.Entries[0]
	et, err := crypto.GetEtype(real.Key.KeyType)
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := types.GenerateEncryptionKey(et)
	if err != nil {
		t.Fatal(err)
	}
	u := f.users["alice"]
	sid, _ := sid.Parse(u.SID)
	iss, err := kdc.IssuePartialTGT(ctx, kdc.Principal{Name: "alice", Realm: f.dc.Realm(), SID: sid},
		kdc.TicketKey{Key: wrong, KVNO: real.KVNO}, kdc.DefaultTicketPolicy(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(ctx, f.clientEnv(writeCache(t, iss)), kvno, "cifs/"+f.dc.FQDN())
	if err == nil {
		t.Fatalf("DC accepted a partial TGT under a wrong key:\n%s", out)
	}
	t.Logf("DC refused as expected: %s", out)
}
