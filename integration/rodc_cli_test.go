package integration

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/deploy"
)

// TestRODCShowJSONAndDestructiveCommandsNeedYes: `rodc show --json` prints
// the documented snake_case fields; `rodc rotate` and `rodc remove` refuse
// without --yes when no terminal can ask, and change nothing.
func TestRODCShowJSONAndDestructiveCommandsNeedYes(t *testing.T) {
	f := domain(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	show := func() map[string]any {
		t.Helper()
		out, err := f.Directory(ctx, "rodc", "show", "--json")
		if err != nil {
			t.Fatalf("rodc show --json: %v\n%s", err, out)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("rodc show --json: %v\n%s", err, out)
		}
		return m
	}
	before := show()
	want := []string{"base_dn", "computer_dn", "created", "key_version", "keytab_kvno", "krbtgt_dn", "krbtgt_name",
		"name", "never_reveal", "problems", "reveal", "rodc_number", "warnings"}
	if got := slices.Sorted(maps.Keys(before)); !slices.Equal(got, want) {
		t.Fatalf("rodc show --json fields %v, want %v", got, want)
	}
	if !strings.HasPrefix(before["krbtgt_name"].(string), "krbtgt_") || before["rodc_number"].(float64) < 1 {
		t.Fatalf("rodc show --json: %v", before)
	}
	keytab := filepath.Join(t.TempDir(), "krbtgt.keytab")
	for _, args := range [][]string{{"rotate", "--keytab", keytab}, {"remove"}} {
		out, err := f.Directory(ctx, append([]string{"rodc"}, args...)...)
		if err == nil || exitCode(err) != 2 || !strings.Contains(out, "--yes") {
			t.Fatalf("rodc %s without --yes and no terminal: exit %d\n%s", args[0], exitCode(err), out)
		}
	}
	if _, err := os.Stat(keytab); !os.IsNotExist(err) {
		t.Fatalf("a refused rotate wrote the keytab (%v)", err)
	}
	if after := show(); after["key_version"] != before["key_version"] || after["computer_dn"] != before["computer_dn"] {
		t.Fatalf("a refused rotate/remove changed the RODC: before %v after %v", before, after)
	}
}

// TestRODCRemoveDeletesTheHTTPServiceAccount: `rodc remove` deletes the
// HTTP service account `rodc http-spn` made for the RODC along with the
// RODC (--json lists it under http_accounts); without --yes it changes
// nothing; a bind account that may not delete it gets an error naming the
// account and the fix, and the RODC stays; a second remove has nothing to
// do and says so.
func TestRODCRemoveDeletesTheHTTPServiceAccount(t *testing.T) {
	f := domain(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const name = "PKRM"
	dn := "CN=PKRM-WEB,CN=Computers," + f.dc.BaseDN()
	spn := "HTTP/pkrm." + strings.ToLower(f.dc.Realm())
	dir := t.TempDir()
	passkdc := func(bindDN, pwFile string, args ...string) (string, error) {
		return deploy.Run(ctx, nil, f.Bin.Passkdc, append(args, "--ldap-url", f.LDAPURL, "--bind-dn", bindDN,
			"--bind-password-file", pwFile, "--insecure-skip-verify", "--name", name)...)
	}
	admin := func(args ...string) (string, error) { return passkdc(f.dc.AdminBindDN(), f.PasswordFile, args...) }
	t.Cleanup(func() {
		_, _ = admin("rodc", "remove", "--yes")
		_ = f.dc.DeleteEntry(context.Background(), dn)
	})
	exists := func() bool {
		_, err := f.dc.Entry(ctx, dn, "sAMAccountName")
		return err == nil
	}
	if out, err := admin("rodc", "provision"); err != nil {
		t.Fatalf("rodc provision: %v\n%s", err, out)
	}
	if out, err := admin("rodc", "http-spn", "--account", "PKRM-WEB", "--host", strings.TrimPrefix(spn, "HTTP/"),
		"--keytab", filepath.Join(dir, "http.keytab")); err != nil || !exists() {
		t.Fatalf("rodc http-spn: %v (account there: %v)\n%s", err, exists(), out)
	}

	if out, err := admin("rodc", "remove"); exitCode(err) != 2 || !strings.Contains(out, "--yes") || !exists() {
		t.Fatalf("rodc remove without --yes: exit %d, account there: %v\n%s", exitCode(err), exists(), out)
	}

	pw := filepath.Join(dir, "alice.pw")
	if err := os.WriteFile(pw, []byte(f.password), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := passkdc(f.users["alice"].DN, pw, "rodc", "remove", "--yes")
	if exitCode(err) != 1 || !strings.Contains(out, "PKRM-WEB$") || !strings.Contains(out, "bind as a domain admin with --bind-dn") {
		t.Fatalf("rodc remove bound as a user who may not delete: exit %d, want 1 naming PKRM-WEB$ and --bind-dn\n%s", exitCode(err), out)
	}
	if shown, err := admin("rodc", "show"); err != nil || !exists() {
		t.Fatalf("after a refused remove: the RODC (%v) and the HTTP account (%v) must stay\n%s", err, exists(), shown)
	}

	var removed struct {
		Kind         string `json:"kind"`
		Name         string `json:"name"`
		Removed      bool   `json:"removed"`
		HTTPAccounts []struct {
			Account string   `json:"account"`
			DN      string   `json:"dn"`
			SPNs    []string `json:"spns"`
		} `json:"http_accounts"`
	}
	out, err = admin("rodc", "remove", "--yes", "--json")
	if err != nil || json.Unmarshal([]byte(out), &removed) != nil {
		t.Fatalf("rodc remove --yes --json: %v\n%s", err, out)
	}
	if !removed.Removed || len(removed.HTTPAccounts) != 1 || removed.HTTPAccounts[0].Account != "PKRM-WEB$" ||
		!strings.EqualFold(removed.HTTPAccounts[0].DN, dn) || !slices.Equal(removed.HTTPAccounts[0].SPNs, []string{spn}) {
		t.Fatalf("rodc remove --json: %+v", removed)
	}
	if exists() {
		t.Fatal("the HTTP service account is still in the directory after rodc remove")
	}
	if out, err := admin("rodc", "show"); exitCode(err) == 0 {
		t.Fatalf("the RODC is still there after rodc remove:\n%s", out)
	}

	out, err = admin("rodc", "remove", "--yes")
	if err != nil || !strings.Contains(out, "nothing to remove") {
		t.Fatalf("second rodc remove: %v, want success with nothing to remove\n%s", err, out)
	}
	out, err = admin("rodc", "remove", "--yes", "--json")
	if err != nil || json.Unmarshal([]byte(out), &removed) != nil || removed.Removed || len(removed.HTTPAccounts) != 0 {
		t.Fatalf("second rodc remove --json: %v\n%s", err, out)
	}
}
