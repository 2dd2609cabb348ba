package samba

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/internal/testenv"
)

// Python is the interpreter samba-tool runs with: Debian's, never a pyenv
// shim found first on PATH (python3-samba lives in Debian's python).
const Python = "/usr/bin/python3"

// InstallHint is the advice given when tools are missing.
const InstallHint = "run integration/scripts/install-deps.sh"

// ErrMissingTools is wrapped by the error returned when required programs or
// libraries are absent.
var ErrMissingTools = errors.New("samba: required tools missing")

// toolNames are the programs the harness runs, found on PATH or in the
// usual system directories.
func toolNames() []string {
	return []string{"samba", "samba-tool", "kinit", "smbclient", "ldapmodify", "ip"}
}

// requiredFiles are files that only show up as obscure errors when absent.
func requiredFiles() map[string][]string {
	return map[string][]string{
		"python3 (" + Python + ")":        {Python},
		"samba-ad-provision":              {"/usr/share/samba/setup/provision.ldif"},
		"libnss-wrapper (libnss_wrapper)": libDirs("libnss_wrapper.so"),
		"libresolv-wrapper":               libDirs("libresolv_wrapper.so"),
	}
}

func libDirs(name string) []string {
	dirs := []string{"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib"}
	out := make([]string, len(dirs))
	for i, d := range dirs {
		out[i] = filepath.Join(d, name)
	}
	return out
}

// toolPath finds a program on PATH, then in /usr/sbin, /usr/bin, /sbin, /bin.
func toolPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s not found", ErrMissingTools, name)
}

// Missing lists what the harness needs and cannot find: programs, the
// nss/resolv wrapper libraries, Samba's provisioning data, and root
// privileges. An empty result means Start can be tried.
func Missing() []string {
	var miss []string
	for _, n := range toolNames() {
		if _, err := toolPath(n); err != nil {
			miss = append(miss, n)
		}
	}
	for label, candidates := range requiredFiles() {
		if !anyExists(candidates) {
			miss = append(miss, label)
		}
	}
	if os.Geteuid() != 0 {
		miss = append(miss, "root privileges")
	}
	return miss
}

func anyExists(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// CheckTools returns an error wrapping ErrMissingTools when Missing is not
// empty.
func CheckTools() error {
	if miss := Missing(); len(miss) > 0 {
		return fmt.Errorf("%w: %s (%s)", ErrMissingTools, strings.Join(miss, ", "), InstallHint)
	}
	return nil
}

// Require stops the test when the harness cannot run here: it fails the test
// when the environment variable CI is "true" (CI must have the tools), and
// skips it otherwise. Tests never install packages themselves.
func Require(t testing.TB) {
	t.Helper()
	err := CheckTools()
	if err == nil {
		return
	}
	testenv.Missing(t, err.Error())
}
