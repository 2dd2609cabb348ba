package rodc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/integration/samba"
	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/ldapsync"
)

// Integration tests against a real AD DC: the package's shared Samba DC
// (127.0.0.90, this package's own address), started on first use. They skip
// when Samba is not installed and fail under CI=true.
const sambaIP = "127.0.0.90"

var sambaShared = samba.NewShared(samba.Options{IP: sambaIP, CacheDir: samba.CacheDirFromEnv()})

func TestMain(m *testing.M) { os.Exit(sambaShared.Run(m)) }

func writeSecret(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// integrationConfig returns an LDAPS configuration for the shared DC, bound as
// the domain administrator and verified against the DC's CA.
func integrationConfig(t *testing.T) ldapsync.LDAPConfig {
	t.Helper()
	dc := sambaShared.DC(t)
	return ldapsync.LDAPConfig{
		URL:              dc.LDAPURL(),
		BindDN:           dc.AdminBindDN(),
		BindPasswordFile: writeSecret(t, dc.AdminPassword()+"\n"),
		CAFile:           dc.CAFile(),
		Timeout:          20 * time.Second,
	}
}

func integrationConn(t *testing.T) *ldap.Conn {
	t.Helper()
	cfg := integrationConfig(t)
	conn, err := ldapsync.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func randomRODCName(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "PKT" + strings.ToUpper(hex.EncodeToString(b))
}

func TestIntegrationRODCLifecycle(t *testing.T) {
	conn := integrationConn(t)
	ctx := context.Background()
	name := randomRODCName(t)
	t.Cleanup(func() { _, _ = Remove(context.Background(), conn, name, "") })

	start := time.Now()
	r, err := Provision(ctx, conn, RODCOptions{Name: name})
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Logf("provision %s took %v: %s number %d kvno %d", name, time.Since(start), r.KrbtgtName, r.Number, r.KeyVersion)
	domSID := domainSIDOf(t, conn, r.BaseDN)
	checkProvisioned(t, conn, r, name)
	if want := []string{domSID + "-571"}; !slices.Equal(r.Allow, want) {
		t.Errorf("Allow = %v, want %v", r.Allow, want)
	}
	if want := DefaultNeverReveal(domSID); !sameSet(r.Deny, want) {
		t.Errorf("Deny = %v, want %v", r.Deny, want)
	}
	if r.GroupNames[domSID+"-572"] != "Denied RODC Password Replication Group" {
		t.Errorf("GroupNames = %v", r.GroupNames)
	}

	t.Run("second provision changes nothing", func(t *testing.T) {
		usn := entryUSN(t, conn, r.ComputerDN) + "/" + entryUSN(t, conn, r.KrbtgtDN)
		r2, err := Provision(ctx, conn, RODCOptions{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if r2.Created || r2.Number != r.Number || r2.KrbtgtDN != r.KrbtgtDN || r2.KeyVersion != r.KeyVersion {
			t.Errorf("second Provision = %+v, want Created=false and same objects as %+v", r2, r)
		}
		if got := entryUSN(t, conn, r.ComputerDN) + "/" + entryUSN(t, conn, r.KrbtgtDN); got != usn {
			t.Errorf("uSNChanged moved from %s to %s", usn, got)
		}
	})
	t.Run("show", func(t *testing.T) {
		s, err := Show(ctx, conn, name, "")
		if err != nil {
			t.Fatal(err)
		}
		if s.Number != r.Number || s.KrbtgtName != r.KrbtgtName || s.Created || len(s.Warnings) != 0 {
			t.Errorf("Show = %+v", s)
		}
	})
	t.Run("policy decision for Administrator", func(t *testing.T) {
		sids := tokenSIDs(t, conn, "CN=Administrator,CN=Users,"+r.BaseDN)
		ok, rule := r.Decide(sids)
		if ok || !strings.HasPrefix(rule, "in never-reveal group ") {
			t.Errorf("Decide(Administrator) = %v, %q; want a never-reveal refusal", ok, rule)
		}
		t.Logf("Administrator: %s", rule)
	})
	exportedKey := exportAndCheckKVNO(t, r)
	t.Run("rotate", func(t *testing.T) {
		start := time.Now()
		r2, err := Rotate(ctx, conn, name, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("rotate took %v: key version %d -> %d", time.Since(start), r.KeyVersion, r2.KeyVersion)
		if r2.KeyVersion != r.KeyVersion+1 || r2.Number != r.Number {
			t.Errorf("after Rotate: number %d key version %d, want %d and %d", r2.Number, r2.KeyVersion, r.Number, r.KeyVersion+1)
		}
		if newKey := exportAndCheckKVNO(t, r2); exportedKey != "" && newKey == exportedKey {
			t.Error("the exported key did not change after Rotate")
		}
	})
	t.Run("rotate over StartTLS", func(t *testing.T) {
		cfg := integrationConfig(t)
		u, _ := url.Parse(cfg.URL)
		cfg.URL = "ldap://" + u.Hostname()
		c, err := ldapsync.Dial(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		before, err := Show(ctx, c, name, "")
		if err != nil {
			t.Fatal(err)
		}
		after, err := Rotate(ctx, c, name, "")
		if err != nil || after.KeyVersion != before.KeyVersion+1 {
			t.Fatalf("Rotate over StartTLS: %+v, %v", after, err)
		}
	})
	t.Run("remove", func(t *testing.T) {
		start := time.Now()
		if _, err := Remove(ctx, conn, name, ""); err != nil {
			t.Fatal(err)
		}
		t.Logf("remove took %v", time.Since(start))
		for _, dn := range []string{r.ComputerDN, r.KrbtgtDN} {
			if e, err := rodcSearchBaseOpt(ctx, conn, dn, nil, false); err != nil || e != nil {
				t.Errorf("%s still there after Remove (err %v)", dn, err)
			}
		}
		if _, err := Remove(ctx, conn, name, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Remove = %v, want ErrNotFound", err)
		}
		if _, err := Show(ctx, conn, name, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("Show after Remove = %v, want ErrNotFound", err)
		}
	})
}

// checkProvisioned reads the objects with plain searches.
func checkProvisioned(t *testing.T, conn *ldap.Conn, r *RODC, name string) {
	t.Helper()
	ctx := context.Background()
	if !r.Created || r.Number == 0 || r.KrbtgtName != "krbtgt_"+strconv.Itoa(int(r.Number)) || r.KeyVersion == 0 {
		t.Errorf("RODC = %+v", r)
	}
	comp, err := rodcSearchBase(ctx, conn, r.ComputerDN, []string{attrSAM, attrUAC, attrKrbTgtLink, attrObjectClass}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := comp.GetEqualFoldAttributeValue(attrUAC); got != "67112960" {
		t.Errorf("computer userAccountControl = %s, want 67112960", got)
	}
	if got := comp.GetEqualFoldAttributeValue(attrSAM); got != name+"$" {
		t.Errorf("computer sAMAccountName = %s", got)
	}
	wantDN := "CN=" + r.KrbtgtName + ",CN=Users," + r.BaseDN
	if got := comp.GetEqualFoldAttributeValue(attrKrbTgtLink); !dnEqual(got, wantDN) || !dnEqual(r.KrbtgtDN, wantDN) {
		t.Errorf("msDS-KrbTgtLink = %s, KrbtgtDN = %s, want %s", got, r.KrbtgtDN, wantDN)
	}
	k, err := rodcSearchBase(ctx, conn, wantDN, []string{attrSAM, attrUAC, attrKrbTgtNumber, "showInAdvancedViewOnly", attrKrbTgtLinkBl}, false)
	if err != nil {
		t.Fatal(err)
	}
	for attr, want := range map[string]string{attrSAM: r.KrbtgtName, attrUAC: "514",
		attrKrbTgtNumber: strconv.Itoa(int(r.Number)), "showInAdvancedViewOnly": "TRUE", attrKrbTgtLinkBl: r.ComputerDN} {
		if got := k.GetEqualFoldAttributeValue(attr); !strings.EqualFold(got, want) {
			t.Errorf("krbtgt %s = %q, want %q", attr, got, want)
		}
	}
}

func TestIntegrationRODCCustomGroups(t *testing.T) {
	conn := integrationConn(t)
	ctx := context.Background()
	base, err := resolveBase(ctx, conn, "")
	if err != nil {
		t.Fatal(err)
	}
	domSID := domainSIDOf(t, conn, base)
	name := randomRODCName(t)
	groupDN := "CN=pkt-allow-" + strings.ToLower(name) + ",CN=Users," + base
	add := ldap.NewAddRequest(groupDN, nil)
	add.Attribute("objectClass", []string{"group"})
	add.Attribute(attrSAM, []string{"pkt-allow-" + strings.ToLower(name)})
	if err := conn.Add(add); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Del(ldap.NewDelRequest(groupDN, nil)) })
	groupSID := domainSIDOfDN(t, conn, groupDN)

	t.Run("unknown SID is refused before any write", func(t *testing.T) {
		bogus := domSID + "-987654"
		_, err := Provision(ctx, conn, RODCOptions{Name: name, AllowGroups: []string{bogus}})
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if _, err := Show(ctx, conn, name, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("Show after refused Provision = %v, want ErrNotFound", err)
		}
		if e, _ := rodcSearchBaseOpt(ctx, conn, "CN="+bogus+",CN=ForeignSecurityPrincipals,"+base, nil, false); e != nil {
			t.Errorf("a foreign security principal was created for %s", bogus)
		}
	})
	t.Run("group DN and extra deny SID", func(t *testing.T) {
		t.Cleanup(func() { _, _ = Remove(context.Background(), conn, name, "") })
		r, err := Provision(ctx, conn, RODCOptions{Name: name, AllowGroups: []string{groupDN},
			DenyGroups: []string{domSID + "-512", "s-1-5-32-544"}, Description: "custom"})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.Allow, []string{groupSID}) {
			t.Errorf("Allow = %v, want [%s]", r.Allow, groupSID)
		}
		if want := append(DefaultNeverReveal(domSID), domSID+"-512"); !sameSet(r.Deny, want) {
			t.Errorf("Deny = %v, want %v", r.Deny, want)
		}
		ok, rule := r.Decide([]string{domSID + "-1234", groupSID})
		if !ok || !strings.Contains(rule, groupSID) {
			t.Errorf("Decide(member) = %v %q", ok, rule)
		}
		ok, rule = r.Decide([]string{domSID + "-1234", groupSID, domSID + "-512"})
		if ok || !strings.Contains(rule, "Domain Admins") {
			t.Errorf("Decide(admin member) = %v %q", ok, rule)
		}
	})
}

func TestIntegrationRODCHalfDone(t *testing.T) {
	conn := integrationConn(t)
	ctx := context.Background()
	name := randomRODCName(t)
	t.Cleanup(func() { _, _ = Remove(context.Background(), conn, name, "") })
	r, err := Provision(ctx, conn, RODCOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	// Simulate an interruption between the krbtgt add and the link.
	mod := ldap.NewModifyRequest(r.ComputerDN, nil)
	mod.Delete(attrKrbTgtLink, nil)
	if err := conn.Modify(mod); err != nil {
		t.Fatal(err)
	}
	s, err := Show(ctx, conn, name, "")
	if !errors.Is(err, ErrIncomplete) || s == nil || len(s.Problems) != 2 {
		t.Fatalf("Show = %+v, %v; want two problems and ErrIncomplete", s, err)
	}
	if _, err := Provision(ctx, conn, RODCOptions{Name: name}); !errors.Is(err, ErrIncomplete) ||
		!strings.Contains(err.Error(), "passkdc rodc remove") {
		t.Fatalf("Provision on half-done state = %v", err)
	}
	if _, err := Remove(ctx, conn, name, ""); err != nil {
		t.Fatal(err)
	}
	if e, _ := rodcSearchBaseOpt(ctx, conn, r.KrbtgtDN, nil, false); e != nil {
		t.Errorf("orphan %s survived Remove", r.KrbtgtDN)
	}
	if _, err := Show(ctx, conn, name, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("Show after Remove = %v", err)
	}
}

// exportAndCheckKVNO exports krbtgt_N with samba-tool and checks the keytab's
// kvno with MIT klist; it returns the key (hex) for comparison, never logged.
func exportAndCheckKVNO(t *testing.T, r *RODC) string {
	t.Helper()
	dc := sambaShared.DC(t)
	klist := testenv.RequireTool(t, "klist")
	dir := t.TempDir()
	kt := filepath.Join(dir, "rodc.keytab")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dc.ExportKeytab(ctx, r.KrbtgtName, kt); err != nil {
		t.Fatal(err)
	}
	krb5conf := filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(krb5conf, []byte("[libdefaults]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// klist prints the 32-bit kvno as a signed number: negative once N >= 32768.
	cmd := exec.CommandContext(ctx, klist, "-k", "-e", "-K", kt)
	cmd.Env = append(os.Environ(), "KRB5_CONFIG="+krb5conf, "KRB5CCNAME=FILE:"+filepath.Join(dir, "cc"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("klist -k: %v", err)
	}
	// "971505665 krbtgt_14824@REALM (aes256-cts-hmac-sha1-96)  (0x…)"
	re := regexp.MustCompile(`(?m)^\s*(-?\d+) (\S+) \(aes256-cts-hmac-sha1-96\)\s+\(0x([0-9a-f]+)\)`)
	m := re.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no aes256 entry in klist output (%d lines)", strings.Count(string(out), "\n"))
	}
	if want := strconv.FormatInt(int64(int32(r.KeytabKVNO())), 10); m[1] != want {
		t.Errorf("keytab kvno = %s, want %s (= %d<<16 | %d)", m[1], want, r.Number, r.KeyVersion)
	}
	t.Logf("exported %s: keytab kvno %s = %d<<16 | %d", r.KrbtgtName, m[1], r.Number, r.KeyVersion)
	if !strings.HasPrefix(m[2], r.KrbtgtName+"@") {
		t.Errorf("keytab principal = %s", m[2])
	}
	return m[3]
}

func domainSIDOf(t *testing.T, conn *ldap.Conn, base string) string {
	t.Helper()
	return domainSIDOfDN(t, conn, base)
}

func domainSIDOfDN(t *testing.T, conn *ldap.Conn, dn string) string {
	t.Helper()
	e, err := rodcSearchBase(context.Background(), conn, dn, []string{attrObjectSid}, false)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := ldapsync.DecodeSID(e.GetEqualFoldRawAttributeValue(attrObjectSid))
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

func entryUSN(t *testing.T, conn *ldap.Conn, dn string) string {
	t.Helper()
	e, err := rodcSearchBase(context.Background(), conn, dn, []string{"uSNChanged"}, false)
	if err != nil {
		t.Fatal(err)
	}
	return e.GetEqualFoldAttributeValue("uSNChanged")
}

// tokenSIDs returns the object's SID plus its tokenGroups.
func tokenSIDs(t *testing.T, conn *ldap.Conn, dn string) []string {
	t.Helper()
	e, err := rodcSearchBase(context.Background(), conn, dn, []string{attrObjectSid, "tokenGroups"}, false)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range append(e.GetEqualFoldRawAttributeValues(attrObjectSid), e.GetEqualFoldRawAttributeValues("tokenGroups")...) {
		s, err := ldapsync.DecodeSID(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
