package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/passkdc/passkdc/integration/slapd"
	"github.com/passkdc/passkdc/ldapsync"
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
	if out, _, err := runSub(t, newPrincipalCommand(), "list", "--config", cfg); err != nil || strings.Contains(out, "alice") {
		t.Fatalf("principal list after a dry run: %q %v", out, err)
	}
	out, errOut, err = runSub(t, newSyncCommand(), "--config", cfg)
	if err != nil || !strings.HasPrefix(out, "full sync (first sync)") || !strings.Contains(errOut, "sync: apply 2/2") {
		t.Fatalf("sync: %q %q %v", out, errOut, err)
	}
	checkSummary(t, out, map[string]int{"added": 2, "changed": 0, "disabled": 0, "deleted": 0})
	if strings.Contains(errOut, "\r") || strings.Contains(errOut, "[#") {
		t.Errorf("progress bar drawn on a non-terminal: %q", errOut)
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

	// Disable, then delete (seen by a --full pass): summary counts and state column.
	bob := srv.UserDN("bob")
	if err := srv.Lock(bob); err != nil {
		t.Fatal(err)
	}
	out, _, err = runSub(t, newSyncCommand(), "--config", cfg)
	if err != nil || !strings.HasPrefix(out, "incremental sync") {
		t.Fatalf("sync after a lock: %q %v", out, err)
	}
	checkSummary(t, out, map[string]int{"added": 0, "changed": 1, "disabled": 1, "deleted": 0})
	if out, _, err := runSub(t, newPrincipalCommand(), "list", "--config", cfg); err != nil || !regexp.MustCompile(`(?m)^bob\s+EXAMPLE.TEST\s+disabled\s`).MatchString(out) {
		t.Errorf("principal list, bob disabled: %q %v", out, err)
	}
	if err := srv.Delete(bob); err != nil {
		t.Fatal(err)
	}
	out, _, err = runSub(t, newSyncCommand(), "--config", cfg, "--full")
	if err != nil || !strings.HasPrefix(out, "full sync (requested)") {
		t.Fatalf("sync --full: %q %v", out, err)
	}
	checkSummary(t, out, map[string]int{"added": 0, "deleted": 1})
	out, _, err = runSub(t, newPrincipalCommand(), "list", "--config", cfg, "--json")
	var rows []principalRow
	if err != nil || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0].Name != "alice" || !rows[0].Enabled {
		t.Errorf("principal list --json: %q %v", out, err)
	}
	out, _, err = runSub(t, newPrincipalCommand(), "list", "--config", cfg, "--deleted")
	if err != nil || !regexp.MustCompile(`(?m)^bob\s+EXAMPLE.TEST\s+deleted\s`).MatchString(out) {
		t.Errorf("principal list --deleted: %q %v", out, err)
	}

	// Directory down: a clear error, exit code 1.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	_, _, err = runSub(t, newSyncCommand(), "--config", cfg)
	if !errors.Is(err, ldapsync.ErrUnreachable) || exitCode(err) != 1 || !strings.Contains(err.Error(), "directory unreachable") {
		t.Errorf("sync with the directory down: %v", err)
	}
	t.Setenv(configEnv, "")
	if _, _, err := runSub(t, newSyncCommand()); err == nil || exitCode(err) != 2 {
		t.Errorf("missing --config: %v", err)
	}
}

// checkSummary asserts the counts in the one-line sync summary and that it
// ends with the elapsed time.
func checkSummary(t *testing.T, line string, want map[string]int) {
	t.Helper()
	for what, n := range want {
		if !regexp.MustCompile(`\b` + strconv.Itoa(n) + ` ` + what + `\b`).MatchString(line) {
			t.Errorf("summary %q: want %d %s", line, n, what)
		}
	}
	if !regexp.MustCompile(`; in [0-9.]+(µs|ms|s) `).MatchString(line) {
		t.Errorf("summary %q: no elapsed time", line)
	}
}

func TestProgressPrinter(t *testing.T) {
	reports := []ldapsync.Progress{
		{Phase: "groups", Done: 0}, {Phase: "groups", Done: 3},
		{Phase: "users", Done: 0}, {Phase: "users", Done: 25000},
		{Phase: "apply", Done: 0, Total: 4}, {Phase: "apply", Done: 2, Total: 4}, {Phase: "apply", Done: 4, Total: 4},
	}
	for _, c := range []struct {
		name      string
		tty       bool
		want      []string
		wantNot   []string
		finalLine bool
	}{
		{"plain", false, []string{"sync: groups 0\n", "sync: users 0\n", "sync: users 25000\n", "sync: apply 0/4\n", "sync: apply 4/4\n"},
			[]string{"\r", "[", "\x1b"}, true},
		{"terminal", true, []string{"\rapply   [" + strings.Repeat("#", 30) + "] 100% 4/4\x1b[K", "\rgroups  0", "\n\rusers"},
			[]string{"sync:"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := &progressPrinter{w: &buf, tty: c.tty}
			for _, r := range reports {
				p.report(r)
			}
			p.done()
			out := buf.String()
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
			for _, w := range c.wantNot {
				if strings.Contains(out, w) {
					t.Errorf("output %q has %q", out, w)
				}
			}
			if c.finalLine && !strings.HasSuffix(out, "\n") {
				t.Errorf("output %q does not end the line", out)
			}
		})
	}
}

// TestProgressPrinterDetectsTerminal: a bar on a real terminal (a pty), plain
// lines on a pipe.
func TestProgressPrinterDetectsTerminal(t *testing.T) {
	master, slave := openPTY(t)
	go func() { _, _ = io.Copy(io.Discard, master) }()
	if !newProgressPrinter(slave).tty {
		t.Error("pty not detected as a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if newProgressPrinter(w).tty {
		t.Error("pipe detected as a terminal")
	}
	p := newProgressPrinter(slave)
	p.report(ldapsync.Progress{Phase: "apply", Done: 1, Total: 2})
	p.done()
}

// openPTY opens a pseudo-terminal pair with /dev/ptmx.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pts: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	_ = m.SetReadDeadline(time.Now().Add(10 * time.Second))
	return m, s
}
