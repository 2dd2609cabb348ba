package ops

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/integration/pgtest"
)

// TestCachedPasskeyFollowsTheStore: `passkdc serve` keeps a passkey after
// its first sign-in and decides the next ones on that copy; every change the
// store makes in another process is followed by the very next sign-in, on
// SQLite and on two PostgreSQL replicas: after another passkey is enrolled
// (the copy no longer matches: decided again, issued, one record), after the
// user's group changes, and after `passkdc cred revoke` (refused as revoked,
// one record, no cache written).
func TestCachedPasskeyFollowsTheStore(t *testing.T) {
	passkdc, passkinit := buildPasskdc(t), buildPasskinit(t)
	const jsonLog = "log: {format: json, level: info}\n"
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ports := []string{freePort(t)}
			var cfgs []string
			if backend == "sqlite" {
				cfgs = []string{writeConfig(t, ports[0], jsonLog)}
			} else {
				url := strconv.Quote(pgtest.Start(t).NewSchema(t))
				ports = append(ports, freePort(t))
				cfgs = []string{writeConfigStore(t, ports[0], url, jsonLog), writeConfigStore(t, ports[1], url, jsonLog)}
			}
			admin := adminCLI(t, passkdc, cfgs[0])
			pass := issueTAP(admin)
			var logs []*lockedBuffer
			for i := range ports {
				logs = append(logs, serve(t, passkdc, cfgs[i], ports[i]))
			}
			dir := t.TempDir()
			key := filepath.Join(dir, "alice.passkey")
			cc := filepath.Join(dir, "cc")
			signIn := func(r int, args ...string) (string, int) {
				return softRun(t, passkinit, ports[r], key, cc, append(args, "alice")...)
			}
			issued := func(r int, when string) {
				t.Helper()
				from := len(auditLines(logs[r].String()))
				if out, code := signIn(r); code != 0 {
					t.Fatalf("sign-in on replica %d %s: exit %d\n%s\n%s", r+1, when, code, out, logs[r].String())
				}
				checkOneDecision(t, recordsAfter(t, logs[r], from, "login"), "login", "ok", "", "", logs[r])
			}
			if out, code := signIn(0, "--register", "--tap", pass); code != 0 {
				t.Fatalf("register: exit %d\n%s\n%s", code, out, logs[0].String())
			}
			for round := range 2 { // the second round is decided on the copies
				for r := range ports {
					issued(r, "round "+strconv.Itoa(round+1))
				}
			}
			for r := range ports {
				if used, _ := copies(t, ports[r]); used < 1 {
					t.Fatalf("replica %d decided no sign-in on its copy of the passkey (used %v)", r+1, used)
				}
			}

			admin("group", "add", "staff", "--sid", "S-1-5-21-1-2-3-1300")
			admin("principal", "set", "alice", "--group", "staff")
			for r := range ports {
				_, before := copies(t, ports[r])
				issued(r, "after her groups changed")
				if _, again := copies(t, ports[r]); again != before+1 {
					t.Fatalf("replica %d: sign-ins decided again %v → %v after the group change, want one more", r+1, before, again)
				}
			}
			other := filepath.Join(dir, "other.passkey")
			if out, code := softRun(t, passkinit, ports[0], other, filepath.Join(dir, "cc-other"), "--register", "--tap", issueTAP(admin), "alice"); code != 0 {
				t.Fatalf("enrol a second passkey: exit %d\n%s", code, out)
			}
			for r := range ports {
				issued(r, "after a second passkey was enrolled")
			}

			admin("cred", "revoke", firstCredentialID(t, admin))
			for r := range ports {
				from := len(auditLines(logs[r].String()))
				_, before := copies(t, ports[r])
				out, code := signIn(r)
				if _, again := copies(t, ports[r]); again != before+1 {
					t.Fatalf("replica %d: sign-ins decided again %v → %v after the revocation, want one more", r+1, before, again)
				}
				if code == 0 || !strings.Contains(out, "revoked") {
					t.Fatalf("replica %d after the revocation: exit %d (want a refusal naming the revocation)\n%s", r+1, code, out)
				}
				checkOneDecision(t, recordsAfter(t, logs[r], from, "login"), "login", "refused", "credential_revoked", "", logs[r])
			}
		})
	}
}

// copies reads serve's passkdc_signin_credential_copies_total on port: the
// sign-ins decided on a cached copy and those decided again.
func copies(t *testing.T, port string) (used, again float64) {
	t.Helper()
	code, body := get(t, "http://localhost:"+port+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	return max(metricValue(body, `passkdc_signin_credential_copies_total{outcome="used"}`), 0),
		max(metricValue(body, `passkdc_signin_credential_copies_total{outcome="decided_again"}`), 0)
}

// firstCredentialID is the ID of alice's first enrolled passkey, from
// `passkdc cred list alice --json`.
func firstCredentialID(t *testing.T, admin func(...string) string) string {
	t.Helper()
	var rows []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(admin("cred", "list", "alice", "--json")), &rows); err != nil || len(rows) == 0 {
		t.Fatalf("cred list: %v %d rows", err, len(rows))
	}
	return rows[0].ID
}
