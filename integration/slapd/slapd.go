// Package slapd runs a throwaway OpenLDAP server for passkdc's tests and
// benchmarks: slapd from the Debian package, configured from a generated
// slapd.conf (mdb backend, memberof + refint + ppolicy overlays, a small test
// schema for krbPrincipalName, sambaSID and nsAccountLock), listening only on
// loopback, in its own process group, with all state in one directory.
//
// Prerequisites: the Debian packages slapd and ldap-utils (slapd, slapadd,
// ldapsearch). Tests call Start, which skips (or fails under CI=true) when
// they are missing.
package slapd

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/internal/testenv"
)

// Tools are the executables the harness needs.
var Tools = []string{"slapd", "slapadd", "ldapsearch"}

// Options configure a server. Zero values take the defaults.
type Options struct {
	Suffix string // default "dc=example,dc=test"
	RootPW string // default "secret"
	LDAPS  bool   // also listen on ldaps:// with a generated certificate
}

// Server is a running slapd.
type Server struct {
	URL      string // ldap://127.0.0.1:port
	LDAPSURL string // ldaps://127.0.0.1:port when Options.LDAPS, else empty
	Suffix   string
	RootDN   string
	RootPW   string
	People   string // ou=people,<suffix>
	Groups   string // ou=groups,<suffix>
	CAFile   string // PEM of the CA that signed the ldaps certificate
	Dir      string // state directory

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *lockedBuffer
}

// lockedBuffer collects slapd's output; exec writes it from its own goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 { // keep the log bounded
		b.buf.Reset()
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start runs a server in t.TempDir() and stops it when the test ends. A missing
// tool skips the test (fails it under CI=true).
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	for _, tool := range Tools {
		if _, err := findTool(tool); err != nil {
			testenv.Missing(t, "executable "+tool+" (Debian packages slapd, ldap-utils)")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := StartDir(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("slapd stop: %v", err)
		}
	})
	return s
}

// findTool looks on PATH and in the sbin directories slapd lives in.
func findTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("slapd: %s not found (install Debian packages slapd and ldap-utils)", name)
}

// StartDir writes a configuration and the base entries into dir and starts slapd.
func StartDir(ctx context.Context, dir string, opts Options) (*Server, error) {
	if opts.Suffix == "" {
		opts.Suffix = "dc=example,dc=test"
	}
	if opts.RootPW == "" {
		opts.RootPW = "secret"
	}
	s := &Server{
		Suffix: opts.Suffix,
		RootDN: "cn=admin," + opts.Suffix,
		RootPW: opts.RootPW,
		People: "ou=people," + opts.Suffix,
		Groups: "ou=groups," + opts.Suffix,
		Dir:    dir,
	}
	if err := s.configure(opts); err != nil {
		return nil, err
	}
	if err := s.slapadd(ctx, bytes.NewReader([]byte(s.baseLDIF()))); err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) configure(opts Options) error {
	for _, d := range []string{"data", "run"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o700); err != nil {
			return fmt.Errorf("slapd: %w", err)
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	s.URL = "ldap://127.0.0.1:" + strconv.Itoa(port)
	var tlsConf string
	if opts.LDAPS {
		sport, err := freePort()
		if err != nil {
			return err
		}
		s.LDAPSURL = "ldaps://127.0.0.1:" + strconv.Itoa(sport)
		if tlsConf, err = writeCerts(s.Dir); err != nil {
			return err
		}
		s.CAFile = filepath.Join(s.Dir, "ca.pem")
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "test.schema"), []byte(testSchema), 0o600); err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	conf := fmt.Sprintf(slapdConf, s.Dir, tlsConf, s.Suffix, s.RootDN, s.RootPW)
	if err := os.WriteFile(s.confPath(), []byte(conf), 0o600); err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	return nil
}

func (s *Server) confPath() string { return filepath.Join(s.Dir, "slapd.conf") }

func (s *Server) listenURLs() string {
	if s.LDAPSURL != "" {
		return s.URL + "/ " + s.LDAPSURL + "/"
	}
	return s.URL + "/"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("slapd: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start launches slapd in the foreground (-d 0) in its own process group and
// waits until it answers a RootDSE search.
func (s *Server) start(ctx context.Context) error {
	bin, err := findTool("slapd")
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "-d", "0", "-f", s.confPath(), "-h", s.listenURLs())
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("slapd: start: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done, s.log = cmd, done, log
	s.mu.Unlock()
	if err := s.waitReady(ctx, done, log); err != nil {
		_ = s.Stop()
		return err
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context, done <-chan struct{}, log *lockedBuffer) error {
	for {
		c, err := ldap.DialURL(s.URL)
		if err == nil {
			_, err = c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
				0, 5, false, "(objectClass=*)", []string{"namingContexts"}, nil))
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("slapd exited at start: %s", log.String())
		case <-ctx.Done():
			return fmt.Errorf("slapd not ready at %s: %w (%v)", s.URL, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop terminates slapd's process group (SIGTERM, then SIGKILL after 10 s) and
// waits for it. Stopping a stopped server is a no-op.
func (s *Server) Stop() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	pgid := cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("slapd: stop: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
		return errors.New("slapd: did not stop on SIGTERM; killed")
	}
}

// Restart stops and starts the server on the same ports and data.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.start(ctx)
}

// Log returns what slapd printed so far (for failing tests).
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

// Conn returns a connection bound as the root DN over ldap://.
func (s *Server) Conn() (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		return nil, fmt.Errorf("slapd: dial: %w", err)
	}
	if err := c.Bind(s.RootDN, s.RootPW); err != nil {
		c.Close()
		return nil, fmt.Errorf("slapd: bind: %w", err)
	}
	return c, nil
}

// TLSConfig trusts the generated CA (for ldaps:// clients).
func (s *Server) TLSConfig() (*tls.Config, error) {
	return caTLSConfig(s.CAFile)
}
