package mitkdc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/passkdc/passkdc/integration/loadgen"
)

// Errors callers branch on.
var (
	// ErrToolMissing is wrapped when krb5kdc, kdb5_util or kadmin.local is not
	// installed (Debian packages krb5-kdc and krb5-admin-server).
	ErrToolMissing = errors.New("mitkdc: MIT KDC tool not installed (Debian packages krb5-kdc, krb5-admin-server)")
	// ErrNotReady is wrapped when the KDC did not answer an AS exchange in time.
	ErrNotReady = errors.New("mitkdc: KDC not ready")
	// ErrExited is wrapped when krb5kdc exited on its own.
	ErrExited = errors.New("mitkdc: krb5kdc exited")
)

// Defaults and bounds.
const (
	DefaultRealm   = "BENCH.TEST"
	readyTimeout   = 20 * time.Second
	stopTimeout    = 10 * time.Second
	startAttempts  = 3
	maxOutputBytes = 64 << 10
	readyPrincipal = "bench-ready"
	masterPassword = "bench-master-password"
)

// Options configure a KDC.
type Options struct {
	// Realm is the realm name; DefaultRealm when empty.
	Realm string
	// Workers is krb5kdc's -w: the number of worker processes serving
	// requests under a supervising parent. 0 or 1 runs a single process.
	Workers int
	// NoDBWrites sets disable_last_success and disable_lockout, so the KDC
	// does not write the database on each AS-REQ. MIT's default (false)
	// records the last successful authentication of every principal that
	// requires pre-authentication, which is one database write per AS-REQ.
	NoDBWrites bool
}

// KDC is a running throwaway MIT krb5kdc.
type KDC struct {
	// Dir holds every file of this KDC.
	Dir string
	// Realm is the realm served.
	Realm string
	// Addr is the UDP and TCP address the KDC listens on, 127.0.0.1:port.
	Addr string

	opts  Options
	port  int
	tools tools
	ready Principal

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	out     *cappedBuffer
	stopped sync.Once
	stopErr error
}

// tools are the paths of the MIT executables.
type tools struct{ krb5kdc, kdb5util, kadminLocal string }

// findTool looks on PATH and in the sbin directories MIT's server tools live in.
func findTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s", ErrToolMissing, name)
}

func findTools() (tools, error) {
	var t tools
	var err error
	for _, x := range []struct {
		name string
		dst  *string
	}{{"krb5kdc", &t.krb5kdc}, {"kdb5_util", &t.kdb5util}, {"kadmin.local", &t.kadminLocal}} {
		if *x.dst, err = findTool(x.name); err != nil {
			return t, err
		}
	}
	return t, nil
}

// ToolsInstalled reports whether krb5kdc, kdb5_util and kadmin.local are
// installed, and if not, an error wrapping ErrToolMissing naming the first
// missing one.
func ToolsInstalled() error {
	_, err := findTools()
	return err
}

// Start creates a realm database in dir (which must exist and should be
// empty), adds a principal used to check readiness, and starts krb5kdc on a
// free loopback port. It returns once a real AS exchange with
// pre-authentication has succeeded. Stop the KDC with Stop.
func Start(ctx context.Context, dir string, opts Options) (*KDC, error) {
	t, err := findTools()
	if err != nil {
		return nil, err
	}
	if opts.Realm == "" {
		opts.Realm = DefaultRealm
	}
	if !validRealm(opts.Realm) {
		return nil, fmt.Errorf("%w: realm %q", ErrBadName, opts.Realm)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mitkdc: %w", err)
	}
	k := &KDC{Dir: abs, Realm: opts.Realm, opts: opts, tools: t}
	if err := k.createRealm(ctx); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		err = k.launch(ctx)
		if err == nil {
			return k, nil
		}
		// Another process may have taken the port between our probe and
		// krb5kdc's bind: try another one.
		if attempt >= startAttempts || !strings.Contains(k.Output()+k.Log(), "in use") {
			return nil, err
		}
	}
}

// createRealm picks a port, writes the configuration, creates the database
// and the readiness principal.
func (k *KDC) createRealm(ctx context.Context) error {
	if err := k.pickPort(); err != nil {
		return err
	}
	if err := k.writeConfig(); err != nil {
		return err
	}
	out, err := k.run(ctx, nil, k.tools.kdb5util, "-r", k.Realm, "-d", filepath.Join(k.Dir, "principal"),
		"create", "-s", "-P", masterPassword)
	if err != nil {
		return fmt.Errorf("mitkdc: kdb5_util create: %w: %s", err, tail(out))
	}
	pw, err := randomPassword()
	if err != nil {
		return err
	}
	if err := k.AddUsers(ctx, []User{{Name: readyPrincipal, Password: pw}}); err != nil {
		return err
	}
	k.ready, err = NewPrincipal(k.Realm, readyPrincipal, pw)
	return err
}

// pickPort finds a loopback port free for both TCP and UDP and writes the
// configuration for it.
func (k *KDC) pickPort() error {
	for range 20 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("mitkdc: find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = u.Close()
		k.port = port
		k.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		return nil
	}
	return errors.New("mitkdc: no loopback port free for both TCP and UDP")
}

// run runs an MIT tool with this KDC's environment, stdin from in, and
// returns its output (capped at 64 KiB).
func (k *KDC) run(ctx context.Context, in []byte, name string, args ...string) (string, error) {
	return k.runTo(ctx, in, nil, name, args...)
}

// runTo is run with the output also copied, uncapped, to w.
func (k *KDC) runTo(ctx context.Context, in []byte, w io.Writer, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = k.Dir
	cmd.Env = append(os.Environ(), k.Env()...)
	if in != nil {
		cmd.Stdin = bytes.NewReader(in)
	}
	var out cappedBuffer
	var sink io.Writer = &out
	if w != nil {
		sink = io.MultiWriter(&out, w)
	}
	cmd.Stdout, cmd.Stderr = sink, sink
	cmd.WaitDelay = stopTimeout
	err := cmd.Run()
	return out.String(), err
}

// launch starts krb5kdc and waits until it answers.
func (k *KDC) launch(ctx context.Context) error {
	if k.cmd != nil { // a failed attempt: new port, new configuration
		if err := k.pickPort(); err != nil {
			return err
		}
		if err := k.writeConfig(); err != nil {
			return err
		}
	}
	args := []string{"-n", "-r", k.Realm, "-P", filepath.Join(k.Dir, "krb5kdc.pid")}
	if k.opts.Workers > 1 {
		args = append(args, "-w", strconv.Itoa(k.opts.Workers))
	}
	cmd := exec.Command(k.tools.krb5kdc, args...)
	cmd.Dir = k.Dir
	cmd.Env = append(os.Environ(), k.Env()...)
	k.out = &cappedBuffer{}
	cmd.Stdout, cmd.Stderr = k.out, k.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mitkdc: start krb5kdc: %w", err)
	}
	k.cmd, k.done, k.stopped = cmd, make(chan struct{}), sync.Once{}
	go func() {
		k.waitErr = cmd.Wait()
		close(k.done)
	}()
	if err := k.waitReady(ctx); err != nil {
		_ = k.Stop()
		return err
	}
	return nil
}

// waitReady repeats an AS exchange for the readiness principal until it
// succeeds, krb5kdc exits, or readyTimeout passes.
func (k *KDC) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	c, err := NewClient(k.Addr, UDP)
	if err != nil {
		return err
	}
	defer c.Close()
	c.Timeout = 200 * time.Millisecond
	var last error
	for {
		select {
		case <-k.done:
			return fmt.Errorf("%w before answering (%v): %s %s", ErrExited, k.waitErr, tail(k.Output()), tail(k.Log()))
		default:
		}
		if _, last = c.Login(ctx, k.ready); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w after %v: %w; %s", ErrNotReady, readyTimeout, last, tail(k.Log()))
		case <-k.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PID returns the process id of krb5kdc (the supervisor when Workers > 1).
func (k *KDC) PID() int { return k.cmd.Process.Pid }

// CPU returns the CPU time krb5kdc and its worker processes have used so far.
func (k *KDC) CPU() (time.Duration, error) { return loadgen.TreeCPU(k.PID()) }

// PeakRSS returns the sum of the peak resident set sizes of krb5kdc and its
// worker processes, in bytes (an upper bound of their joint peak).
func (k *KDC) PeakRSS() (int64, error) {
	total, err := loadgen.PeakRSS(k.PID())
	if err != nil {
		return 0, err
	}
	kids, err := loadgen.Descendants(k.PID())
	if err != nil {
		return 0, err
	}
	for _, p := range kids {
		if n, err := loadgen.PeakRSS(p); err == nil {
			total += n
		}
	}
	return total, nil
}

// Output returns the last 64 KiB or so that krb5kdc wrote on stdout and stderr.
func (k *KDC) Output() string {
	if k.out == nil {
		return ""
	}
	return k.out.String()
}

// Log returns the last 64 KiB of the KDC's log file.
func (k *KDC) Log() string {
	f, err := os.Open(k.LogPath())
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxOutputBytes {
		_, _ = f.Seek(-maxOutputBytes, 2)
	}
	buf := make([]byte, maxOutputBytes)
	n, _ := f.Read(buf)
	return string(buf[:n])
}

// Stop terminates krb5kdc's process group (SIGTERM, then SIGKILL after 10 s)
// and waits for krb5kdc to exit. It is safe to call more than once.
func (k *KDC) Stop() error {
	if k.cmd == nil || k.cmd.Process == nil {
		return nil
	}
	k.stopped.Do(func() { k.stopErr = k.stop() })
	return k.stopErr
}

func (k *KDC) stop() error {
	pgid := k.cmd.Process.Pid // Setpgid: the group id is krb5kdc's pid
	select {
	case <-k.done:
		return nil
	default:
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("mitkdc: SIGTERM krb5kdc: %w", err)
	}
	select {
	case <-k.done:
		// The supervisor has exited; make sure no worker outlives it.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return nil
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-k.done
		return errors.New("mitkdc: krb5kdc did not stop on SIGTERM; killed")
	}
}

// randomPassword returns 32 random hex characters.
func randomPassword() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("mitkdc: random password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// tail returns the last lines of s, for error messages.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 800 {
		s = "…" + s[len(s)-800:]
	}
	return s
}

// cappedBuffer collects process output, keeping about the last
// maxOutputBytes.
type cappedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(p) > maxOutputBytes {
		p = p[len(p)-maxOutputBytes:]
	}
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*maxOutputBytes {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-maxOutputBytes:]...)
	}
	return n, nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
