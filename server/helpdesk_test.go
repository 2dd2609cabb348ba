package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
)

// userInfo is the helpdesk's view of a user.
type userInfo struct {
	Principal   string     `json:"principal"`
	State       string     `json:"state"`
	Eligible    bool       `json:"eligible"`
	Why         string     `json:"why"`
	Refusal     string     `json:"refusal"`
	Credentials []credView `json:"credentials"`
	Passes      []struct {
		ID        string `json:"id"`
		UsesLeft  int    `json:"uses_left"`
		CreatedBy string `json:"created_by"`
	} `json:"passes"`
	Issued *struct {
		ID   string `json:"id"`
		Pass string `json:"pass"`
		Uses int    `json:"uses"`
	} `json:"issued"`
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
	Helpdesk bool   `json:"helpdesk_member"`
	Actor    string `json:"actor"`
	Revoked  string `json:"revoked"`
}

// passkeyBrowser enrols a software passkey for p with a pass and returns a
// browser signed in to the page with it.
func passkeyBrowser(t *testing.T, e *webEnv, p store.Principal) (*browser, *softkey.Authenticator) {
	t.Helper()
	pass := strings.ToUpper(p.Name) + "-PASS-0000"
	e.tap(p, pass, 1)
	b := e.browser()
	b.signInTAP(pass)
	key := e.softkey(p.Name)
	if r := b.addPasskey(key, ""); r.status != http.StatusOK {
		t.Fatalf("enrol %s: %d %s", p.Name, r.status, r.body)
	}
	s := e.browser()
	s.signInPasskey(key)
	return s, key
}

// oneRecord runs fn and returns the single audit record it wrote.
func oneRecord(t *testing.T, e *webEnv, fn func()) store.AuditRecord {
	t.Helper()
	before := len(e.audits())
	fn()
	after := e.audits()
	if len(after) != before+1 {
		t.Fatalf("%d audit records written, want 1: %+v", len(after)-before, after[before:])
	}
	return after[before]
}

func checkRefusal(t *testing.T, rec store.AuditRecord, r reply, code, subject, actor string) {
	t.Helper()
	if r.code() != code || r.status != server.Codes()[code] {
		t.Fatalf("answer %d %s, want %s", r.status, r.body, code)
	}
	if rec.Result != "refused" || rec.Reason != code || rec.Principal != subject || !strings.Contains(rec.Detail, "by "+actor+"@"+realm) {
		t.Fatalf("audit %+v, want refused %s naming subject %s and actor %s", rec, code, subject, actor)
	}
}

func TestHelpdeskRefusesWhoIsNotStaffAndWhomStaffMayNotActOn(t *testing.T) {
	e := newWebEnv(t, webOpts{helpdesk: &server.HelpdeskConfig{Groups: []string{helpdeskSID}}})
	staff, _ := passkeyBrowser(t, e, e.hd)

	// A user who is not in a helpdesk group, signed in with a passkey.
	bob, _ := passkeyBrowser(t, e, e.bob)
	var r reply
	rec := oneRecord(t, e, func() { r = bob.do("GET", "/v1/page/helpdesk/users/alice", nil, nil) })
	checkRefusal(t, rec, r, server.CodeHelpdeskOnly, "bob", "bob")
	rec = oneRecord(t, e, func() { r = bob.do("POST", "/v1/page/helpdesk/users/alice/passes", struct{}{}, nil) })
	checkRefusal(t, rec, r, server.CodeHelpdeskOnly, "bob", "bob")
	if n := len(openPasses(t, e, e.alice)); n != 0 {
		t.Fatalf("%d passes for alice after a refusal", n)
	}

	// A helpdesk member signed in with a pass, not a passkey.
	e.tap(e.hd2, "HDTWO-PASS", 1)
	tapped := e.browser()
	tapped.signInTAP("HDTWO-PASS")
	rec = oneRecord(t, e, func() { r = tapped.do("GET", "/v1/page/helpdesk/session", nil, nil) })
	checkRefusal(t, rec, r, server.CodeHelpdeskPasskey, "hd2", "hd2")

	// root is in a never-reveal group (Domain Admins in the denied group).
	for _, call := range []struct{ method, path string }{
		{"GET", "/v1/page/helpdesk/users/root"},
		{"POST", "/v1/page/helpdesk/users/root@" + realm + "/passes"},
	} {
		rec = oneRecord(t, e, func() { r = staff.do(call.method, call.path, nil, nil) })
		checkRefusal(t, rec, r, server.CodeSubjectProtected, "root", "hd")
	}
	// Another helpdesk member.
	rec = oneRecord(t, e, func() { r = staff.do("POST", "/v1/page/helpdesk/users/hd2/passes", nil, nil) })
	checkRefusal(t, rec, r, server.CodeSubjectHelpdesk, "hd2", "hd")
	// Someone who does not exist, and bounds of a pass.
	rec = oneRecord(t, e, func() { r = staff.do("GET", "/v1/page/helpdesk/users/nobody", nil, nil) })
	checkRefusal(t, rec, r, server.CodeUnknownPrincipal, "hd", "hd")
	rec = oneRecord(t, e, func() {
		r = staff.do("POST", "/v1/page/helpdesk/users/alice/passes", map[string]int{"uses": 1, "ttl_minutes": 60 * 24 * 31}, nil)
	})
	checkRefusal(t, rec, r, server.CodeInvalidPassOptions, "alice", "hd")
	// Without the CSRF token: refused before anything else.
	if r := staff.do("POST", "/v1/page/helpdesk/users/alice/passes", nil, map[string]string{"X-CSRF-Token": ""}); r.code() != server.CodeCSRFInvalid {
		t.Fatalf("no CSRF token: %d %s", r.status, r.body)
	}
	if n := len(openPasses(t, e, e.alice)) + len(openPasses(t, e, e.root)) + len(openPasses(t, e, e.hd2)); n != 1 {
		t.Fatalf("%d open passes after refusals, want only hd2's own", n)
	}
}

func TestHelpdeskMayActOnHelpdeskWhenConfigured(t *testing.T) {
	e := newWebEnv(t, webOpts{helpdesk: &server.HelpdeskConfig{Groups: []string{"cn=helpdesk,cn=users,dc=corp,dc=example,dc=test"}, MayActOnHelpdesk: true}})
	staff, _ := passkeyBrowser(t, e, e.hd) // the group named by its DN
	var u userInfo
	staff.do("POST", "/v1/page/helpdesk/users/hd2/passes", nil, nil).decode(t, &u)
	if u.Issued == nil || !u.Helpdesk {
		t.Fatalf("issue for another member: %+v", u)
	}
	// Never-reveal still wins.
	if r := staff.do("GET", "/v1/page/helpdesk/users/root", nil, nil); r.code() != server.CodeSubjectProtected {
		t.Fatalf("root: %d %s", r.status, r.body)
	}
}

func openPasses(t *testing.T, e *webEnv, p store.Principal) []store.TAP {
	t.Helper()
	taps, err := e.st.ListTAPs(t.Context(), p.Anchor)
	must(t, err)
	return taps
}

func TestHelpdeskIssuesAPassThatEnrolsAndRevocationsTakeEffectAtOnce(t *testing.T) {
	e := newWebEnv(t, webOpts{helpdesk: &server.HelpdeskConfig{Groups: []string{helpdeskSID}}})
	staff, _ := passkeyBrowser(t, e, e.hd)

	var u userInfo
	rec := oneRecord(t, e, func() { staff.do("GET", "/v1/page/helpdesk/users/alice", nil, nil).decode(t, &u) })
	if !u.Eligible || !strings.Contains(u.Why, "reveal-on-demand group "+domainSID+"-571") || u.State != "enabled" ||
		u.Profile.Name != "default" || len(u.Credentials) != 0 || len(u.Passes) != 0 || u.Actor != "hd@"+realm || u.Helpdesk {
		t.Fatalf("lookup %+v", u)
	}
	if rec.Event != "helpdesk.lookup" || rec.Result != "ok" || rec.Principal != "alice" || !strings.Contains(rec.Detail, "by hd@"+realm) {
		t.Fatalf("audit %+v", rec)
	}

	// Issue a pass: shown once, listed without it afterwards.
	rec = oneRecord(t, e, func() {
		staff.do("POST", "/v1/page/helpdesk/users/alice/passes", map[string]int{"uses": 1, "ttl_minutes": 30}, nil).decode(t, &u)
	})
	if u.Issued == nil || u.Issued.Pass == "" || u.Issued.Uses != 1 || len(u.Passes) != 1 || u.Passes[0].CreatedBy != "helpdesk hd@"+realm {
		t.Fatalf("issued %+v", u)
	}
	if rec.Event != "helpdesk.tap.issue" || rec.Principal != "alice" || !strings.Contains(rec.Detail, u.Issued.ID) || strings.Contains(rec.Detail, u.Issued.Pass) {
		t.Fatalf("audit %+v", rec)
	}
	var again userInfo
	staff.do("GET", "/v1/page/helpdesk/users/alice", nil, nil).decode(t, &again)
	if again.Issued != nil || len(again.Passes) != 1 || strings.Contains(string(staff.do("GET", "/v1/page/helpdesk/users/alice", nil, nil).body), u.Issued.Pass) {
		t.Fatalf("the pass is shown again: %+v", again)
	}

	// Alice enrols with it.
	alice := e.browser()
	alice.signInTAP(u.Issued.Pass)
	key := e.softkey("alice")
	var cred credView
	alice.addPasskey(key, "Laptop").decode(t, &cred)

	// A second pass, revoked before use: it opens no session.
	staff.do("POST", "/v1/page/helpdesk/users/alice/passes", nil, nil).decode(t, &u)
	second := u.Issued
	rec = oneRecord(t, e, func() { staff.do("DELETE", "/v1/page/helpdesk/passes/"+second.ID, nil, nil).decode(t, &u) })
	if u.Revoked != second.ID || len(u.Passes) != 0 || rec.Event != "helpdesk.tap.revoke" || rec.Principal != "alice" {
		t.Fatalf("revoke pass: %+v, audit %+v", u, rec)
	}
	if r := e.browser().do("POST", "/v1/page/tap", map[string]string{"tap": second.Pass}, nil); r.code() != server.CodeTAPInvalid {
		t.Fatalf("revoked pass: %d %s", r.status, r.body)
	}
	if r := staff.do("DELETE", "/v1/page/helpdesk/passes/"+second.ID, nil, nil); r.code() != server.CodeUnknownPass {
		t.Fatalf("revoke twice: %d %s", r.status, r.body)
	}

	// Revoke alice's passkey: her page session ends and she cannot sign in with it.
	signed := e.browser()
	signed.signInPasskey(key)
	staff.do("GET", "/v1/page/helpdesk/users/alice", nil, nil).decode(t, &u)
	if len(u.Credentials) != 1 || u.Credentials[0].ID != cred.ID {
		t.Fatalf("credentials %+v", u.Credentials)
	}
	rec = oneRecord(t, e, func() { staff.do("DELETE", "/v1/page/helpdesk/credentials/"+cred.ID, nil, nil).decode(t, &u) })
	if len(u.Credentials) != 0 || rec.Event != "helpdesk.cred.revoke" || rec.CredentialID != cred.ID || rec.Principal != "alice" {
		t.Fatalf("revoke passkey: %+v, audit %+v", u, rec)
	}
	if r := signed.do("GET", "/v1/page/session", nil, nil); r.code() != server.CodePageSession {
		t.Fatalf("session on a revoked passkey: %d %s", r.status, r.body)
	}
	if r := e.browser().loginReply(key); r.code() != "credential_revoked" {
		t.Fatalf("sign-in with the revoked passkey: %d %s", r.status, r.body)
	}
	// The staff member's own session goes on; a revoked staff passkey ends it.
	if r := staff.do("GET", "/v1/page/helpdesk/session", nil, nil); r.status != http.StatusOK {
		t.Fatalf("staff session: %d %s", r.status, r.body)
	}
}
