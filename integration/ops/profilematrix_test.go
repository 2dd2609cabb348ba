package ops

// The profile matrix through the real `passkdc serve` binary and a real
// config file: one row per profile key, each asserting the HTTP (page) or
// exit result, the stable reason, exactly one audit record of the decision
// in serve's JSON log, and nothing stored or issued where refused.
//
// Chromium rows enrol on the Security info page served at
// http://localhost:PORT (a secure context for Chromium: serve
// --insecure-loopback, no TLS) with the DevTools virtual authenticator,
// whose AAGUID is server.ChromiumVirtualAAGUID; soft rows use
// `passkinit --authenticator soft:F`.

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/internal/chrometest"
	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/server"
)

// auditLine is one audit record as serve logs it.
type auditLine struct {
	Event     string `json:"event"`
	Result    string `json:"result"`
	Reason    string `json:"reason"`
	Principal string `json:"principal"`
	Msg       string `json:"msg"`
}

// auditLines parses the audit records (JSON lines with "audit":true) of a serve log.
func auditLines(log string) []auditLine {
	var out []auditLine
	for _, line := range strings.Split(log, "\n") {
		var m struct {
			Audit bool `json:"audit"`
			auditLine
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Audit {
			out = append(out, m.auditLine)
		}
	}
	return out
}

// recordsAfter waits until serve logged an audit record of event after the
// first from records, then a moment more (a line may reach stderr just
// after the response), and returns every audit record logged since.
func recordsAfter(t *testing.T, logs *lockedBuffer, from int, event string) []auditLine {
	t.Helper()
	since := func() []auditLine {
		all := auditLines(logs.String())
		return all[min(from, len(all)):]
	}
	waitFor(t, logs, func(string) bool {
		return slices.ContainsFunc(since(), func(a auditLine) bool { return a.Event == event })
	})
	time.Sleep(300 * time.Millisecond)
	return since()
}

// checkOneDecision fails unless the records hold exactly one of event, with
// result and reason, a principal and a message containing msg, and no other
// refusal.
func checkOneDecision(t *testing.T, records []auditLine, event, result, reason, msg string, logs *lockedBuffer) {
	t.Helper()
	var got, refusals []auditLine
	for _, a := range records {
		if a.Event == event {
			got = append(got, a)
		} else if a.Result != "ok" {
			refusals = append(refusals, a)
		}
	}
	if len(got) != 1 || got[0].Result != result || got[0].Reason != reason || got[0].Principal == "" || !strings.Contains(got[0].Msg, msg) {
		t.Fatalf("audit records of %s: %+v, want exactly one with result %q reason %q, a principal and a message with %q\nserver log:\n%s",
			event, got, result, reason, msg, logs.String())
	}
	if len(refusals) != 0 {
		t.Fatalf("other refusals in the audit log: %+v\nserver log:\n%s", refusals, logs.String())
	}
}

// credentialAAGUIDs lists the AAGUIDs of alice's passkeys (`passkdc cred list --json`).
func credentialAAGUIDs(t *testing.T, admin func(...string) string) []string {
	t.Helper()
	var rows []struct {
		AAGUID string `json:"aaguid"`
		State  string `json:"state"`
	}
	if err := json.Unmarshal([]byte(admin("cred", "list", "alice", "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.AAGUID)
	}
	return out
}

func issueTAP(admin func(...string) string) string {
	lines := strings.Split(strings.TrimSpace(admin("tap", "issue", "alice")), "\n")
	return lines[len(lines)-1]
}

// TestServeProfileMatrixInChromium: the Chromium rows (user_verification,
// aaguid_block, allow_synced), one `passkdc serve` per row, one browser.
func TestServeProfileMatrixInChromium(t *testing.T) {
	passkdc := buildPasskdc(t)
	chromium := server.ChromiumVirtualAAGUID
	browser := chrometest.New(t, chrometest.Options{})
	for _, tc := range []struct {
		name, profile, rules string // one profile for everyone: its name and rules
		auth                 chrometest.Authenticator
		reason               string // "" = admitted
		alert                string // the page's refusal, naming profile and rule
	}{
		{"uv required, authenticator without UV", "verified", "user_verification: required",
			chrometest.Authenticator{NoUserVerification: true}, "uv_required", `profile "verified" rule user_verification: user verification required`},
		{"uv required, authenticator with UV", "verified", "user_verification: required",
			chrometest.Authenticator{}, "", ""},
		{"uv preferred, authenticator without UV", "relaxed", "user_verification: preferred",
			chrometest.Authenticator{NoUserVerification: true}, "", ""},
		{"aaguid_block names the model", "no-test-keys", `aaguid_block: ["` + chromium + `"]`,
			chrometest.Authenticator{}, "profile_refused", `profile "no-test-keys" rule aaguid_block: authenticator AAGUID ` + chromium + ` is blocked`},
		{"aaguid_block spares other models", "no-soft-keys", `aaguid_block: ["` + softkey.AAGUIDString + `"]`,
			chrometest.Authenticator{}, "", ""},
		{"allow_synced false, synced authenticator", "device-bound", "allow_synced: false",
			chrometest.Authenticator{Synced: true}, "profile_refused", `profile "device-bound" rule allow_synced: synced (backup-eligible) passkeys are not allowed`},
		{"allow_synced false, device-bound authenticator", "device-bound", "allow_synced: false",
			chrometest.Authenticator{}, "", ""},
		{"allow_synced default, synced authenticator", "defaults", "user_verification: required",
			chrometest.Authenticator{Synced: true}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			cfg := writeConfig(t, port, "profiles: [{name: "+tc.profile+`, target_groups: ["*"], `+tc.rules+"}]\nlog: {format: json}\n")
			admin := adminCLI(t, passkdc, cfg)
			pass := issueTAP(admin)
			logs := serve(t, passkdc, cfg, port)
			c := browser.For(t)
			c.SetAuthenticator(tc.auth)

			c.SignInWithTAP("http://localhost:"+port, pass)
			from := len(auditLines(logs.String()))
			c.AddPasskey("Row")
			got := recordsAfter(t, logs, from, "register")
			stored := credentialAAGUIDs(t, admin)
			if tc.reason == "" {
				if chrometest.Eval[bool](c, chrometest.AlertShown) {
					t.Fatalf("page alert %q, want the passkey added\nserver log:\n%s", c.Text("#alert"), logs.String())
				}
				c.WaitFor(chrometest.CredCount(1))
				checkOneDecision(t, got, "register", "ok", "", "under profile "+tc.profile, logs)
				if len(stored) != 1 || stored[0] != chromium {
					t.Fatalf("stored passkeys %v, want one with Chromium's AAGUID %s", stored, chromium)
				}
				return
			}
			checkOneDecision(t, got, "register", "refused", tc.reason, tc.alert, logs)
			if alert := c.Text("#alert"); !strings.Contains(strings.ToLower(alert), strings.ToLower(tc.alert)) {
				t.Fatalf("page alert %q, want it to say %q", alert, tc.alert)
			}
			if len(stored) != 0 {
				t.Fatalf("a refused registration stored passkeys %v", stored)
			}
			c.Shot(strings.ReplaceAll(tc.name, " ", "-"))
		})
	}
}

// TestServeRefusesAaguidAllowWithoutMetadata: an allow list trusts only
// attested models, so serve does not start without FIDO metadata, and says
// which profile needs it.
func TestServeRefusesAaguidAllowWithoutMetadata(t *testing.T) {
	passkdc := buildPasskdc(t)
	port := freePort(t)
	cfg := writeConfig(t, port, "profiles: [{name: listed-only, target_groups: [\"*\"], aaguid_allow: [\""+server.ChromiumVirtualAAGUID+"\"]}]\n")
	out, err := exec.Command(passkdc, "serve", "--insecure-loopback", "--config", cfg).CombinedOutput()
	if _, exited := err.(*exec.ExitError); !exited || !strings.Contains(string(out), `profile "listed-only"`) || !strings.Contains(string(out), "metadata") {
		t.Fatalf("serve with aaguid_allow and no metadata: %v, want a failed start naming profile \"listed-only\" and the metadata\n%s", err, out)
	}
	if code, _ := getQuiet("http://127.0.0.1:" + port + "/healthz"); code != 0 {
		t.Fatalf("something answers on the port after the refused start: %d", code)
	}
}

// getQuiet is the status of a GET (0 when nothing answers).
func getQuiet(url string) (int, error) {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// softRun runs passkinit with a software passkey against serve on port and
// returns its output and exit code; the cache goes to cc.
func softRun(t *testing.T, passkinit, port, key, cc string, args ...string) (string, int) {
	t.Helper()
	all := append([]string{"--server", "http://localhost:" + port, "--authenticator", "soft:" + key, "--no-exchange", "-c", cc}, args...)
	out, err := exec.Command(passkinit, all...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestServeProfileMatrixWithSoftPasskeys: the group rows (exclude_groups
// over target_groups, default_profile) and a profile change judged at the
// next sign-in, with `passkinit --authenticator soft:F`.
func TestServeProfileMatrixWithSoftPasskeys(t *testing.T) {
	passkdc, passkinit := buildPasskdc(t), buildPasskinit(t)
	soft := softkey.AAGUIDString
	const contractors = "S-1-5-21-1-2-3-1200"
	for _, tc := range []struct {
		name, config string
		contractor   bool   // alice is in the excluded group
		profile      string // the profile admitting her, or the one whose aaguid_block refuses her
		refused      bool
	}{
		{"target_groups: the targeted profile blocks", `profiles: [{name: strict, target_groups: ["*"], exclude_groups: ["` + contractors + `"], aaguid_block: ["` + soft + `"]}]`,
			false, "strict", true},
		{"exclude_groups overrides target_groups: the default profile admits", `profiles: [{name: strict, target_groups: ["*"], exclude_groups: ["` + contractors + `"], aaguid_block: ["` + soft + `"]}]`,
			true, "default", false},
		{"exclude_groups: the excluded user gets default_profile", `profiles: [{name: strict, target_groups: ["*"], exclude_groups: ["` + contractors + `"]}, {name: fallback, aaguid_block: ["` + soft + `"]}]
default_profile: fallback`, true, "fallback", true},
		{"default_profile applies when no profile targets the user", `profiles: [{name: admins, target_groups: ["S-1-5-21-1-2-3-512"]}, {name: fallback, aaguid_block: ["` + soft + `"]}]
default_profile: fallback`, false, "fallback", true},
		{"no default_profile: the built-in default admits", `profiles: [{name: admins, target_groups: ["S-1-5-21-1-2-3-512"], aaguid_block: ["` + soft + `"]}]`,
			false, "default", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			cfg := writeConfig(t, port, tc.config+"\nlog: {format: json}\n")
			admin := adminCLI(t, passkdc, cfg)
			if tc.contractor {
				admin("group", "add", "contractors", "--sid", contractors)
				admin("principal", "set", "alice", "--group", "contractors")
			}
			pass := issueTAP(admin)
			logs := serve(t, passkdc, cfg, port)
			dir := t.TempDir()
			cc := filepath.Join(dir, "cc")
			from := len(auditLines(logs.String()))
			out, code := softRun(t, passkinit, port, filepath.Join(dir, "alice.passkey"), cc, "--register", "--tap", pass, "alice")
			got := recordsAfter(t, logs, from, "register")
			stored := credentialAAGUIDs(t, admin)
			_, ccErr := os.Stat(cc)
			if !tc.refused {
				checkOneDecision(t, got, "register", "ok", "", "under profile "+tc.profile, logs)
				if code != 0 || len(stored) != 1 || stored[0] != soft || ccErr != nil {
					t.Fatalf("admitted row: exit %d, stored %v, cache %v\n%s", code, stored, ccErr, out)
				}
				return
			}
			want := `profile "` + tc.profile + `" rule aaguid_block: authenticator AAGUID ` + soft + ` is blocked`
			checkOneDecision(t, got, "register", "refused", "profile_refused", want, logs)
			if code != 3 || !strings.Contains(out, want) {
				t.Fatalf("passkinit --register: exit %d (want 3), output lacks %q:\n%s", code, want, out)
			}
			if len(stored) != 0 || ccErr == nil {
				t.Fatalf("refused registration: stored %v, cache written %v", stored, ccErr == nil)
			}
		})
	}
}

// TestServeJudgesAStoredPasskeyByTheCurrentProfile: a passkey enrolled
// under a permissive profile signs in; after the configuration blocks its
// model and serve restarts on the same store, the next sign-in is refused
// with one audit record and no ticket.
func TestServeJudgesAStoredPasskeyByTheCurrentProfile(t *testing.T) {
	passkdc, passkinit := buildPasskdc(t), buildPasskinit(t)
	port := freePort(t)
	cfg := writeConfig(t, port, "profiles: [{name: everyone, target_groups: [\"*\"]}]\nlog: {format: json}\n")
	admin := adminCLI(t, passkdc, cfg)
	pass := issueTAP(admin)
	dir := t.TempDir()
	key, cc := filepath.Join(dir, "alice.passkey"), filepath.Join(dir, "cc")

	logs, proc := serveProcess(t, passkdc, cfg, port)
	if out, code := softRun(t, passkinit, port, key, cc, "--register", "--tap", pass, "alice"); code != 0 {
		t.Fatalf("register: exit %d\n%s\n%s", code, out, logs.String())
	}
	if err := os.Remove(cc); err != nil {
		t.Fatal(err)
	}
	from := len(auditLines(logs.String()))
	if out, code := softRun(t, passkinit, port, key, cc, "alice"); code != 0 {
		t.Fatalf("sign-in under the permissive profile: exit %d\n%s", code, out)
	}
	checkOneDecision(t, recordsAfter(t, logs, from, "login"), "login", "ok", "", "", logs)
	if err := os.Remove(cc); err != nil {
		t.Fatalf("no cache after an admitted sign-in: %v", err)
	}
	_ = proc.Kill()
	_, _ = proc.Wait()

	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg, []byte(strings.Replace(string(raw), `target_groups: ["*"]}`, `target_groups: ["*"], aaguid_block: ["`+softkey.AAGUIDString+`"]}`, 1)))
	logs = serve(t, passkdc, cfg, port)
	from = len(auditLines(logs.String()))
	softSignInRefused(t, passkinit, port, key, cc, logs, from, `profile "everyone" rule aaguid_block`, "after the profile blocked the model")
}

// softSignInRefused signs alice in with the soft passkey and expects the
// profile refusal want: exit 3 naming it, exactly one refused audit record
// after from, and no credential cache.
func softSignInRefused(t *testing.T, passkinit, port, key, cc string, logs *lockedBuffer, from int, want, when string) {
	t.Helper()
	out, code := softRun(t, passkinit, port, key, cc, "alice")
	if code != 3 || !strings.Contains(out, want) {
		t.Fatalf("sign-in %s: exit %d (want 3), output lacks %q:\n%s\n%s", when, code, want, out, logs.String())
	}
	checkOneDecision(t, recordsAfter(t, logs, from, "login"), "login", "refused", "profile_refused", want, logs)
	if _, err := os.Stat(cc); err == nil {
		t.Fatal("a refused sign-in wrote a credential cache")
	}
}

// TestServeJudgesAMovedUserByHerNewProfile: alice enrols under the default
// profile; an administrator then puts her into the group a stricter
// profile targets while serve runs (standalone: the store is the
// directory), and her next sign-in is judged by that profile, without a
// restart or a signal: refused, one audit record, no ticket.
func TestServeJudgesAMovedUserByHerNewProfile(t *testing.T) {
	passkdc, passkinit := buildPasskdc(t), buildPasskinit(t)
	const strictGroup = "S-1-5-21-1-2-3-1300"
	port := freePort(t)
	cfg := writeConfig(t, port, `profiles: [{name: strict, target_groups: ["`+strictGroup+`"], aaguid_block: ["`+softkey.AAGUIDString+`"]}]`+"\nlog: {format: json}\n")
	admin := adminCLI(t, passkdc, cfg)
	admin("group", "add", "strict-users", "--sid", strictGroup)
	pass := issueTAP(admin)
	dir := t.TempDir()
	key, cc := filepath.Join(dir, "alice.passkey"), filepath.Join(dir, "cc")
	logs := serve(t, passkdc, cfg, port)
	from := len(auditLines(logs.String()))
	if out, code := softRun(t, passkinit, port, key, cc, "--register", "--tap", pass, "alice"); code != 0 {
		t.Fatalf("register outside the strict group: exit %d\n%s\n%s", code, out, logs.String())
	}
	checkOneDecision(t, recordsAfter(t, logs, from, "register"), "register", "ok", "", "under profile default", logs)
	if err := os.Remove(cc); err != nil {
		t.Fatal(err)
	}

	admin("principal", "set", "alice", "--group", "strict-users")
	from = len(auditLines(logs.String()))
	softSignInRefused(t, passkinit, port, key, cc, logs, from, `profile "strict" rule aaguid_block`, "after alice joined the strict profile's group")
}

// TestServeJudgesABrowserPasskeyByTheCurrentProfile: a Chromium passkey
// enrolled on the page signs in to it; serve restarted on the same store
// with a profile that blocks its model refuses the next page sign-in,
// naming profile and rule, with one audit record and no page session.
func TestServeJudgesABrowserPasskeyByTheCurrentProfile(t *testing.T) {
	passkdc := buildPasskdc(t)
	port := freePort(t)
	base := "http://localhost:" + port
	cfg := writeConfig(t, port, "profiles: [{name: everyone, target_groups: [\"*\"]}]\nlog: {format: json}\n")
	admin := adminCLI(t, passkdc, cfg)
	pass := issueTAP(admin)
	c := chrometest.New(t, chrometest.Options{})

	logs, proc := serveProcess(t, passkdc, cfg, port)
	c.SignInWithTAP(base, pass)
	c.AddPasskey("Laptop")
	c.WaitFor(chrometest.CredCount(1))
	c.Click("#signout")
	c.WaitFor(chrometest.ViewSignIn)
	from := len(auditLines(logs.String()))
	c.Click("#passkey-signin")
	c.WaitFor(chrometest.ViewAccount + " && " + chrometest.CredCount(1))
	checkOneDecision(t, recordsAfter(t, logs, from, "page.signin"), "page.signin", "ok", "", "with a passkey", logs)
	c.Click("#signout")
	c.WaitFor(chrometest.ViewSignIn)
	_ = proc.Kill()
	_, _ = proc.Wait()

	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg, []byte(strings.Replace(string(raw), `target_groups: ["*"]}`, `target_groups: ["*"], aaguid_block: ["`+server.ChromiumVirtualAAGUID+`"]}`, 1)))
	logs = serve(t, passkdc, cfg, port)
	c.Open(base + "/")
	c.WaitFor(chrometest.ViewSignIn)
	from = len(auditLines(logs.String()))
	c.Click("#passkey-signin")
	c.WaitFor(chrometest.AlertShown + " && " + chrometest.BusyDone)
	want := `profile "everyone" rule aaguid_block: authenticator AAGUID ` + server.ChromiumVirtualAAGUID + ` is blocked`
	if alert := c.Text("#alert"); !strings.Contains(strings.ToLower(alert), strings.ToLower(want)) {
		t.Fatalf("page alert %q, want it to say %q\n%s", alert, want, logs.String())
	}
	checkOneDecision(t, recordsAfter(t, logs, from, "page.signin"), "page.signin", "refused", "profile_refused", want, logs)
	if !chrometest.Eval[bool](c, chrometest.ViewSignIn) {
		t.Fatal("the refused sign-in opened a page session")
	}
	c.Shot("signin-refused-by-changed-profile")
}
