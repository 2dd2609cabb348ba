package integration

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/internal/testenv"
)

// A fresh machine must get every program and Python module the tests, the
// demo and the bench use from integration/scripts/install-deps.sh (issue 13:
// python3-pyasn1 and krb5-admin-server were missing, installed by hand).

var (
	toolLine   = regexp.MustCompile(`exec\.Command|RequireTool|LookPath|toolPath|range \[\]string\{|filepath\.Join\(bin|\{"[^"]+", &`)
	goLiteral  = regexp.MustCompile(`"([A-Za-z][A-Za-z0-9_.+-]*)"`)
	pyImport   = regexp.MustCompile(`^(?:from|import)\s+([A-Za-z_][A-Za-z0-9_]*)`)
	pkgList    = regexp.MustCompile(`(?s)PACKAGES=\((.*?)\)`)
	systemDirs = []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"}
)

// usedTools: string literals (outside comments) in the repository's Go files
// that name a system executable, on lines that run or look up a program
// (exec calls, RequireTool, LookPath, name tables such as
// {"kadmin.local", &t.x}); value: first file seen.
func usedTools(t *testing.T, root string) map[string]string {
	t.Helper()
	found := map[string]string{}
	walk(t, root, ".go", func(path, line string) {
		if strings.HasPrefix(strings.TrimSpace(line), "//") || !toolLine.MatchString(line) {
			return
		}
		for _, m := range goLiteral.FindAllStringSubmatch(line, -1) {
			if p := systemExecutable(m[1]); p != "" && found[p] == "" {
				found[p] = path
			}
		}
	})
	return found
}

// usedPythonModules: top-level modules imported by the repository's .py files.
func usedPythonModules(t *testing.T, root string) map[string]string {
	t.Helper()
	found := map[string]string{}
	walk(t, root, ".py", func(path, line string) {
		if m := pyImport.FindStringSubmatch(strings.TrimSpace(line)); m != nil && found[m[1]] == "" {
			found[m[1]] = path
		}
	})
	return found
}

func walk(t *testing.T, root, ext string, each func(path, line string)) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testout") {
			return filepath.SkipDir
		}
		if d.IsDir() || filepath.Ext(path) != ext {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			each(path, sc.Text())
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func systemExecutable(name string) string {
	for _, d := range systemDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// installDepsPackages reads the PACKAGES=( … ) list of install-deps.sh.
func installDepsPackages(t *testing.T, script string) []string {
	t.Helper()
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	m := pkgList.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s: no PACKAGES=( … ) list", script)
	}
	return strings.Fields(string(m[1]))
}

// owner is the Debian package that installed path (dpkg -S), or "".
func owner(path string) string {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = path
	}
	for _, p := range []string{path, real, strings.Replace(real, "/usr/", "/", 1)} {
		out, err := exec.Command("dpkg", "-S", p).Output()
		if err == nil {
			pkg, _, _ := strings.Cut(strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]), ":")
			return strings.Split(pkg, ",")[0]
		}
	}
	return ""
}

// provided: the listed packages, what they depend on (recursively, as
// installed), and the packages every Debian system has (Priority required).
func provided(listed []string) map[string]bool {
	ok := map[string]bool{}
	out, _ := exec.Command("dpkg-query", "-W", "-f", "${Package} ${Priority} ${Essential}\n").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && (f[1] == "required" || slices.Contains(f, "yes")) {
			ok[f[0]] = true
		}
	}
	queue := slices.Clone(listed)
	for len(queue) > 0 && len(ok) < 5000 { // bounded
		p := queue[0]
		queue = queue[1:]
		if ok[p] && !slices.Contains(listed, p) {
			continue
		}
		ok[p] = true
		deps, _ := exec.Command("dpkg-query", "-W", "-f", "${Depends}, ${Pre-Depends}", p).Output()
		for _, alt := range strings.Split(string(deps), ",") {
			for _, d := range strings.Split(alt, "|") {
				name, _, _ := strings.Cut(strings.TrimSpace(d), " ")
				name, _, _ = strings.Cut(name, ":")
				if name != "" && !ok[name] {
					queue = append(queue, name)
				}
			}
		}
	}
	return ok
}

// missingPackages names each used program or module whose package is not
// provided by the list.
func missingPackages(used map[string]string, pkgOf func(string) string, ok map[string]bool) []string {
	var missing []string
	for what, where := range used {
		pkg := pkgOf(what)
		if pkg == "" || ok[pkg] {
			continue
		}
		missing = append(missing, pkg+" (for "+filepath.Base(what)+", used in "+where+")")
	}
	slices.Sort(missing)
	return missing
}

func pythonModuleFile(python, mod string) string {
	out, err := exec.Command(python, "-c", "import "+mod+", sys; print(getattr(sys.modules['"+mod+"'], '__file__', '') or '')").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func TestInstallDepsCoversEveryProgramAndModule(t *testing.T) {
	testenv.RequireTool(t, "dpkg")
	check(t, installDepsPackages(t, filepath.Join("scripts", "install-deps.sh")), true)
}

// TestInstallDepsCheckNamesAMissingPackage: with python3-pyasn1 and
// krb5-admin-server removed from a copy of the list, the check names both
// (python3-kdcproxy goes too: it depends on python3-pyasn1 and would cover it).
func TestInstallDepsCheckNamesAMissingPackage(t *testing.T) {
	testenv.RequireTool(t, "dpkg")
	list := installDepsPackages(t, filepath.Join("scripts", "install-deps.sh"))
	list = slices.DeleteFunc(list, func(p string) bool {
		return p == "python3-pyasn1" || p == "krb5-admin-server" || p == "python3-kdcproxy"
	})
	missing := check(t, list, false)
	joined := strings.Join(missing, "\n")
	for _, want := range []string{"python3-pyasn1 (for __init__.py, used in ../kdc/testdata/samba_verify.py: import pyasn1)", "krb5-admin-server (for kadmin.local"} {
		if !strings.Contains(joined, want) {
			t.Errorf("check without %s reported:\n%s", want, joined)
		}
	}
	t.Logf("the check reports, for the reduced list:\n%s", joined)
}

func check(t *testing.T, list []string, fail bool) []string {
	t.Helper()
	ok := provided(list)
	tools := usedTools(t, "..")
	mods := map[string]string{}
	for mod, where := range usedPythonModules(t, "..") {
		if f := pythonModuleFile(testenv.Python(t), mod); f != "" {
			mods[f] = where + ": import " + mod
		}
	}
	for k, v := range mods {
		tools[k] = v
	}
	missing := missingPackages(tools, owner, ok)
	if fail && len(missing) > 0 {
		t.Fatalf("install-deps.sh does not install (add to PACKAGES):\n  %s", strings.Join(missing, "\n  "))
	}
	return missing
}
