package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/deploy"
)

// jsonDoc is one row of the README's JSON table: the shape and the fields
// (true: may be omitted).
type jsonDoc struct {
	shape  string
	fields map[string]bool
}

var (
	jsonRowRE   = regexp.MustCompile("^\\| `(passkdc [a-z -]+)` \\| (object|array) \\| (.*) \\|$")
	jsonFieldRE = regexp.MustCompile("`([a-z0-9_]+(?:\\[\\]\\.[a-z0-9_]+)?)(\\??)`")
	jsonAsRE    = regexp.MustCompile("^(?:as|the fields of) `([a-z -]+)`")
	snakeCase   = regexp.MustCompile(`^[a-z][a-z0-9_]*(\[\]\.[a-z][a-z0-9_]*)?$`)
)

// readmeJSONTable parses the README's "JSON output" table.
func readmeJSONTable(t *testing.T) map[string]jsonDoc {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]jsonDoc{}
	for _, line := range strings.Split(string(b), "\n") {
		m := jsonRowRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		d := jsonDoc{shape: m[2], fields: map[string]bool{}}
		cell := m[3]
		if as := jsonAsRE.FindStringSubmatch(cell); as != nil {
			base, ok := docs["passkdc "+as[1]]
			if !ok {
				t.Fatalf("README JSON table: %q refers to %q before its row", m[1], as[1])
			}
			for k, v := range base.fields {
				d.fields[k] = v
			}
			cell = cell[len(as[0]):]
		}
		for _, f := range jsonFieldRE.FindAllStringSubmatch(cell, -1) {
			d.fields[f[1]] = f[2] == "?"
		}
		docs[m[1]] = d
	}
	if len(docs) < 10 {
		t.Fatalf("README JSON table: only %d rows parsed", len(docs))
	}
	return docs
}

// jsonFields flattens a decoded JSON value to field names as the README
// writes them (a[].b for the fields of a list of objects).
func jsonFields(v any, shape string) (map[string]bool, error) {
	got := map[string]bool{}
	add := func(m map[string]any) {
		for k, v := range m {
			list, isList := v.([]any)
			objects := false
			for _, e := range list {
				if em, ok := e.(map[string]any); ok {
					objects = true
					for ek := range em {
						got[k+"[]."+ek] = true
					}
				}
			}
			if !isList || !objects {
				got[k] = true
			}
		}
	}
	switch shape {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("want a JSON object, got %T", v)
		}
		add(m)
	case "array":
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return nil, fmt.Errorf("want a non-empty JSON array, got %v", v)
		}
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("array element %T is not an object", e)
			}
			add(m)
		}
	}
	return got, nil
}

// compareJSON checks out (a command's stdout) against its README row.
func compareJSON(doc jsonDoc, out string) error {
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return fmt.Errorf("stdout is not one JSON value: %v", err)
	}
	got, err := jsonFields(v, doc.shape)
	if err != nil {
		return err
	}
	var problems []string
	for k := range got {
		if !snakeCase.MatchString(k) {
			problems = append(problems, "field "+k+" is not snake_case")
		}
		if _, ok := doc.fields[k]; !ok && !listDocumented(doc, k) {
			problems = append(problems, "field "+k+" is not documented")
		}
	}
	for k, optional := range doc.fields {
		if !optional && !got[k] && !(strings.Contains(k, "[].") && got[strings.SplitN(k, "[]", 2)[0]]) {
			problems = append(problems, "documented field "+k+" is missing")
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// listDocumented: an empty list a whose elements' fields (a[].x) are documented.
func listDocumented(doc jsonDoc, k string) bool {
	for f := range doc.fields {
		if strings.HasPrefix(f, k+"[].") {
			return true
		}
	}
	return false
}

// stdoutOf runs a command and returns its stdout alone (stderr is appended
// to the error).
func stdoutOf(ctx context.Context, name string, args ...string) (string, error) {
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("%w\n%s", err, stderr.String())
	}
	return string(out), err
}

// leafCommands lists passkdc's commands that do one thing, from its --help.
func leafCommands(t *testing.T, bin string, path ...string) []string {
	t.Helper()
	out, err := deploy.Run(context.Background(), nil, bin, append(path, "--help")...)
	if err != nil {
		t.Fatalf("passkdc %s --help: %v\n%s", strings.Join(path, " "), err, out)
	}
	_, list, found := strings.Cut(out, "Available Commands:\n")
	if !found {
		return []string{strings.Join(append([]string{"passkdc"}, path...), " ")}
	}
	var leaves []string
	for _, line := range strings.Split(list, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			break
		}
		if name := fields[0]; name != "help" && name != "completion" {
			leaves = append(leaves, leafCommands(t, bin, append(append([]string(nil), path...), name)...)...)
		}
	}
	return leaves
}

// TestEveryAdminCommandPrintsTheDocumentedJSON runs every admin command of
// the real binary with --json (against the shared DC, and a standalone
// config for the standalone commands) and checks its output against the
// README's table: one JSON value, every field documented and snake_case,
// every documented field present; no secret but the issued pass.
func TestEveryAdminCommandPrintsTheDocumentedJSON(t *testing.T) {
	f := server(t)
	docs := readmeJSONTable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()

	// Every command but serve takes --json and has a row.
	for _, leaf := range leafCommands(t, f.Bin.Passkdc) {
		if leaf == "passkdc serve" {
			continue
		}
		help, _ := deploy.Run(ctx, nil, f.Bin.Passkdc, append(strings.Fields(leaf)[1:], "--help")...)
		if !strings.Contains(help, "--json") {
			t.Errorf("%s has no --json flag", leaf)
		}
		if _, ok := docs[leaf]; !ok {
			t.Errorf("%s has no row in the README's JSON table", leaf)
		}
		// Manual-page help: a description, examples, the exit status (rodc: its own texts, owned there).
		exits := strings.Contains(help, "Exit status:") || leaf == "passkdc check" && strings.Contains(help, "Exit 0 when")
		if !strings.HasPrefix(leaf, "passkdc rodc ") && (!strings.Contains(help, "Examples:") || !exits) {
			t.Errorf("%s --help lacks examples or the exit status:\n%s", leaf, help)
		}
	}

	std := filepath.Join(dir, "standalone.yaml")
	if err := os.WriteFile(std, []byte(fmt.Sprintf("realm: %s\nlisten: 127.0.0.1:8443\nrp_id: localhost\norigins: [\"https://localhost:8443\"]\n"+
		"store: %s\nkeytab: %s\nstandalone: {enabled: true, allow: [\"S-1-5-21-1-2-3-571\"]}\n",
		f.dc.Realm(), filepath.Join(dir, "standalone.db"), f.Keytab)), 0o600); err != nil {
		t.Fatal(err)
	}
	createMember(ctx, t, f.dc, "jsonuser", f.password, "CN=Allowed RODC Password Replication Group,CN=Users,"+f.dc.BaseDN())
	directory := []string{"--ldap-url", f.LDAPURL, "--bind-dn", f.dc.AdminBindDN(), "--bind-password-file", f.PasswordFile,
		"--insecure-skip-verify", "--name", "PKJSON"}
	t.Cleanup(func() {
		_, _ = deploy.Run(context.Background(), nil, f.Bin.Passkdc, append([]string{"rodc", "remove", "--yes"}, directory...)...)
	})

	outputs := map[string]string{}
	jsonOf := func(command string, args ...string) map[string]any {
		t.Helper()
		out, err := stdoutOf(ctx, f.Bin.Passkdc, append(append(strings.Fields(command)[1:], args...), "--json")...)
		if err != nil {
			t.Fatalf("%s %s --json: %v\n%s", command, strings.Join(args, " "), err, out)
		}
		doc, ok := docs[command]
		if !ok {
			t.Fatalf("%s: no README row", command)
		}
		if err := compareJSON(doc, out); err != nil {
			t.Errorf("%s --json against the README: %v\n%s", command, err, out)
		}
		outputs[command] += out
		var m map[string]any
		_ = json.Unmarshal([]byte(out), &m)
		return m
	}
	first := func(command string, args ...string) map[string]any {
		t.Helper()
		out, err := stdoutOf(ctx, f.Bin.Passkdc, append(append(strings.Fields(command)[1:], args...), "--json")...)
		var list []map[string]any
		if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) == 0 {
			t.Fatalf("%s --json: %v\n%s", command, err, out)
		}
		return list[0]
	}
	cfg := []string{"--config", f.Config}
	stdCfg := []string{"--config", std}

	jsonOf("passkdc version")
	jsonOf("passkdc check", append(cfg, "--rodc-name", rodcName)...)
	jsonOf("passkdc rodc provision", directory...)
	jsonOf("passkdc rodc show", directory...)
	jsonOf("passkdc rodc http-spn", append(directory, "--account", "PKJSON-WEB", "--host", "pkjson."+strings.ToLower(f.dc.Realm()),
		"--keytab", filepath.Join(dir, "http.keytab"))...)
	t.Cleanup(func() { _ = f.dc.DeleteEntry(context.Background(), "CN=PKJSON-WEB,CN=Computers,"+f.dc.BaseDN()) })
	jsonOf("passkdc rodc fetch-key", append(directory, "--keytab", filepath.Join(dir, "fetched.keytab"))...)
	jsonOf("passkdc rodc rotate", append(directory, "--yes", "--keytab", filepath.Join(dir, "rotated.keytab"))...)
	jsonOf("passkdc keytab list", f.Keytab)
	jsonOf("passkdc keytab import", f.Keytab, "--to", filepath.Join(dir, "copy.keytab"))
	jsonOf("passkdc sync", cfg...)
	jsonOf("passkdc principal list", cfg...)
	jsonOf("passkdc principal show", append(cfg, "jsonuser")...)
	enrol(ctx, t, f.Deployment, dir, "jsonuser")
	issued := jsonOf("passkdc tap issue", append(cfg, "jsonuser")...)
	jsonOf("passkdc tap list", append(cfg, "jsonuser")...)
	jsonOf("passkdc tap revoke", append(cfg, fmt.Sprint(issued["id"]))...)
	jsonOf("passkdc cred list", append(cfg, "jsonuser")...)
	cred := first("passkdc cred list", append(cfg, "jsonuser")...)
	jsonOf("passkdc cred revoke", append(cfg, "--id="+fmt.Sprint(cred["id"]))...)

	jsonOf("passkdc group add", append(stdCfg, "staff", "--sid", "S-1-5-21-1-2-3-1200")...)
	jsonOf("passkdc group list", stdCfg...)
	jsonOf("passkdc principal add", append(stdCfg, "bob", "--sid", "S-1-5-21-1-2-3-1105", "--upn", "bob@corp.example.test", "--group", "staff")...)
	jsonOf("passkdc principal set", append(stdCfg, "bob", "--display-name", "Bob")...)
	jsonOf("passkdc principal remove", append(stdCfg, "bob")...)
	jsonOf("passkdc group remove", append(stdCfg, "staff")...)
	if removedRODC := jsonOf("passkdc rodc remove", append(directory, "--yes")...); removedRODC["removed"] != true || removedRODC["kind"] != "rodc" {
		t.Errorf("rodc remove --json: %v", removedRODC)
	}

	for command := range docs {
		if _, ran := outputs[command]; !ran {
			t.Errorf("README documents %s, which this test did not run", command)
		}
	}
	// No secret: the pass appears only where it is issued; no field names a hash, password or key bytes.
	pass := fmt.Sprint(issued["pass"])
	secretField := regexp.MustCompile(`"[a-z_]*(hash|password|secret|key_bytes|keyvalue)[a-z_]*":`)
	for command, out := range outputs {
		if command != "passkdc tap issue" && len(pass) > 8 && strings.Contains(out, pass) {
			t.Errorf("%s prints the temporary access pass", command)
		}
		if m := secretField.FindString(out); m != "" {
			t.Errorf("%s prints a secret field %s", command, m)
		}
	}
}

func TestCompareJSONNamesUndocumentedMissingAndNonSnakeFields(t *testing.T) {
	doc := jsonDoc{shape: "object", fields: map[string]bool{"id": false, "name": true, "reveal[].sid": false}}
	for _, tc := range []struct{ out, want string }{
		{`{"id": "1", "reveal": [{"sid": "S-1"}]}`, ""},
		{`{"id": "1", "reveal": []}`, ""},
		{`{"id": "1", "reveal": [{"sid": "S-1"}], "Hash": "x"}`, "field Hash is not documented; field Hash is not snake_case"},
		{`{"reveal": [{"sid": "S-1", "dn": "x"}]}`, "documented field id is missing; field reveal[].dn is not documented"},
		{`[{"id": "1"}]`, "want a JSON object"},
		{`ok`, "not one JSON value"},
	} {
		err := compareJSON(doc, tc.out)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("compareJSON(%s) = %v, want %q", tc.out, err, tc.want)
		}
	}
}
