package integration

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/passkdc/passkdc/integration/deploy"
	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/kdc/ccache"
	"github.com/passkdc/passkdc/keytabs"
)

// served starts `passkdc serve` for the fixture once (stopped by TestMain)
// after a first `passkdc sync --full`.
var served struct {
	once sync.Once
	err  string
	sync string
}

func server(t testing.TB) *fixture {
	t.Helper()
	f := domain(t)
	served.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := f.Passkdc(ctx, "sync", "--full")
		if err != nil {
			served.err = "passkdc sync --full: " + err.Error() + "\n" + out
			return
		}
		served.sync = out
		if err := f.Serve(ctx); err != nil {
			served.err = err.Error()
		}
	})
	if served.err != "" {
		t.Fatal(served.err)
	}
	return f
}

// signInUser enrols a software passkey for user with a fresh temporary access
// pass and signs in; it returns passkinit's output and error.
func signInUser(t *testing.T, f *fixture, user string, extra ...string) (cc, out string, err error) {
	t.Helper()
	return signInAt(t, f.Deployment, user, extra...)
}

// signInAt is signInUser against the passkdc deployment d.
func signInAt(t *testing.T, f *deploy.Deployment, user string, extra ...string) (cc, out string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pass, err := f.IssueTAP(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cc = filepath.Join(dir, "cc")
	args := append([]string{"--authenticator", "soft:" + filepath.Join(dir, user+".passkey"),
		"--register", "--tap", pass, "-c", cc}, extra...)
	out, err = f.Passkinit(ctx, nil, args...)
	return cc, out, err
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// auditLines returns the JSON log lines of the server whose event is a
// sign-in decision about principal.
func auditLines(t *testing.T, f *fixture, principal string) []map[string]any {
	t.Helper()
	return auditIn(f.Log(), principal)
}

// auditIn returns the JSON lines of log that are decisions about principal.
func auditIn(log, principal string) []map[string]any {
	var found []map[string]any
	for _, line := range strings.Split(log, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if p, _ := m["principal"].(string); strings.EqualFold(strings.SplitN(p, "@", 2)[0], principal) && m["result"] != nil {
			found = append(found, m)
		}
	}
	return found
}

// refusalDetail waits (at most 3 s: the audit line may reach the log just
// after the answer) for a refused sign-in of principal whose detail (the
// log message) holds want, in what logOf returns, and returns the last
// such detail ("" when none came).
func refusalDetail(logOf func() string, principal, want string) string {
	d := ""
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		for _, a := range auditIn(logOf(), principal) {
			if a["event"] == "login" && a["result"] == "refused" {
				d, _ = a["msg"].(string)
			}
		}
		if strings.Contains(d, want) || time.Now().After(deadline) {
			return d
		}
	}
}

// The product's main path: a TAP enrols a passkey, passkinit signs in,
// trades the partial TGT for a full TGT at the DC, and MIT kvno, klist and
// smbclient use the cache unchanged.
func TestPasskinitSignInGivesTicketsTheDCHonours(t *testing.T) {
	klist, kvno := testenv.RequireTool(t, "klist"), testenv.RequireTool(t, "kvno")
	f := server(t)
	if !strings.Contains(served.sync, "added") {
		t.Errorf("sync summary does not say what it added:\n%s", served.sync)
	}
	cc, out, err := signInUser(t, f, "alice")
	if err != nil {
		t.Fatalf("passkinit: %v\n%s\nserver log:\n%s", err, out, f.Log())
	}
	realm := f.dc.Realm()
	if !strings.Contains(out, "registered passkey") || !strings.Contains(out, "TGT for alice@"+realm+" written to "+cc) {
		t.Fatalf("passkinit output:\n%s", out)
	}
	ctx := context.Background()
	env := f.clientEnv(cc)
	list, err := run(ctx, env, klist)
	if err != nil || !strings.Contains(list, "alice@"+realm) || !strings.Contains(list, "krbtgt/"+realm+"@"+realm) {
		t.Fatalf("klist after passkinit: %v\n%s", err, list)
	}
	if n := tgtRODCNumber(t, cc); n != 0 {
		t.Fatalf("the cache holds a TGT under RODC %d's key: passkinit did not exchange it for a full TGT", n)
	}
	svc := "cifs/" + f.dc.FQDN()
	if out, err := run(ctx, env, kvno, svc); err != nil {
		t.Fatalf("kvno %s with the exchanged TGT: %v\n%s", svc, err, out)
	}
	if list, _ = run(ctx, env, klist); !strings.Contains(list, svc+"@"+realm) {
		t.Fatalf("klist does not show the service ticket:\n%s", list)
	}
	smb := f.dc.SMBClient(ctx, cc, "netlogon", "-c", "ls")
	if b, err := smb.CombinedOutput(); err != nil {
		t.Fatalf("smbclient -k //%s/netlogon: %v\n%s", f.dc.FQDN(), err, b)
	}
	audits := auditLines(t, f, "alice")
	var issued map[string]any
	for _, a := range audits {
		if a["event"] == "login" && a["result"] == "ok" {
			issued = a
		}
	}
	if issued == nil || issued["kvno"] == nil || issued["credential_id"] == nil {
		t.Fatalf("no audit line event=login result=ok with kvno and credential_id for alice in:\n%v", audits)
	}
	// The administrator sees the passkey, its last use, and the spent pass.
	credID, _ := issued["credential_id"].(string)
	out, err = f.Passkdc(ctx, "cred", "list", "alice", "--json")
	var creds []struct {
		ID       string    `json:"id"`
		LastUsed time.Time `json:"last_used"`
	}
	if err != nil || json.Unmarshal([]byte(out), &creds) != nil || len(creds) != 1 || creds[0].ID != credID || creds[0].LastUsed.IsZero() {
		t.Fatalf("passkdc cred list alice --json: %v\n%s", err, out)
	}
	if out, err = f.Passkdc(ctx, "tap", "list", "alice"); err != nil || !strings.Contains(out, "USES LEFT") {
		t.Fatalf("passkdc tap list alice: %v\n%s", err, out)
	}
}

// --no-exchange keeps passkdc's partial TGT: its enc-part names the RODC
// number in the high half of the kvno, and the DC still honours it.
func TestPasskinitNoExchangeKeepsThePartialTGT(t *testing.T) {
	kvno := testenv.RequireTool(t, "kvno")
	f := server(t)
	ctx := context.Background()
	user, err := f.dc.CreateUser(ctx, "dora", f.password)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.dc.AddMember(ctx, "CN=Allowed RODC Password Replication Group,CN=Users,"+f.dc.BaseDN(), user.DN); err != nil {
		t.Fatal(err)
	}
	if out, err := f.Passkdc(ctx, "sync"); err != nil {
		t.Fatalf("incremental sync: %v\n%s", err, out)
	}
	cc, out, err := signInUser(t, f, "dora", "--no-exchange")
	if err != nil || !strings.Contains(out, "partial TGT for dora@") {
		t.Fatalf("passkinit --no-exchange: %v\n%s", err, out)
	}
	if n := tgtRODCNumber(t, cc); n != f.RODC.Number {
		t.Fatalf("partial TGT enc-part names RODC number %d, want %d", n, f.RODC.Number)
	}
	if out, err := run(ctx, f.clientEnv(cc), kvno, "cifs/"+f.dc.FQDN()); err != nil {
		t.Fatalf("kvno with the partial TGT: %v\n%s", err, out)
	}
}

// Users the replication policy excludes can enrol, but get no ticket: the
// refusal names the rule, passkinit exits 3, nothing is written, and the
// decision is audited.
func TestPasskinitRefusalsNameThePolicyRule(t *testing.T) {
	f := server(t)
	cases := []struct{ user, rule string }{
		{"carol", "never-reveal group"},
		{"bob", "not in any reveal-on-demand group"},
	}
	for _, tc := range cases {
		t.Run(tc.user, func(t *testing.T) {
			cc, out, err := signInUser(t, f, tc.user)
			if code := exitCode(err); code != 3 {
				t.Fatalf("passkinit exit code %d (%v), want 3 (refused)\n%s", code, err, out)
			}
			// The user gets a plain sentence; the rule is in the audit log.
			if !strings.Contains(out, "ticket policy") || strings.Contains(out, "reveal") || strings.Contains(out, "S-1-") {
				t.Fatalf("refusal is not a plain sentence:\n%s", out)
			}
			if d := refusalDetail(f.Log, tc.user, tc.rule); !strings.Contains(d, tc.rule) {
				t.Fatalf("the audit record %q does not name the rule %q", d, tc.rule)
			}
			if _, err := ccache.Load(cc); err == nil {
				t.Fatal("a refused sign-in wrote a credential cache")
			}
			refused := false
			for _, a := range auditLines(t, f, tc.user) {
				reason, _ := a["reason"].(string)
				refused = refused || (a["event"] == "login" && a["result"] == "refused" && reason == "replication_policy")
			}
			if !refused {
				t.Fatalf("no refused audit line with reason replication_policy for %s:\n%v", tc.user, auditLines(t, f, tc.user))
			}
		})
	}
}

// Disabling the account in AD takes effect at the next sign-in, before any
// sync: the live check re-reads the user.
func TestPasskinitLiveCheckSeesADisableAtOnce(t *testing.T) {
	f := server(t)
	ctx := context.Background()
	user, err := f.dc.CreateUser(ctx, "erin", f.password)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.dc.AddMember(ctx, "CN=Allowed RODC Password Replication Group,CN=Users,"+f.dc.BaseDN(), user.DN); err != nil {
		t.Fatal(err)
	}
	if out, err := f.Passkdc(ctx, "sync"); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	dir := t.TempDir()
	key := "soft:" + filepath.Join(dir, "erin.passkey")
	pass, err := f.IssueTAP(ctx, "erin")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := f.Passkinit(ctx, nil, "--authenticator", key, "--register", "--tap", pass, "--no-exchange", "-c", filepath.Join(dir, "cc1")); err != nil {
		t.Fatalf("first sign-in: %v\n%s", err, out)
	}
	if err := f.dc.SetEnabled(ctx, user.DN, false); err != nil {
		t.Fatal(err)
	}
	out, err := f.Passkinit(ctx, nil, "--authenticator", key, "--no-exchange", "-c", filepath.Join(dir, "cc2"))
	if code := exitCode(err); code != 3 || !strings.Contains(out, "disabled") {
		t.Fatalf("sign-in after the disable: exit %d (%v), want 3 and a message saying disabled\n%s", code, err, out)
	}
	// A reused pass is refused too: it was single use.
	out, err = f.Passkinit(ctx, nil, "--authenticator", "soft:"+filepath.Join(dir, "other.passkey"), "--register", "--tap", pass, "--no-exchange", "-c", filepath.Join(dir, "cc3"))
	if code := exitCode(err); code != 3 {
		t.Fatalf("second use of a single-use pass: exit %d, want 3\n%s", code, out)
	}
}

// tgtRODCNumber reads the only TGT in the cache at path and returns the RODC
// number in the high half of its enc-part kvno (0: a writable DC's krbtgt).
func tgtRODCNumber(t *testing.T, path string) uint16 {
	t.Helper()
	c, err := ccache.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var tgts []messages.Ticket
	for _, cred := range c.Entries() {
		var tkt messages.Ticket
		if err := tkt.Unmarshal(cred.Ticket); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(tkt.SName.PrincipalNameString(), "krbtgt/") {
			tgts = append(tgts, tkt)
		}
	}
	if len(tgts) != 1 {
		t.Fatalf("cache holds %d TGTs, want 1", len(tgts))
	}
	n, _ := keytabs.SplitKVNO(uint32(int32(tgts[0].EncPart.KVNO)))
	return n
}
