package layering

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// layoutNames returns the package paths named (in backquotes) in the first
// column of the README's Layout table, without a trailing slash.
func layoutNames(t *testing.T, readme string) map[string]bool {
	t.Helper()
	start := strings.Index(readme, "\n## Layout\n")
	if start < 0 {
		t.Fatal("README.md has no Layout section")
	}
	section := readme[start+len("\n## Layout\n"):]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	names := map[string]bool{}
	quoted := regexp.MustCompile("`([^`]+)`")
	for _, line := range strings.Split(section, "\n") {
		cols := strings.Split(line, "|")
		if len(cols) < 3 {
			continue
		}
		for _, m := range quoted.FindAllStringSubmatch(cols[1], -1) {
			names[strings.TrimSuffix(m[1], "/")] = true
		}
	}
	return names
}

// TestReadmeLayoutMatchesThePackages: every public package and every
// command is named in the README's Layout table (internal/ and
// integration/ are described as folders), and every path the table names
// is a package, a folder or a file of the repository.
func TestReadmeLayoutMatchesThePackages(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	named := layoutNames(t, string(b))
	exists := map[string]bool{}
	for _, p := range listPackages(t) {
		exists[p.ImportPath] = true
		if p.ImportPath == "github.com/passkdc/passkdc" || under(p.ImportPath, "internal") || under(p.ImportPath, "integration") {
			continue
		}
		if !named[p.ImportPath] {
			t.Errorf("package %s is not in the README's Layout table", p.ImportPath)
		}
	}
	for n := range named {
		if exists[n] || n == "internal/…" {
			continue
		}
		if _, err := os.Stat(filepath.Join("..", "..", n)); err != nil {
			t.Errorf("the README's Layout table names %s, which is not in the repository", n)
		}
	}
}
