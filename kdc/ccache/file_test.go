package ccache

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestResolveName(t *testing.T) {
	tests := []struct {
		name, explicit, env string
		want                string
		wantType            string // non-empty: *UnsupportedTypeError with this type
		wantErr             error
	}{
		{name: "explicit path", explicit: "/tmp/cc", env: "FILE:/other", want: "/tmp/cc"},
		{name: "explicit FILE prefix", explicit: "FILE:/tmp/cc", want: "/tmp/cc"},
		{name: "relative path", explicit: "cc.file", want: "cc.file"},
		{name: "environment", env: "FILE:/run/user/1000/cc", want: "/run/user/1000/cc"},
		{name: "environment without prefix", env: "/var/tmp/cc", want: "/var/tmp/cc"},
		{name: "default", want: "/tmp/krb5cc_1234"},
		{name: "drive letter is a FILE path", explicit: `C:\krb5cc`, want: `C:\krb5cc`},
		{name: "colon later in FILE path", explicit: "FILE:/tmp/a:b", want: "/tmp/a:b"},
		{name: "DIR", explicit: "DIR:/run/user/1000/krb5cc", wantType: "DIR"},
		{name: "KEYRING from environment", env: "KEYRING:persistent:1000", wantType: "KEYRING"},
		{name: "KCM", env: "KCM:", wantType: "KCM"},
		{name: "MEMORY", explicit: "MEMORY:x", wantType: "MEMORY"},
		{name: "API", explicit: "API:x", wantType: "API"},
		{name: "lower-case file is not FILE", explicit: "file:/tmp/cc", wantType: "file"},
		{name: "empty FILE path", explicit: "FILE:", wantErr: ErrEmptyName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveName(tt.explicit, tt.env, 1234)
			switch {
			case tt.wantType != "":
				var ue *UnsupportedTypeError
				if !errors.As(err, &ue) || ue.Type != tt.wantType {
					t.Fatalf("got %q, %v; want *UnsupportedTypeError{%s}", got, err, tt.wantType)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %q, %v; want %v", got, err, tt.wantErr)
				}
			case err != nil || got != tt.want:
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestResolveNameUsesEnvironment(t *testing.T) {
	t.Setenv(EnvName, "FILE:/tmp/from-env")
	if got, err := ResolveName(""); err != nil || got != "/tmp/from-env" {
		t.Fatalf("ResolveName = %q, %v", got, err)
	}
	t.Setenv(EnvName, "")
	if got, err := ResolveName(""); err != nil || got != filepath.Join("/tmp", "krb5cc_"+strconv.Itoa(os.Getuid())) {
		t.Fatalf("ResolveName default = %q, %v", got, err)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "krb5cc")
	c := tinyCCache(Version4)
	// Pre-existing world-readable file: replaced, and the result is 0600.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffCCache(got, c); d != nil {
		t.Fatalf("Load differs: %v", d)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestWriteFileReplacesSymlinkWithoutFollowing(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "victim")
	if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "krb5cc")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := tinyCCache(Version4).WriteFile(link); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Fatalf("symlink target overwritten: %q", b)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink != 0 {
		t.Fatalf("link not replaced by a regular file: %v %v", st.Mode(), err)
	}
}

func TestWriteFileErrors(t *testing.T) {
	dir := t.TempDir()
	if err := tinyCCache(Version4).WriteFile(filepath.Join(dir, "missing", "cc")); err == nil {
		t.Error("write into a missing directory succeeded")
	}
	bad := tinyCCache(Version4)
	bad.DefaultPrincipal = Principal{}
	path := filepath.Join(dir, "cc")
	if err := bad.WriteFile(path); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid cache: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("invalid cache left a file: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte{5, 4, 0}, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, ErrMalformed) {
		t.Errorf("Load garbage: %v", err)
	}
}
