package server_test

// Browser tests: the Security info page and the passkinit browser sign-in
// in headless Chromium, with the DevTools WebAuthn virtual authenticator.
//
// WebAuthn needs a secure context without certificate errors, so the server
// runs over TLS on https://localhost:PORT with its self-signed certificate,
// and Chromium trusts exactly that key with --ignore-certificate-errors-spki-list
// (honoured because --user-data-dir is set); --ignore-certificate-errors is
// not used. Screenshots of each page state, at 360 and 1280 CSS pixels wide,
// go to $PASSKDC_TEST_OUT or integration/testout/ (git-ignored).

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
)

// chrome is one headless Chromium with one tab and one virtual authenticator.
type chrome struct {
	t    *testing.T
	ctx  context.Context // the tab
	auth webauthn.AuthenticatorID
	out  string // screenshot directory
	n    int    // screenshot counter
}

type authenticator struct {
	synced bool // backup eligible and backed up
}

func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "Chromium (Debian package chromium)")
	return ""
}

func testOut(t *testing.T) string {
	base := os.Getenv("PASSKDC_TEST_OUT")
	if base == "" {
		base = filepath.Join("..", "integration", "testout")
	}
	dir := filepath.Join(base, "browser", t.Name())
	must(t, os.RemoveAll(dir))
	must(t, os.MkdirAll(dir, 0o755))
	return dir
}

func newChrome(t *testing.T, e *webEnv, a authenticator) *chrome {
	t.Helper()
	exe := chromiumPath(t)
	userData := t.TempDir()
	var browser *exec.Cmd
	opts := []chromedp.ExecAllocatorOption{
		// Own process group, so teardown reaches the helpers Chromium forks
		// (chrome_crashpad_handler outlived the browser before).
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			if cmd.SysProcAttr == nil {
				cmd.SysProcAttr = &syscall.SysProcAttr{}
			}
			cmd.SysProcAttr.Setpgid = true
			browser = cmd
		}),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(userData),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("ignore-certificate-errors-spki-list", e.spki),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		if browser != nil && browser.Process != nil {
			_ = syscall.Kill(-browser.Process.Pid, syscall.SIGKILL) // the whole group; ESRCH when already gone
		}
		if left := waitNoProcessWith(userData, 10*time.Second); len(left) > 0 {
			t.Errorf("Chromium processes left behind after teardown: %s", strings.Join(left, "; "))
		}
	})
	c := &chrome{t: t, ctx: ctx, out: testOut(t)}
	// The first Run starts the browser: no timeout on it (it would stop the browser).
	c.auth = c.addAuthenticator(a)
	return c
}

func (c *chrome) addAuthenticator(a authenticator) webauthn.AuthenticatorID {
	c.t.Helper()
	id, err := chromedp.Run(c.ctx, func(ctx context.Context, t *chromedp.Target) (webauthn.AuthenticatorID, error) {
		// Record Content-Security-Policy violations (trusted types included)
		// from the start of every document; shot checks there are none.
		if _, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: cspRecorder}); err != nil {
			return "", err
		}
		if _, err := cdp.Call(ctx, t, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return "", err
		}
		r, err := cdp.Call(ctx, t, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
				Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true,
				HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
				DefaultBackupEligibility: a.synced, DefaultBackupState: a.synced,
			}})
		return r.AuthenticatorID, err
	})
	if err != nil {
		c.t.Fatalf("virtual authenticator: %v", err)
	}
	return id
}

// clearAuthenticator forgets every credential the virtual authenticator holds.
func (c *chrome) clearAuthenticator() {
	c.t.Helper()
	c.run(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, webauthn.ClearCredentials, webauthn.ClearCredentialsParams{AuthenticatorID: c.auth})
		return err
	}))
}

func (c *chrome) run(steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		c.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression and returns its value.
func eval[T any](c *chrome, expr string) T {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		c.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it is true. Errors while
// polling (a navigation in progress destroys the execution context, a
// condition that throws on a half-loaded page) are retried until the
// deadline, then reported with the page text.
func (c *chrome) waitFor(cond string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	c.t.Fatalf("waiting for %s: timed out (last error: %v)\npage text:\n%s", cond, lastErr, text)
}

func (c *chrome) open(url string) {
	c.t.Helper()
	c.run(chromedp.Navigate(url))
	c.waitFor(`document.body && document.body.dataset.ready === "true" || !!document.querySelector(".alert:not([hidden])")`)
}

func (c *chrome) click(css string) {
	c.t.Helper()
	c.run(chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

func (c *chrome) typeInto(css, text string) {
	c.t.Helper()
	c.clear(css)
	c.run(chromedp.SendKeys(chromedp.CSS(css), text, chromedp.NodeVisible))
}

func (c *chrome) clear(css string) {
	c.t.Helper()
	eval[string](c, fmt.Sprintf(`(document.querySelector(%q).value = "")`, css))
}

func (c *chrome) text(css string) string {
	c.t.Helper()
	return eval[string](c, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, css))
}

const cspRecorder = `window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`

// checkPageHygiene fails the test when the page broke its Content-Security-Policy
// or loaded anything from another origin (a CDN, a font service).
func (c *chrome) checkPageHygiene(state string) {
	c.t.Helper()
	if v := eval[string](c, `JSON.stringify(window.__csp || ["recorder missing"])`); v != "[]" {
		c.t.Errorf("%s: Content-Security-Policy violations %s", state, v)
	}
	foreign := eval[string](c, `JSON.stringify(performance.getEntriesByType("resource").map((r) => r.name)
		.filter((u) => new URL(u).origin !== location.origin))`)
	if foreign != "[]" {
		c.t.Errorf("%s: resources from another origin %s", state, foreign)
	}
	if bad := eval[string](c, a11yCheck); bad != "[]" {
		c.t.Errorf("%s: accessibility: %s", state, bad)
	}
}

// a11yCheck lists basic accessibility faults: no page language, not exactly
// one h1, a visible field without a label, a visible button without a name.
const a11yCheck = `(() => {
  const bad = [];
  const shown = (e) => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
  if (!document.documentElement.lang) bad.push("html without lang");
  if (document.querySelectorAll("h1").length !== 1) bad.push("h1 count " + document.querySelectorAll("h1").length);
  for (const f of document.querySelectorAll("input, select, textarea")) {
    if (shown(f) && f.type !== "hidden" && f.labels.length === 0 && !f.getAttribute("aria-label")) bad.push("unlabelled field #" + f.id);
  }
  for (const b of document.querySelectorAll("button")) {
    if (shown(b) && !b.textContent.trim() && !b.getAttribute("aria-label")) bad.push("nameless button");
  }
  return JSON.stringify(bad);
})()`

// shot checks the page's hygiene and saves it at 360 and 1280 CSS pixels wide.
func (c *chrome) shot(name string) {
	c.t.Helper()
	c.checkPageHygiene(name)
	c.n++
	for _, w := range []int64{360, 1280} {
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		png, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
			if _, err := chromedp.EmulateViewport(w, 800)(ctx, t); err != nil {
				return nil, err
			}
			return chromedp.FullScreenshot(100)(ctx, t)
		})
		cancel()
		if err != nil {
			c.t.Fatalf("screenshot %s: %v", name, err)
		}
		must(c.t, os.WriteFile(filepath.Join(c.out, fmt.Sprintf("%02d-%s-%d.png", c.n, name, w)), png, 0o644))
	}
	c.run(chromedp.EmulateViewport(1280, 900))
}

const (
	viewSignIn  = `document.body.dataset.view === "signin"`
	viewAccount = `document.body.dataset.view === "account"`
	alertShown  = `!document.getElementById("alert").hidden`
	busyDone    = `!document.querySelector("[aria-busy]")`
)

func credCount(n int) string {
	return fmt.Sprintf(`document.querySelectorAll("#creds .cred").length === %d && %s`, n, busyDone)
}

// signInWithTAP opens the page and signs in with the pass.
func (c *chrome) signInWithTAP(e *webEnv, pass string) {
	c.t.Helper()
	c.open(e.url + "/")
	c.waitFor(viewSignIn)
	c.typeInto("#tap", pass)
	c.click("#tap-form button[type=submit]")
	c.waitFor(viewAccount + " && " + busyDone)
}

// addPasskey adds a passkey from the page and waits for the outcome.
func (c *chrome) addPasskey(name string) {
	c.t.Helper()
	c.clear("#new-name")
	if name != "" {
		c.typeInto("#new-name", name)
	}
	eval[bool](c, `(document.getElementById("alert").hidden = true)`)
	c.click("#add-form button[type=submit]")
	c.waitFor(busyDone + ` && (` + alertShown + ` || document.getElementById("status").textContent.includes("added"))`)
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
	c := newChrome(t, e, authenticator{})

	c.open(e.url + "/")
	c.waitFor(viewSignIn)
	c.shot("signin")

	// A wrong pass is refused with a message, focus back on the field.
	c.typeInto("#tap", "WRONG-PASS")
	c.click("#tap-form button[type=submit]")
	c.waitFor(alertShown)
	if got := c.text("#alert"); !strings.Contains(got, "not valid") {
		t.Fatalf("alert %q", got)
	}
	if id := eval[string](c, `document.activeElement.id`); id != "tap" {
		t.Errorf("focus on %q after a refusal", id)
	}
	c.shot("tap-refused")

	c.typeInto("#tap", "abcd efgh jklm")
	c.click("#tap-form button[type=submit]")
	c.waitFor(viewAccount + " && " + busyDone)
	if who := c.text("#who"); !strings.Contains(who, "Alice Liddell (alice@"+realm+")") {
		t.Fatalf("who %q", who)
	}
	if id := eval[string](c, `document.activeElement.id`); id != "keys-h" {
		t.Errorf("focus on %q after sign-in", id)
	}
	c.shot("signed-in-no-passkey")

	// Add a passkey: stored under the profile, with Chromium's AAGUID.
	c.addPasskey("Laptop")
	c.waitFor(credCount(1))
	creds := activeCredentials(t, e, e.alice)
	if len(creds) != 1 || creds[0].Name != "Laptop" || creds[0].BackupEligible || creds[0].Profile != "default" {
		t.Fatalf("stored %+v", creds)
	}
	if got := c.text("#creds .cred .aaguid"); got != server.ChromiumVirtualAAGUID {
		t.Fatalf("AAGUID shown %q, want Chromium's virtual authenticator %s", got, server.ChromiumVirtualAAGUID)
	}
	if got := c.text("#creds .cred"); !strings.Contains(got, "Chromium virtual authenticator") || !strings.Contains(got, "Device-bound") {
		t.Fatalf("item %q", got)
	}
	c.shot("passkey-added")

	// The same authenticator again: excluded, and the page says why.
	c.addPasskey("")
	if got := c.text("#alert"); !strings.Contains(got, "already holds a passkey") {
		t.Fatalf("alert %q", got)
	}
	c.shot("already-registered")

	// A second passkey from the same (now emptied) authenticator.
	c.clearAuthenticator()
	c.addPasskey("")
	c.waitFor(credCount(2))
	c.shot("two-passkeys")

	// Rename the second one.
	c.click("#creds .cred:nth-child(2) .rename")
	c.waitFor(`document.activeElement && document.activeElement.id.startsWith("rename-")`)
	c.typeInto("#creds .cred:nth-child(2) .rename-form input", "Phone")
	c.shot("renaming")
	c.click("#creds .cred:nth-child(2) .rename-form button[type=submit]")
	c.waitFor(`document.querySelector("#creds .cred:nth-child(2) .cred-name").textContent === "Phone"`)
	c.shot("renamed")

	// Remove the first (not the one of this session): one confirmation.
	c.click("#creds .cred:nth-child(1) .remove")
	c.waitFor(`!!document.querySelector("#creds .cred:nth-child(1) .confirm")`)
	c.shot("confirm-remove")
	c.click("#creds .cred:nth-child(1) .confirm-remove")
	c.waitFor(credCount(1))
	creds = activeCredentials(t, e, e.alice)
	if len(creds) != 1 || creds[0].Name != "Phone" {
		t.Fatalf("after removal %+v", creds)
	}
	c.shot("removed-one")

	// Sign out, then in with the passkey.
	c.click("#signout")
	c.waitFor(viewSignIn)
	c.click("#passkey-signin")
	c.waitFor(viewAccount + " && " + credCount(1))
	if got := c.text("#creds .badge.current"); got != "Signed in with this passkey" {
		t.Fatalf("current badge %q", got)
	}
	if got := c.text("#creds .cred"); !strings.Contains(got, "Last used") || strings.Contains(got, "Never") {
		t.Fatalf("item %q", got)
	}
	c.shot("passkey-session")

	// Removing the session's own passkey warns, then signs out.
	c.click("#creds .cred .remove")
	c.waitFor(`!!document.querySelector("#creds .cred .confirm")`)
	if got := c.text("#creds .cred .confirm"); !strings.Contains(got, "signs you out") {
		t.Fatalf("confirmation %q", got)
	}
	c.shot("confirm-remove-current")
	c.click("#creds .cred .confirm-remove")
	c.waitFor(viewSignIn)
	if got := c.text("#status"); !strings.Contains(got, "removed. You are signed out") {
		t.Fatalf("status %q", got)
	}
	if n := len(activeCredentials(t, e, e.alice)); n != 0 {
		t.Fatalf("%d active passkeys left", n)
	}
	c.shot("removed-current-signed-out")

	// The passkey is revoked: signing in with it is refused.
	c.click("#passkey-signin")
	c.waitFor(alertShown)
	if got := c.text("#alert"); !strings.Contains(got, "revoked") {
		t.Fatalf("alert %q", got)
	}
	c.shot("revoked-passkey-refused")
}

// registerInBrowser enrols a passkey for alice from the page.
func registerInBrowser(t *testing.T, c *chrome, e *webEnv, pass string) {
	t.Helper()
	c.signInWithTAP(e, pass)
	c.addPasskey("")
	c.waitFor(credCount(1))
	c.click("#signout")
	c.waitFor(viewSignIn)
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
	c := newChrome(t, e, authenticator{synced: true})
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
	c.open(signinURL)
	if got := c.text("#loopback"); !strings.HasPrefix(got, "127.0.0.1:") {
		t.Fatalf("page names loopback %q", got)
	}
	c.shot("signin-page")
	c.click("#go")
	c.waitFor(`location.hostname === "127.0.0.1" && document.body.innerText.includes("Signed in")`)
	if got := c.text("h1"); got != "Signed in" {
		t.Fatalf("callback page title %q", got)
	}
	// Its style is allowed by hash in its CSP: a changed style without a
	// changed hash would leave the page unstyled.
	if r := eval[string](c, `getComputedStyle(document.querySelector("main p")).borderTopLeftRadius`); r != "12px" {
		t.Errorf("callback page unstyled (border radius %q): CSP hash does not match its style", r)
	}
	c.shot("passkinit-callback")

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
	c.open(e.url + "/signin?redirect_uri=http://evil.example:8080/cb&state=abcdefgh12345678&binding_key=x")
	if got := c.text(".alert"); !strings.Contains(got, "cannot be used") || !strings.Contains(got, "evil.example") {
		t.Fatalf("bad link page %q", got)
	}
	c.shot("signin-bad-link")
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
	c := newChrome(t, e, authenticator{})
	c.signInWithTAP(e, "ABCD-EFGH-JKLM")
	if got := c.text("#profile"); !strings.Contains(got, "no-test-authenticators") || !strings.Contains(got, "blocked") {
		t.Fatalf("profile box %q", got)
	}
	c.addPasskey("Blocked")
	want := `profile "no-test-authenticators" rule aaguid_block: authenticator AAGUID ` + server.ChromiumVirtualAAGUID + ` is blocked`
	if got := c.text("#alert"); !strings.Contains(strings.ToLower(got), strings.ToLower(want)) {
		t.Fatalf("alert %q, want %q", got, want)
	}
	if n := len(activeCredentials(t, e, e.alice)); n != 0 {
		t.Fatalf("%d passkeys stored", n)
	}
	c.shot("aaguid-blocked")
}

func TestBrowserSyncedPasskeys(t *testing.T) {
	t.Run("allowed by default and shown as synced", func(t *testing.T) {
		e := newWebEnv(t, webOpts{})
		e.tap(e.alice, "ABCD-EFGH-JKLM", 1)
		c := newChrome(t, e, authenticator{synced: true})
		c.signInWithTAP(e, "ABCD-EFGH-JKLM")
		c.addPasskey("Cloud")
		c.waitFor(credCount(1))
		creds := activeCredentials(t, e, e.alice)
		if len(creds) != 1 || !creds[0].BackupEligible || !creds[0].BackupState {
			t.Fatalf("stored %+v", creds)
		}
		if got := c.text("#creds .badge.synced"); got != "Synced" {
			t.Fatalf("badge %q", got)
		}
		c.shot("synced-passkey")
	})
	t.Run("refused by allow_synced false", func(t *testing.T) {
		prof := assertion.Profile{Name: "device-bound-only", TargetGroups: []string{assertion.AllUsers},
			UserVerification: assertion.UVRequired, AllowSynced: false}
		e := newWebEnv(t, webOpts{profiles: []assertion.Profile{prof}})
		e.tap(e.alice, "ABCD-EFGH-JKLM", 1)
		c := newChrome(t, e, authenticator{synced: true})
		c.signInWithTAP(e, "ABCD-EFGH-JKLM")
		c.addPasskey("Cloud")
		want := `profile "device-bound-only" rule allow_synced: synced (backup-eligible) passkeys are not allowed`
		if got := c.text("#alert"); !strings.Contains(strings.ToLower(got), strings.ToLower(want)) {
			t.Fatalf("alert %q, want %q", got, want)
		}
		if n := len(activeCredentials(t, e, e.alice)); n != 0 {
			t.Fatalf("%d passkeys stored", n)
		}
		c.shot("synced-refused")
	})
}

// waitNoProcessWith waits (bounded) until no process's command line mentions
// dir (the test's --user-data-dir, also in chrome_crashpad_handler's
// --database), and returns the ones still there.
func waitNoProcessWith(dir string, limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	for {
		left := processesWith(dir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func processesWith(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var left []string
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte(dir)) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && bytes.Contains(st, []byte(") Z ")) {
			continue // a zombie, already dead
		}
		args := bytes.SplitN(b, []byte{0}, 2)
		left = append(left, e.Name()+" "+filepath.Base(string(args[0])))
	}
	return left
}

// TestLeftoverProcessCheckSeesALiveProcess: the teardown check finds a live
// process whose command line names the directory, and stops finding it once
// it is killed (so the browser tests' check can fail).
func TestLeftoverProcessCheckSeesALiveProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "sleep 30", dir) // dir is $0, in the command line
	must(t, cmd.Start())
	if left := waitNoProcessWith(dir, 300*time.Millisecond); len(left) != 1 {
		t.Fatalf("found %q, want the sh process", left)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if left := waitNoProcessWith(dir, 5*time.Second); len(left) != 0 {
		t.Fatalf("still found %q after kill", left)
	}
}
