// Package pgtest starts a throwaway PostgreSQL server for tests, from the
// binaries of the Debian package postgresql (/usr/lib/postgresql/N/bin).
//
// The server runs as the invoking user, or as the "postgres" system user when
// the tests run as root (PostgreSQL refuses to run as root). It listens on
// 127.0.0.1 on a free port and on a Unix socket in its own directory, keeps its
// data in a new temporary directory with fsync off, and authenticates with
// SCRAM and a random password. Stop (registered with t.Cleanup by Start) ends
// it by its process ID and removes the directory.
//
// The URL returned by URL and NewSchema carries the password: never log it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passkdc/passkdc/internal/testenv"
)

// BinDirEnv names an environment variable that overrides where the PostgreSQL
// server binaries (initdb, postgres) are looked for.
const BinDirEnv = "PASSKDC_PG_BINDIR"

// superuser is the bootstrap role initdb creates.
const superuser = "postgres"

// Server is a running throwaway PostgreSQL server.
type Server struct {
	Dir  string // temporary directory: data/, run/ (socket), pwfile
	Port int    // TCP port on 127.0.0.1

	password string
	cred     *syscall.Credential // nil: run as the current user
	durable  bool                // keep fsync and synchronous_commit on
	cmd      *exec.Cmd
	done     chan struct{} // closed when the server process has exited
	log      *lockedBuffer
	stopOnce sync.Once
	stopErr  error
}

// Start starts a server for the test and stops it when the test ends. A missing
// PostgreSQL installation skips the test, or fails it under CI=true.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := FindBinDir()
	if err != nil {
		testenv.Missing(t, err.Error()+" (Debian package postgresql)")
	}
	cred, err := runAs()
	if err != nil {
		testenv.Missing(t, err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := StartDir(ctx, bin, cred)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("pgtest: stop: %v", err)
		}
	})
	return s
}

// StartContext starts a server as Start does, for a program rather than a
// test (the bench): the caller must Stop it. With durable, the server keeps
// PostgreSQL's durability defaults (fsync, synchronous_commit and
// full_page_writes on: a commit waits for its WAL flush, as deployed)
// instead of turning them off. A missing PostgreSQL installation is an error.
func StartContext(ctx context.Context, durable bool) (*Server, error) {
	bin, err := FindBinDir()
	if err != nil {
		return nil, fmt.Errorf("%w (Debian package postgresql)", err)
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	return startDir(ctx, bin, cred, durable)
}

// FindBinDir returns the directory holding initdb and postgres: $PASSKDC_PG_BINDIR,
// else the newest /usr/lib/postgresql/N/bin.
func FindBinDir() (string, error) {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d, checkBinDir(d)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if checkBinDir(d) == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found under /usr/lib/postgresql/*/bin")
}

// majorOf extracts N from /usr/lib/postgresql/N/bin (0 when not a number).
func majorOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func checkBinDir(d string) error {
	for _, name := range []string{"initdb", "postgres"} {
		if st, err := os.Stat(filepath.Join(d, name)); err != nil || st.Mode()&0o111 == 0 {
			return fmt.Errorf("no executable %s in %s", name, d)
		}
	}
	return nil
}

// runAs returns the credential of the postgres system user when running as
// root, nil otherwise.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and no 'postgres' system user to run the server as (Debian package postgresql): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// StartDir creates a new cluster in a new temporary directory with the binaries
// of bin and starts it, as cred when not nil. The caller must Stop it.
func StartDir(ctx context.Context, bin string, cred *syscall.Credential) (*Server, error) {
	return startDir(ctx, bin, cred, false)
}

func startDir(ctx context.Context, bin string, cred *syscall.Credential, durable bool) (*Server, error) {
	dir, err := os.MkdirTemp("", "passkdc-pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, cred: cred, durable: durable}
	if err := s.initdb(ctx, bin); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// A free port can be taken between probing and binding: try a few.
	for try := 0; ; try++ {
		err = s.start(ctx, bin)
		if err == nil || try == 2 || !strings.Contains(s.Log(), "could not bind") {
			break
		}
	}
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, s.Log())
	}
	return s, nil
}

// initdb prepares the directory and creates the cluster.
func (s *Server) initdb(ctx context.Context, bin string) error {
	s.password = randomHex(24)
	pwfile := filepath.Join(s.Dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(s.Dir, "run"), 0o700); err != nil {
		return err
	}
	if err := s.chownAll(s.Dir, pwfile, filepath.Join(s.Dir, "run")); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", filepath.Join(s.Dir, "data"), "-U", superuser, "--pwfile", pwfile,
		"--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C.UTF-8", "--no-sync", "--no-instructions")
	s.prepare(cmd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return nil
}

// chownAll gives paths to the user the server runs as.
func (s *Server) chownAll(paths ...string) error {
	if s.cred == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fmt.Errorf("chown %s: %w", p, err)
		}
	}
	return nil
}

// prepare sets the user, working directory and environment of a server command.
func (s *Server) prepare(cmd *exec.Cmd) {
	cmd.Dir = s.Dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8", "HOME=" + s.Dir}
	// Pdeathsig: a test binary that dies (timeout panic, kill) takes the
	// server with it (SIGQUIT: immediate shutdown of postmaster and backends).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
}

// start runs postgres on a free port and waits until it accepts connections.
func (s *Server) start(ctx context.Context, bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Port = port
	s.log = &lockedBuffer{}
	args := []string{"-D", filepath.Join(s.Dir, "data"),
		"-p", strconv.Itoa(port),
		"-k", filepath.Join(s.Dir, "run"),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=100", "-c", "log_min_messages=warning"}
	if !s.durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	s.prepare(cmd)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
	return s.waitReady(ctx)
}

// waitReady polls the server until a connection succeeds.
func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, s.URL("postgres"))
		cancel()
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-s.done:
			return fmt.Errorf("postgres exited before accepting connections: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after 30 s: %w", err)
		}
	}
}

// URL is a postgres:// URL of database db as the superuser over TCP. It holds
// the password: do not log it.
func (s *Server) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, s.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Password is the superuser's password (for tests of passfile and the like):
// do not log it.
func (s *Server) Password() string { return s.password }

// NewSchema creates a new, empty schema in database postgres and returns a URL
// whose connections use it (search_path): each caller gets its own tables.
func (s *Server) NewSchema(t testing.TB) string {
	t.Helper()
	name := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	return s.URL("postgres") + "&search_path=" + name
}

// Stop ends the server by its process ID (fast shutdown, then SIGKILL to its
// process group after 10 s) and removes its directory. It may be called twice.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	var errs []error
	if s.cmd != nil && s.cmd.Process != nil {
		pid := s.cmd.Process.Pid
		if err := syscall.Kill(pid, syscall.SIGINT); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("signal postgres %d: %w", pid, err))
		}
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-s.done
			errs = append(errs, fmt.Errorf("postgres %d ignored SIGINT for 10 s: killed", pid))
		}
	}
	if s.Dir != "" {
		errs = append(errs, os.RemoveAll(s.Dir))
	}
	return errors.Join(errs...)
}

// PID is the process ID of the server (postmaster).
func (s *Server) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Log returns what the server wrote to its standard output and error so far.
func (s *Server) Log() string {
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// lockedBuffer collects a process's output; it is written by os/exec's copier
// and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 { // keep at most ~1 MiB
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
