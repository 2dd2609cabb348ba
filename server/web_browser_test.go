package server_test

// Browser tests: the Security info page and the passkinit browser sign-in
// in headless Chromium, with the DevTools WebAuthn virtual authenticator.
//
// WebAuthn needs a secure context without certificate errors, so the server
// runs over TLS on https://localhost:PORT with its self-signed certificate,
// and Chromium trusts exactly that key with --ignore-certificate-errors-spki-list
// (honoured because --user-data-dir is set); --ignore-certificate-errors is
// not used. Screenshots of each page state, at 360 and 1280 CSS pixels wide,
// go to $PASSKDC_TEST_OUT when set, else to the test's temporary directory.

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/internal/chrometest"
	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
)

// newChrome starts Chromium trusting the environment's TLS key, with one
// virtual authenticator; screenshots go to $PASSKDC_TEST_OUT or a temporary directory.
func newChrome(t *testing.T, e *webEnv, a chrometest.Authenticator) *chrometest.Chrome {
	t.Helper()
	return chrometest.New(t, chrometest.Options{SPKI: e.spki, Authenticator: a})
}

func activeCredentials(t *testing.T, e *webEnv, p store.Principal) []store.Credential {
	t.Helper()
	all, err := e.st.ListCredentials(context.Background(), p.Anchor)
	must(t, err)
	var out []store.Credential
	for _, c := range all {
		if c.RevokedAt.IsZero() {
			out = append(out, c)
		}
	}
	return out
}

func TestBrowserSecurityInfoPage(t *testing.T) {
	e := newWebEnv(t, webOpts{})
	e.tap(e.alice, "ABCD-EFGH-JKLM", 1)
	c := newChrome(t, e, chrometest.Authenticator{})

	c.Open(e.url + "/")
	c.WaitFor(chrometest.ViewSignIn)
	c.Shot("signin")

	// A wrong pass is refused with a message, focus back on the field.
	c.TypeInto("#tap", "WRONG-PASS")
	c.Click("#tap-form button[type=submit]")
	c.WaitFor(chrometest.AlertShown)
	if got := c.Text("#alert"); !strings.Contains(got, "not valid") {
		t.Fatalf("alert %q", got)
	}
	if id := chrometest.Eval[string](c, `document.activeElement.id`); id != "tap" {
		t.Errorf("focus on %q after a refusal", id)
	}
	c.Shot("tap-refused")

	c.TypeInto("#tap", "abcd efgh jklm")
	c.Click("#tap-form button[type=submit]")
	c.WaitFor(chrometest.ViewAccount + " && " + chrometest.BusyDone)
	if who := c.Text("#who"); !strings.Contains(who, "Alice Liddell (alice@"+realm+")") {
		t.Fatalf("who %q", who)
	}
	if id := chrometest.Eval[string](c, `document.activeElement.id`); id != "keys-h" {
		t.Errorf("focus on %q after sign-in", id)
	}
	c.Shot("signed-in-no-passkey")

	// Add a passkey: stored under the profile, with Chromium's AAGUID.
	c.AddPasskey("Laptop")
	c.WaitFor(chrometest.CredCount(1))
	creds := activeCredentials(t, e, e.alice)
	if len(creds) != 1 || creds[0].Name != "Laptop" || creds[0].BackupEligible || creds[0].Profile != "default" {
		t.Fatalf("stored %+v", creds)
	}
	if got := c.Text("#creds .cred .aaguid"); got != server.ChromiumVirtualAAGUID {
		t.Fatalf("AAGUID shown %q, want Chromium's virtual authenticator %s", got, server.ChromiumVirtualAAGUID)
	}
	if got := c.Text("#creds .cred"); !strings.Contains(got, "Chromium virtual authenticator") || !strings.Contains(got, "Device-bound") {
		t.Fatalf("item %q", got)
	}
	c.Shot("passkey-added")

	// The same authenticator again: excluded, and the page says why.
	c.AddPasskey("")
	if got := c.Text("#alert"); !strings.Contains(got, "already holds a passkey") {
		t.Fatalf("alert %q", got)
	}
	c.Shot("already-registered")

	// A second passkey from the same (now emptied) authenticator.
	c.ClearCredentials()
	c.AddPasskey("")
	c.WaitFor(chrometest.CredCount(2))
	c.Shot("two-passkeys")

	// Rename the second one.
	c.Click("#creds .cred:nth-child(2) .rename")
	c.WaitFor(`document.activeElement && document.activeElement.id.startsWith("rename-")`)
	c.TypeInto("#creds .cred:nth-child(2) .rename-form input", "Phone")
	c.Shot("renaming")
	c.Click("#creds .cred:nth-child(2) .rename-form button[type=submit]")
	c.WaitFor(`document.querySelector("#creds .cred:nth-child(2) .cred-name").textContent === "Phone"`)
	c.Shot("renamed")

	// Remove the first (not the one of this session): one confirmation.
	c.Click("#creds .cred:nth-child(1) .remove")
	c.WaitFor(`!!document.querySelector("#creds .cred:nth-child(1) .confirm")`)
	c.Shot("confirm-remove")
	c.Click("#creds .cred:nth-child(1) .confirm-remove")
	c.WaitFor(chrometest.CredCount(1))
	creds = activeCredentials(t, e, e.alice)
	if len(creds) != 1 || creds[0].Name != "Phone" {
		t.Fatalf("after removal %+v", creds)
	}
	c.Shot("removed-one")

	// Sign out, then in with the passkey.
	c.Click("#signout")
	c.WaitFor(chrometest.ViewSignIn)
	c.Click("#passkey-signin")
	c.WaitFor(chrometest.ViewAccount + " && " + chrometest.CredCount(1))
	if got := c.Text("#creds .badge.current"); got != "Signed in with this passkey" {
		t.Fatalf("current badge %q", got)
	}
	if got := c.Text("#creds .cred"); !strings.Contains(got, "Last used") || strings.Contains(got, "Never") {
		t.Fatalf("item %q", got)
	}
	c.Shot("passkey-session")

	// Removing the session's own passkey warns, then signs out.
	c.Click("#creds .cred .remove")
	c.WaitFor(`!!document.querySelector("#creds .cred .confirm")`)
	if got := c.Text("#creds .cred .confirm"); !strings.Contains(got, "signs you out") {
		t.Fatalf("confirmation %q", got)
	}
	c.Shot("confirm-remove-current")
	c.Click("#creds .cred .confirm-remove")
	c.WaitFor(chrometest.ViewSignIn)
	if got := c.Text("#status"); !strings.Contains(got, "removed. You are signed out") {
		t.Fatalf("status %q", got)
	}
	if n := len(activeCredentials(t, e, e.alice)); n != 0 {
		t.Fatalf("%d active passkeys left", n)
	}
	c.Shot("removed-current-signed-out")

	// The passkey is revoked: signing in with it is refused.
	c.Click("#passkey-signin")
	c.WaitFor(chrometest.AlertShown)
	if got := c.Text("#alert"); !strings.Contains(got, "revoked") {
		t.Fatalf("alert %q", got)
	}
	c.Shot("revoked-passkey-refused")
}

// registerInBrowser enrols a passkey for alice from the page.
func registerInBrowser(t *testing.T, c *chrometest.Chrome, e *webEnv, pass string) {
	t.Helper()
	c.SignInWithTAP(e.url, pass)
	c.AddPasskey("")
	c.WaitFor(chrometest.CredCount(1))
	c.Click("#signout")
	c.WaitFor(chrometest.ViewSignIn)
}

// buildPasskinit compiles cmd/passkinit into a temporary directory.
func buildPasskinit(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	exe := filepath.Join(t.TempDir(), "passkinit")
	cmd := exec.Command(goTool, "build", "-o", exe, "github.com/passkdc/passkdc/cmd/passkinit")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build passkinit: %v\n%s", err, out)
	}
	return exe
}

// waitForFile returns the content of path once it is not empty.
func waitForFile(t *testing.T, path string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return string(bytes.TrimSpace(b))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not written within %s", path, timeout)
	return ""
}

// TestBrowserPasskinitSignIn runs the passkinit binary with --browser --open:
// $BROWSER is a script that hands the address to the test, the headless
// Chromium signs in with the passkey registered on the page, passkinit
// redeems the code with its binding key and writes the cache, and MIT klist
// lists it.
func TestBrowserPasskinitSignIn(t *testing.T) {
	e := newWebEnv(t, webOpts{})
	e.tap(e.alice, "ABCD-EFGH-JKLM", 1)
	c := newChrome(t, e, chrometest.Authenticator{Synced: true})
	registerInBrowser(t, c, e, "ABCD-EFGH-JKLM")
	exe := buildPasskinit(t)

	dir := t.TempDir()
	urlFile := filepath.Join(dir, "opened-url")
	opener := filepath.Join(dir, "browser.sh")
	must(t, os.WriteFile(opener, []byte("#!/bin/sh\nprintf '%s\\n' \"$1\" > "+urlFile+".tmp && mv "+urlFile+".tmp "+urlFile+"\n"), 0o700))
	ccPath := filepath.Join(dir, "krb5cc")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "--server", e.url, "--ca-file", e.ca, "--browser", "--open",
		"--no-exchange", "--timeout", "60s", "-c", "FILE:"+ccPath, "alice")
	cmd.Env = append(os.Environ(), "BROWSER="+opener, "KRB5CCNAME=FILE:"+filepath.Join(dir, "not-this-one"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	signinURL := waitForFile(t, urlFile, 30*time.Second)
	if !strings.HasPrefix(signinURL, e.url+"/signin?") {
		t.Fatalf("passkinit opened %q", signinURL)
	}
	c.Open(signinURL)
	if got := c.Text("#loopback"); !strings.HasPrefix(got, "127.0.0.1:") {
		t.Fatalf("page names loopback %q", got)
	}
	c.Shot("signin-page")
	c.Click("#go")
	c.WaitFor(`location.hostname === "127.0.0.1" && document.body.innerText.includes("Signed in")`)
	if got := c.Text("h1"); got != "Signed in" {
		t.Fatalf("callback page title %q", got)
	}
	// Its style is allowed by hash in its CSP: a changed style without a
	// changed hash would leave the page unstyled.
	if r := chrometest.Eval[string](c, `getComputedStyle(document.querySelector("main p")).borderTopLeftRadius`); r != "12px" {
		t.Errorf("callback page unstyled (border radius %q): CSP hash does not match its style", r)
	}
	c.Shot("passkinit-callback")

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("passkinit: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("passkinit did not exit")
	}
	if !strings.Contains(stderr.String(), signinURL) {
		t.Errorf("passkinit did not print the address it opened:\n%s", &stderr)
	}
	if want := "partial TGT for alice@" + realm + " written to " + ccPath; !strings.Contains(stdout.String(), want) {
		t.Fatalf("stdout %q, want %q", &stdout, want)
	}
	checkPartialTGTCache(t, e, ccPath)
	klistShows(t, ccPath, "alice@"+realm, "krbtgt/"+realm+"@"+realm)

	// A bad link is explained, not followed.
	c.Open(e.url + "/signin?redirect_uri=http://evil.example:8080/cb&state=abcdefgh12345678&binding_key=x")
	if got := c.Text(".alert"); !strings.Contains(got, "cannot be used") || !strings.Contains(got, "evil.example") {
		t.Fatalf("bad link page %q", got)
	}
	c.Shot("signin-bad-link")
}

// checkPartialTGTCache reads the cache passkinit wrote: one ticket for
// krbtgt/REALM, encrypted under the RODC key, whose session key is the
// cache's.
func checkPartialTGTCache(t *testing.T, e *webEnv, path string) {
	t.Helper()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache %s: %v, mode %v", path, err, fi.Mode())
	}
	cc, err := credentials.LoadCCache(path)
	must(t, err)
	entries := cc.GetEntries()
	if len(entries) != 1 {
		t.Fatalf("%d credentials in the cache", len(entries))
	}
	var tkt messages.Ticket
	must(t, tkt.Unmarshal(entries[0].Ticket))
	cur, _ := e.keys.Current(18)
	if err := tkt.Decrypt(cur.Key); err != nil {
		t.Fatalf("partial TGT not under the RODC key: %v", err)
	}
	if !bytes.Equal(tkt.DecryptedEncPart.Key.KeyValue, entries[0].Key.KeyValue) {
		t.Fatal("cache session key does not match the ticket")
	}
	if got := tkt.DecryptedEncPart.CName.PrincipalNameString(); got != "alice" {
		t.Fatalf("ticket client %q", got)
	}
}

// klistShows lists the cache with MIT klist (skips outside CI when it is
// missing, which is why it runs last).
func klistShows(t *testing.T, ccPath string, want ...string) {
	t.Helper()
	klist := testenv.RequireTool(t, "klist") // MIT krb5-user; fails under CI=true when missing
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	must(t, os.WriteFile(conf, []byte("[libdefaults]\n\tdefault_realm = "+realm+"\n"), 0o600))
	cmd := exec.Command(klist, "-c", "FILE:"+ccPath)
	cmd.Env = append(os.Environ(), "KRB5_CONFIG="+conf, "KRB5CCNAME=FILE:"+filepath.Join(dir, "none"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("klist: %v\n%s", err, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Fatalf("klist output lacks %s:\n%s", w, out)
		}
	}
	t.Logf("%s -c %s:\n%s", klist, ccPath, out)
}

func TestBrowserProfileBlocksTheVirtualAuthenticatorAAGUID(t *testing.T) {
	prof := assertion.Profile{Name: "no-test-authenticators", TargetGroups: []string{domainSID + "-571"},
		UserVerification: assertion.UVRequired, AAGUIDBlock: []string{server.ChromiumVirtualAAGUID}, AllowSynced: true}
	e := newWebEnv(t, webOpts{profiles: []assertion.Profile{prof}})
	e.tap(e.alice, "ABCD-EFGH-JKLM", 1)
	c := newChrome(t, e, chrometest.Authenticator{})
	c.SignInWithTAP(e.url, "ABCD-EFGH-JKLM")
	if got := c.Text("#profile"); !strings.Contains(got, "no-test-authenticators") || !strings.Contains(got, "blocked") {
		t.Fatalf("profile box %q", got)
	}
	c.AddPasskey("Blocked")
	want := `profile "no-test-authenticators" rule aaguid_block: authenticator AAGUID ` + server.ChromiumVirtualAAGUID + ` is blocked`
	if got := c.Text("#alert"); !strings.Contains(strings.ToLower(got), strings.ToLower(want)) {
		t.Fatalf("alert %q, want %q", got, want)
	}
	if n := len(activeCredentials(t, e, e.alice)); n != 0 {
		t.Fatalf("%d passkeys stored", n)
	}
	c.Shot("aaguid-blocked")
}

func TestBrowserSyncedPasskeys(t *testing.T) {
	t.Run("allowed by default and shown as synced", func(t *testing.T) {
		e := newWebEnv(t, webOpts{})
		e.tap(e.alice, "ABCD-EFGH-JKLM", 1)
		c := newChrome(t, e, chrometest.Authenticator{Synced: true})
		c.SignInWithTAP(e.url, "ABCD-EFGH-JKLM")
		c.AddPasskey("Cloud")
		c.WaitFor(chrometest.CredCount(1))
		creds := activeCredentials(t, e, e.alice)
		if len(creds) != 1 || !creds[0].BackupEligible || !creds[0].BackupState {
			t.Fatalf("stored %+v", creds)
		}
		if got := c.Text("#creds .badge.synced"); got != "Synced" {
			t.Fatalf("badge %q", got)
		}
		c.Shot("synced-passkey")
	})
	t.Run("refused by allow_synced false", func(t *testing.T) {
		prof := assertion.Profile{Name: "device-bound-only", TargetGroups: []string{assertion.AllUsers},
			UserVerification: assertion.UVRequired, AllowSynced: false}
		e := newWebEnv(t, webOpts{profiles: []assertion.Profile{prof}})
		e.tap(e.alice, "ABCD-EFGH-JKLM", 1)
		c := newChrome(t, e, chrometest.Authenticator{Synced: true})
		c.SignInWithTAP(e.url, "ABCD-EFGH-JKLM")
		c.AddPasskey("Cloud")
		want := `profile "device-bound-only" rule allow_synced: synced (backup-eligible) passkeys are not allowed`
		if got := c.Text("#alert"); !strings.Contains(strings.ToLower(got), strings.ToLower(want)) {
			t.Fatalf("alert %q, want %q", got, want)
		}
		if n := len(activeCredentials(t, e, e.alice)); n != 0 {
			t.Fatalf("%d passkeys stored", n)
		}
		c.Shot("synced-refused")
	})
}

// TestBrowserKerberosSignInOffer: the Security info page offers the Windows
// (Kerberos) sign-in only when passkdc has Kerberos configured; a browser
// that sends no ticket (Chromium without --auth-server-allowlist) gets the
// page's plain sentence, not the API's message. The real Negotiate sign-in
// is integration/kerberos_enrol_test.go.
func TestBrowserKerberosSignInOffer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		kerberos *server.KerberosConfig
	}{{"not configured", nil}, {"configured", &server.KerberosConfig{Keytab: keytab.New(), SPN: "HTTP/localhost"}}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newWebEnv(t, webOpts{kerberos: tc.kerberos})
			c := newChrome(t, e, chrometest.Authenticator{})
			c.Open(e.url + "/")
			c.WaitFor(chrometest.ViewSignIn)
			shown := !chrometest.Eval[bool](c, `document.getElementById("kerberos-card").hidden`)
			if shown != (tc.kerberos != nil) {
				t.Fatalf("Kerberos sign-in shown=%v with kerberos configured=%v", shown, tc.kerberos != nil)
			}
			if tc.kerberos == nil {
				return
			}
			c.Shot("kerberos-offered")
			c.Click("#kerberos-signin")
			c.WaitFor(chrometest.AlertShown + " && " + chrometest.BusyDone)
			got := c.Text("#alert")
			if !strings.HasPrefix(got, "Your browser did not send a valid Windows (Kerberos) login") || strings.Contains(got, "Negotiate") {
				t.Fatalf("alert %q: want the page's sentence for kerberos_invalid", got)
			}
			c.Shot("kerberos-no-ticket")
		})
	}
}
