package ops

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/pgtest"
	"github.com/passkdc/passkdc/store/postgres"
)

// TestDisableIsRefusedByEveryReplicaAtOnce: two `passkdc serve` replicas on
// one PostgreSQL database keep alice's principal and groups in memory after
// her sign-ins on each; `passkdc principal set alice --disable` (a third
// process, writing the store) and the very next sign-in on either replica is
// refused as principal_disabled, each with its audit record (in the store and
// in that replica's log), with no wait for anything to expire.
func TestDisableIsRefusedByEveryReplicaAtOnce(t *testing.T) {
	passkdc, passkinit := buildPasskdc(t), buildPasskinit(t)
	db := pgtest.Start(t)
	url := db.NewSchema(t)
	const jsonLog = "log: {format: json, level: info}\n"
	ports := []string{freePort(t), freePort(t)}
	cfgs := []string{writeConfigStore(t, ports[0], strconv.Quote(url), jsonLog), writeConfigStore(t, ports[1], strconv.Quote(url), jsonLog)}
	admin := adminCLI(t, passkdc, cfgs[0])
	lines := strings.Split(strings.TrimSpace(admin("tap", "issue", "alice")), "\n")
	pass := lines[len(lines)-1]
	logs := []*lockedBuffer{serve(t, passkdc, cfgs[0], ports[0]), serve(t, passkdc, cfgs[1], ports[1])}

	dir := t.TempDir()
	key := "soft:" + filepath.Join(dir, "alice.passkey")
	signIn := func(replica int, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(passkinit, append([]string{"--server", "http://localhost:" + ports[replica], "--authenticator", key,
			"--no-exchange", "-c", filepath.Join(dir, "cc"+strconv.Itoa(replica))}, append(args, "alice")...)...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if out, code := signIn(0, "--register", "--tap", pass); code != 0 {
		t.Fatalf("register on replica 1: exit %d\n%s\n%s", code, out, logs[0].String())
	}
	// Two sign-ins on each replica: the second is answered from the view
	// the first filled.
	for round := 0; round < 2; round++ {
		for r := range ports {
			if out, code := signIn(r); code != 0 {
				t.Fatalf("sign-in %d on replica %d: exit %d\n%s\n%s", round+1, r+1, code, out, logs[r].String())
			}
		}
	}

	admin("principal", "set", "alice", "--disable")
	for r := range ports {
		out, code := signIn(r)
		if code == 0 || !strings.Contains(out, "disabled") {
			t.Fatalf("replica %d after the disable: exit %d (want a refusal naming the disabled account)\n%s", r+1, code, out)
		}
		if !refusedInLog(logs[r].String(), "principal_disabled") {
			t.Fatalf("replica %d logged no refused login of alice with reason principal_disabled:\n%s", r+1, logs[r].String())
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListAudit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	ok, refused := 0, 0
	for _, rec := range recs {
		if rec.Event != "login" || !strings.EqualFold(strings.SplitN(rec.Principal, "@", 2)[0], "alice") {
			continue
		}
		switch {
		case rec.Result == "ok":
			ok++
		case rec.Result == "refused" && rec.Reason == "principal_disabled":
			refused++
		default:
			t.Errorf("unexpected login record: %+v", rec)
		}
	}
	// passkinit --register signs in after enrolling: 1 + 2 × 2 issued.
	if ok != 5 || refused != 2 {
		t.Fatalf("audit in the store: %d issued and %d refused (principal_disabled) sign-ins of alice, want 5 and 2", ok, refused)
	}
}

// refusedInLog reports a refused login decision of alice with reason in a
// replica's JSON log.
func refusedInLog(log, reason string) bool {
	for _, line := range strings.Split(log, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		p, _ := m["principal"].(string)
		if m["audit"] == true && m["event"] == "login" && m["result"] == "refused" && m["reason"] == reason &&
			strings.EqualFold(strings.SplitN(p, "@", 2)[0], "alice") {
			return true
		}
	}
	return false
}
