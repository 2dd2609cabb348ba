package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/internal/storeopen"
)

func TestStandalonePrincipalAndGroupCommands(t *testing.T) {
	cfg := standaloneConfig(t)
	mustRun := func(args ...string) string {
		t.Helper()
		out, err := run(t, append(args, "--config", cfg)...)
		if err != nil {
			t.Fatalf("passkdc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	show := func(name string) principalRow {
		t.Helper()
		var r principalRow
		if err := json.Unmarshal([]byte(mustRun("principal", "show", name, "--json")), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	mustRun("group", "add", "staff", "--sid", "S-1-5-21-1-2-3-571")
	mustRun("principal", "add", "bob", "--sid", "S-1-5-21-1-2-3-1105", "--upn", "bob@corp.example.test", "--group", "staff")
	bob := show("bob")
	if !bob.Enabled || bob.SID != "S-1-5-21-1-2-3-1105" || bob.UPN != "bob@corp.example.test" || len(bob.Groups) != 1 {
		t.Fatalf("added bob: %+v", bob)
	}
	mustRun("principal", "set", "bob", "--disable", "--remove-group", "staff")
	if bob = show("bob"); bob.Enabled || len(bob.Groups) != 0 {
		t.Fatalf("after set --disable --remove-group: %+v", bob)
	}
	mustRun("principal", "set", "bob", "--enable")
	mustRun("principal", "remove", "bob")
	if bob = show("bob"); !bob.Deleted || bob.Enabled {
		t.Fatalf("after remove: %+v", bob)
	}
	if out := mustRun("group", "list"); !strings.Contains(out, "staff") {
		t.Fatalf("group list: %s", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"principal", "add", "carol"}, "--sid is required"},
		{[]string{"principal", "add", "carol", "--sid", "not-a-sid"}, "is not a SID"},
		{[]string{"principal", "add", "alice", "--sid", "S-1-5-21-1-2-3-1106"}, "exists already"},
		{[]string{"principal", "set", "nobody", "--disable"}, "passkdc principal add"},
		{[]string{"principal", "set", "alice", "--group", "nogroup"}, "passkdc group add"},
		{[]string{"principal", "set", "alice", "--enable", "--disable"}, "exclude each other"},
	} {
		if _, err := run(t, append(tc.args, "--config", cfg)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("passkdc %s: %v, want an error naming %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}

	// Every change is one audit record naming the event.
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := storeopen.Open(context.Background(), c.Store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListAudit(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, r := range recs {
		events = append(events, r.Event)
	}
	if got := strings.Join(events, ","); got != "group.add,principal.add,principal.set,principal.set,principal.remove" {
		t.Errorf("audit events %s", got)
	}
}

func TestStandaloneCommandsRefuseWhenADirectoryIsConfigured(t *testing.T) {
	cfg := standaloneConfig(t)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	withDir := filepath.Join(t.TempDir(), "dir.yaml")
	yaml := strings.Replace(string(b), "standalone: {enabled: true, allow: [\"S-1-5-21-1-2-3-571\"]}\n",
		"ldap: {url: \"ldaps://127.0.0.1:1\", bind_dn: x@CORP.EXAMPLE.TEST, bind_password_file: /nonexistent, base_dn: \"DC=corp,DC=example,DC=test\"}\n", 1)
	if err := os.WriteFile(withDir, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"principal", "add", "bob", "--sid", "S-1-5-21-1-2-3-1105"},
		{"principal", "remove", "alice"},
		{"group", "add", "staff", "--sid", "S-1-5-21-1-2-3-571"},
	} {
		if _, err := run(t, append(args, "--config", withDir)...); err == nil || !strings.Contains(err.Error(), "run passkdc sync") {
			t.Errorf("passkdc %s with a directory: %v", strings.Join(args, " "), err)
		}
	}
}
