// Package chrometest drives one headless Chromium with one tab and one
// DevTools WebAuthn virtual authenticator, for passkdc's browser tests (the
// in-process server tests and the tests through the real `passkdc serve`).
// Tests only.
//
// The browser runs with no background networking, component updates, sync
// or QUIC, in its own process group and user data directory; teardown kills
// the group and fails the test when a process naming that directory is left.
// Every document records its Content-Security-Policy violations, and Shot
// checks the page's hygiene (no violation, nothing from another origin,
// basic accessibility) before saving it at 360 and 1280 CSS pixels wide.
//
// A missing Chromium skips the test outside CI and fails it under CI=true
// (internal/testenv).
package chrometest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/passkdc/passkdc/internal/testenv"
)

// Authenticator describes the virtual authenticator: a CTAP 2.1 platform
// authenticator with resident keys and automatic user presence.
type Authenticator struct {
	// Synced makes its passkeys backup eligible and backed up (BE and BS set).
	Synced bool
	// NoUserVerification makes every response carry the UV flag cleared
	// (DevTools' isBadUV override), so the relying party sees an
	// authenticator that did not verify the user, whatever it asked for.
	NoUserVerification bool
}

// Options configure New.
type Options struct {
	// SPKI is a base64 SHA-256 SubjectPublicKeyInfo hash Chromium trusts
	// despite certificate errors (--ignore-certificate-errors-spki-list);
	// empty for plain http://localhost origins.
	SPKI string
	// OutDir is where screenshots go: OutDir/browser/TEST-NAME, emptied
	// first; empty: the test's temporary directory (never the source
	// tree). $PASSKDC_TEST_OUT, when set, replaces it (to keep them).
	OutDir string
	// Authenticator is the first virtual authenticator.
	Authenticator Authenticator
	// Flags are more Chromium switches, name (without "--") to value
	// (a string, or true for a bare switch), e.g. "auth-server-allowlist"
	// for HTTP Negotiate or "host-resolver-rules" to map a host to a
	// loopback address. They may not replace the switches New sets.
	Flags map[string]any
	// Env is added to Chromium's environment ("NAME=value"), e.g.
	// KRB5CCNAME and KRB5_CONFIG for its GSSAPI library (libgssapi_krb5).
	Env []string
}

// Chrome is one headless Chromium with one tab and one virtual authenticator.
type Chrome struct {
	t   testing.TB // failures go here
	out string     // screenshot directory
	n   int        // screenshot counter
	*browser
}

// browser is what every Chrome of one Chromium (see For) shares.
type browser struct {
	ctx     context.Context // the tab
	auth    webauthn.AuthenticatorID
	outBase string
}

// For returns the same browser reporting to t (a subtest: a failure then
// ends the subtest, not its parent), with its own screenshot directory.
func (c *Chrome) For(t testing.TB) *Chrome {
	return &Chrome{t: t, out: outDir(t, c.outBase), browser: c.browser}
}

// Path returns Chromium's executable, or handles its absence with
// testenv.Missing.
func Path(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "Chromium (Debian package chromium)")
	return ""
}

func outDir(t testing.TB, base string) string {
	t.Helper()
	if env := os.Getenv("PASSKDC_TEST_OUT"); env != "" {
		base = env
	}
	if base == "" {
		base = t.TempDir()
	}
	dir := filepath.Join(base, "browser", t.Name())
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// New starts Chromium, records CSP violations on every document, enables
// WebAuthn and adds the virtual authenticator. Teardown is registered with
// t.Cleanup.
func New(t testing.TB, o Options) *Chrome {
	t.Helper()
	exe := Path(t)
	userData := t.TempDir()
	var proc *exec.Cmd
	opts := []chromedp.ExecAllocatorOption{
		// Own process group, so teardown reaches the helpers Chromium forks
		// (chrome_crashpad_handler outlived the browser before).
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			if cmd.SysProcAttr == nil {
				cmd.SysProcAttr = &syscall.SysProcAttr{}
			}
			cmd.SysProcAttr.Setpgid = true
			proc = cmd
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
		chromedp.WindowSize(1280, 900),
	}
	if o.SPKI != "" {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", o.SPKI))
	}
	extra, err := extraOptions(o)
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		if proc != nil && proc.Process != nil {
			_ = syscall.Kill(-proc.Process.Pid, syscall.SIGKILL) // the whole group; ESRCH when already gone
		}
		if left := WaitNoProcessWith(userData, 10*time.Second); len(left) > 0 {
			t.Errorf("Chromium processes left behind after teardown: %s", strings.Join(left, "; "))
		}
	})
	c := &Chrome{t: t, out: outDir(t, o.OutDir), browser: &browser{ctx: ctx, outBase: o.OutDir}}
	// The first Run starts the browser: no timeout on it (it would stop the browser).
	if _, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (cdp.Empty, error) {
		if _, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: cspRecorder}); err != nil {
			return cdp.Empty{}, err
		}
		return cdp.Call(ctx, t, webauthn.Enable, webauthn.EnableParams{})
	}); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	c.SetAuthenticator(o.Authenticator)
	return c
}

// SetAuthenticator replaces the virtual authenticator (and so forgets its
// passkeys) by a new one described by a.
func (c *Chrome) SetAuthenticator(a Authenticator) {
	c.t.Helper()
	old := c.auth
	var id webauthn.AuthenticatorID
	c.Run(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if old != "" {
			if _, err := cdp.Call(ctx, t, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: old}); err != nil {
				return err
			}
		}
		r, err := cdp.Call(ctx, t, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
				Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true,
				HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
				DefaultBackupEligibility: a.Synced, DefaultBackupState: a.Synced,
			}})
		if err != nil {
			return err
		}
		id = r.AuthenticatorID
		if a.NoUserVerification {
			badUV := true
			_, err = cdp.Call(ctx, t, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{
				AuthenticatorID: id, IsBadUV: &badUV})
		}
		return err
	}))
	c.auth = id
}

// ClearCredentials forgets every passkey the virtual authenticator holds.
func (c *Chrome) ClearCredentials() {
	c.t.Helper()
	c.Run(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, webauthn.ClearCredentials, webauthn.ClearCredentialsParams{AuthenticatorID: c.auth})
		return err
	}))
}

// Credentials is the number of passkeys the virtual authenticator holds.
func (c *Chrome) Credentials() int {
	c.t.Helper()
	var n int
	c.Run(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		r, err := cdp.Call(ctx, t, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: c.auth})
		n = len(r.Credentials)
		return err
	}))
	return n
}

// Run runs browser actions, failing the test after 30 s or on an error.
func (c *Chrome) Run(steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		c.t.Fatalf("browser: %v", err)
	}
}

// Eval evaluates a JavaScript expression in the page and returns its value.
func Eval[T any](c *Chrome, expr string) T {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		c.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// WaitFor polls a JavaScript condition until it is true. Errors while
// polling (a navigation in progress destroys the execution context, a
// condition that throws on a half-loaded page) are retried until the
// 20 s deadline, then reported with the page text.
func (c *Chrome) WaitFor(cond string) {
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

// Open navigates to url and waits until the page says it is ready (or shows an alert).
func (c *Chrome) Open(url string) {
	c.t.Helper()
	c.Run(chromedp.Navigate(url))
	c.WaitFor(`document.body && document.body.dataset.ready === "true" || !!document.querySelector(".alert:not([hidden])")`)
}

// Click clicks the first visible element matching css.
func (c *Chrome) Click(css string) {
	c.t.Helper()
	c.Run(chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// TypeInto empties the field matching css and types text into it.
func (c *Chrome) TypeInto(css, text string) {
	c.t.Helper()
	c.Clear(css)
	c.Run(chromedp.SendKeys(chromedp.CSS(css), text, chromedp.NodeVisible))
}

// Clear empties the field matching css.
func (c *Chrome) Clear(css string) {
	c.t.Helper()
	Eval[string](c, fmt.Sprintf(`(document.querySelector(%q).value = "")`, css))
}

// Text is the text content of the first element matching css ("" when none).
func (c *Chrome) Text(css string) string {
	c.t.Helper()
	return Eval[string](c, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, css))
}

const cspRecorder = `window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`

// CheckPageHygiene fails the test when the page broke its
// Content-Security-Policy, loaded anything from another origin (a CDN, a
// font service) or has a basic accessibility fault.
func (c *Chrome) CheckPageHygiene(state string) {
	c.t.Helper()
	if v := Eval[string](c, `JSON.stringify(window.__csp || ["recorder missing"])`); v != "[]" {
		c.t.Errorf("%s: Content-Security-Policy violations %s", state, v)
	}
	foreign := Eval[string](c, `JSON.stringify(performance.getEntriesByType("resource").map((r) => r.name)
		.filter((u) => new URL(u).origin !== location.origin))`)
	if foreign != "[]" {
		c.t.Errorf("%s: resources from another origin %s", state, foreign)
	}
	if bad := Eval[string](c, a11yCheck); bad != "[]" {
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

// Shot checks the page's hygiene and saves it at 360 and 1280 CSS pixels wide.
func (c *Chrome) Shot(name string) {
	c.t.Helper()
	c.CheckPageHygiene(name)
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
		if err := os.WriteFile(filepath.Join(c.out, fmt.Sprintf("%02d-%s-%d.png", c.n, name, w)), png, 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
	c.Run(chromedp.EmulateViewport(1280, 900))
}

// fixedFlag reports the switches New sets itself, which Options.Flags may
// not replace (teardown and hygiene depend on them).
func fixedFlag(name string) bool {
	switch name {
	case "headless", "no-sandbox", "user-data-dir", "disable-background-networking", "disable-component-update",
		"disable-sync", "disable-quic", "remote-debugging-port", "ignore-certificate-errors-spki-list":
		return true
	}
	return false
}

// extraOptions turns Options.Flags and Options.Env into allocator options.
func extraOptions(o Options) ([]chromedp.ExecAllocatorOption, error) {
	var out []chromedp.ExecAllocatorOption
	for name, v := range o.Flags {
		if fixedFlag(name) || strings.HasPrefix(name, "-") {
			return nil, fmt.Errorf("chrometest: flag %q cannot be set through Options.Flags", name)
		}
		switch v.(type) {
		case string, bool:
		default:
			return nil, fmt.Errorf("chrometest: flag %q: value %v is neither a string nor a bool", name, v)
		}
		out = append(out, chromedp.Flag(name, v))
	}
	for _, kv := range o.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("chrometest: environment entry %q is not NAME=value", kv)
		}
	}
	if len(o.Env) > 0 {
		out = append(out, chromedp.Env(o.Env...))
	}
	return out, nil
}
