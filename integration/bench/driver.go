package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/passkdc/passkdc/internal/client"
	"github.com/passkdc/passkdc/internal/gotune"
	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/kdc/binding"
)

// serverProc is the passkdc server process under measurement.
type serverProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	addr   string // 127.0.0.1:port
	origin string // https://localhost:port
	caFile string // the server's self-signed certificate
	stderr bytes.Buffer
	gc     gotune.Applied // the Go runtime's GC settings in the server
}

// parseListening reads the child's first line, "listening ADDR GC".
func parseListening(line string) (addr string, gc gotune.Applied, ok bool) {
	rest, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		return "", gc, false
	}
	addr, js, ok := strings.Cut(rest, " ")
	if !ok || json.Unmarshal([]byte(js), &gc) != nil || gc.GCSource == "" {
		return "", gc, false
	}
	return addr, gc, true
}

// startServer re-executes this program as the server whose configuration
// is in dir.
func startServer(ctx context.Context, dir string) (*serverProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s := &serverProc{cmd: exec.CommandContext(ctx, exe)}
	s.cmd.Env = append(os.Environ(), childEnv+"="+dir)
	s.cmd.Stderr = &s.stderr
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.lines = bufio.NewScanner(out)
	line, err := s.readLine(30 * time.Second)
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("server did not start: %w: %s", err, s.stderr.String())
	}
	addr, gc, ok := parseListening(line)
	if !ok {
		s.stop()
		return nil, fmt.Errorf("server said %q: %s", line, s.stderr.String())
	}
	s.gc = gc
	_, port, _ := net.SplitHostPort(addr)
	s.addr, s.origin = addr, "https://"+benchRPID+":"+port
	s.caFile = filepath.Join(dir, "tls.crt")
	return s, nil
}

// readLine reads one line of the server's stdout within d.
func (s *serverProc) readLine(d time.Duration) (string, error) {
	type res struct {
		line string
		ok   bool
	}
	ch := make(chan res, 1)
	go func() { ok := s.lines.Scan(); ch <- res{s.lines.Text(), ok} }()
	select {
	case r := <-ch:
		if !r.ok {
			return "", errors.New("server closed its output")
		}
		return r.line, nil
	case <-time.After(d):
		return "", errors.New("no answer from the server")
	}
}

// command sends a stdin command and waits for its one-line acknowledgement.
// profiled runs fn under the server's CPU profile written to path (and its
// allocation profiles to path.heap0 and path.heap1); with path empty it
// only runs fn.
func (s *serverProc) profiled(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	if err := s.command("profile-start " + absPath(path)); err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	return s.command("profile-stop")
}

func (s *serverProc) command(c string) error {
	if _, err := fmt.Fprintln(s.stdin, c); err != nil {
		return err
	}
	_, err := s.readLine(10 * time.Second)
	return err
}

// mallocs is the server's count of heap allocations so far.
func (s *serverProc) mallocs() (uint64, error) {
	if _, err := fmt.Fprintln(s.stdin, "mallocs"); err != nil {
		return 0, err
	}
	line, err := s.readLine(10 * time.Second)
	if err != nil {
		return 0, err
	}
	var n uint64
	if _, err := fmt.Sscanf(line, "mallocs %d", &n); err != nil {
		return 0, fmt.Errorf("server answered %q: %w", line, err)
	}
	return n, nil
}

func (s *serverProc) pid() int { return s.cmd.Process.Pid }

// stop closes stdin (the server drains and exits) and waits, killing it
// after a grace period.
func (s *serverProc) stop() error {
	_ = s.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		return <-done
	}
}

// registerViaAPI enrols a software passkey (internal/softkey) for each
// enrolment with internal/client, as passkinit --register does, and returns
// the passkeys for the load.
func registerViaAPI(ctx context.Context, s *serverProc, dir string, es []enrolment) ([]*passkey, error) {
	c, err := client.New(s.origin, s.caFile)
	if err != nil {
		return nil, err
	}
	out := make([]*passkey, 0, len(es))
	for i, e := range es {
		path := filepath.Join(dir, fmt.Sprintf("softkey-%d.json", i))
		auth, err := softkey.Open(path)
		if err != nil {
			return nil, err
		}
		if _, err := c.Register(ctx, e.pass, "", auth); err != nil {
			return nil, fmt.Errorf("register %s: %w", e.anchor, err)
		}
		k, err := passkeyFromSoftkey(path)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// signer drives sign-ins over a bounded pool of keep-alive connections.
type signer struct {
	http    *http.Client
	targets []target // worker slot w signs in at targets[w % len(targets)]
	keys    []*passkey
	slots   int   // key i belongs to worker slot i % slots
	next    []int // per slot: next key index
}

// target is one server (replica) the load goes to.
type target struct {
	base   string // https://127.0.0.1:port
	origin string // https://localhost:port
}

// newSigner makes a signer for up to slots concurrent workers spread over
// the servers srvs (replicas of one store); the connection pool holds at
// most slots connections, reused across requests.
func newSigner(srvs []*serverProc, keys []*passkey, slots int) (*signer, error) {
	if len(keys) < slots {
		return nil, fmt.Errorf("%d passkeys for %d concurrent workers: each worker needs its own", len(keys), slots)
	}
	roots := x509.NewCertPool()
	var targets []target
	for _, s := range srvs {
		pem, err := os.ReadFile(s.caFile)
		if err != nil {
			return nil, fmt.Errorf("server certificate: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("server certificate %s: no certificate", s.caFile)
		}
		targets = append(targets, target{base: "https://" + s.addr, origin: s.origin})
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		MaxIdleConns:    slots, MaxIdleConnsPerHost: slots, MaxConnsPerHost: slots,
		IdleConnTimeout: time.Minute, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	g := &signer{http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, targets: targets,
		keys: keys, slots: slots, next: make([]int, slots)}
	for w := range g.next {
		g.next[w] = w
	}
	return g, nil
}

func (g *signer) close() { g.http.CloseIdleConnections() }

// signIn is one discoverable sign-in by worker w: begin with a fresh
// binding key, assert with the worker's next passkey, finish, and open the
// KRB-CRED with the binding key (so a ticket the client cannot use counts
// as an error).
func (g *signer) signIn(ctx context.Context, w int) error {
	t := g.targets[w%len(g.targets)]
	k := g.keys[g.next[w]]
	g.next[w] += g.slots
	if g.next[w] >= len(g.keys) {
		g.next[w] = w
	}
	bk, err := binding.Generate()
	if err != nil {
		return err
	}
	var begin struct {
		Session   string `json:"session"`
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := g.post(ctx, t.base+"/v1/login/begin", map[string]string{"binding_key": b64.EncodeToString(bk.Public())}, &begin); err != nil {
		return err
	}
	cred, err := k.assert(begin.PublicKey.Challenge, t.origin)
	if err != nil {
		return err
	}
	var fin struct {
		Principal string `json:"principal"`
		KRBCred   string `json:"krb_cred"`
		ServerKey string `json:"server_key"`
	}
	req := map[string]any{"session": begin.Session, "credential": json.RawMessage(cred)}
	if err := g.post(ctx, t.base+"/v1/login/finish", req, &fin); err != nil {
		return err
	}
	_, err = client.Open(bk, begin.Session, fin.Principal, fin.KRBCred, fin.ServerKey)
	return err
}

// post sends in as JSON to url and decodes the answer into out.
func (g *signer) post(ctx context.Context, url string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}
