package chrometest

import "fmt"

// JavaScript conditions on passkdc's Security info page (server/static), for WaitFor.
const (
	ViewSignIn  = `document.body.dataset.view === "signin"`
	ViewAccount = `document.body.dataset.view === "account"`
	AlertShown  = `!document.getElementById("alert").hidden`
	BusyDone    = `!document.querySelector("[aria-busy]")`
)

// CredCount is the condition that the page lists n passkeys and is idle.
func CredCount(n int) string {
	return fmt.Sprintf(`document.querySelectorAll("#creds .cred").length === %d && %s`, n, BusyDone)
}

// SignInWithTAP opens the Security info page at base (an origin) and signs
// in with the temporary access pass.
func (c *Chrome) SignInWithTAP(base, pass string) {
	c.t.Helper()
	c.Open(base + "/")
	c.WaitFor(ViewSignIn)
	c.TypeInto("#tap", pass)
	c.Click("#tap-form button[type=submit]")
	c.WaitFor(ViewAccount + " && " + BusyDone)
}

// AddPasskey adds a passkey from the signed-in page and waits for the
// outcome: the status saying it was added, or an alert.
func (c *Chrome) AddPasskey(name string) {
	c.t.Helper()
	c.Clear("#new-name")
	if name != "" {
		c.TypeInto("#new-name", name)
	}
	Eval[bool](c, `(document.getElementById("alert").hidden = true)`)
	c.Click("#add-form button[type=submit]")
	c.WaitFor(BusyDone + ` && (` + AlertShown + ` || document.getElementById("status").textContent.includes("added"))`)
}
