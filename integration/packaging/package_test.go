package packaging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/deploy"
	"github.com/passkdc/passkdc/internal/testenv"
)

// installAllowed reports whether the test may install the package system-wide:
// under CI, or when a developer asks with PASSKDC_TEST_DPKG=1.
func installAllowed() bool {
	return testenv.InCI() || os.Getenv("PASSKDC_TEST_DPKG") == "1"
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// buildPackage runs scripts/package with a known version into a temp dir.
func buildPackage(t *testing.T, version string) string {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(repoRoot(t), "scripts", "package"), out)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "PASSKDC_VERSION="+version)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/package: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	deb := lines[len(lines)-1]
	if filepath.Base(deb) != "passkdc_"+version+"_amd64.deb" {
		t.Fatalf("scripts/package printed %q last, want the .deb path", deb)
	}
	return deb
}

func TestDebianPackageInstallsAHardenedService(t *testing.T) {
	for _, tool := range []string{"dpkg", "dpkg-deb", "systemd-analyze"} {
		testenv.RequireTool(t, tool)
	}
	const version = "0.9.0+test.1"
	deb := buildPackage(t, version)

	t.Run("contents", func(t *testing.T) {
		listing := run(t, "dpkg-deb", "-c", deb)
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`-rwxr-xr-x root/root .* \./usr/bin/passkdc\n`),
			regexp.MustCompile(`-rwxr-xr-x root/root .* \./usr/bin/passkinit\n`),
			regexp.MustCompile(`-rw-r--r-- root/root .* \./lib/systemd/system/passkdc\.service\n`),
			regexp.MustCompile(`-rw-r----- root/root .* \./etc/passkdc/passkdc\.yaml\n`),
		} {
			if !want.MatchString(listing) {
				t.Errorf("package lacks %s; contents:\n%s", want, listing)
			}
		}
		if got := run(t, "dpkg-deb", "-f", deb, "Version"); strings.TrimSpace(got) != version {
			t.Errorf("package version %q, want %q", got, version)
		}
		// The shipped config is a conffile: an upgrade keeps the administrator's edits.
		control := t.TempDir()
		run(t, "dpkg-deb", "-e", deb, control)
		conffiles, err := os.ReadFile(filepath.Join(control, "conffiles"))
		if err != nil || !strings.Contains(string(conffiles), "/etc/passkdc/passkdc.yaml") {
			t.Errorf("/etc/passkdc/passkdc.yaml is not a conffile (%v): %q", err, conffiles)
		}
	})

	t.Run("unit", func(t *testing.T) {
		unit, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "passkdc.service"))
		if err != nil {
			t.Fatal(err)
		}
		for _, directive := range []string{
			"User=passkdc", "StateDirectory=passkdc", "ProtectSystem=strict", "NoNewPrivileges=yes",
			"ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "CapabilityBoundingSet=\n",
		} {
			if !strings.Contains(string(unit), directive) {
				t.Errorf("passkdc.service lacks %q", directive)
			}
		}
	})

	if !installAllowed() {
		t.Skip("installing the package system-wide runs under CI=true or PASSKDC_TEST_DPKG=1")
	}
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root, to install the package with dpkg -i")
	}
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", "passkdc").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge passkdc: %v\n%s", err, out)
		}
	})
	run(t, "dpkg", "-i", deb)

	t.Run("installed", func(t *testing.T) {
		if got := strings.TrimSpace(run(t, "/usr/bin/passkdc", "version")); got != version {
			t.Errorf("installed passkdc version = %q, want %q", got, version)
		}
		// systemd-analyze verify checks the unit's syntax, its commands and
		// its sandboxing directives against this machine's systemd.
		cmd := exec.Command("systemd-analyze", "verify", "/lib/systemd/system/passkdc.service")
		out, err := cmd.CombinedOutput()
		if err != nil || bytes.Contains(out, []byte("passkdc.service")) {
			t.Errorf("systemd-analyze verify passkdc.service: %v\n%s", err, out)
		}
		u, err := user.Lookup("passkdc")
		if err != nil {
			t.Fatalf("the package did not create the passkdc user: %v", err)
		}
		st, err := os.Stat("/var/lib/passkdc")
		if err != nil {
			t.Fatalf("state directory: %v", err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("/var/lib/passkdc mode %v, want 0700", st.Mode().Perm())
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); !ok || strconv.Itoa(int(sys.Uid)) != u.Uid {
			t.Errorf("/var/lib/passkdc is not owned by the passkdc user (uid %s)", u.Uid)
		}
		cfg, err := os.Stat("/etc/passkdc/passkdc.yaml")
		if err != nil || cfg.Mode().Perm() != 0o640 {
			t.Errorf("/etc/passkdc/passkdc.yaml: %v, mode %v, want 0640", err, cfg.Mode().Perm())
		}
	})

	t.Run("installed check against the test DC", func(t *testing.T) {
		installedCheck(t)
	})

	t.Run("purge", func(t *testing.T) {
		run(t, "dpkg", "--purge", "passkdc")
		for _, gone := range []string{"/usr/bin/passkdc", "/usr/bin/passkinit", "/lib/systemd/system/passkdc.service", "/var/lib/passkdc"} {
			if _, err := os.Stat(gone); !os.IsNotExist(err) {
				t.Errorf("%s still present after purge (%v)", gone, err)
			}
		}
		if _, err := user.Lookup("passkdc"); err == nil {
			t.Errorf("the passkdc user remains after purge")
		}
	})
}

// installedCheck deploys passkdc into the test DC's domain with the
// installed binaries (rodc provision, samba-tool exportkeytab, keytab
// import), gives the state to the passkdc user as the unit would, and runs
// the installed `passkdc check` as that user: every check passes, the
// directory, RODC, key version, KDC and clock ones included. Then the same
// check with the keytab a key version behind the DC fails with exit 1,
// naming the fix.
func installedCheck(t *testing.T) {
	dc := shared.DC(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("/var/lib/passkdc", "check-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	installed := deploy.Binaries{Dir: "/usr/bin", Passkdc: "/usr/bin/passkdc", Passkinit: "/usr/bin/passkinit"}
	d, err := deploy.Provision(ctx, deploy.Options{DC: dc, Bin: installed, Dir: dir, RODCName: "PKPKG"})
	if err != nil {
		t.Fatal(err)
	}
	chownTree(t, dir, "passkdc")
	check := func() (string, int) {
		cmd := exec.CommandContext(ctx, "runuser", "-u", "passkdc", "--", "/usr/bin/passkdc", "check", "--json",
			"--config", d.Config, "--rodc-name", "PKPKG")
		out, err := cmd.Output()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return string(out), exit.ExitCode()
		}
		if err != nil {
			t.Fatalf("runuser passkdc check: %v", err)
		}
		return string(out), 0
	}
	out, code := check()
	var rep struct {
		Results []struct {
			Name, Problem, Fix string
			OK                 bool
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("installed passkdc check --json: %v\n%s", err, out)
	}
	passed := map[string]bool{}
	for _, r := range rep.Results {
		passed[r.Name] = r.OK
	}
	for _, want := range []string{"config", "tls", "origins", "store", "keytab", "metadata", "directory", "base_dn", "rodc", "policy", "key", "kdc", "clock"} {
		if !passed[want] {
			t.Errorf("installed passkdc check: %q missing or failed", want)
		}
	}
	if code != 0 {
		t.Fatalf("installed passkdc check as the passkdc user: exit %d, want 0\n%s", code, out)
	}

	// A store the passkdc user cannot write (root's, 0644, in root's directory): exit 1, naming the store.
	roDir, err := os.MkdirTemp("/var/lib/passkdc", "ro-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(roDir)
	if err := os.Chmod(roDir, 0o755); err != nil {
		t.Fatal(err)
	}
	roStore := filepath.Join(roDir, "passkdc.db")
	mk := exec.CommandContext(ctx, "/usr/bin/passkdc", "principal", "list", "--config", d.Config)
	mk.Env = append(os.Environ(), "PASSKDC_STORE="+roStore)
	if out, err := mk.CombinedOutput(); err != nil { // root creates and migrates it
		t.Fatalf("passkdc principal list: %v\n%s", err, out)
	}
	if err := os.Chmod(roStore, 0o644); err != nil {
		t.Fatal(err)
	}
	ro := exec.CommandContext(ctx, "runuser", "-u", "passkdc", "--", "env", "PASSKDC_STORE="+roStore,
		"/usr/bin/passkdc", "check", "--config", d.Config, "--rodc-name", "PKPKG")
	if out, err := ro.CombinedOutput(); exitCodeOf(err) != 1 || !strings.Contains(string(out), "FAIL  store") || !strings.Contains(string(out), "not writable") {
		t.Fatalf("installed check with a store the passkdc user cannot write: %v, want exit 1 naming the store\n%s", err, out)
	}

	// The same check after the DC's key moved on (rotated by an
	// administrator elsewhere, into another keytab): exit 1, naming the import.
	if out, err := d.Directory(ctx, "rodc", "rotate", "--yes", "--keytab", filepath.Join(t.TempDir(), "elsewhere.keytab")); err != nil {
		t.Fatalf("passkdc rodc rotate: %v\n%s", err, out)
	}
	out, code = check()
	if code != 1 || !strings.Contains(out, "passkdc keytab import") {
		t.Fatalf("installed passkdc check after rodc rotate: exit %d, want 1 naming passkdc keytab import\n%s", code, out)
	}
	if out, err := d.Directory(ctx, "rodc", "remove", "--yes"); err != nil {
		t.Errorf("passkdc rodc remove: %v\n%s", err, out)
	}
}

// chownTree gives dir and everything under it to user.
func chownTree(t *testing.T, dir, name string) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	err = filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func exitCodeOf(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
