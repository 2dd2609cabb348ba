package layering

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/passkdc/passkdc/"

// pkg is one package of the module as go list describes it.
type pkg struct {
	ImportPath string
	Doc        string
	Imports    []string // production imports only (no test files)
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Doc,Imports", module+"...")
	cmd.Env = append(cmd.Environ(), "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		p.ImportPath = strings.TrimPrefix(p.ImportPath, module)
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// under reports whether path is dir or inside it.
func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }

// rule is a "never": a package matching from must not import one matching to.
type rule struct {
	why      string
	from, to func(string) bool
}

func in(dirs ...string) func(string) bool {
	return func(p string) bool {
		for _, d := range dirs {
			if under(strings.TrimPrefix(p, module), d) {
				return true
			}
		}
		return false
	}
}

func exact(paths ...string) func(string) bool {
	return func(p string) bool {
		for _, x := range paths {
			if p == x {
				return true
			}
		}
		return false
	}
}

func public(p string) bool {
	return !under(p, "internal") && !under(p, "cmd") && !under(p, "integration")
}

// rules are the intended arrows, written as what must never be.
var rules = []rule{
	{"wire packages speak no HTTP", in("kdc", "keytabs", "rodc/drsr"), exact("net/http")},
	{"the store knows no policy", in("store"), in("assertion", "kdc/issuer", "rodc", "ldapsync", "server", "kdc", "internal/serve")},
	{"assertion knows no Kerberos", in("assertion"), func(p string) bool {
		return in("kdc", "keytabs", "kdc/issuer")(p) || strings.HasPrefix(p, "github.com/jcmturner/")
	}},
	{"kdc knows no passkeys", in("kdc"), func(p string) bool {
		return in("assertion", "server")(p) || strings.HasPrefix(p, "github.com/go-webauthn/")
	}},
	{"public packages take their own options, not the configuration file", public, in("internal/config")},
	{"only commands assemble the application", func(p string) bool { return !under(p, "cmd") && !under(p, "integration") },
		in("internal/serve")},
	{"nothing imports a command", func(string) bool { return true }, in("cmd")},
	{"the HTTP glue sits above the domain", in("assertion", "store", "kdc", "keytabs", "rodc", "ldapsync", "kdc/issuer", "kdc/binding"),
		in("server", "internal/serve")},
	{"the directory mirror does not issue tickets", in("ldapsync"), in("kdc/issuer", "server", "assertion")},
	{"the directory mirror builds no PAC (SIDs are kdc/sid's)", in("ldapsync"), in("kdc/pac")},
	{"folders point one way: internal/ (the wiring) sits above every public package", public, in("internal")},
	{"the GC settings know no configuration file (the bench's server applies them without one)",
		in("internal/gotune"), in("internal/config", "internal/serve")},
}

// TestImportGraph: no package breaks a rule.
func TestImportGraph(t *testing.T) {
	for _, p := range listPackages(t) {
		for _, imp := range p.Imports {
			for _, r := range rules {
				if r.from(p.ImportPath) && r.to(strings.TrimPrefix(imp, module)) && strings.TrimPrefix(imp, module) != p.ImportPath {
					t.Errorf("%s imports %s: %s", p.ImportPath, strings.TrimPrefix(imp, module), r.why)
				}
			}
		}
	}
}

// TestRulesCatchAWrongImport: each rule refuses the import it exists for
// (so that a rule cannot silently match nothing).
func TestRulesCatchAWrongImport(t *testing.T) {
	wrong := map[string][2]string{
		"wire packages speak no HTTP":                                                              {"kdc/kkdcp", "net/http"},
		"the store knows no policy":                                                                {"store/sqlite", "assertion"},
		"assertion knows no Kerberos":                                                              {"assertion", "github.com/jcmturner/gokrb5/v8/messages"},
		"kdc knows no passkeys":                                                                    {"kdc/pac", "github.com/go-webauthn/webauthn/webauthn"},
		"nothing imports a command":                                                                {"server", "cmd/passkdc"},
		"the HTTP glue sits above the domain":                                                      {"ldapsync", "server"},
		"only commands assemble the application":                                                   {"server", "internal/serve"},
		"public packages take their own options, not the configuration file":                       {"ldapsync", "internal/config"},
		"the directory mirror does not issue tickets":                                              {"ldapsync", "kdc/issuer"},
		"folders point one way: internal/ (the wiring) sits above every public package":            {"server", "internal/softkey"},
		"the directory mirror builds no PAC (SIDs are kdc/sid's)":                                  {"ldapsync", "kdc/pac"},
		"the GC settings know no configuration file (the bench's server applies them without one)": {"internal/gotune", "internal/config"},
	}
	for _, r := range rules {
		w, ok := wrong[r.why]
		if !ok {
			t.Errorf("rule %q has no counter-example here", r.why)
			continue
		}
		if !r.from(w[0]) || !r.to(w[1]) {
			t.Errorf("rule %q does not refuse %s importing %s", r.why, w[0], w[1])
		}
	}
}

// TestEveryPackageIsDocumented: each package has a doc comment that says
// what it is ("Package NAME ..." or, for commands, "Command ...").
func TestEveryPackageIsDocumented(t *testing.T) {
	for _, p := range listPackages(t) {
		name := p.ImportPath[strings.LastIndex(p.ImportPath, "/")+1:]
		switch {
		case strings.TrimSpace(p.Doc) == "":
			t.Errorf("%s has no package doc comment", p.ImportPath)
		case !strings.HasPrefix(p.Doc, "Package "+name) && !strings.HasPrefix(p.Doc, "Command ") && !strings.HasPrefix(p.Doc, fmt.Sprintf("%s ", name)):
			t.Errorf("%s: doc comment %q does not start with \"Package %s\"", p.ImportPath, firstLine(p.Doc), name)
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
