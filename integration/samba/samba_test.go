package samba_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/samba"
)

// This package's loopback addresses (other packages use others): the
// shared DC, and the second DC / busy-port checks.
const (
	sharedIP = "127.0.0.10"
	secondIP = "127.0.0.11"
)

var shared *samba.Shared

// cacheDir is the template cache shared by the DCs of this test binary.
var cacheDir string

func TestMain(m *testing.M) {
	cacheDir = samba.CacheDirFromEnv()
	ownCache := cacheDir == ""
	if ownCache {
		// Created by the first Start only, so unit and fuzz runs leave nothing.
		cacheDir = filepath.Join(os.TempDir(), fmt.Sprintf("samba-cache-%d", os.Getpid()))
	}
	shared = samba.NewShared(samba.Options{IP: sharedIP, CacheDir: cacheDir})
	code := shared.Run(m)
	if ownCache {
		os.RemoveAll(cacheDir)
	}
	os.Exit(code)
}

// seq makes account names unique within the shared domain.
var seq atomic.Int64

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, seq.Add(1))
}

const userPassword = "Us3r.Passw0rd!"

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestDCStarts(t *testing.T) {
	dc := shared.DC(t)
	tm := dc.Timings()
	t.Logf("provision %.1fs (template=%v made=%v) start %.1fs", tm.Provision.Seconds(), tm.FromTemplate, tm.TemplateMade, tm.Start.Seconds())
	if !strings.HasPrefix(dc.DomainSID(), "S-1-5-21-") {
		t.Errorf("DomainSID = %q", dc.DomainSID())
	}
	if got, want := dc.BaseDN(), "DC=corp,DC=example,DC=test"; got != want {
		t.Errorf("BaseDN = %q, want %q", got, want)
	}
	if dc.FQDN() != "dc1.corp.example.test" || dc.IP() != sharedIP {
		t.Errorf("FQDN/IP = %s/%s", dc.FQDN(), dc.IP())
	}
	assertBindsOnly(t, dc, sharedIP)
}

// assertBindsOnly checks every listening socket of the DC is on ip and that
// the main ports are among them.
func assertBindsOnly(t *testing.T, dc *samba.DC, ip string) {
	t.Helper()
	socks, err := dc.Sockets()
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]bool{}
	for _, s := range socks {
		if s.Addr.Addr().String() != ip {
			t.Errorf("pid %d %s socket bound to %v, want only %s", s.PID, s.Proto, s.Addr, ip)
		}
		ports[fmt.Sprintf("%s/%d", s.Proto, s.Addr.Port())] = true
	}
	for _, p := range []string{"tcp/88", "udp/88", "tcp/389", "tcp/445", "tcp/636"} {
		if !ports[p] {
			t.Errorf("no %s socket on %s (have %v)", p, ip, ports)
		}
	}
}

func TestAdministratorKinit(t *testing.T) {
	dc := shared.DC(t)
	ctx := testCtx(t)
	cc := filepath.Join(t.TempDir(), "admin.ccache")
	if err := dc.Kinit(ctx, "administrator", dc.AdminPassword(), cc); err != nil {
		t.Fatal(err)
	}
	out := klist(t, dc, cc)
	for _, want := range []string{"Default principal: administrator@CORP.EXAMPLE.TEST", "krbtgt/CORP.EXAMPLE.TEST@CORP.EXAMPLE.TEST"} {
		if !strings.Contains(out, want) {
			t.Errorf("klist lacks %q:\n%s", want, out)
		}
	}
	if err := dc.Kinit(ctx, "administrator", "wrong-password", filepath.Join(t.TempDir(), "x")); err == nil {
		t.Error("kinit with a wrong password succeeded")
	}
}

func klist(t *testing.T, dc *samba.DC, ccache string) string {
	t.Helper()
	out, err := dc.Command(testCtx(t), "klist", "-c", ccache).CombinedOutput()
	if err != nil {
		t.Fatalf("klist: %v: %s", err, out)
	}
	return string(out)
}

func TestCreateUserKinit(t *testing.T) {
	dc := shared.DC(t)
	ctx := testCtx(t)
	name := uniqueName("alice")
	u, err := dc.CreateUser(ctx, name, userPassword, samba.WithAttribute("description", "harness test"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.SID, dc.DomainSID()+"-") || u.DN != "CN="+name+",CN=Users,"+dc.BaseDN() {
		t.Errorf("user = %+v", u)
	}
	// The server resolves our decoded SID and GUID back to the same entry.
	for _, ref := range []string{"<SID=" + u.SID + ">", "<GUID=" + u.GUID + ">"} {
		e, err := dc.Entry(ctx, ref, "sAMAccountName", "userAccountControl")
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if !strings.EqualFold(e.DN, u.DN) || e.GetAttributeValue("userAccountControl") != "512" {
			t.Errorf("%s -> %s uac %s", ref, e.DN, e.GetAttributeValue("userAccountControl"))
		}
	}
	cc := filepath.Join(t.TempDir(), "user.ccache")
	if err := dc.Kinit(ctx, name, userPassword, cc); err != nil {
		t.Fatal(err)
	}
	if out := klist(t, dc, cc); !strings.Contains(out, "Default principal: "+name+"@CORP.EXAMPLE.TEST") {
		t.Errorf("klist:\n%s", out)
	}
}

func TestSMBClientNetlogon(t *testing.T) {
	dc := shared.DC(t)
	ctx := testCtx(t)
	name := uniqueName("smbuser")
	if _, err := dc.CreateUser(ctx, name, userPassword); err != nil {
		t.Fatal(err)
	}
	cc := filepath.Join(t.TempDir(), "smb.ccache")
	if err := dc.Kinit(ctx, name, userPassword, cc); err != nil {
		t.Fatal(err)
	}
	out, err := dc.SMBClient(ctx, cc, "netlogon", "-c", "ls").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "blocks available") {
		t.Fatalf("smbclient netlogon: %v\n%s", err, out)
	}
	out, err = dc.SMBClient(ctx, cc, "sysvol", "-c", "ls").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "corp.example.test") {
		t.Fatalf("smbclient sysvol: %v\n%s", err, out)
	}
	// The service ticket came from the DC: klist shows cifs/FQDN.
	if kl := klist(t, dc, cc); !strings.Contains(kl, "cifs/dc1.corp.example.test@CORP.EXAMPLE.TEST") {
		t.Errorf("no cifs ticket in ccache:\n%s", kl)
	}
}

func TestGroupMembership(t *testing.T) {
	dc := shared.DC(t)
	ctx := testCtx(t)
	g, err := dc.CreateGroup(ctx, uniqueName("staff"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := dc.CreateUser(ctx, uniqueName("bob"), userPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(g.SID, dc.DomainSID()+"-") {
		t.Errorf("group SID %s", g.SID)
	}
	if err := dc.AddMember(ctx, g.DN, u.DN); err != nil {
		t.Fatal(err)
	}
	if !memberOf(t, dc, u.DN, g.DN) {
		t.Errorf("%s not in memberOf after AddMember", g.DN)
	}
	if err := dc.RemoveMember(ctx, g.DN, u.DN); err != nil {
		t.Fatal(err)
	}
	if memberOf(t, dc, u.DN, g.DN) {
		t.Errorf("%s still in memberOf after RemoveMember", g.DN)
	}
}

func memberOf(t *testing.T, dc *samba.DC, userDN, groupDN string) bool {
	t.Helper()
	groups, err := dc.MemberOf(testCtx(t), userDN)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if strings.EqualFold(g, groupDN) {
			return true
		}
	}
	return false
}

func TestEnableRenameDelete(t *testing.T) {
	dc := shared.DC(t)
	ctx := testCtx(t)
	name := uniqueName("carol")
	u, err := dc.CreateUser(ctx, name, userPassword)
	if err != nil {
		t.Fatal(err)
	}
	cc := filepath.Join(t.TempDir(), "cc")
	if err := dc.SetEnabled(ctx, u.DN, false); err != nil {
		t.Fatal(err)
	}
	if err := dc.Kinit(ctx, name, userPassword, cc); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("kinit of a disabled user: %v, want client revoked", err)
	}
	if err := dc.SetEnabled(ctx, u.DN, true); err != nil {
		t.Fatal(err)
	}
	newName := uniqueName("carla")
	newDN, err := dc.RenameUser(ctx, u.DN, newName)
	if err != nil {
		t.Fatal(err)
	}
	e, err := dc.Entry(ctx, "<GUID="+u.GUID+">", "sAMAccountName", "userPrincipalName")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(e.DN, newDN) || e.GetAttributeValue("sAMAccountName") != newName ||
		e.GetAttributeValue("userPrincipalName") != newName+"@CORP.EXAMPLE.TEST" {
		t.Errorf("after rename: %s %v", e.DN, e.Attributes)
	}
	if err := dc.Kinit(ctx, newName, userPassword, cc); err != nil {
		t.Errorf("kinit after enable+rename: %v", err)
	}
	if err := dc.DeleteEntry(ctx, newDN); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Entry(ctx, newDN); err == nil {
		t.Error("entry still readable after DeleteEntry")
	}
}

func TestExportKeytab(t *testing.T) {
	dc := shared.DC(t)
	ctx := testCtx(t)
	name := uniqueName("svc")
	if _, err := dc.CreateUser(ctx, name, userPassword); err != nil {
		t.Fatal(err)
	}
	kt := filepath.Join(t.TempDir(), "svc.keytab")
	if err := dc.ExportKeytab(ctx, name, kt); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(kt)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("keytab stat: %v mode %v", err, st.Mode())
	}
	out, err := dc.Command(ctx, "klist", "-k", "-e", kt).CombinedOutput()
	if err != nil || !strings.Contains(string(out), name+"@CORP.EXAMPLE.TEST") ||
		!strings.Contains(string(out), "aes256-cts-hmac-sha1-96") {
		t.Fatalf("klist -k: %v\n%s", err, out)
	}
	// The exported key works: kinit -k with it.
	cc := filepath.Join(t.TempDir(), "cc")
	kinit := dc.Command(ctx, "kinit", "-k", "-t", kt, name)
	kinit.Env = append(kinit.Env, "KRB5CCNAME=FILE:"+cc)
	if out, err := kinit.CombinedOutput(); err != nil {
		t.Fatalf("kinit -k: %v: %s", err, out)
	}
}

// TestSecondDCFromTemplate runs a second DC at the same time on another
// address, copied from the template the shared DC left in the cache, and
// checks that Stop leaves none of its processes behind.
func TestSecondDCFromTemplate(t *testing.T) {
	first := shared.DC(t)
	ctx := testCtx(t)
	dc, err := samba.Start(ctx, samba.Options{IP: secondIP, CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Stop() })
	tm := dc.Timings()
	t.Logf("second DC: provision %.1fs (template=%v made=%v) start %.1fs", tm.Provision.Seconds(), tm.FromTemplate, tm.TemplateMade, tm.Start.Seconds())
	if !tm.FromTemplate || tm.TemplateMade {
		t.Errorf("second DC timings %+v, want a copy of an existing template", tm)
	}
	assertBindsOnly(t, dc, secondIP)
	assertBindsOnly(t, first, sharedIP)
	if err := dc.Kinit(ctx, "administrator", dc.AdminPassword(), filepath.Join(t.TempDir(), "cc")); err != nil {
		t.Fatal(err)
	}
	pids := dc.PIDs()
	if len(pids) < 3 { // samba, smbd, winbindd at least
		t.Errorf("PIDs = %v", pids)
	}
	t0 := time.Now()
	if err := dc.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("second DC: stop %.1fs, %d processes", time.Since(t0).Seconds(), len(pids))
	for _, pid := range pids {
		if samba.ProcessRunning(pid) {
			t.Errorf("pid %d still running after Stop", pid)
		}
	}
	if err := dc.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(dc.Dir()); !os.IsNotExist(err) {
		t.Errorf("temporary dir %s not removed: %v", dc.Dir(), err)
	}
}

// TestAddressBusy: a second harness on the shared DC's address waits for
// the address lock and gives up with ErrAddressBusy when its context ends;
// a port taken by another program is reported before any provisioning.
func TestAddressBusy(t *testing.T) {
	shared.DC(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if dc, err := samba.Start(ctx, samba.Options{IP: sharedIP}); !errors.Is(err, samba.ErrAddressBusy) {
		if dc != nil {
			dc.Stop()
		}
		t.Fatalf("Start on a locked address: %v, want ErrAddressBusy", err)
	}
	l, err := net.Listen("tcp4", secondIP+":636")
	if err != nil {
		t.Skipf("cannot occupy %s:636: %v", secondIP, err)
	}
	defer l.Close()
	t0 := time.Now()
	if dc, err := samba.Start(testCtx(t), samba.Options{IP: secondIP}); !errors.Is(err, samba.ErrAddressBusy) {
		if dc != nil {
			dc.Stop()
		}
		t.Fatalf("Start with port 636 taken: %v, want ErrAddressBusy", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("busy port reported after %v, want before provisioning", d)
	}
}

func TestBadOptions(t *testing.T) {
	if _, err := samba.Start(context.Background(), samba.Options{IP: "192.0.2.1"}); !errors.Is(err, samba.ErrBadOptions) {
		t.Errorf("non-loopback IP: %v, want ErrBadOptions", err)
	}
}
