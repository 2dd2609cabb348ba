package ccache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvName is the environment variable naming the default credential cache.
const EnvName = "KRB5CCNAME"

// ErrEmptyName is returned by ResolveName for "FILE:" without a path.
var ErrEmptyName = errors.New("ccache: credential cache name has an empty path")

// UnsupportedTypeError reports a credential cache name of a type other than
// FILE (DIR:, KEYRING:, KCM:, MEMORY:, API:, ...).
type UnsupportedTypeError struct {
	// Type is the prefix before the first colon, e.g. "KEYRING".
	Type string
	// Name is the full cache name.
	Name string
}

// Error implements error.
func (e *UnsupportedTypeError) Error() string {
	return fmt.Sprintf("ccache: credential cache %q has type %s; only FILE caches are supported", e.Name, e.Type)
}

// ResolveName returns the path of the FILE credential cache to use: the
// explicit name if not empty (a -c flag), else $KRB5CCNAME, else MIT's
// built-in default /tmp/krb5cc_<uid>. A "FILE:" prefix is removed; any other
// type prefix yields an *UnsupportedTypeError. A default_ccache_name set in
// krb5.conf is not consulted.
func ResolveName(explicit string) (string, error) {
	return resolveName(explicit, os.Getenv(EnvName), os.Getuid())
}

func resolveName(explicit, env string, uid int) (string, error) {
	name := explicit
	if name == "" {
		name = env
	}
	if name == "" {
		return fmt.Sprintf("/tmp/krb5cc_%d", uid), nil
	}
	return pathFromName(name)
}

// pathFromName splits a cache name the way krb5_cc_resolve does: the type is
// the text before the first colon, except that a single letter is a drive
// letter and no colon at all means FILE.
func pathFromName(name string) (string, error) {
	i := strings.IndexByte(name, ':')
	if i < 0 || (i == 1 && isASCIILetter(name[0])) {
		return name, nil
	}
	if name[:i] != "FILE" {
		return "", &UnsupportedTypeError{Type: name[:i], Name: name}
	}
	if name[i+1:] == "" {
		return "", ErrEmptyName
	}
	return name[i+1:], nil
}

func isASCIILetter(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// Load reads and parses the credential cache file at path.
func Load(path string) (*CCache, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ccache: read %s: %w", path, err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("ccache: %s: %w", path, err)
	}
	return c, nil
}

// WriteFile replaces the file at path with the encoded cache atomically: it
// writes a temporary file in the same directory with mode 0600, syncs it,
// renames it over path and syncs the directory. A symbolic link at path is
// replaced, not followed.
func (c *CCache) WriteFile(path string) error {
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("ccache: create temporary file: %w", err)
	}
	tmp := f.Name()
	if err := writeAndClose(f, b); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("ccache: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("ccache: rename to %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("ccache: sync directory %s: %w", dir, err)
	}
	return nil
}

func writeAndClose(f *os.File, b []byte) error {
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
