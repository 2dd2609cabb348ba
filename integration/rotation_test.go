package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/integration/deploy"
	"github.com/passkdc/passkdc/keytabs"
)

// TestRotationWithoutSIGHUPAndTheStartChecks walks a second RODC (PKROT)
// through the faults an operator meets around a key rotation, each through
// the real binaries:
//   - the main deployment's check with PKROT's keytab: another RODC's keytab;
//   - `passkdc rodc rotate`: check names the stale keytab and the import,
//     and `passkdc serve` refuses to start with the same fix;
//   - export + import: check passes, serve starts, the sign-in is issued
//     under the new key version;
//   - a second rotation while serving, export + import, no SIGHUP: the next
//     sign-in is issued under the newer version, and the DC trades it;
//   - one "directory synced" log line per sync, with its counts;
//   - a never-reveal value without a SID: check fails naming it.
func TestRotationWithoutSIGHUPAndTheStartChecks(t *testing.T) {
	f := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	d, err := deploy.Provision(ctx, deploy.Options{DC: f.dc, Bin: f.Bin, Dir: dir, RODCName: "PKROT", SyncInterval: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.Stop()
		_, _ = d.Directory(context.Background(), "rodc", "remove", "--yes")
	})
	createMember(ctx, t, f.dc, "rotuser", f.password, "CN=Allowed RODC Password Replication Group,CN=Users,"+f.dc.BaseDN())
	if out, err := d.Passkdc(ctx, "sync", "--full"); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	checkFails := func(t *testing.T, config, name, want string, env ...string) {
		t.Helper()
		rep, code, out := runCheck(t, f, env, config, "--rodc-name", rodcNameOf(config, d))
		problem, fix, failed := rep.failed(name)
		if code != 1 || !failed || !strings.Contains(problem+" "+fix, want) {
			t.Fatalf("want exit 1 with %q failing and naming %q; exit %d\n%s", name, want, code, out)
		}
	}

	t.Run("another RODC's keytab", func(t *testing.T) {
		checkFails(t, f.Config, "key", "another RODC's keytab", "PASSKDC_KEYTAB="+d.Keytab)
	})

	rotate(ctx, t, d)
	t.Run("keytab behind the DC after rodc rotate", func(t *testing.T) {
		checkFails(t, d.Config, "key", "passkdc keytab import")
		cctx, ccancel := context.WithTimeout(ctx, time.Minute)
		defer ccancel()
		out, err := exec.CommandContext(cctx, d.Bin.Passkdc, "serve", "--config", d.Config, "--rodc-name", d.RODCName).CombinedOutput()
		if exitCode(err) != 1 || !strings.Contains(string(out), "key:") || !strings.Contains(string(out), "passkdc keytab import") {
			t.Fatalf("serve with a keytab behind the DC: %v, want exit 1 naming the key check and passkdc keytab import\n%s", err, out)
		}
	})

	version := importCurrentKey(ctx, t, f, d)
	if rep, code, out := runCheck(t, f, nil, d.Config, "--rodc-name", d.RODCName); code != 0 || len(rep.Results) == 0 {
		t.Fatalf("check after the import: exit %d\n%s", code, out)
	}
	if err := d.Serve(ctx); err != nil {
		t.Fatalf("serve after the import: %v\n%s", err, d.Log())
	}
	assertStartSummary(t, d, version)
	key := enrol(ctx, t, d, dir, "rotuser")
	if got := lastIssuedKVNO(t, d.Log(), "rotuser"); got != version {
		t.Fatalf("sign-in issued under kvno %d, want %d", got, version)
	}

	t.Run("rotation while serving, no SIGHUP", func(t *testing.T) {
		rotate(ctx, t, d)
		mark := len(d.Log())
		newer := importCurrentKey(ctx, t, f, d)
		if newer == version {
			t.Fatalf("rotation did not change the kvno (%d)", newer)
		}
		for deadline := time.Now().Add(15 * time.Second); !strings.Contains(d.Log()[mark:], "keytab reloaded"); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no keytab reload within 15 s of the import:\n%s", d.Log()[mark:])
			}
		}
		cc := filepath.Join(dir, "after.cc")
		out, err := d.Passkinit(ctx, nil, "--authenticator", key, "-c", cc, "rotuser")
		if err != nil {
			t.Fatalf("sign-in + exchange at the DC after the rotation: %v\n%s\n%s", err, out, d.Log()[mark:])
		}
		if got := lastIssuedKVNO(t, d.Log()[mark:], "rotuser"); got != newer {
			t.Fatalf("sign-in after the rotation issued under kvno %d, want %d", got, newer)
		}
	})

	t.Run("one log line per sync", func(t *testing.T) {
		okSyncs := regexp.MustCompile(`passkdc_sync_total\{result="ok"\} (\d+)`)
		count := func() int {
			m := okSyncs.FindStringSubmatch(metrics(t, d))
			if m == nil {
				t.Fatalf("no passkdc_sync_total{result=\"ok\"}:\n%s", grepLines(metrics(t, d), "sync"))
			}
			n, _ := strconv.Atoi(m[1])
			return n
		}
		deadline := time.Now().Add(20 * time.Second)
		for count() < 2 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		before := count()
		lines := 0
		for _, line := range strings.Split(d.Log(), "\n") {
			if strings.Contains(line, `"msg":"directory synced"`) {
				lines++
				for _, field := range []string{`"read":`, `"added":`, `"changed":`, `"deleted":`, `"groups":`, `"mode":`} {
					if !strings.Contains(line, field) {
						t.Errorf("sync log line lacks %s: %s", field, line)
					}
				}
			}
		}
		after := count()
		if before < 2 || lines < before || lines > after+1 {
			t.Fatalf("%d 'directory synced' lines for %d..%d syncs, want one per sync:\n%s", lines, before, after, grepLines(d.Log(), "sync"))
		}
	})

	t.Run("never-reveal value without a SID", func(t *testing.T) {
		unresolvable := "OU=Domain Controllers," + f.dc.BaseDN()
		if err := modifyNeverReveal(ctx, d, d.RODC.ComputerDN, ldap.AddAttribute, unresolvable); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = modifyNeverReveal(context.Background(), d, d.RODC.ComputerDN, ldap.DeleteAttribute, unresolvable)
		}()
		checkFails(t, d.Config, "policy", unresolvable)
	})
}

// rodcNameOf is the RODC a config file belongs to in this test.
func rodcNameOf(config string, d *deploy.Deployment) string {
	if config == d.Config {
		return d.RODCName
	}
	return rodcName
}

// rotate resets the RODC key at the DC as an administrator elsewhere would
// (`rodc rotate` fetching into a keytab of its own), leaving the
// deployment's keytab behind the DC.
func rotate(ctx context.Context, t *testing.T, d *deploy.Deployment) {
	t.Helper()
	elsewhere := filepath.Join(t.TempDir(), "elsewhere.keytab")
	if out, err := d.Directory(ctx, "rodc", "rotate", "--yes", "--keytab", elsewhere); err != nil {
		t.Fatalf("passkdc rodc rotate: %v\n%s", err, out)
	}
}

// importCurrentKey exports the RODC's current key from the DC, imports it
// into the deployment's keytab with `passkdc keytab import` and returns the
// keytab's newest kvno.
func importCurrentKey(ctx context.Context, t *testing.T, f *fixture, d *deploy.Deployment) uint32 {
	t.Helper()
	exported := filepath.Join(t.TempDir(), "export.keytab")
	if err := f.dc.ExportKeytab(ctx, d.RODC.KrbtgtName, exported); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(exported)
	if out, err := deploy.Run(ctx, nil, d.Bin.Passkdc, "keytab", "import", exported, "--to", d.Keytab); err != nil {
		t.Fatalf("passkdc keytab import: %v\n%s", err, out)
	}
	kt, err := keytabs.Load(d.Keytab)
	if err != nil {
		t.Fatal(err)
	}
	var newest uint32
	for _, e := range kt.Entries {
		newest = max(newest, e.KVNO)
	}
	return newest
}

// lastIssuedKVNO is the kvno of the last ticket the audit log shows issued to user.
func lastIssuedKVNO(t *testing.T, log, user string) uint32 {
	t.Helper()
	var kvno float64 = -1
	for _, a := range auditIn(log, user) {
		if a["event"] == "login" && a["result"] == "ok" {
			kvno, _ = a["kvno"].(float64)
		}
	}
	if kvno < 0 {
		t.Fatalf("no issued login audit line for %s:\n%s", user, log)
	}
	return uint32(kvno)
}

// assertStartSummary checks serve's "passkdc ready" line with a directory.
func assertStartSummary(t *testing.T, d *deploy.Deployment, kvno uint32) {
	t.Helper()
	for _, line := range strings.Split(d.Log(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "passkdc ready" {
			continue
		}
		if m["rodc"] != d.RODCName || m["kvno"] != float64(kvno) || m["directory"] != d.LDAPURL || m["rp_id"] != "localhost" ||
			m["reveal_groups"] != float64(1) || m["never_reveal_groups"] == nil || m["check_warnings"] != float64(0) ||
			!strings.HasPrefix(fmt.Sprint(m["store"]), "sqlite ") || !strings.Contains(fmt.Sprint(m["origins"]), "https://localhost:") {
			t.Errorf("start summary with a directory: %v", m)
		}
		return
	}
	t.Fatalf("no 'passkdc ready' line:\n%s", d.Log())
}
