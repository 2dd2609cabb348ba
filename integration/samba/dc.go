package samba

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// ErrNotReady is wrapped by the error returned when samba exits or does not
// answer before the context ends; the error carries the end of samba's log.
var ErrNotReady = errors.New("samba: DC did not become ready")

// ErrStop is wrapped by the error returned when processes survive Stop.
var ErrStop = errors.New("samba: stop failed")

const (
	stopGrace   = 10 * time.Second // SIGTERM to SIGKILL
	killTimeout = 5 * time.Second  // SIGKILL to giving up
	markerEnv   = "PASSKDC_SAMBA_DC"
)

// Timings are the measured durations of Start.
type Timings struct {
	// Provision is the time spent provisioning, or copying the template.
	Provision time.Duration
	// Start is the time from exec of samba until kinit and an LDAPS bind
	// both succeeded.
	Start time.Duration
	// FromTemplate is set when the provision was copied from the cache;
	// TemplateMade when that copy needed a new cache entry first.
	FromTemplate, TemplateMade bool
	// Reused is set when Dir already held a provision.
	Reused bool
}

// DC is a running Samba AD domain controller. Its methods are safe for
// concurrent use.
type DC struct {
	opts      Options
	gen       generation
	unbind    func() error // undoes the chroot bind mount of dir
	ip        netip.Addr
	dir       string
	ownsDir   bool
	target    string // dir/dc, samba's --targetdir
	tls       tlsFiles
	log       logrus.FieldLogger
	ipLock    *os.File
	cmd       *exec.Cmd
	stdin     *os.File // write end of samba's stdin: closing it stops samba
	waitDone  chan struct{}
	waitErr   error
	domainSID string
	timings   Timings

	stopOnce sync.Once
	stopErr  error
}

// Start provisions (or reuses) a domain and starts samba on opts.IP, and
// returns once `kinit administrator` and an LDAPS bind as administrator both
// succeed. ctx bounds the whole start (allow a minute or more on a loaded
// machine). On error, everything already started is stopped again.
func Start(ctx context.Context, opts Options) (*DC, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := CheckTools(); err != nil {
		return nil, err
	}
	gen, err := newGeneration(o.Generation)
	if err != nil {
		return nil, err
	}
	dc := &DC{opts: o, gen: gen, log: o.Logger.WithFields(logrus.Fields{"dc": o.IP, "samba": gen.name}),
		waitDone: make(chan struct{})}
	dc.ip, _ = loopbackAddr(o.IP)
	if err := dc.start(ctx); err != nil {
		if stopErr := dc.Stop(); stopErr != nil {
			err = fmt.Errorf("%w (and stop: %v)", err, stopErr)
		}
		return nil, err
	}
	return dc, nil
}

func (dc *DC) start(ctx context.Context) error {
	if err := dc.makeDir(); err != nil {
		return err
	}
	if err := dc.gen.ensure(ctx); err != nil {
		return err
	}
	unbind, err := dc.gen.bind(dc.dir)
	if err != nil {
		return err
	}
	dc.unbind = unbind
	lock, err := lockAddr(ctx, dc.ip)
	if err != nil {
		return err
	}
	dc.ipLock = lock
	if err := ensureLoopbackAddr(ctx, dc.ip); err != nil {
		return err
	}
	if err := checkPortsFree(dc.ip); err != nil {
		return err
	}
	if err := dc.provision(ctx); err != nil {
		return err
	}
	if err := dc.configure(); err != nil {
		return err
	}
	t0 := time.Now()
	if err := dc.launch(); err != nil {
		return err
	}
	if err := dc.waitReady(ctx); err != nil {
		return err
	}
	if err := dc.stockTLSNegativeSerial(ctx); err != nil {
		return err
	}
	dc.timings.Start = time.Since(t0)
	dc.log.WithFields(logrus.Fields{"provision": dc.timings.Provision, "start": dc.timings.Start,
		"template": dc.timings.FromTemplate, "dir": dc.dir}).Info("samba DC ready")
	return nil
}

// untraversable returns the first of dir and its parents that others
// cannot search (no o+x), or "".
func untraversable(dir string) string {
	for p := dir; ; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o001 == 0 {
			return p
		}
		if p == filepath.Dir(p) {
			return ""
		}
	}
}

func (dc *DC) makeDir() error {
	dc.dir = dc.opts.Dir
	if dc.dir == "" {
		d, err := os.MkdirTemp("", "samba-dc-")
		if err != nil {
			return fmt.Errorf("samba: temp dir: %w", err)
		}
		dc.dir, dc.ownsDir = d, true
		// smbd serves sysvol as the user's mapped uid, which must be able
		// to traverse Dir: MkdirTemp's 0700 would deny every share access.
		if err := os.Chmod(d, 0o755); err != nil {
			return fmt.Errorf("samba: temp dir: %w", err)
		}
	} else if err := os.MkdirAll(dc.dir, 0o755); err != nil {
		return fmt.Errorf("samba: dir: %w", err)
	}
	if p := untraversable(dc.dir); p != "" {
		dc.log.WithField("dir", p).Warn("directory not searchable by others: SMB share access by users will fail")
	}
	dc.target = filepath.Join(dc.dir, "dc")
	dc.tls = newTLSFiles(filepath.Join(dc.dir, "tls"))
	return nil
}

// provision fills dc.target: reused as is, copied from the template cache,
// or provisioned from scratch.
func (dc *DC) provision(ctx context.Context) error {
	t0 := time.Now()
	defer func() { dc.timings.Provision = time.Since(t0) }()
	if _, err := os.Stat(dc.SMBConf()); err == nil {
		dc.timings.Reused = true
		dc.log.Info("reusing existing provision")
		return nil
	}
	if dc.opts.CacheDir == "" {
		dc.log.Info("provisioning")
		return provision(ctx, dc.gen, dc.opts, dc.target)
	}
	origin, made, err := fromTemplate(ctx, dc.gen, dc.opts, dc.target)
	if err != nil {
		return err
	}
	dc.timings.FromTemplate, dc.timings.TemplateMade = true, made
	dc.log.WithField("made", made).Info("copied provision from template")
	return editSMBConf(dc.SMBConf(), origin, dc.target, nil)
}

// configure applies the address- and path-dependent settings, creates the
// runtime directories, the TLS certificate and the client files.
func (dc *DC) configure() error {
	run := filepath.Join(dc.target, "run")
	for _, d := range []string{run, filepath.Join(dc.target, "log"), filepath.Join(dc.dir, "client")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("samba: %w", err)
		}
	}
	if dc.opts.StockTLS {
		dc.tls = newStockTLSFiles(filepath.Join(dc.target, "private", "tls"))
	} else if err := writeTLS(dc.tls, dc.opts.Realm, []string{dc.FQDN(), dc.opts.Host, strings.ToLower(dc.opts.Realm)},
		net.IP(dc.ip.AsSlice())); err != nil {
		return err
	}
	if err := editSMBConf(dc.SMBConf(), "", "", dc.serverSettings(run)); err != nil {
		return err
	}
	return dc.writeClientFiles()
}

func (dc *DC) serverSettings(run string) []setting {
	ip := dc.ip.String()
	s := []setting{
		{"interfaces", ip},
		{"bind interfaces only", "yes"},
		{"pid directory", run},
		{"ncalrpc dir", filepath.Join(run, "ncalrpc")},
		{"winbindd socket directory", filepath.Join(run, "winbindd")},
		{"ntp signd socket directory", filepath.Join(run, "ntp_signd")},
		{"log file", filepath.Join(dc.target, "log", "%m.log")},
		{"dns forwarder", ip},
		{"tls enabled", "yes"},
	}
	if dc.opts.StockTLS { // Samba's defaults: private/tls/*.pem, generated at first start
		return s
	}
	return append(s, setting{"tls keyfile", dc.tls.Key}, setting{"tls certfile", dc.tls.Cert},
		setting{"tls cafile", dc.tls.CA})
}

// launch starts `samba -i -M single` in its own process group. Its stdin is
// a pipe held only by this process: samba exits when it reads EOF, so it
// dies with the test binary however that ends.
func (dc *DC) launch() error {
	samba, err := dc.gen.toolPath("samba")
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(dc.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("samba: log: %w", err)
	}
	defer logFile.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("samba: pipe: %w", err)
	}
	defer r.Close()
	// Not bound to a context: samba lives until Stop (or until its stdin closes).
	cmd := dc.gen.command(context.Background(), samba, "-i", "-M", "single", "-s", dc.SMBConf(), fmt.Sprintf("-d%d", dc.opts.DebugLevel))
	cmd.Env = dc.sambaEnv()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("samba: start: %w", err)
	}
	dc.cmd, dc.stdin = cmd, w
	go func() { dc.waitErr = cmd.Wait(); close(dc.waitDone) }()
	dc.log.WithField("pid", cmd.Process.Pid).Info("samba started")
	return nil
}

// sambaEnv: smbd and winbindd reach winbindd through libwbclient, which
// ignores "winbindd socket directory" unless nss_wrapper is loaded and
// SELFTEST_WINBINDD_SOCKET_DIR is set; without it every SMB session setup
// fails with NT_STATUS_INTERNAL_ERROR. nss_wrapper reads the real
// /etc/passwd and /etc/group and our hosts file; resolv_wrapper keeps any
// stray DNS query on loopback. The marker finds samba's children at Stop.
func (dc *DC) sambaEnv() []string {
	return append(toolEnv(),
		"LD_PRELOAD=libnss_wrapper.so:libresolv_wrapper.so",
		"NSS_WRAPPER_PASSWD=/etc/passwd", "NSS_WRAPPER_GROUP=/etc/group",
		"NSS_WRAPPER_HOSTS="+dc.hostsPath(),
		"RESOLV_WRAPPER_CONF="+dc.resolvPath(),
		"SELFTEST_WINBINDD_SOCKET_DIR="+filepath.Join(dc.target, "run", "winbindd"),
		dc.marker())
}

func (dc *DC) marker() string { return markerEnv + "=" + dc.dir }

// waitReady polls until administrator can kinit and bind over LDAPS and
// smbd accepts connections, samba exits, or ctx ends.
func (dc *DC) waitReady(ctx context.Context) error {
	ccache := filepath.Join(dc.dir, "client", "ready.ccache")
	defer os.Remove(ccache)
	var last error
	for {
		select {
		case <-dc.waitDone:
			return fmt.Errorf("%w: samba exited (%v)\n%s", ErrNotReady, dc.waitErr, dc.LogTail(30))
		case <-ctx.Done():
			return fmt.Errorf("%w: %w (last: %v)\n%s", ErrNotReady, ctx.Err(), last, dc.LogTail(30))
		case <-time.After(250 * time.Millisecond):
		}
		if last = dc.probe(ctx, ccache); last == nil {
			return dc.loadDomainSID(ctx)
		}
	}
}

func (dc *DC) probe(ctx context.Context, ccache string) error {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := dc.Kinit(pctx, "administrator", dc.opts.AdminPassword, ccache); err != nil {
		return err
	}
	conn, err := dc.LDAP(pctx)
	if err != nil {
		return err
	}
	conn.Close()
	var d net.Dialer
	c, err := d.DialContext(pctx, "tcp", netip.AddrPortFrom(dc.ip, 445).String())
	if err != nil {
		return fmt.Errorf("smbd: %w", err)
	}
	return c.Close()
}

// Stop terminates every process of the DC: SIGTERM to samba's process group
// and to each descendant (smbd and winbindd make their own groups), SIGKILL
// after a grace period, then waits for them. A temporary Dir is removed
// unless Options.Keep. Stop is safe to call more than once and returns the
// same result.
func (dc *DC) Stop() error {
	dc.stopOnce.Do(func() { dc.stopErr = dc.stop() })
	return dc.stopErr
}

func (dc *DC) stop() error {
	var err error
	if dc.cmd != nil {
		err = dc.kill()
	}
	if dc.ipLock != nil {
		dc.ipLock.Close()
	}
	if dc.unbind != nil && err == nil {
		err = dc.unbind()
	}
	if dc.ownsDir && !dc.opts.Keep && err == nil {
		if rmErr := os.RemoveAll(dc.dir); rmErr != nil {
			err = fmt.Errorf("samba: remove %s: %w", dc.dir, rmErr)
		}
	}
	return err
}

func (dc *DC) kill() error {
	procs := dc.procs()
	dc.stdin.Close()
	signalProcs(procs, syscall.SIGTERM)
	alive := waitGone(procs, stopGrace)
	if len(alive) > 0 {
		dc.log.WithField("count", len(alive)).Warn("samba processes ignored SIGTERM, killing")
		signalProcs(alive, syscall.SIGKILL)
		alive = waitGone(alive, killTimeout)
	}
	select {
	case <-dc.waitDone:
	case <-time.After(killTimeout):
		return fmt.Errorf("%w: samba (pid %d) was not reaped", ErrStop, dc.cmd.Process.Pid)
	}
	if len(alive) > 0 {
		return fmt.Errorf("%w: %d processes still running, first pid %d", ErrStop, len(alive), alive[0].pid)
	}
	dc.log.WithField("processes", len(procs)).Info("samba stopped")
	return nil
}

// procs returns samba, its descendants and any process carrying the DC's
// marker.
func (dc *DC) procs() []procInfo {
	return treeAndMarked(dc.cmd.Process.Pid, dc.marker(), allProcs())
}

// PIDs lists the DC's running processes (samba first, then smbd, winbindd
// and their children).
func (dc *DC) PIDs() []int {
	var out []int
	for _, p := range dc.procs() {
		if running(p) {
			out = append(out, p.pid)
		}
	}
	return out
}

// Sockets lists the bound sockets of the DC's processes: listening TCP and
// all UDP sockets. Tests use it to check that the DC binds only its IP.
func (dc *DC) Sockets() ([]Socket, error) {
	return boundSockets(dc.PIDs())
}
