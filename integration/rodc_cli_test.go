package integration

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRODCShowJSONAndDestructiveCommandsNeedYes: `rodc show --json` prints
// the documented snake_case fields; `rodc rotate` and `rodc remove` refuse
// without --yes when no terminal can ask, and change nothing.
func TestRODCShowJSONAndDestructiveCommandsNeedYes(t *testing.T) {
	f := domain(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	show := func() map[string]any {
		t.Helper()
		out, err := f.Directory(ctx, "rodc", "show", "--json")
		if err != nil {
			t.Fatalf("rodc show --json: %v\n%s", err, out)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("rodc show --json: %v\n%s", err, out)
		}
		return m
	}
	before := show()
	want := []string{"base_dn", "computer_dn", "created", "key_version", "keytab_kvno", "krbtgt_dn", "krbtgt_name",
		"name", "never_reveal", "problems", "reveal", "rodc_number", "warnings"}
	if got := slices.Sorted(maps.Keys(before)); !slices.Equal(got, want) {
		t.Fatalf("rodc show --json fields %v, want %v", got, want)
	}
	if !strings.HasPrefix(before["krbtgt_name"].(string), "krbtgt_") || before["rodc_number"].(float64) < 1 {
		t.Fatalf("rodc show --json: %v", before)
	}
	keytab := filepath.Join(t.TempDir(), "krbtgt.keytab")
	for _, args := range [][]string{{"rotate", "--keytab", keytab}, {"remove"}} {
		out, err := f.Directory(ctx, append([]string{"rodc"}, args...)...)
		if err == nil || exitCode(err) != 2 || !strings.Contains(out, "--yes") {
			t.Fatalf("rodc %s without --yes and no terminal: exit %d\n%s", args[0], exitCode(err), out)
		}
	}
	if _, err := os.Stat(keytab); !os.IsNotExist(err) {
		t.Fatalf("a refused rotate wrote the keytab (%v)", err)
	}
	if after := show(); after["key_version"] != before["key_version"] || after["computer_dn"] != before["computer_dn"] {
		t.Fatalf("a refused rotate/remove changed the RODC: before %v after %v", before, after)
	}
}
