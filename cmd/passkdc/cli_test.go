package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/keytabs"
)

// run executes the passkdc CLI in-process and returns stdout.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func writeKeytab(t *testing.T, path string, entries ...keytabs.Entry) {
	t.Helper()
	kt := &keytabs.Keytab{Entries: entries}
	if err := kt.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

func rodcEntry(t *testing.T, n, v uint16, etype int32) keytabs.Entry {
	t.Helper()
	key, err := keytabs.StringToKey(etype, "secret", keytabs.ADUserSalt("CORP.EXAMPLE.TEST", "krbtgt_40000"))
	if err != nil {
		t.Fatal(err)
	}
	return keytabs.Entry{
		Principal: keytabs.NewPrincipal("CORP.EXAMPLE.TEST", "krbtgt_40000"),
		Timestamp: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC),
		KVNO:      keytabs.EncodeKVNO(n, v),
		Key:       key,
	}
}

func TestKeytabListDecodesRODCKvno(t *testing.T) {
	p := filepath.Join(t.TempDir(), "krbtgt.keytab")
	writeKeytab(t, p, rodcEntry(t, 40000, 3, 18))
	out, err := run(t, "keytab", "list", "--json", p)
	if err != nil {
		t.Fatal(err, out)
	}
	var rows []keytabRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err, out)
	}
	if len(rows) != 1 || rows[0].RODCNumber != 40000 || rows[0].Version != 3 || rows[0].Etype != "aes256-cts-hmac-sha1-96" ||
		rows[0].Principal != "krbtgt_40000@CORP.EXAMPLE.TEST" {
		t.Fatalf("rows = %+v", rows)
	}
	table, err := run(t, "keytab", "list", p)
	if err != nil || !strings.Contains(table, "40000") || !strings.Contains(table, "aes256-cts-hmac-sha1-96") {
		t.Fatalf("table: %v\n%s", err, table)
	}
}

func TestKeytabImportMergesInto0600File(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src.keytab"), filepath.Join(dir, "dst.keytab")
	writeKeytab(t, src, rodcEntry(t, 40000, 2, 18), rodcEntry(t, 40000, 2, 17))
	if _, err := run(t, "keytab", "import", src, "--to", dst); err != nil {
		t.Fatal(err)
	}
	writeKeytab(t, src, rodcEntry(t, 40000, 3, 18))
	out, err := run(t, "keytab", "import", src, "--to", dst)
	if err != nil || !strings.Contains(out, "imported 1 new entries") {
		t.Fatalf("second import: %v %s", err, out)
	}
	kt, err := keytabs.Load(dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(kt.Entries) != 3 {
		t.Fatalf("%d entries, want 3", len(kt.Entries))
	}
	fi, _ := os.Stat(dst)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %o", fi.Mode().Perm())
	}
}

func TestKeytabRefusesLooseSourceAndMissingFlag(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.keytab")
	writeKeytab(t, src, rodcEntry(t, 1, 1, 18))
	if err := os.Chmod(src, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "keytab", "list", src); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("0644 keytab: %v", err)
	}
	if _, err := run(t, "keytab", "import", src); err == nil || exitCode(err) != 2 {
		t.Fatalf("missing --to: %v", err)
	}
}

func TestKeytabImportWarnsAboutKeysThatAreNotThisRealmsRODC(t *testing.T) {
	other := rodcEntry(t, 40000, 1, 18)
	other.Principal = keytabs.NewPrincipal("CORP.EXAMPLE.TEST", "alice")
	for _, tc := range []struct {
		name  string
		entry keytabs.Entry
		realm string
		want  string
	}{
		{"ordinary user", other, "", "alice@CORP.EXAMPLE.TEST is not an RODC krbtgt_N account"},
		{"another RODC's number", rodcEntry(t, 41000, 1, 18), "", "whose RODC number is 41000"},
		{"another realm", rodcEntry(t, 40000, 1, 18), "OTHER.TEST", "is not in realm OTHER.TEST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "src.keytab"), filepath.Join(dir, "dst.keytab")
			writeKeytab(t, src, tc.entry)
			args := []string{"keytab", "import", src, "--to", dst}
			if tc.realm != "" {
				args = append(args, "--realm", tc.realm)
			}
			if _, err := run(t, append(args, "--strict")...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("--strict: %v", err)
			}
			if _, err := os.Stat(dst); !os.IsNotExist(err) {
				t.Fatalf("--strict refused but wrote %s (%v)", dst, err)
			}
			out, err := run(t, args...)
			if err != nil || !strings.Contains(out, "warning: ") || !strings.Contains(out, tc.want) || !strings.Contains(out, "SIGHUP") {
				t.Fatalf("without --strict: %v\n%s", err, out)
			}
		})
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.keytab")
	writeKeytab(t, src, rodcEntry(t, 40000, 1, 18))
	if out, err := run(t, "keytab", "import", src, "--to", filepath.Join(dir, "dst"), "--realm", "corp.example.test", "--strict"); err != nil || strings.Contains(out, "warning") {
		t.Fatalf("a genuine RODC key: %v\n%s", err, out)
	}
}
