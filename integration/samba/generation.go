package samba

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/passkdc/passkdc/internal/testenv"
)

// DC generations the harness can start (Options.Generation).
const (
	// GenerationHost is the Samba of the machine's own Debian packages
	// (4.17 on Debian 12), installed by integration/scripts/install-deps.sh.
	GenerationHost = "4.17"
	// Generation422 is Samba 4.22 from Debian trixie, run in a chroot that
	// integration/scripts/samba422-chroot.sh builds with debootstrap and
	// caches (built lazily by the harness when missing).
	Generation422 = "4.22"
)

// GenerationEnv names the environment variable read by [GenerationFromEnv].
const GenerationEnv = "PASSKDC_SAMBA_GENERATION"

// ChrootEnv names the environment variable that overrides the chroot
// directory of Generation422 (the script's default otherwise).
const ChrootEnv = "PASSKDC_SAMBA422_ROOT"

// DefaultChroot is the chroot directory of Generation422 when ChrootEnv is
// unset; the same default as integration/scripts/samba422-chroot.sh.
const DefaultChroot = "/var/cache/passkdc/samba422-trixie"

// ChrootBuildTimeout bounds a lazy chroot build (debootstrap plus apt: 2-4
// minutes on a 2-core machine with a nearby mirror).
const ChrootBuildTimeout = 15 * time.Minute

// ErrChroot is wrapped by errors from building or preparing the chroot of
// Generation422.
var ErrChroot = errors.New("samba: Samba 4.22 chroot")

// GenerationFromEnv returns $PASSKDC_SAMBA_GENERATION, or "" (the host's
// Samba) when it is unset.
func GenerationFromEnv() string { return os.Getenv(GenerationEnv) }

// generation runs Samba's programs either on the host or inside a chroot.
// For a chroot, every directory the DC uses is bind-mounted at the same path
// inside it, so paths in smb.conf, in samba-tool arguments and in the client
// files are the same on both sides.
type generation struct {
	name string
	root string // "" for the host
}

func newGeneration(name string) (generation, error) {
	switch name {
	case "", GenerationHost:
		return generation{name: GenerationHost}, nil
	case Generation422:
		root := os.Getenv(ChrootEnv)
		if root == "" {
			root = DefaultChroot
		}
		if !filepath.IsAbs(root) {
			return generation{}, fmt.Errorf("%w: %s %q must be absolute", ErrBadOptions, ChrootEnv, root)
		}
		return generation{name: name, root: filepath.Clean(root)}, nil
	}
	return generation{}, fmt.Errorf("%w: Generation %q (%s): want %q or %q", ErrBadOptions, name, GenerationEnv,
		GenerationHost, Generation422)
}

func (g generation) chrooted() bool { return g.root != "" }

// toolPath finds one of Samba's programs (samba, samba-tool) of this
// generation: on the host as usual, in the chroot at its Debian path.
func (g generation) toolPath(name string) (string, error) {
	if !g.chrooted() {
		return toolPath(name)
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(filepath.Join(g.root, p)); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s not found in %s (run %s)", ErrChroot, name, g.root, chrootScript())
}

// command returns name args... run by this generation: through chroot(8)
// (which execs the program, so the pid is the program's own) for a chroot.
func (g generation) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if !g.chrooted() {
		return exec.CommandContext(ctx, name, args...)
	}
	return exec.CommandContext(ctx, "chroot", append([]string{g.root, name}, args...)...)
}

// chrootScript is the path of integration/scripts/samba422-chroot.sh in
// this source tree.
func chrootScript() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(filepath.Dir(file)), "scripts", "samba422-chroot.sh")
}

// ChrootMissing reports what is needed to build the Generation422 chroot and
// is not here (debootstrap, the build script), or nil when the chroot is
// already built or can be built.
func ChrootMissing() []string {
	g, err := newGeneration(Generation422)
	if err != nil {
		return []string{err.Error()}
	}
	if _, err := g.toolPath("samba"); err == nil {
		return nil
	}
	var miss []string
	if _, err := toolPath("debootstrap"); err != nil {
		miss = append(miss, "debootstrap")
	}
	if _, err := os.Stat(chrootScript()); err != nil {
		miss = append(miss, chrootScript())
	}
	return miss
}

// PrepareGeneration builds the chroot of a chrooted generation when it is
// missing (bounded by ChrootBuildTimeout, not by ctx's start budget) and
// mounts what samba needs in it; a no-op for the host's Samba. An empty name
// means $PASSKDC_SAMBA_GENERATION, as in Options.
func PrepareGeneration(ctx context.Context, name string) error {
	if name == "" {
		name = GenerationFromEnv()
	}
	g, err := newGeneration(name)
	if err != nil {
		return err
	}
	return g.ensure(ctx)
}

// RequireGeneration stops the test when the generation cannot run here:
// for Generation422 without a built chroot, debootstrap and the build
// script are needed (the test fails when CI=true, and is skipped otherwise).
func RequireGeneration(t testing.TB, name string) {
	t.Helper()
	if name == "" {
		name = GenerationFromEnv()
	}
	if name != Generation422 {
		return
	}
	if miss := ChrootMissing(); len(miss) > 0 {
		testenv.Missing(t, fmt.Sprintf("Samba %s chroot: missing %s (%s)", name, strings.Join(miss, ", "), InstallHint))
	}
}

// ensure builds the chroot if the script's cache key does not match (a few
// milliseconds when it is built), and mounts /proc and /dev in it. The
// script serialises concurrent builds with a lock of its own.
func (g generation) ensure(ctx context.Context) error {
	if !g.chrooted() {
		return nil
	}
	bctx, cancel := context.WithTimeout(ctx, ChrootBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(bctx, "bash", chrootScript(), g.root)
	cmd.Env = toolEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: building %s with %s failed: %w\n%s", ErrChroot, g.root, chrootScript(), err,
			strings.TrimSpace(string(out)))
	}
	for _, m := range []struct{ src, dst, fstype string }{{"proc", "/proc", "proc"}, {"/dev", "/dev", ""}} {
		if err := g.mount(m.src, m.dst, m.fstype); err != nil {
			return err
		}
	}
	return os.MkdirAll(filepath.Join(g.root, "run", "samba"), 0o755)
}

// mount mounts src (a file system type's source, or a host directory to
// bind when fstype is "") at dst inside the chroot, unless something is
// mounted there already.
func (g generation) mount(src, dst, fstype string) error {
	target := filepath.Join(g.root, dst)
	if mounted(target) {
		return nil
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("%w: %w", ErrChroot, err)
	}
	flags := uintptr(0)
	if fstype == "" {
		flags = syscall.MS_BIND | syscall.MS_REC
	}
	if err := syscall.Mount(src, target, fstype, flags, ""); err != nil {
		return fmt.Errorf("%w: mount %s on %s: %w", ErrChroot, src, target, err)
	}
	return nil
}

// bind makes host directory dir visible at the same path inside the chroot.
// The returned function undoes it (a no-op when dir was visible already or
// for the host generation).
func (g generation) bind(dir string) (func() error, error) {
	noop := func() error { return nil }
	if !g.chrooted() {
		return noop, nil
	}
	target := filepath.Join(g.root, dir)
	if mounted(target) {
		return noop, nil
	}
	made := firstMissing(target) // the directories mount creates are removed again, not the chroot's own
	if err := g.mount(dir, dir, ""); err != nil {
		return noop, err
	}
	return func() error {
		if err := syscall.Unmount(target, 0); err != nil {
			if err2 := syscall.Unmount(target, syscall.MNT_DETACH); err2 != nil {
				return fmt.Errorf("%w: unmount %s: %w", ErrChroot, target, err)
			}
		}
		if made == "" {
			return nil
		}
		// The empty mount point and the parents made for it.
		for p := target; strings.HasPrefix(p, made) && os.Remove(p) == nil; p = filepath.Dir(p) {
		}
		return nil
	}, nil
}

// firstMissing returns the outermost of path and its parents that does not
// exist, or "" when path exists.
func firstMissing(path string) string {
	missing := ""
	for p := path; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			return missing
		}
		missing = p
		if p == filepath.Dir(p) {
			return missing
		}
	}
}

// mounted reports whether path is a mount point listed in /proc/mounts.
func mounted(path string) bool {
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) > 1 && unescapeMount(fields[1]) == path {
			return true
		}
	}
	return false
}

// unescapeMount undoes /proc/mounts' octal escapes of space, tab, newline
// and backslash.
func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}
