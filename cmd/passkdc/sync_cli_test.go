package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/integration/slapd"
)

// runSub executes one subcommand tree in-process (the lead registers them on
// the root) and returns stdout and stderr.
func runSub(t *testing.T, cmd *cobra.Command, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestSyncAndPrincipalCommands(t *testing.T) {
	srv := slapd.Start(t, slapd.Options{})
	alice, err := srv.AddUser(slapd.User{UID: "alice", DisplayName: "Alice", SambaSID: "S-1-5-21-1-2-3-1104"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddUser(slapd.User{UID: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddGroup("staff", alice); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "bind.pw")
	if err := os.WriteFile(pw, []byte(srv.RootPW), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "passkdc.yaml")
	body := fmt.Sprintf("realm: EXAMPLE.TEST\nstore: %s\nldap:\n  url: %s\n  start_tls: false\n  flavour: rfc2307\n  bind_dn: %s\n  bind_password_file: %s\n  base_dn: %s\n",
		filepath.Join(dir, "passkdc.db"), srv.URL, srv.RootDN, pw, srv.Suffix)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := runSub(t, newSyncCommand(), "--config", cfg, "--dry-run")
	if err != nil || !strings.Contains(out, "2 added") || !strings.Contains(out, "dry run") {
		t.Fatalf("sync --dry-run: %q %q %v", out, errOut, err)
	}
	out, errOut, err = runSub(t, newSyncCommand(), "--config", cfg)
	if err != nil || !strings.HasPrefix(out, "full sync (first sync)") || !strings.Contains(errOut, "sync: apply 2/2") {
		t.Fatalf("sync: %q %q %v", out, errOut, err)
	}
	out, _, err = runSub(t, newSyncCommand(), "--config", cfg, "--json")
	var sum struct{ Mode string }
	if err != nil || json.Unmarshal([]byte(out), &sum) != nil || sum.Mode != "incremental" {
		t.Fatalf("sync --json: %q %v", out, err)
	}

	out, _, err = runSub(t, newPrincipalCommand(), "list", "--config", cfg)
	if err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "S-1-5-21-1-2-3-1104") || !strings.HasPrefix(out, "NAME") {
		t.Fatalf("principal list: %q %v", out, err)
	}
	out, _, err = runSub(t, newPrincipalCommand(), "show", "ALICE@example.test", "--config", cfg, "--json")
	var row principalRow
	if err != nil || json.Unmarshal([]byte(out), &row) != nil || row.Name != "alice" || len(row.Groups) != 1 || row.Groups[0] != "staff" {
		t.Fatalf("principal show: %q %v", out, err)
	}
	out, _, err = runSub(t, newPrincipalCommand(), "show", row.Anchor, "--config", cfg)
	if err != nil || !strings.Contains(out, "Groups:") || !strings.Contains(out, "staff") {
		t.Fatalf("principal show by anchor: %q %v", out, err)
	}
	if _, _, err := runSub(t, newPrincipalCommand(), "show", "nobody", "--config", cfg); err == nil {
		t.Error("unknown principal shown")
	}
	t.Setenv(configEnv, "")
	if _, _, err := runSub(t, newSyncCommand()); err == nil || exitCode(err) != 2 {
		t.Errorf("missing --config: %v", err)
	}
}
