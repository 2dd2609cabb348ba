package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/passkdc/passkdc/integration/deploy"
	"github.com/passkdc/passkdc/internal/testenv"
)

// A change of the RODC's password replication policy in AD is applied by the
// running `passkdc serve` at SIGHUP, without a restart: a group added to
// msDS-NeverRevealGroup refuses its members at the next sign-in, and removing
// it lets them in again. A never-reveal entry that names no group (no SID)
// fails closed: every sign-in is refused, and `passkdc serve` refuses to
// start, naming the entry.
func TestReplicationPolicyChangeIsAppliedAtSIGHUP(t *testing.T) {
	f := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	grp, err := f.dc.CreateGroup(ctx, "pk-policy-change")
	if err != nil {
		t.Fatal(err)
	}
	user, err := f.dc.CreateUser(ctx, "frank", f.password)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"CN=Allowed RODC Password Replication Group,CN=Users," + f.dc.BaseDN(), grp.DN} {
		if err := f.dc.AddMember(ctx, g, user.DN); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := f.Passkdc(ctx, "sync"); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	dir := t.TempDir()
	key := "soft:" + filepath.Join(dir, "frank.passkey")
	pass, err := f.IssueTAP(ctx, "frank")
	if err != nil {
		t.Fatal(err)
	}
	signIn := func(extra ...string) (string, error) {
		return f.Passkinit(ctx, nil, append([]string{"--authenticator", key, "--no-exchange",
			"-c", filepath.Join(dir, "cc")}, extra...)...)
	}
	if out, err := signIn("--register", "--tap", pass); err != nil {
		t.Fatalf("sign-in under the original policy: %v\n%s", err, out)
	}

	computer := f.RODC.ComputerDN
	unresolvable := "OU=Domain Controllers," + f.dc.BaseDN() // an object with no SID
	t.Cleanup(func() {
		ctx := context.Background()
		for _, v := range []string{grp.DN, unresolvable} {
			_ = modifyNeverReveal(ctx, f.Deployment, computer, ldap.DeleteAttribute, v)
		}
		_ = f.Reload()
	})

	// 1. The group becomes never-reveal: frank is refused after SIGHUP.
	mark := len(f.Log())
	if err := modifyNeverReveal(ctx, f.Deployment, computer, ldap.AddAttribute, grp.DN); err != nil {
		t.Fatal(err)
	}
	reloadAndWait(t, f, mark, "RODC replication policy changed")
	out, err := signIn()
	if code := exitCode(err); code != 3 || !strings.Contains(out, "ticket policy") {
		t.Fatalf("sign-in after the group became never-reveal: exit %d, want 3 (refused by the ticket policy)\n%s", code, out)
	}
	if d := refusalDetail(func() string { return f.Log()[mark:] }, "frank", "never-reveal group "+grp.SID); !strings.Contains(d, "never-reveal group "+grp.SID) {
		t.Fatalf("the audit record %q does not name never-reveal group %s", d, grp.SID)
	}
	assertRefusedOnce(t, f, mark, "frank")

	// 2. The group is removed again: frank signs in, no restart.
	mark = len(f.Log())
	if err := modifyNeverReveal(ctx, f.Deployment, computer, ldap.DeleteAttribute, grp.DN); err != nil {
		t.Fatal(err)
	}
	reloadAndWait(t, f, mark, "RODC replication policy changed")
	if out, err := signIn(); err != nil {
		t.Fatalf("sign-in after the never-reveal entry was removed: %v\n%s", err, out)
	}

	// 3. A never-reveal entry without a SID refuses everyone, naming it.
	mark = len(f.Log())
	if err := modifyNeverReveal(ctx, f.Deployment, computer, ldap.AddAttribute, unresolvable); err != nil {
		t.Fatal(err)
	}
	reloadAndWait(t, f, mark, "refusing every sign-in until it is fixed")
	out, err = signIn()
	if code := exitCode(err); code != 3 {
		t.Fatalf("sign-in under an unresolvable never-reveal entry: exit %d, want 3\n%s", code, out)
	}
	if d := refusalDetail(func() string { return f.Log()[mark:] }, "frank", "msDS-NeverRevealGroup"); !strings.Contains(d, "msDS-NeverRevealGroup") {
		t.Fatalf("the audit record %q does not name msDS-NeverRevealGroup", d)
	}
	assertRefusedOnce(t, f, mark, "frank")
	assertServeRefusesToStart(t, f, unresolvable)
}

// modifyNeverReveal adds (or deletes) value in the RODC computer's
// msDS-NeverRevealGroup, as an administrator would in ADUC.
func modifyNeverReveal(ctx context.Context, d *deploy.Deployment, computer string, op uint, value string) error {
	conn, err := d.LDAP(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	req := ldap.NewModifyRequest(computer, nil)
	switch op {
	case ldap.AddAttribute:
		req.Add("msDS-NeverRevealGroup", []string{value})
	default:
		req.Delete("msDS-NeverRevealGroup", []string{value})
	}
	return conn.Modify(req)
}

// reloadAndWait sends SIGHUP and waits for want in the server log after mark.
func reloadAndWait(t *testing.T, f *fixture, mark int, want string) {
	t.Helper()
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(f.Log()[mark:], want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %q in the server log within 20 s of SIGHUP:\n%s", want, f.Log()[mark:])
}

// assertRefusedOnce checks exactly one refused login audit record for user,
// with reason replication_policy, after mark.
func assertRefusedOnce(t *testing.T, f *fixture, mark int, user string) {
	t.Helper()
	assertOneRefusal(t, f.Log()[mark:], user, "replication_policy")
}

// assertOneRefusal checks that log holds exactly one refused login audit
// record for user, with reason, and no issued one.
func assertOneRefusal(t *testing.T, log, user, reason string) {
	t.Helper()
	n := 0
	for _, a := range auditIn(log, user) {
		if a["event"] == "login" && a["result"] == "refused" && a["reason"] == reason {
			n++
		}
		if a["event"] == "login" && a["result"] == "ok" {
			t.Fatalf("a ticket was issued to %s where %s should refuse it: %v", user, reason, a)
		}
	}
	if n != 1 {
		t.Fatalf("%d refused audit records with reason %s for %s, want 1:\n%s", n, reason, user, log)
	}
}

// assertServeRefusesToStart starts a second `passkdc serve` with the same
// config on another port and expects it to stop at once, naming value.
func assertServeRefusesToStart(t *testing.T, f *fixture, value string) {
	t.Helper()
	addr := testenv.ClosedPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.Bin.Passkdc, "serve", "--config", f.Config, "--rodc-name", f.RODCName)
	cmd.Env = append(os.Environ(), "PASSKDC_LISTEN="+addr, "PASSKDC_METRICS_LISTEN=")
	out, err := cmd.CombinedOutput()
	if exitCode(err) <= 0 || !strings.Contains(string(out), value) {
		t.Fatalf("passkdc serve with an unresolvable never-reveal entry: %v, want a failed start naming %s\n%s", err, value, out)
	}
}
