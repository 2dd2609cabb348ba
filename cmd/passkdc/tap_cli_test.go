package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/sqlite"
)

// standaloneConfig writes a real config file for a standalone store holding alice.
func standaloneConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "passkdc.db")
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.UpsertPrincipal(context.Background(), store.Principal{Anchor: "00000000-0000-4000-8000-000000000001",
		Name: "alice", Realm: "CORP.EXAMPLE.TEST", Enabled: true, Directory: "default"})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "passkdc.yaml")
	yaml := fmt.Sprintf(`realm: CORP.EXAMPLE.TEST
listen: 127.0.0.1:8443
rp_id: localhost
origins: ["https://localhost:8443"]
store: %s
keytab: %s
standalone: {enabled: true, allow: ["S-1-5-21-1-2-3-571"]}
`, db, filepath.Join(dir, "krbtgt.keytab"))
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestTAPListAllJSONAndRevoke(t *testing.T) {
	cfg := standaloneConfig(t)
	for i := 0; i < 2; i++ {
		if out, err := run(t, "tap", "issue", "alice", "--config", cfg); err != nil {
			t.Fatalf("tap issue: %v\n%s", err, out)
		}
	}
	out, err := run(t, "tap", "list", "--config", cfg, "--json")
	if err != nil {
		t.Fatalf("tap list (no user): %v\n%s", err, out)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("tap list --json: %v\n%s", err, out)
	}
	for _, forbidden := range []string{"Hash", "hash", "ID", "UsesLeft"} {
		if _, ok := rows[0][forbidden]; ok {
			t.Errorf("tap list --json has field %q: %s", forbidden, out)
		}
	}
	if rows[0]["principal"] != "alice" || rows[0]["uses_left"] != float64(1) {
		t.Errorf("tap list --json row: %v", rows[0])
	}
	id := rows[0]["id"].(string)
	out, err = run(t, "tap", "revoke", id, "--config", cfg, "--json")
	if err != nil || !strings.Contains(out, `"revoked": true`) {
		t.Fatalf("tap revoke: %v\n%s", err, out)
	}
	if out, _ = run(t, "tap", "list", "alice", "--config", cfg); strings.Contains(out, id) || !strings.Contains(out, "USES LEFT") {
		t.Fatalf("the revoked pass is still listed:\n%s", out)
	}
	_, err = run(t, "tap", "revoke", id, "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "passkdc tap list") {
		t.Fatalf("revoking an unknown pass: %v", err)
	}
}

func TestCredRevokeUnknownIDSaysHowToFindOne(t *testing.T) {
	_, err := run(t, "cred", "revoke", "AAAA", "--config", standaloneConfig(t))
	if err == nil || !strings.Contains(err.Error(), "passkdc cred list") || strings.Contains(err.Error(), "sqlite") {
		t.Fatalf("cred revoke of an unknown ID: %v", err)
	}
}

func TestTAPIssueHelpStatesTheRanges(t *testing.T) {
	out, err := run(t, "tap", "issue", "--help")
	if err != nil || !strings.Contains(out, "(1 to 100)") || !strings.Contains(out, "(1m to 720h)") {
		t.Fatalf("tap issue --help: %v\n%s", err, out)
	}
	cfg := standaloneConfig(t)
	for _, args := range [][]string{{"--uses", "0"}, {"--uses", "101"}, {"--ttl", "30s"}, {"--ttl", "721h"}} {
		if _, err := run(t, append([]string{"tap", "issue", "alice", "--config", cfg}, args...)...); err == nil || exitCode(err) != 2 {
			t.Errorf("tap issue %v: %v, want a usage error", args, err)
		}
	}
}

// TestRevokeTakesAnIDThatStartsWithADash: base64url IDs may start with '-';
// --id=ID takes them (a bare argument would read as flags).
func TestRevokeTakesAnIDThatStartsWithADash(t *testing.T) {
	cfg := standaloneConfig(t)
	_, err := run(t, "cred", "revoke", "--id=-2HZ-bcfiFiUcheGnpvex0OnRCqfGJAQ", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "passkdc cred list") {
		t.Fatalf("cred revoke --id=-…: %v (want the unknown-ID answer, not a flag error)", err)
	}
	if _, err := run(t, "cred", "revoke", "--config", cfg); err == nil || !strings.Contains(err.Error(), "--id") {
		t.Fatalf("cred revoke without an ID: %v", err)
	}
}
