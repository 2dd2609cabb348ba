package ops

// The helpdesk page through the real `passkdc serve` binary, a real config
// file (helpdesk.groups) and Chromium, and the CLI's ticket checks
// (principal show, tap issue --strict) through the real binary.

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/internal/chrometest"
)

const (
	helpdeskView = `document.body.dataset.view === "desk" && ` + chrometest.BusyDone
	helpdeskOut  = `document.body.dataset.view === "signin"`
)

// lastLine is the pass `tap issue` prints alone on its last line.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// staffSignIn enrols a passkey for the staff member with pass on the
// Security info page, then signs in to the helpdesk page with it.
func staffSignIn(c *chrometest.Chrome, base, pass string) {
	c.SignInWithTAP(base, pass)
	c.AddPasskey("Helpdesk key")
	c.WaitFor(chrometest.CredCount(1))
	c.Click("#signout")
	c.WaitFor(chrometest.ViewSignIn)
	c.Open(base + "/helpdesk")
	c.WaitFor(helpdeskOut)
	c.Click("#passkey-signin")
	c.WaitFor(helpdeskView)
}

// lookUp looks name up on the helpdesk page and waits for the answer.
func lookUp(c *chrometest.Chrome, name string) {
	c.Clear("#user")
	c.TypeInto("#user", name)
	c.Click("#lookup-form button[type=submit]")
	c.WaitFor(chrometest.BusyDone + ` && (` + chrometest.AlertShown + ` || !document.getElementById("subject").hidden)`)
}

// TestServeHelpdeskMayActOnHelpdesk: helpdesk.may_act_on_helpdesk through
// the real serve: false (the default) refuses another member, true allows.
func TestServeHelpdeskMayActOnHelpdesk(t *testing.T) {
	passkdc := buildPasskdc(t)
	browser := chrometest.New(t, chrometest.Options{})
	for _, tc := range []struct {
		key    string
		reason string
	}{{"", "subject_helpdesk_member"}, {"may_act_on_helpdesk: false", "subject_helpdesk_member"}, {"may_act_on_helpdesk: true", ""}} {
		t.Run("["+tc.key+"]", func(t *testing.T) {
			port := freePort(t)
			extra := ""
			if tc.key != "" {
				extra = ", " + tc.key
			}
			cfg := writeConfig(t, port, "helpdesk: {groups: [\"S-1-5-21-1-2-3-1200\"]"+extra+"}\nlog: {format: json}\n")
			admin := adminCLI(t, passkdc, cfg)
			admin("group", "add", "helpdesk", "--sid", "S-1-5-21-1-2-3-1200")
			admin("principal", "add", "hd", "--sid", "S-1-5-21-1-2-3-1301", "--group", "allowed", "--group", "helpdesk")
			admin("principal", "add", "hd2", "--sid", "S-1-5-21-1-2-3-1302", "--group", "allowed", "--group", "helpdesk")
			pass := lastLine(admin("tap", "issue", "hd"))
			logs := serve(t, passkdc, cfg, port)
			c := browser.For(t)
			c.ClearCredentials()
			staffSignIn(c, "http://localhost:"+port, pass)
			from := len(auditLines(logs.String()))
			lookUp(c, "hd2")
			if tc.reason != "" {
				checkOneDecision(t, recordsAfter(t, logs, from, "helpdesk.lookup"), "helpdesk.lookup", "refused", tc.reason, "helpdesk.may_act_on_helpdesk", logs)
				return
			}
			if got := c.Text("#facts"); !strings.Contains(got, "Helpdesk memberYes") {
				t.Fatalf("facts %q (alert %q)", got, c.Text("#alert"))
			}
			c.Click("#issue-form button[type=submit]")
			c.WaitFor(`!document.getElementById("issued").hidden && ` + chrometest.BusyDone)
			checkOneDecision(t, recordsAfter(t, logs, from, "helpdesk.tap.issue"), "helpdesk.tap.issue", "ok", "", "(helpdesk: by hd@"+realm+")", logs)
		})
	}
}

func TestServeHelpdeskPageInChromium(t *testing.T) {
	passkdc := buildPasskdc(t)
	port := freePort(t)
	cfg := writeConfig(t, port, "helpdesk: {groups: [\"S-1-5-21-1-2-3-1200\"]}\nlog: {format: json}\n")
	admin := adminCLI(t, passkdc, cfg) // alice, in the reveal-on-demand group
	admin("group", "add", "helpdesk", "--sid", "S-1-5-21-1-2-3-1200")
	admin("group", "add", "administrators", "--sid", "S-1-5-32-544") // never-reveal (builtin)
	admin("principal", "add", "hd", "--sid", "S-1-5-21-1-2-3-1301", "--display-name", "Harriet Desk", "--group", "allowed", "--group", "helpdesk")
	admin("principal", "add", "bob", "--sid", "S-1-5-21-1-2-3-1303", "--group", "allowed")
	admin("principal", "add", "root", "--sid", "S-1-5-21-1-2-3-500", "--group", "allowed", "--group", "administrators")

	// The CLI through the real binary: root could never get a ticket.
	var show struct {
		MayGetTickets *bool    `json:"may_get_tickets"`
		NeverReveal   *bool    `json:"never_reveal"`
		Why           string   `json:"tickets_why"`
		Profiles      []string `json:"profiles"`
	}
	if err := json.Unmarshal([]byte(admin("principal", "show", "root", "--json")), &show); err != nil || show.MayGetTickets == nil ||
		*show.MayGetTickets || show.NeverReveal == nil || !*show.NeverReveal || !strings.Contains(show.Why, "S-1-5-32-544") ||
		len(show.Profiles) != 1 || show.Profiles[0] != "default" {
		t.Fatalf("principal show root --json: %v %+v", err, show)
	}
	if out, err := exec.Command(passkdc, "tap", "issue", "root", "--strict", "--config", cfg).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "could never get a ticket") || !strings.Contains(string(out), "no pass issued (--strict)") {
		t.Fatalf("tap issue root --strict: %v\n%s", err, out)
	}
	if out := admin("tap", "issue", "bob", "--strict"); strings.Contains(out, "warning") {
		t.Fatalf("tap issue bob --strict warned:\n%s", out)
	}

	staffPass := lastLine(admin("tap", "issue", "hd"))
	logs := serve(t, passkdc, cfg, port)
	base := "http://localhost:" + port
	staff := chrometest.New(t, chrometest.Options{})
	user := chrometest.New(t, chrometest.Options{})

	// The staff member enrols a passkey, then signs in to the helpdesk page with it.
	staffSignIn(staff, base, staffPass)
	staff.Shot("helpdesk-signed-in")

	// root: refused, one record.
	from := len(auditLines(logs.String()))
	staff.TypeInto("#user", "root")
	staff.Click("#lookup-form button[type=submit]")
	staff.WaitFor(chrometest.AlertShown + " && " + chrometest.BusyDone)
	checkOneDecision(t, recordsAfter(t, logs, from, "helpdesk.lookup"), "helpdesk.lookup", "refused", "subject_never_reveal",
		"(helpdesk: by hd@"+realm+")", logs)
	staff.Shot("helpdesk-never-reveal-refused")

	// alice: look up, issue a pass; she enrols with it.
	staff.Clear("#user")
	staff.TypeInto("#user", "alice")
	staff.Click("#lookup-form button[type=submit]")
	staff.WaitFor(`!document.getElementById("subject").hidden && ` + chrometest.BusyDone)
	if got := staff.Text("#facts .eligible"); !strings.HasPrefix(got, "Yes: in reveal-on-demand group S-1-5-21-1-2-3-571") {
		t.Fatalf("eligibility %q", got)
	}
	from = len(auditLines(logs.String()))
	staff.Click("#issue-form button[type=submit]")
	staff.WaitFor(`!document.getElementById("issued").hidden && ` + chrometest.BusyDone)
	pass := staff.Text("#pass")
	checkOneDecision(t, recordsAfter(t, logs, from, "helpdesk.tap.issue"), "helpdesk.tap.issue", "ok", "", "(helpdesk: by hd@"+realm+")", logs)
	staff.Shot("helpdesk-pass-issued")
	if strings.Contains(logs.String(), pass) {
		t.Fatal("the pass is in serve's log")
	}
	user.SignInWithTAP(base, pass)
	user.AddPasskey("Laptop")
	user.WaitFor(chrometest.CredCount(1))
	user.Click("#signout")
	user.WaitFor(chrometest.ViewSignIn)

	// A second pass, revoked on the page: the CLI lists none, the page refuses it.
	staff.Click("#issue-form button[type=submit]")
	staff.WaitFor(`!document.getElementById("issued").hidden && document.querySelectorAll("#passes .pass-item").length === 1 && ` + chrometest.BusyDone)
	second := staff.Text("#pass")
	secondID := strings.TrimPrefix(staff.Text("#passes .pass-item .cred-name"), "Pass ")
	staff.Click("#passes .pass-item .revoke")
	staff.WaitFor(`document.querySelectorAll("#passes .pass-item").length === 0 && ` + chrometest.BusyDone)
	if out := admin("tap", "list", "alice", "--json"); len(secondID) != 16 || strings.Contains(out, secondID) || !strings.Contains(out, `"uses_left": 0`) {
		t.Fatalf("tap list after revoking %q (the spent first pass only): %s", secondID, out)
	}
	user.TypeInto("#tap", second)
	user.Click("#tap-form button[type=submit]")
	user.WaitFor(chrometest.AlertShown)

	// alice's passkey, revoked on the page: it signs in no more.
	from = len(auditLines(logs.String()))
	staff.Click("#creds .cred .revoke")
	staff.WaitFor(`document.querySelectorAll("#creds .cred").length === 0 && ` + chrometest.BusyDone)
	checkOneDecision(t, recordsAfter(t, logs, from, "helpdesk.cred.revoke"), "helpdesk.cred.revoke", "ok", "", "(helpdesk: by hd@"+realm+")", logs)
	staff.Shot("helpdesk-passkey-revoked")
	user.Click("#passkey-signin")
	user.WaitFor(chrometest.AlertShown + ` && document.getElementById("alert").textContent.includes("revoked")`)

	// bob is no helpdesk member: refused, one record.
	user.ClearCredentials()
	user.SignInWithTAP(base, lastLine(admin("tap", "issue", "bob")))
	user.AddPasskey("")
	user.WaitFor(chrometest.CredCount(1))
	user.Click("#signout")
	user.WaitFor(chrometest.ViewSignIn)
	user.Open(base + "/helpdesk")
	user.WaitFor(helpdeskOut)
	from = len(auditLines(logs.String()))
	user.Click("#passkey-signin")
	user.WaitFor(chrometest.AlertShown + " && " + chrometest.BusyDone)
	recs := recordsAfter(t, logs, from, "helpdesk.open")
	checkOneDecision(t, recs, "helpdesk.open", "refused", "helpdesk_member_required", "bob@"+realm+" is not one", logs)
	user.Shot("helpdesk-not-a-member")
}
