package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// parseDir parses the Go files of dir, tests excluded.
func parseDir(t *testing.T, dir string) (*token.FileSet, []*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, f := range names {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, file)
	}
	return fset, files
}

// codeConstants returns the string constants named Code* declared in dir.
func codeConstants(t *testing.T, dir string) map[string]string {
	t.Helper()
	_, files := parseDir(t, dir)
	out := map[string]string{}
	for _, file := range files {
		ast.Inspect(file, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Code") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					out[filepath.Base(dir)+"."+name.Name] = v
				}
			}
			return true
		})
	}
	return out
}

// TestEveryCodeIsInTheRegistry: each stable code the ceremony, issuance and
// server packages declare has its HTTP status in the one registry, and no
// registered code answers 200.
func TestEveryCodeIsInTheRegistry(t *testing.T) {
	for _, dir := range []string{"../assertion", "../kdc/issuer", "."} {
		for name, code := range codeConstants(t, dir) {
			if _, ok := registry[code]; !ok {
				t.Errorf("%s = %q is not in the registry (server/codes.go)", name, code)
			}
		}
	}
	for code, status := range registry {
		if status < 400 || status > 599 || http.StatusText(status) == "" {
			t.Errorf("%s: status %d", code, status)
		}
	}
}

// TestNoLiteralCodes: the server's errors are built from registered
// constants, not string literals (a literal is a code no registry knows).
func TestNoLiteralCodes(t *testing.T) {
	fset, files := parseDir(t, ".")
	for _, file := range files {
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			id, ok := call.Fun.(*ast.Ident)
			if !ok || (id.Name != "newError" && id.Name != "newErrorStatus") {
				return true
			}
			arg := 0
			if id.Name == "newErrorStatus" {
				arg = 1
			}
			if len(call.Args) > arg {
				if lit, ok := call.Args[arg].(*ast.BasicLit); ok {
					t.Errorf("%s: %s with the literal code %s: add it to server/codes.go", fset.Position(call.Pos()), id.Name, lit.Value)
				}
			}
			return true
		})
	}
}
