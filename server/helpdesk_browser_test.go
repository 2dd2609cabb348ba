package server_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/passkdc/passkdc/internal/chrometest"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
)

// Conditions on the helpdesk page.
const (
	deskSignIn = `document.body.dataset.view === "signin"`
	deskView   = `document.body.dataset.view === "desk" && ` + chrometest.BusyDone
	subjectOn  = `!document.getElementById("subject").hidden && ` + chrometest.BusyDone
)

// fitsAt360 fails the test when the page scrolls sideways 360 CSS pixels wide.
func fitsAt360(t *testing.T, c *chrometest.Chrome, state string) {
	t.Helper()
	c.Run(chromedp.EmulateViewport(360, 800))
	if w := chrometest.Eval[int](c, `document.documentElement.scrollWidth`); w > 360 {
		t.Errorf("%s: the page is %d px wide at 360 px", state, w)
	}
	c.Run(chromedp.EmulateViewport(1280, 900))
}

func deskShot(t *testing.T, c *chrometest.Chrome, name string) {
	t.Helper()
	fitsAt360(t, c, name)
	c.Shot(name)
}

// recordsSince returns the records written since before (an index).
func recordsSince(e *webEnv, before int) []store.AuditRecord {
	return e.audits()[before:]
}

func onlyRefusal(t *testing.T, recs []store.AuditRecord, code, subject string) {
	t.Helper()
	var refusals []store.AuditRecord
	for _, r := range recs {
		if r.Result != "ok" {
			refusals = append(refusals, r)
		}
	}
	if len(refusals) != 1 || refusals[0].Reason != code || refusals[0].Principal != subject {
		t.Fatalf("refusal records %+v, want one %s about %s", refusals, code, subject)
	}
}

func TestBrowserHelpdesk(t *testing.T) {
	e := newWebEnv(t, webOpts{helpdesk: &server.HelpdeskConfig{Groups: []string{helpdeskSID}}})
	e.tap(e.hd, "HDHD-HDHD-HDHD", 1)
	staff := newChrome(t, e, chrometest.Authenticator{})
	// Alice's and then Bob's browser (made now: a new Chrome empties the screenshot directory).
	user := newChrome(t, e, chrometest.Authenticator{})

	staff.Open(e.url + "/helpdesk")
	staff.WaitFor(deskSignIn)
	deskShot(t, staff, "helpdesk-signin")

	// The staff member enrols their own passkey, then opens the helpdesk page.
	staff.SignInWithTAP(e.url, "HDHD-HDHD-HDHD")
	staff.AddPasskey("Helpdesk key")
	staff.WaitFor(chrometest.CredCount(1))
	// Still in the session of the pass: the helpdesk page refuses it, one record.
	before := len(e.audits())
	staff.Open(e.url + "/helpdesk")
	staff.WaitFor(deskSignIn + " && " + chrometest.AlertShown)
	if got := staff.Text("#alert"); !strings.Contains(got, "signed in with your own passkey") {
		t.Fatalf("alert %q", got)
	}
	onlyRefusal(t, recordsSince(e, before), server.CodeHelpdeskPasskey, "hd")
	deskShot(t, staff, "helpdesk-pass-session-refused")
	staff.Click("#passkey-signin")
	staff.WaitFor(deskView)
	if who := staff.Text("#who"); !strings.Contains(who, "Harriet Desk (hd@"+realm+")") {
		t.Fatalf("who %q", who)
	}
	deskShot(t, staff, "helpdesk-signed-in")

	// A never-reveal user: refused, one record.
	before = len(e.audits())
	staff.TypeInto("#user", "root")
	staff.Click("#lookup-form button[type=submit]")
	staff.WaitFor(chrometest.AlertShown + " && " + chrometest.BusyDone)
	if got := staff.Text("#alert"); !strings.Contains(got, "never-reveal group") {
		t.Fatalf("alert %q", got)
	}
	onlyRefusal(t, recordsSince(e, before), server.CodeSubjectProtected, "root")
	deskShot(t, staff, "helpdesk-never-reveal-refused")

	// Someone passkdc does not know.
	staff.Clear("#user")
	staff.TypeInto("#user", "nobody")
	staff.Click("#lookup-form button[type=submit]")
	staff.WaitFor(chrometest.AlertShown + ` && document.getElementById("alert").textContent.includes("No user nobody@")`)
	deskShot(t, staff, "helpdesk-unknown-user")

	// Alice: eligible, no passkey; issue a pass.
	staff.Clear("#user")
	staff.TypeInto("#user", "alice")
	staff.Click("#lookup-form button[type=submit]")
	staff.WaitFor(subjectOn)
	if got := staff.Text("#facts .eligible"); !strings.HasPrefix(got, "Yes: in reveal-on-demand group") {
		t.Fatalf("eligibility %q", got)
	}
	if got := staff.Text("#profile"); !strings.Contains(got, "default") {
		t.Fatalf("profile %q", got)
	}
	if chrometest.Eval[bool](staff, `document.getElementById("issued").getClientRects().length > 0`) {
		t.Fatal("an empty pass card is shown before any pass was issued")
	}
	deskShot(t, staff, "helpdesk-user")
	staff.Click("#issue-form button[type=submit]")
	staff.WaitFor(`!document.getElementById("issued").hidden && ` + chrometest.BusyDone)
	pass := staff.Text("#pass")
	if len(pass) != 24 || chrometest.Eval[int](staff, `document.querySelectorAll("#passes .pass-item").length`) != 1 {
		t.Fatalf("pass %q", pass)
	}
	deskShot(t, staff, "helpdesk-pass-issued")

	// Alice enrols with it in her own browser.
	user.SignInWithTAP(e.url, pass)
	user.AddPasskey("Laptop")
	user.WaitFor(chrometest.CredCount(1))
	user.Click("#signout")
	user.WaitFor(chrometest.ViewSignIn)

	// A second pass, revoked on the page: it no longer signs in.
	staff.Click("#issue-form button[type=submit]")
	staff.WaitFor(`!document.getElementById("issued").hidden && ` + chrometest.BusyDone)
	second := staff.Text("#pass")
	if second == pass || len(activeCredentials(t, e, e.alice)) != 1 {
		t.Fatalf("second pass %q", second)
	}
	staff.Click("#passes .pass-item .revoke")
	staff.WaitFor(`document.querySelectorAll("#passes .pass-item").length === 0 && ` + chrometest.BusyDone)
	if got := staff.Text("#status"); !strings.Contains(got, "revoked") {
		t.Fatalf("status %q", got)
	}
	deskShot(t, staff, "helpdesk-pass-revoked")
	user.TypeInto("#tap", second)
	user.Click("#tap-form button[type=submit]")
	user.WaitFor(chrometest.AlertShown)
	if got := user.Text("#alert"); !strings.Contains(got, "not valid") {
		t.Fatalf("revoked pass: alert %q", got)
	}

	// Alice's passkey, revoked on the page: it no longer signs in.
	if got := staff.Text("#creds .cred .cred-name"); got != "Laptop" {
		t.Fatalf("passkey listed %q", got)
	}
	staff.Click("#creds .cred .revoke")
	staff.WaitFor(`document.querySelectorAll("#creds .cred").length === 0 && ` + chrometest.BusyDone)
	deskShot(t, staff, "helpdesk-passkey-revoked")
	user.Click("#passkey-signin")
	user.WaitFor(chrometest.AlertShown + ` && document.getElementById("alert").textContent.includes("revoked")`)

	// Bob, not a helpdesk member, signs in with his passkey: refused, one record.
	user.ClearCredentials()
	e.tap(e.bob, "BOBB-BOBB-BOBB", 1)
	user.SignInWithTAP(e.url, "BOBB-BOBB-BOBB")
	user.AddPasskey("")
	user.WaitFor(chrometest.CredCount(1))
	user.Click("#signout")
	user.WaitFor(chrometest.ViewSignIn)
	user.Open(e.url + "/helpdesk")
	user.WaitFor(deskSignIn)
	before = len(e.audits())
	user.Click("#passkey-signin")
	user.WaitFor(chrometest.AlertShown + " && " + chrometest.BusyDone)
	if got := user.Text("#alert"); !strings.Contains(got, "is for members of a helpdesk group") {
		t.Fatalf("alert %q", got)
	}
	if !chrometest.Eval[bool](user, `document.getElementById("desk").hidden`) {
		t.Fatal("the desk is shown to a non-member")
	}
	onlyRefusal(t, recordsSince(e, before), server.CodeHelpdeskOnly, "bob")
	deskShot(t, user, "helpdesk-not-a-member")
}
