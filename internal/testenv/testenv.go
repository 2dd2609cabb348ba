// Package testenv holds helpers shared by passkdc's tests: finding external tools
// (MIT Kerberos, Samba, OpenLDAP) and deciding what a missing one means.
//
// Outside CI a missing prerequisite skips the test with a message saying how to
// install it; under CI=true it fails the test, so nothing is skipped silently.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// InstallHint tells a developer how to get every prerequisite of the test suite.
const InstallHint = "run integration/scripts/install-deps.sh (as root) to install the Debian packages the tests need"

// ClosedPort is a 127.0.0.1 address nothing listens on (a connection is
// refused): a server that is down. The port stays reserved until the test
// ends, by a socket bound to it that never listens, so no server the test
// starts later (on port 0) is handed the same port.
func ClosedPort(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("reserving a closed port: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("reserving a closed port: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("reserving a closed port: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// InCI reports whether the tests run under CI (CI=true), where missing
// prerequisites are failures.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing skips the test outside CI and fails it under CI, with why and how to fix.
func Missing(t testing.TB, what string) {
	t.Helper()
	if InCI() {
		t.Fatalf("prerequisite missing under CI=true: %s; %s", what, InstallHint)
	}
	t.Skipf("prerequisite missing: %s; %s", what, InstallHint)
}

// RequireTool returns the path of an executable on PATH, or handles its absence
// with Missing.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "executable "+name)
	}
	return p
}

// Python returns Debian's /usr/bin/python3 (the system python3 on PATH may be
// a pyenv shim without the distribution's modules), else python3 from PATH.
func Python(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return RequireTool(t, "python3")
}

// KRB5Env writes a private krb5.conf for realm into dir (extra lines go to
// [libdefaults]; no DNS lookups) and returns the environment MIT tools and
// libkrb5 need to use it and nothing of the machine's: its own credential
// cache and default keytab under dir, the C locale and UTC.
func KRB5Env(t testing.TB, dir, realm, extra string) []string {
	t.Helper()
	conf := "[libdefaults]\n default_realm = " + realm + "\n dns_lookup_kdc = false\n dns_lookup_realm = false\n" + extra
	p := filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), "KRB5_CONFIG="+p, "KRB5CCNAME=FILE:"+filepath.Join(dir, "unused-ccache"),
		"KRB5_KTNAME=FILE:"+filepath.Join(dir, "default.keytab"), "TZ=UTC", "LC_ALL=C", "LANG=C")
}
