// Package deploy installs passkdc into a throwaway Samba AD domain the way an
// administrator would, with the passkdc binaries built from this checkout:
// `passkdc rodc provision`, `samba-tool domain exportkeytab` and `passkdc keytab
// import` (or `passkdc rodc fetch-key` with Options.FetchKey, as the demo
// does), a config file, `passkdc sync` and `passkdc serve`. The end-to-end
// tests and the demo share it, so the demo walks exactly the tested path.
package deploy

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/integration/samba"
	"github.com/passkdc/passkdc/ldapsync"
	"github.com/passkdc/passkdc/rodc"
)

// Binaries are the passkdc and passkinit programs to run.
type Binaries struct {
	Dir, Passkdc, Passkinit string
}

// Build compiles cmd/passkdc and cmd/passkinit of the module rooted at root
// into dir.
func Build(ctx context.Context, root, dir string) (Binaries, error) {
	b := Binaries{Dir: dir, Passkdc: filepath.Join(dir, "passkdc"), Passkinit: filepath.Join(dir, "passkinit")}
	for name, out := range map[string]string{"passkdc": b.Passkdc, "passkinit": b.Passkinit} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/"+name)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build ./cmd/%s: %w\n%s", name, err, msg)
		}
	}
	return b, nil
}

// Options describe a deployment.
type Options struct {
	DC       *samba.DC
	Bin      Binaries
	Dir      string // state: config, keytab, store, TLS files (created 0700)
	RODCName string // default PASSKDC
	Listen   string // default 127.0.0.1:<free port>
	// LDAPURL is where passkdc reaches the directory (default the DC's
	// LDAPS URL; a test puts a proxy it can cut in between).
	LDAPURL string
	// MaxStaleness is sync.max_staleness (default 10m), SyncInterval
	// sync.interval (default 1m).
	MaxStaleness, SyncInterval time.Duration
	// GroupBaseDN is ldap.group_base_dn (default: not set, the base DN).
	GroupBaseDN string
	// RPHost is rp_id and the host of the one origin, https://RPHost:PORT
	// (default localhost; URL stays https://localhost:PORT, what the test's
	// clients dial). A browser test maps RPHost to the listen address.
	RPHost string
	// ExtraYAML is appended to the config file (top-level keys other than
	// those the deployment writes, e.g. profiles).
	ExtraYAML string
	// KDCProxy, when set, enables kdc_proxy with these KDCs (host:port).
	KDCProxy []string
	// KDCProxyKeys, when set, are more kdc_proxy keys ("key: value" lines,
	// e.g. "dns_srv: true"); with them the proxy is enabled even without
	// KDCProxy, unless one of them is "enabled: false".
	KDCProxyKeys []string
	// FetchKey gets the key with `passkdc rodc fetch-key` (DRSUAPI, what an
	// administrator of Windows DCs runs) instead of samba-tool exportkeytab
	// plus `passkdc keytab import`.
	FetchKey bool
}

// Deployment is passkdc installed into the domain.
type Deployment struct {
	Options
	Config       string // the YAML config file
	Keytab       string // passkdc's RODC keytab
	PasswordFile string // the directory bind password, 0600
	RODC         *rodc.RODC
	Provisioned  string // output of `passkdc rodc provision`
	Fetched      string // output of `passkdc rodc fetch-key` (Options.FetchKey)
	URL          string // https://localhost:PORT once Serve has started
	CAFile       string // the self-signed certificate clients trust

	mu    sync.Mutex // guards serve
	serve *exec.Cmd
	done  chan error
	logMu sync.Mutex // guards log
	log   bytes.Buffer
}

// Provision creates the RODC object and its krbtgt account with `passkdc
// rodc provision`, exports the key with samba-tool, imports it with `passkdc
// keytab import` and writes the config file. It does not start the server.
func Provision(ctx context.Context, o Options) (*Deployment, error) {
	if o.RODCName == "" {
		o.RODCName = "PASSKDC"
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	if o.LDAPURL == "" {
		o.LDAPURL = o.DC.LDAPURL()
	}
	if o.MaxStaleness == 0 {
		o.MaxStaleness = 10 * time.Minute
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = time.Minute
	}
	if o.Listen == "" {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		o.Listen = fmt.Sprintf("127.0.0.1:%d", port)
	}
	d := &Deployment{Options: o, Config: filepath.Join(o.Dir, "passkdc.yaml"),
		Keytab: filepath.Join(o.Dir, "krbtgt.keytab"), PasswordFile: filepath.Join(o.Dir, "bind.pw")}
	if err := os.WriteFile(d.PasswordFile, []byte(o.DC.AdminPassword()+"\n"), 0o600); err != nil {
		return nil, err
	}
	out, err := d.Directory(ctx, "rodc", "provision")
	if err != nil {
		return nil, fmt.Errorf("passkdc rodc provision: %w\n%s", err, out)
	}
	d.Provisioned = out
	if d.RODC, err = d.readRODC(ctx); err != nil {
		return nil, err
	}
	if err := d.installKey(ctx); err != nil {
		return nil, err
	}
	if err := os.WriteFile(d.Config, []byte(d.configYAML()), 0o600); err != nil {
		return nil, err
	}
	return d, nil
}

// installKey puts the RODC's key into the keytab: fetch-key over DRSUAPI,
// or samba-tool exportkeytab and `passkdc keytab import`.
func (d *Deployment) installKey(ctx context.Context) error {
	if d.FetchKey {
		out, err := d.Directory(ctx, "rodc", "fetch-key", "--keytab", d.Keytab)
		if err != nil {
			return fmt.Errorf("passkdc rodc fetch-key: %w\n%s", err, out)
		}
		d.Fetched = out
		return nil
	}
	exported := filepath.Join(d.Dir, "export.keytab")
	if err := d.DC.ExportKeytab(ctx, d.RODC.KrbtgtName, exported); err != nil {
		return err
	}
	defer os.Remove(exported)
	if out, err := Run(ctx, nil, d.Bin.Passkdc, "keytab", "import", exported, "--to", d.Keytab); err != nil {
		return fmt.Errorf("passkdc keytab import: %w\n%s", err, out)
	}
	return nil
}

func (d *Deployment) readRODC(ctx context.Context) (*rodc.RODC, error) {
	conn, err := d.LDAP(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return rodc.Show(ctx, conn, d.RODCName, "")
}

// LDAP opens an administrator's connection to the DC.
func (d *Deployment) LDAP(ctx context.Context) (*ldap.Conn, error) {
	return ldapsync.Dial(ctx, ldapsync.LDAPConfig{URL: d.LDAPURL, BindDN: d.DC.AdminBindDN(),
		BindPasswordFile: d.PasswordFile, InsecureSkipVerify: true})
}

// configYAML is the config file an administrator would write for this
// domain. Samba's self-signed LDAPS certificate names no host, so the test
// domain needs insecure_skip_verify; a real deployment sets ca_file.
func (d *Deployment) configYAML() string {
	_, port, _ := net.SplitHostPort(d.Listen)
	return fmt.Sprintf(`# passkdc for the throwaway domain %[1]s
realm: %[1]s
listen: %[2]s
rp_id: %[13]s
origins: ["https://%[13]s:%[3]s"]
store: %[4]s
keytab: %[5]s
ldap:
  url: %[6]s
  flavour: ad
  bind_dn: %[7]s
  bind_password_file: %[8]s
  base_dn: %[9]s
  insecure_skip_verify: true   # Samba's test certificate names no host; use ca_file in production
%[12]ssync:
  interval: %[11]s
  live_check: true
  max_staleness: %[10]s
`, d.DC.Realm(), d.Listen, port, filepath.Join(d.Dir, "passkdc.db"), d.Keytab,
		d.LDAPURL, d.DC.AdminBindDN(), d.PasswordFile, d.DC.BaseDN(), d.MaxStaleness, d.SyncInterval,
		groupBase(d.GroupBaseDN), cmp.Or(d.RPHost, "localhost")) + d.kdcProxyYAML() + d.ExtraYAML
}

func groupBase(dn string) string {
	if dn == "" {
		return ""
	}
	return "  group_base_dn: " + dn + "\n"
}

// Derive is a second passkdc of the same RODC (same keytab, same directory)
// with its own state directory, store, port and config file, changed by
// adjust (e.g. its GroupBaseDN or ExtraYAML). It does not start the server.
func (d *Deployment) Derive(dir string, adjust func(*Options)) (*Deployment, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	o := d.Options
	o.Dir, o.Listen = dir, fmt.Sprintf("127.0.0.1:%d", port)
	if adjust != nil {
		adjust(&o)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	n := &Deployment{Options: o, Config: filepath.Join(dir, "passkdc.yaml"), Keytab: d.Keytab,
		PasswordFile: d.PasswordFile, RODC: d.RODC, Provisioned: d.Provisioned}
	if err := os.WriteFile(n.Config, []byte(n.configYAML()), 0o600); err != nil {
		return nil, err
	}
	return n, nil
}

// kdcProxyYAML is the kdc_proxy section ("" when Options.KDCProxy and
// KDCProxyKeys are empty).
func (d *Deployment) kdcProxyYAML() string {
	if len(d.KDCProxy) == 0 && len(d.KDCProxyKeys) == 0 {
		return ""
	}
	var extra strings.Builder
	if len(d.KDCProxy) > 0 {
		fmt.Fprintf(&extra, "  kdcs: [\"%s\"]\n", strings.Join(d.KDCProxy, `", "`))
	}
	for _, k := range d.KDCProxyKeys {
		fmt.Fprintf(&extra, "  %s\n", k)
	}
	enabled := "  enabled: true\n"
	for _, k := range d.KDCProxyKeys {
		if strings.HasPrefix(k, "enabled:") {
			enabled = ""
		}
	}
	// Rates high enough for BenchmarkKDCProxyTGS (all requests come from 127.0.0.1).
	return "kdc_proxy:\n" + enabled + "  timeout: 5s\n  max_bytes: 16384\n" +
		"  per_address_per_minute: 60000\n  per_address_burst: 2000\n" + extra.String() +
		"limits: {per_address_per_minute: 60000, per_address_burst: 2000}\n"
}

// Directory runs a passkdc command that talks to the directory from flags
// alone (rodc ...).
func (d *Deployment) Directory(ctx context.Context, args ...string) (string, error) {
	args = append(args, "--ldap-url", d.LDAPURL, "--bind-dn", d.DC.AdminBindDN(),
		"--bind-password-file", d.PasswordFile, "--insecure-skip-verify", "--name", d.RODCName)
	return Run(ctx, nil, d.Bin.Passkdc, args...)
}

// Passkdc runs a passkdc command with --config.
func (d *Deployment) Passkdc(ctx context.Context, args ...string) (string, error) {
	return Run(ctx, nil, d.Bin.Passkdc, append(args, "--config", d.Config)...)
}

// Passkinit runs passkinit against the server with the domain's client
// environment (krb5.conf naming the DC) and extra environment env.
func (d *Deployment) Passkinit(ctx context.Context, env []string, args ...string) (string, error) {
	full := append([]string{"--server", d.URL, "--ca-file", d.CAFile}, args...)
	return Run(ctx, append(append(os.Environ(), d.DC.ClientEnv()...), env...), d.Bin.Passkinit, full...)
}

// IssueTAP issues a temporary access pass for user and returns it (the
// last line `passkdc tap issue` prints).
func (d *Deployment) IssueTAP(ctx context.Context, user string) (string, error) {
	out, err := d.Passkdc(ctx, "tap", "issue", user, "--uses", "1", "--ttl", "10m")
	if err != nil {
		return "", fmt.Errorf("passkdc tap issue %s: %w\n%s", user, err, out)
	}
	return LastLine(out), nil
}

// Serve starts `passkdc serve` and waits until /healthz answers over TLS
// with the certificate it generated.
func (d *Deployment) Serve(ctx context.Context) error {
	d.mu.Lock()
	if d.serve != nil {
		d.mu.Unlock()
		return errors.New("passkdc serve already running")
	}
	cmd := exec.Command(d.Bin.Passkdc, "serve", "--config", d.Config, "--rodc-name", d.RODCName)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout = &lockedWriter{w: &d.log, mu: &d.logMu}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		d.mu.Unlock()
		return err
	}
	d.serve, d.done = cmd, make(chan error, 1)
	d.mu.Unlock()
	go func() { d.done <- cmd.Wait() }()
	return d.waitHealthy(ctx)
}

// Reload sends SIGHUP to the running `passkdc serve` (re-read the keytab).
func (d *Deployment) Reload() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.serve == nil {
		return errors.New("passkdc serve is not running")
	}
	return d.serve.Process.Signal(syscall.SIGHUP)
}

// waitHealthy waits for the "(CA file PATH)" line serve prints once it
// listens, then for /healthz.
func (d *Deployment) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for d.CAFile == "" {
		if _, after, ok := strings.Cut(d.Log(), "(CA file "); ok {
			d.CAFile, _, _ = strings.Cut(after, ")")
			break
		}
		select {
		case err := <-d.done:
			d.done <- err
			return fmt.Errorf("passkdc serve exited: %v\n%s", err, d.Log())
		case <-ctx.Done():
			return fmt.Errorf("passkdc serve did not start listening: %w\n%s", ctx.Err(), d.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
	_, port, _ := net.SplitHostPort(d.Listen)
	d.URL = "https://localhost:" + port // the WebAuthn origin: rp_id is localhost
	hc, err := d.HTTPClient()
	if err != nil {
		return err
	}
	for {
		resp, err := hc.Get(d.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("passkdc serve not healthy: %v\n%s", err, d.Log())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// HTTPClient trusts the server's certificate only.
func (d *Deployment) HTTPClient() (*http.Client, error) {
	pem, err := os.ReadFile(d.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", d.CAFile)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}

// Log is what `passkdc serve` has printed so far (JSON audit lines included).
func (d *Deployment) Log() string {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	return d.log.String()
}

// Stop ends `passkdc serve` with SIGTERM (it drains and exits), or SIGKILL
// after 20 s.
func (d *Deployment) Stop() error {
	d.mu.Lock()
	cmd := d.serve
	d.serve = nil
	d.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case err := <-d.done:
		return err
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return fmt.Errorf("passkdc serve ignored SIGTERM: %v", <-d.done)
	}
}

// Run runs a program and returns its combined output, trimmed.
func Run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = env
	}
	b, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(b)), err
}

// LastLine is the last line of out.
func LastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// ModuleRoot is the directory holding passkdc's go.mod, found from the
// working directory up (the demo and the bench build the binaries there).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run this from the passkdc repository (no go.mod found above the working directory)")
		}
		dir = parent
	}
}
