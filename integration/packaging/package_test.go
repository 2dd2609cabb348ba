package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/keytabs"
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

	t.Run("installed check", func(t *testing.T) {
		// The installed binary's pre-flight check passes on a good (standalone) deployment.
		dir := t.TempDir()
		kt := filepath.Join(dir, "krbtgt.keytab")
		key, err := keytabs.StringToKey(18, "rodc", keytabs.ADUserSalt("CORP.EXAMPLE.TEST", "krbtgt_40000"))
		if err != nil {
			t.Fatal(err)
		}
		k := &keytabs.Keytab{Entries: []keytabs.Entry{{Principal: keytabs.NewPrincipal("CORP.EXAMPLE.TEST", "krbtgt_40000"),
			KVNO: keytabs.EncodeKVNO(40000, 1), Key: key}}}
		if err := k.WriteFile(kt); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(dir, "passkdc.yaml")
		yaml := "realm: CORP.EXAMPLE.TEST\nlisten: 127.0.0.1:8443\nrp_id: localhost\norigins: [\"https://localhost:8443\"]\n" +
			"store: " + filepath.Join(dir, "passkdc.db") + "\nkeytab: " + kt + "\nstandalone: {enabled: true, allow: [\"S-1-5-21-1-2-3-571\"]}\n"
		if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		out := run(t, "/usr/bin/passkdc", "check", "--config", cfg)
		for _, want := range []string{"ok    config", "ok    store", "ok    keytab"} {
			if !strings.Contains(out, want) {
				t.Errorf("installed passkdc check lacks %q:\n%s", want, out)
			}
		}
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
