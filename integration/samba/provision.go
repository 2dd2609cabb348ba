package samba

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrProvision is wrapped by errors from provisioning a domain.
var ErrProvision = errors.New("samba: provision failed")

// templateMaxAge bounds how long a cached provision is reused.
const templateMaxAge = 7 * 24 * time.Hour

// cacheFormat changes whenever the provision arguments or layout change,
// so that old cache entries are not used.
const cacheFormat = "passkdc-samba-template-v1"

// provisionArgs are the samba-tool arguments for a domain in targetDir.
// Address- and path-dependent settings are applied afterwards by
// configure, so that a provision can be copied and reused.
func provisionArgs(o Options, sambaTool, targetDir string) []string {
	return []string{
		sambaTool, "domain", "provision",
		"--targetdir=" + targetDir,
		"--realm=" + o.Realm, "--domain=" + o.Domain, "--host-name=" + o.Host,
		"--server-role=dc", "--dns-backend=SAMBA_INTERNAL", "--use-rfc2307",
		"--adminpass=" + o.AdminPassword,
		"--option=interfaces=lo", "--option=bind interfaces only=yes",
		"--option=server services=-dns -dnsupdate",
		"--option=load printers=no", "--option=printing=bsd",
		"--option=printcap name=/dev/null", "--option=disable spoolss=yes",
	}
}

// provision creates a new domain in targetDir (which must not hold one),
// then relaxes the password ages so that a kept provision does not expire
// its administrator after 42 days. The output goes to targetDir/provision.log.
func provision(ctx context.Context, g generation, o Options, targetDir string) (err error) {
	sambaTool, err := g.toolPath("samba-tool")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(targetDir, 0o755); err != nil {
		return fmt.Errorf("%w: %w", ErrProvision, err)
	}
	unbind, err := g.bind(filepath.Dir(targetDir))
	if err != nil {
		return err
	}
	defer func() {
		if uerr := unbind(); err == nil {
			err = uerr
		}
	}()
	logPath := filepath.Join(targetDir, "provision.log")
	if err := runLogged(ctx, g, logPath, Python, provisionArgs(o, sambaTool, targetDir)...); err != nil {
		return err
	}
	conf := filepath.Join(targetDir, "etc", "smb.conf")
	return runLogged(ctx, g, logPath, Python, sambaTool, "domain", "passwordsettings", "set",
		"--max-pwd-age=0", "--min-pwd-age=0", "--history-length=0", "-s", conf)
}

// runLogged runs a command with its output appended to logPath; on failure
// the error carries the end of that log.
func runLogged(ctx context.Context, g generation, logPath, name string, args ...string) error {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProvision, err)
	}
	defer f.Close()
	cmd := g.command(ctx, name, args...)
	cmd.Env = toolEnv()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s: %w\n%s", ErrProvision, filepath.Base(args[0]), err, tailFile(logPath, 20))
	}
	return nil
}

// toolEnv is the environment for Samba's own programs: no pyenv, no
// wrappers or Kerberos settings inherited from the caller.
func toolEnv() []string {
	env := filterEnv(os.Environ(), "PATH", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP",
		"LD_PRELOAD", "KRB5_CONFIG", "KRB5CCNAME", "KRB5_KTNAME", "NSS_WRAPPER_HOSTS",
		"NSS_WRAPPER_PASSWD", "NSS_WRAPPER_GROUP", "RESOLV_WRAPPER_CONF", "SELFTEST_WINBINDD_SOCKET_DIR")
	return append(env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
}

// filterEnv drops the named variables from env.
func filterEnv(env []string, names ...string) []string {
	drop := make(map[string]bool, len(names))
	for _, n := range names {
		drop[n] = true
	}
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !drop[name] {
			out = append(out, kv)
		}
	}
	return out
}

// tailFile returns the last n lines of a file ("" if it cannot be read).
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// sambaVersion returns `samba -V`, part of the template cache key.
func sambaVersion(ctx context.Context, g generation) (string, error) {
	samba, err := g.toolPath("samba")
	if err != nil {
		return "", err
	}
	out, err := g.command(ctx, samba, "-V").Output()
	if err != nil {
		return "", fmt.Errorf("samba -V: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// cacheKey names the cache entry for a provision made with these options.
func cacheKey(o Options, version string) string {
	h := sha256.New()
	for _, s := range []string{cacheFormat, version, o.Realm, o.Domain, o.Host, o.AdminPassword} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// fromTemplate copies a cached provision to targetDir, making the cache
// entry first if it is missing or too old. Cache users are serialised by an
// exclusive flock on the entry's lock file, so concurrent test packages
// provision once. It returns the directory the template was provisioned in
// (to be replaced in smb.conf) and whether it had to provision.
func fromTemplate(ctx context.Context, g generation, o Options, targetDir string) (origin string, made bool, err error) {
	version, err := sambaVersion(ctx, g)
	if err != nil {
		return "", false, err
	}
	if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
		return "", false, fmt.Errorf("samba: cache dir: %w", err)
	}
	entry := filepath.Join(o.CacheDir, cacheKey(o, version))
	lock, err := os.OpenFile(entry+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("samba: cache lock: %w", err)
	}
	defer lock.Close()
	if err := flockWait(ctx, lock, syscall.LOCK_EX); err != nil {
		return "", false, fmt.Errorf("samba: cache lock: %w", err)
	}
	origin, err = templateOrigin(entry)
	if err != nil {
		made = true
		if origin, err = makeTemplate(ctx, g, o, entry); err != nil {
			return "", true, err
		}
	}
	return origin, made, copyTree(ctx, filepath.Join(entry, "dc"), targetDir)
}

// templateOrigin reads a complete, fresh cache entry's origin file.
func templateOrigin(entry string) (string, error) {
	p := filepath.Join(entry, "origin")
	st, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if time.Since(st.ModTime()) > templateMaxAge {
		return "", fmt.Errorf("samba: template %s is older than %v", entry, templateMaxAge)
	}
	data, err := os.ReadFile(p)
	if err != nil || len(data) == 0 {
		return "", fmt.Errorf("samba: template %s has no origin", entry)
	}
	return string(data), nil
}

// makeTemplate provisions into a fresh directory beside entry, drops
// runtime leftovers and renames it into place; the origin file, written
// last, marks the entry complete.
func makeTemplate(ctx context.Context, g generation, o Options, entry string) (string, error) {
	if err := os.RemoveAll(entry); err != nil {
		return "", fmt.Errorf("samba: clear template: %w", err)
	}
	tmp, err := os.MkdirTemp(o.CacheDir, "provision-")
	if err != nil {
		return "", fmt.Errorf("samba: template dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	origin := filepath.Join(tmp, "dc")
	if err := provision(ctx, g, o, origin); err != nil {
		return "", err
	}
	for _, junk := range []string{"msg.sock", "msg.lock", "run"} {
		_ = os.RemoveAll(filepath.Join(origin, junk))
	}
	if err := os.Rename(tmp, entry); err != nil {
		return "", fmt.Errorf("samba: install template: %w", err)
	}
	if err := os.WriteFile(filepath.Join(entry, "origin"), []byte(origin), 0o600); err != nil {
		return "", fmt.Errorf("samba: template origin: %w", err)
	}
	return origin, nil
}

// copyTree copies src to dst with cp -a, which keeps the extended
// attributes (security.NTACL) and POSIX ACLs that sysvol relies on.
func copyTree(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("samba: copy template: %s exists", dst)
	}
	out, err := exec.CommandContext(ctx, "cp", "-a", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("samba: copy template: %w: %s", err, out)
	}
	return nil
}
