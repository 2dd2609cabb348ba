package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fromAddress is an HTTP client whose connections leave from local, an
// address of 127.0.0.0/8 (all of it is the loopback interface's).
func fromAddress(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// postFrom posts body from local and returns the status and the error code.
func postFrom(ctx context.Context, t *testing.T, local, url, auth string, body any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := fromAddress(local).Do(req)
	if err != nil {
		t.Fatalf("POST %s from %s: %v", url, local, err)
	}
	defer resp.Body.Close()
	var e struct {
		Code string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Code
}

// tapUsesLeft is the uses left of alice's passes, from `passkdc tap list --json`.
func tapUsesLeft(t *testing.T, admin func(...string) string) int {
	t.Helper()
	var taps []struct {
		UsesLeft int `json:"uses_left"`
	}
	if err := json.Unmarshal([]byte(admin("tap", "list", "alice", "--json")), &taps); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tp := range taps {
		n += tp.UsesLeft
	}
	return n
}

// TestNobodyLocksAliceOutOfServe, through `passkdc serve` with its default
// limits: 1,000 anonymous begins naming alice from 1,000 addresses (sign-in
// and enrolment alike) leave her able to enrol with her pass and sign in; a
// begin refused because the pass is used for another account (passkinit
// --register ... bob) registers nothing and leaves the pass's uses as they
// were; only the finish of a registration spends it.
func TestNobodyLocksAliceOutOfServe(t *testing.T) {
	passkdc, passkinit := buildPasskdc(t), buildPasskinit(t)
	port := freePort(t)
	cfg := writeConfig(t, port, "")
	admin := adminCLI(t, passkdc, cfg)
	admin("principal", "add", "bob", "--sid", "S-1-5-21-1-2-3-1106", "--group", "allowed")
	lines := strings.Split(strings.TrimSpace(admin("tap", "issue", "alice")), "\n")
	pass := lines[len(lines)-1]
	logs := serve(t, passkdc, cfg, port)
	base := "http://127.0.0.1:" + port
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	limited := 0
	for i := range 1000 {
		local := fmt.Sprintf("127.1.%d.%d", i/250, i%250+1)
		var status int
		if i%2 == 0 {
			status, _ = postFrom(ctx, t, local, base+"/v1/login/begin", "", map[string]string{
				"binding_key": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA", "principal": "alice"})
		} else {
			status, _ = postFrom(ctx, t, local, base+"/v1/register/begin", "Bearer NOT-ALICES-PASS", map[string]string{"principal": "alice"})
		}
		if status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 0 {
		t.Fatalf("%d of 1,000 begins from distinct addresses were rate limited: the limit is not per address", limited)
	}
	if uses := tapUsesLeft(t, admin); uses != 1 {
		t.Fatalf("alice's pass has %d uses left after the anonymous begins, want 1", uses)
	}

	dir := t.TempDir()
	run := func(args ...string) (string, int) {
		t.Helper()
		out, err := exec.Command(passkinit, append([]string{"--server", "http://localhost:" + port, "--no-exchange",
			"-c", filepath.Join(dir, "cc")}, args...)...).CombinedOutput()
		return string(out), exitCode(t, err)
	}
	key := "soft:" + filepath.Join(dir, "alice.passkey")
	// Alice's pass used for bob: refused, nothing registered, pass untouched.
	out, code := run("--authenticator", "soft:"+filepath.Join(dir, "bob.passkey"), "--register", "--tap", pass, "bob")
	if code == 0 || !strings.Contains(out, "another account") {
		t.Fatalf("alice's pass for bob: exit %d\n%s", code, out)
	}
	var creds []map[string]any
	if err := json.Unmarshal([]byte(admin("cred", "list", "bob", "--json")), &creds); err != nil || len(creds) != 0 {
		t.Fatalf("bob's credentials after the refused enrolment: %v %v", creds, err)
	}
	if uses := tapUsesLeft(t, admin); uses != 1 {
		t.Fatalf("the refused enrolment changed alice's pass: %d uses left, want 1", uses)
	}
	if out, code := run("--authenticator", key, "--register", "--tap", pass, "alice"); code != 0 {
		t.Fatalf("alice enrols after 1,000 anonymous begins: exit %d\n%s\n%s", code, out, logs.String())
	}
	if uses := tapUsesLeft(t, admin); uses != 0 {
		t.Fatalf("the enrolment left %d uses, want 0", uses)
	}
	if out, code := run("--authenticator", key, "alice"); code != 0 {
		t.Fatalf("alice signs in: exit %d\n%s", code, out)
	}
}

// exitCode is the exit status of a finished command (0 for nil).
func exitCode(t *testing.T, err error) int {
	t.Helper()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}
