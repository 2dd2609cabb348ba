package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/deploy"
	"github.com/passkdc/passkdc/integration/samba"
	"github.com/passkdc/passkdc/internal/softkey"
)

// With sync.live_check on, the groups read live at sign-in decide both the
// passkey profile and the replication policy, through the real `passkdc
// serve` and passkinit against the shared Samba DC, with a config whose
// group_base_dn (CN=Users) leaves CN=Builtin out of the mirror:
//   - a user added in AD to a group a stricter profile targets is judged by
//     that profile at the next sign-in, without a sync;
//   - a user who reaches Backup Operators (never-reveal by default) only by
//     nesting through a group in CN=Users is refused: the DC's tokenGroups
//     counts it although the mirror does not know the builtin group.
func TestLiveGroupsDecideProfileAndPolicy(t *testing.T) {
	f := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	base := f.dc.BaseDN()
	allowed := "CN=Allowed RODC Password Replication Group,CN=Users," + base
	strict, err := f.dc.CreateGroup(ctx, "pk-strict-profile")
	if err != nil {
		t.Fatal(err)
	}
	backup, err := f.dc.CreateGroup(ctx, "pk-backup-nested")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.dc.AddMember(ctx, "CN=Backup Operators,CN=Builtin,"+base, backup.DN); err != nil {
		t.Fatal(err)
	}
	gina := createMember(ctx, t, f.dc, "gina", f.password, allowed)
	createMember(ctx, t, f.dc, "hank", f.password, allowed, backup.DN)

	d, err := f.Derive(t.TempDir(), func(o *deploy.Options) {
		o.GroupBaseDN = "CN=Users," + base
		o.ExtraYAML = fmt.Sprintf(`profiles:
  - name: strict
    target_groups: [%q]
    aaguid_block: [%q]   # the software passkey's model
`, strict.SID, softkey.AAGUIDString)
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := d.Passkdc(ctx, "sync", "--full"); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	if err := d.Serve(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	dir := t.TempDir()

	// The profile: gina signs in, is moved into the strict profile's group
	// in AD, and is refused by it at the next sign-in.
	ginaKey := enrol(ctx, t, d, dir, "gina")
	if err := f.dc.AddMember(ctx, strict.DN, gina.DN); err != nil {
		t.Fatal(err)
	}
	mark := len(d.Log())
	out, err := d.Passkinit(ctx, nil, "--authenticator", ginaKey, "--no-exchange", "-c", filepath.Join(dir, "gina2"))
	if code := exitCode(err); code != 3 {
		t.Fatalf("gina after the move into the strict profile: exit %d, want 3 (refused)\n%s", code, out)
	}
	assertOneRefusal(t, d.Log()[mark:], "gina", "profile_refused")

	// The policy: hank reaches Backup Operators only by nesting.
	pass, err := d.IssueTAP(ctx, "hank")
	if err != nil {
		t.Fatal(err)
	}
	mark = len(d.Log())
	out, err = d.Passkinit(ctx, nil, "--authenticator", "soft:"+filepath.Join(dir, "hank.passkey"),
		"--register", "--tap", pass, "--no-exchange", "-c", filepath.Join(dir, "hank"))
	if code := exitCode(err); code != 3 || !strings.Contains(out, "ticket policy") {
		t.Fatalf("hank, in Backup Operators through nesting: exit %d, want 3 (refused by the ticket policy)\n%s", code, out)
	}
	if detail := refusalDetail(func() string { return d.Log()[mark:] }, "hank", "S-1-5-32-551"); !strings.Contains(detail, "S-1-5-32-551") {
		t.Fatalf("the audit record %q does not name S-1-5-32-551", detail)
	}
	assertOneRefusal(t, d.Log()[mark:], "hank", "replication_policy")
}

func createMember(ctx context.Context, t *testing.T, dc *samba.DC, name, password string, groups ...string) samba.User {
	t.Helper()
	u, err := dc.CreateUser(ctx, name, password)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if err := dc.AddMember(ctx, g, u.DN); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// enrol registers a software passkey for user with a fresh pass (signing in
// once) and returns its --authenticator value.
func enrol(ctx context.Context, t *testing.T, d *deploy.Deployment, dir, user string) string {
	t.Helper()
	pass, err := d.IssueTAP(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	key := "soft:" + filepath.Join(dir, user+".passkey")
	if out, err := d.Passkinit(ctx, nil, "--authenticator", key, "--register", "--tap", pass,
		"--no-exchange", "-c", filepath.Join(dir, user+".cc")); err != nil {
		t.Fatalf("%s's first sign-in: %v\n%s", user, err, out)
	}
	return key
}
