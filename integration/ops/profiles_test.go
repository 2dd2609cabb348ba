package ops

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/internal/softkey"
)

func buildPasskinit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "passkinit")
	build := exec.Command("go", "build", "-o", bin, "github.com/passkdc/passkdc/cmd/passkinit")
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestServeAppliesTheConfiguredProfiles: a profile for everyone that blocks
// the software authenticator's AAGUID is enforced by `passkdc serve` (the
// configured profiles used to be ignored by the running server).
func TestServeAppliesTheConfiguredProfiles(t *testing.T) {
	passkdc, passkinit := buildPasskdc(t), buildPasskinit(t)
	for _, tc := range []struct {
		name, profiles string
		wantCode       int
		wantText       string
	}{
		{"no profile: the default admits", "", 0, "written to"},
		{"AAGUID blocked for everyone", "profiles: [{name: everyone, target_groups: [\"*\"], user_verification: preferred, aaguid_block: [\"" +
			softkey.AAGUIDString + "\"]}]\n", 3, "everyone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			cfg := writeConfig(t, port, tc.profiles)
			admin := adminCLI(t, passkdc, cfg)
			lines := strings.Split(strings.TrimSpace(admin("tap", "issue", "alice")), "\n")
			pass := lines[len(lines)-1]
			logs := serve(t, passkdc, cfg, port)
			dir := t.TempDir()
			cmd := exec.Command(passkinit, "--server", "http://localhost:"+port, "--authenticator", "soft:"+filepath.Join(dir, "alice.passkey"),
				"--register", "--tap", pass, "--no-exchange", "-c", filepath.Join(dir, "cc"), "alice")
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || !strings.Contains(string(out), tc.wantText) {
				t.Fatalf("passkinit --register: exit %d (want %d), output:\n%s\nserver log:\n%s", code, tc.wantCode, out, logs.String())
			}
			creds := admin("cred", "list", "alice", "--json")
			if registered := strings.Contains(creds, softkey.AAGUIDString); registered != (tc.wantCode == 0) {
				t.Fatalf("credentials after the attempt (registered=%v, want %v):\n%s", registered, tc.wantCode == 0, creds)
			}
			if _, err := os.Stat(filepath.Join(dir, "cc")); (err == nil) != (tc.wantCode == 0) {
				t.Fatalf("credential cache written=%v, want %v", err == nil, tc.wantCode == 0)
			}
		})
	}
}

// TestNamedSignInWithSeveralPasskeys: `passkinit --authenticator soft:F NAME`
// works when NAME has 2 and 5 passkeys (it was refused from the second on).
func TestNamedSignInWithSeveralPasskeys(t *testing.T) {
	passkdc, passkinit := buildPasskdc(t), buildPasskinit(t)
	port := freePort(t)
	// 5 enrolments and 7 sign-ins of one account in seconds: above the default per-principal rate.
	cfg := writeConfig(t, port, "limits: {per_principal_per_minute: 1000, per_principal_burst: 100}\n")
	admin := adminCLI(t, passkdc, cfg)
	logs := serve(t, passkdc, cfg, port)
	dir := t.TempDir()
	passkinitRun := func(args ...string) (string, int) {
		t.Helper()
		out, err := exec.Command(passkinit, append([]string{"--server", "http://localhost:" + port, "--no-exchange",
			"-c", filepath.Join(dir, "cc")}, args...)...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	registered := 0
	for _, want := range []int{2, 5} {
		for ; registered < want; registered++ {
			lines := strings.Split(strings.TrimSpace(admin("tap", "issue", "alice")), "\n")
			key := "soft:" + filepath.Join(dir, "key"+strconv.Itoa(registered)+".passkey")
			if out, code := passkinitRun("--authenticator", key, "--register", "--tap", lines[len(lines)-1], "alice"); code != 0 {
				t.Fatalf("register passkey %d: exit %d\n%s\n%s", registered+1, code, out, logs.String())
			}
		}
		for i := 0; i < want; i++ {
			key := "soft:" + filepath.Join(dir, "key"+strconv.Itoa(i)+".passkey")
			if out, code := passkinitRun("--authenticator", key, "alice"); code != 0 {
				t.Fatalf("named sign-in with passkey %d of %d: exit %d\n%s", i+1, want, code, out)
			}
		}
	}
}

// adminCLI returns a runner of passkdc admin commands against cfg, after it
// made alice a standalone principal in a group the replication policy allows.
func adminCLI(t *testing.T, passkdc, cfg string) func(args ...string) string {
	t.Helper()
	admin := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(passkdc, append(args, "--config", cfg)...).CombinedOutput()
		if err != nil {
			t.Fatalf("passkdc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	admin("group", "add", "allowed", "--sid", "S-1-5-21-1-2-3-571")
	admin("principal", "add", "alice", "--sid", "S-1-5-21-1-2-3-1105", "--group", "allowed")
	return admin
}
