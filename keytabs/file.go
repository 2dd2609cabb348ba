package keytabs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxFileSize bounds how much Load reads; real keytabs are a few kilobytes.
const maxFileSize = 16 << 20

// privateMode is the mode of every file this package writes.
const privateMode fs.FileMode = 0o600

// ErrNotRegularFile is returned (wrapped) when a key file is a directory,
// device, FIFO or socket rather than a regular file.
var ErrNotRegularFile = errors.New("keytabs: not a regular file")

// PermissionError reports a key file that group or others may access.
type PermissionError struct {
	// Path is the file's path.
	Path string
	// Mode is the file's permission bits.
	Mode fs.FileMode
}

// Error describes the problem and the command that fixes it.
func (e *PermissionError) Error() string {
	return fmt.Sprintf("keytabs: %s has mode %04o and is accessible by group or others; "+
		"a file holding keys must be private to its owner: run chmod 600 %s",
		e.Path, uint32(e.Mode.Perm()), shellQuote(e.Path))
}

// shellQuote quotes p for a POSIX shell when it holds special characters.
func shellQuote(p string) string {
	if p != "" && strings.Trim(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:,=@%") == "" {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}

// CheckPrivateFile returns nil when path (after following symbolic links) is
// a regular file with no permission bits for group or others. Otherwise it
// returns a *PermissionError, an error wrapping ErrNotRegularFile, or the
// error from stat.
func CheckPrivateFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("keytabs: %w", err)
	}
	return checkPrivateInfo(path, fi)
}

func checkPrivateInfo(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s (%s)", ErrNotRegularFile, path, fi.Mode().Type())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return &PermissionError{Path: path, Mode: fi.Mode().Perm()}
	}
	return nil
}

// Load reads and parses a keytab file after CheckPrivateFile accepts it. The
// opened file is checked again (same file, still private) before reading.
func Load(path string) (*Keytab, error) {
	if err := CheckPrivateFile(path); err != nil {
		return nil, err
	}
	b, err := readPrivate(path)
	if err != nil {
		return nil, err
	}
	kt, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("keytabs: %s: %w", path, err)
	}
	return kt, nil
}

func readPrivate(path string) ([]byte, error) {
	before, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keytabs: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keytabs: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keytabs: %w", err)
	}
	if !os.SameFile(before, fi) {
		return nil, fmt.Errorf("keytabs: %s changed while being opened", path)
	}
	if err := checkPrivateInfo(path, fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keytabs: read %s: %w", path, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrMalformed, path, maxFileSize)
	}
	return b, nil
}

// WriteFile writes the keytab to path atomically: it writes a temporary file
// with mode 0600 in the same directory, syncs it, renames it over path and
// syncs the directory. A symbolic link at path is replaced, not followed.
func (kt *Keytab) WriteFile(path string) error {
	b, err := kt.Marshal()
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

func writeFileAtomic(path string, b []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("keytabs: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(privateMode); err != nil {
		return fmt.Errorf("keytabs: %w", err)
	}
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("keytabs: write %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("keytabs: sync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("keytabs: close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("keytabs: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keytabs: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("keytabs: sync directory %s: %w", dir, err)
	}
	return nil
}
