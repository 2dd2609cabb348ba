//go:build unix

package keytabs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func writeRaw(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	b := mustHex(t, mitKeytab)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestLoadPermissions(t *testing.T) {
	tests := []struct {
		mode fs.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o700, true},
		{0o644, false},
		{0o640, false},
		{0o660, false},
		{0o604, false},
		{0o602, false},
		{0o610, false},
		{0o601, false},
	}
	for _, tc := range tests {
		t.Run(tc.mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "krbtgt.keytab")
			writeRaw(t, path, tc.mode)
			kt, err := Load(path)
			if tc.ok {
				if err != nil || len(kt.Entries) != 2 {
					t.Fatalf("Load = %v, %v", kt, err)
				}
				return
			}
			var pe *PermissionError
			if !errors.As(err, &pe) {
				t.Fatalf("Load error %v, want *PermissionError", err)
			}
			if pe.Mode != tc.mode || pe.Path != path {
				t.Errorf("PermissionError %+v", pe)
			}
			if !strings.Contains(err.Error(), "chmod 600 "+path) {
				t.Errorf("message %q lacks the fix", err)
			}
			if err := CheckPrivateFile(path); !errors.As(err, &pe) {
				t.Errorf("CheckPrivateFile = %v", err)
			}
		})
	}
}

func TestPermissionErrorQuotesPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "my key's.keytab")
	writeRaw(t, path, 0o644)
	err := CheckPrivateFile(path)
	if err == nil || !strings.Contains(err.Error(), `chmod 600 '`+strings.ReplaceAll(path, "'", `'\''`)+`'`) {
		t.Fatalf("message %v", err)
	}
}

func TestLoadNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, sub, "/dev/null"} {
		if _, err := Load(p); !errors.Is(err, ErrNotRegularFile) {
			t.Errorf("Load(%s) = %v, want ErrNotRegularFile", p, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
}

func TestLoadFollowsSymlinkToPrivateFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.keytab")
	writeRaw(t, target, 0o600)
	link := filepath.Join(dir, "link.keytab")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(target, 0o644); err != nil {
		t.Fatal(err)
	}
	var pe *PermissionError
	if _, err := Load(link); !errors.As(err, &pe) {
		t.Fatalf("Load(link to 0644) = %v", err)
	}
}

func TestLoadGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.keytab")
	if err := os.WriteFile(path, []byte{5, 2, 0, 0, 1}, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load = %v", err)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "krbtgt.keytab")
	// An existing world-readable file is replaced by a private one.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	kt := &Keytab{Entries: []Entry{
		entry(t, "krbtgt_40000@CORP.EXAMPLE.TEST", EncodeKVNO(40000, 1), 18, fill(1, 32)),
		entry(t, "krbtgt_40000@CORP.EXAMPLE.TEST", EncodeKVNO(40000, 1), 17, fill(2, 16)),
	}}
	if err := kt.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode())
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !entriesEqual(back.Entries, kt.Entries) {
		t.Fatalf("read back %+v", back.Entries)
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 1 {
		t.Fatalf("directory holds %v, want only the keytab", names)
	}
}

func TestWriteFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := &Keytab{Entries: []Entry{{Principal: Principal{Realm: "R"}}}}
	path := filepath.Join(dir, "k")
	if err := bad.WriteFile(path); !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("WriteFile(invalid) = %v", err)
	}
	if err := (&Keytab{}).WriteFile(filepath.Join(dir, "missing", "k")); err == nil {
		t.Fatal("WriteFile into a missing directory succeeded")
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 0 {
		t.Fatalf("left behind %v", names)
	}
}
