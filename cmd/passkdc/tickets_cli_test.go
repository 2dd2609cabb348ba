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

// ticketsConfig is a standalone config whose store holds carol (in the
// reveal-on-demand group), dave (also in a never-reveal group), erin (in
// no group) and frank (disabled).
func ticketsConfig(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "passkdc.db")
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const dom = "S-1-5-21-1-2-3"
	for _, g := range []store.Group{{Anchor: "g-allow", Name: "allowed", SID: dom + "-571", Directory: "default"},
		{Anchor: "g-deny", Name: "tier0", SID: dom + "-2000", Directory: "default"}} {
		if _, err := st.UpsertGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	for i, u := range []struct {
		name    string
		enabled bool
		groups  []string
	}{{"carol", true, []string{"g-allow"}}, {"dave", true, []string{"g-allow", "g-deny"}}, {"erin", true, nil}, {"frank", false, []string{"g-allow"}}} {
		anchor := fmt.Sprintf("00000000-0000-4000-8000-00000000010%d", i)
		if _, err := st.UpsertPrincipal(ctx, store.Principal{Anchor: anchor, Name: u.name, Realm: "CORP.EXAMPLE.TEST",
			SID: fmt.Sprintf("%s-%d", dom, 1100+i), Enabled: u.enabled, Directory: "default"}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetMemberships(ctx, anchor, u.groups); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "passkdc.yaml")
	yaml := fmt.Sprintf(`realm: CORP.EXAMPLE.TEST
rp_id: localhost
origins: ["https://localhost:8443"]
store: %s
keytab: %s
standalone: {enabled: true, allow: ["%s-571"], deny: ["%s-2000"]}
profiles:
  - name: tier1
    target_groups: ["%s-571"]
    allow_synced: false
`, db, filepath.Join(dir, "krbtgt.keytab"), dom, dom, dom)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPrincipalShowSaysWhetherAndWhyTicketsAndWhichProfile(t *testing.T) {
	cfg := ticketsConfig(t)
	for _, tc := range []struct {
		name, line, why, profile string
		eligible, neverReveal    bool
	}{
		{"carol", "Tickets:           yes: in reveal-on-demand group S-1-5-21-1-2-3-571", "in reveal-on-demand group", "tier1", true, false},
		{"dave", "Tickets:           no (never-reveal): ", "in never-reveal group S-1-5-21-1-2-3-2000", "tier1", false, true},
		{"erin", "Tickets:           no: ", "not in any reveal-on-demand group", "default", false, false},
		{"frank", "Tickets:           no: ", "disabled", "tier1", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, "principal", "show", tc.name, "--config", cfg)
			if err != nil || !strings.Contains(out, tc.line) || !strings.Contains(out, tc.why) ||
				!strings.Contains(out, "Passkey profiles:  "+tc.profile) {
				t.Fatalf("principal show %s: %v\n%s", tc.name, err, out)
			}
			out, err = run(t, "principal", "show", tc.name, "--config", cfg, "--json")
			var row struct {
				MayGetTickets *bool    `json:"may_get_tickets"`
				Why           string   `json:"tickets_why"`
				Refusal       string   `json:"tickets_refusal"`
				NeverReveal   *bool    `json:"never_reveal"`
				Profiles      []string `json:"profiles"`
			}
			if err != nil || json.Unmarshal([]byte(out), &row) != nil || row.MayGetTickets == nil || *row.MayGetTickets != tc.eligible ||
				row.NeverReveal == nil || *row.NeverReveal != tc.neverReveal || !strings.Contains(row.Why, tc.why) ||
				(row.Refusal == "") != tc.eligible || len(row.Profiles) != 1 || row.Profiles[0] != tc.profile {
				t.Fatalf("principal show %s --json: %v\n%s", tc.name, err, out)
			}
		})
	}
}

func TestTAPIssueWarnsOrWithStrictRefusesAUserWhoCouldNeverGetATicket(t *testing.T) {
	cfg := ticketsConfig(t)
	for _, tc := range []struct{ name, warning string }{
		{"dave", "dave@CORP.EXAMPLE.TEST could never get a ticket: the RODC password replication policy does not allow dave: in never-reveal group"},
		{"erin", "erin@CORP.EXAMPLE.TEST could never get a ticket: the RODC password replication policy does not allow erin: not in any reveal-on-demand group"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, "tap", "issue", tc.name, "--config", cfg, "--strict")
			if err == nil || !strings.Contains(err.Error(), tc.warning) || !strings.Contains(err.Error(), "no pass issued (--strict)") {
				t.Fatalf("--strict: %v\n%s", err, out)
			}
			if out, _ := run(t, "tap", "list", tc.name, "--config", cfg, "--json"); strings.TrimSpace(out) != "[]" {
				t.Fatalf("a pass was issued under --strict: %s", out)
			}
			out, err = run(t, "tap", "issue", tc.name, "--config", cfg, "--json")
			var issued struct{ Pass, Warning string }
			if err != nil || !strings.Contains(out, "warning: "+tc.warning) {
				t.Fatalf("without --strict: %v\n%s", err, out)
			}
			if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &issued); err != nil || issued.Pass == "" || !strings.Contains(issued.Warning, tc.warning) {
				t.Fatalf("--json: %v\n%s", err, out)
			}
		})
	}
	// carol may get tickets: no warning, --strict issues.
	out, err := run(t, "tap", "issue", "carol", "--config", cfg, "--strict")
	if err != nil || strings.Contains(out, "warning") {
		t.Fatalf("carol: %v\n%s", err, out)
	}
	// frank is disabled: refused with or without --strict.
	if _, err := run(t, "tap", "issue", "frank", "--config", cfg); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("frank: %v", err)
	}
}
