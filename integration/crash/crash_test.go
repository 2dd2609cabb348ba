// Package crash kills a real `passkdc serve` (standalone mode, SQLite) with
// SIGKILL at random points under concurrent registrations and sign-ins, and
// checks after every kill that nothing acknowledged was lost.
package crash

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/passkdc/passkdc/internal/client"
	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/sqlite"
)

const (
	realm      = "CORP.EXAMPLE.TEST"
	domainSID  = "S-1-5-21-4-5-6"
	killPoints = 30
	workers    = 4
	tapsEach   = 40 // registrations a worker may attempt over the whole test
)

// bed is the test bed: binary, files, acknowledged facts.
type bed struct {
	t      *testing.T
	dir    string
	bin    string
	config string
	db     string
	url    string
	origin string

	mu        sync.Mutex
	acked     map[string]uint32 // credential ID (base64url) → highest acknowledged sign count
	registers int
	logins    int
	failures  int      // requests cut or refused by a kill (not acknowledged)
	refusals  []string // answers of a live server that refused a legitimate request
	replays   int      // used sessions sent again after a restart
}

func TestCrashKeepsEveryAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the passkdc binary")
	}
	b := newBed(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	keys := make([]*softkey.Authenticator, workers)
	taps := make([]int, workers)
	var replay []pendingFinish
	start := time.Now()
	for kill := range killPoints {
		p := b.start()
		b.checkNoReplay(replay)
		replay = replay[:0]
		// A finished sign-in: its session must not be usable after the restart.
		if keys[0] != nil {
			replay = append(replay, b.usedSession(keys[0]))
		}
		regs, logins := b.counts()
		passesLeft := false
		for _, n := range taps { // read before the workers start
			passesLeft = passesLeft || n < tapsEach
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.work(ctx, w, &keys[w], &taps[w], stop)
			}()
		}
		time.Sleep(time.Duration(40+rng.IntN(300)) * time.Millisecond)
		// On a slow or loaded machine, let at least one sign-in (and one
		// registration while passes remain) be acknowledged in this life of
		// the server (bounded).
		b.waitForProgress(regs, logins, passesLeft, 10*time.Second)
		_ = p.Process.Signal(syscall.SIGKILL)
		_ = p.Wait()
		close(stop)
		wg.Wait()
		b.checkStore(kill)
	}
	b.t.Logf("%d kill points in %s: %d registrations and %d sign-ins acknowledged, %d requests cut or refused by a kill, "+
		"%d credentials checked after every kill, %d used sessions replayed after a restart",
		killPoints, time.Since(start).Round(time.Millisecond), b.registers, b.logins, b.failures, len(b.acked), b.replays)
	if len(b.refusals) > 0 {
		t.Fatalf("%d legitimate requests refused by a live server, first: %s", len(b.refusals), b.refusals[0])
	}
	if b.registers < killPoints || b.logins < killPoints {
		t.Fatalf("too little load to prove anything: %d registrations, %d sign-ins", b.registers, b.logins)
	}
}

// counts returns the acknowledged registrations and sign-ins so far.
func (b *bed) counts() (registers, logins int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.registers, b.logins
}

// waitForProgress waits, at most max, until the sign-in count (and the
// registration count, when wantRegistration) has grown past the given one.
func (b *bed) waitForProgress(registers, logins int, wantRegistration bool, max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		r, l := b.counts()
		if (r > registers || !wantRegistration) && l > logins {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newBed(t *testing.T) *bed {
	t.Helper()
	dir := t.TempDir()
	b := &bed{t: t, dir: dir, bin: filepath.Join(dir, "passkdc"), db: filepath.Join(dir, "passkdc.db"), acked: map[string]uint32{}}
	build := exec.Command("go", "build", "-o", b.bin, "github.com/passkdc/passkdc/cmd/passkdc")
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := freePort(t)
	b.url, b.origin = "http://localhost:"+port, "http://localhost:"+port
	kt := filepath.Join(dir, "krbtgt.keytab")
	writeKeytab(t, kt)
	b.config = filepath.Join(dir, "passkdc.yaml")
	cfg := fmt.Sprintf(`realm: %s
listen: 127.0.0.1:%s
rp_id: localhost
origins: ["%s"]
store: %s
keytab: %s
standalone: {enabled: true, allow: ["%s-571"]}
limits: {per_address_per_minute: 1000000, per_address_burst: 100000, per_principal_per_minute: 1000000, per_principal_burst: 100000, sessions_per_principal: 1000}
`, realm, port, b.origin, b.db, kt, domainSID)
	if err := os.WriteFile(b.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	b.seed()
	return b
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func writeKeytab(t *testing.T, path string) {
	kp := keytabs.NewPrincipal(realm, "krbtgt_40000")
	key, err := keytabs.StringToKey(18, "rodc", keytabs.ADUserSalt(realm, "krbtgt_40000"))
	if err != nil {
		t.Fatal(err)
	}
	kt := &keytabs.Keytab{Entries: []keytabs.Entry{{Principal: kp, KVNO: keytabs.EncodeKVNO(40000, 1), Key: key}}}
	if err := kt.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

func anchor(w int) string { return fmt.Sprintf("9a7c1d2e-0000-4000-8000-%012d", w) }

func tapCode(w, i int) string { return fmt.Sprintf("CRASH-%d-%03d", w, i) }

// seed puts the principals, their group and their passes into the store.
func (b *bed) seed() {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, b.db)
	if err != nil {
		b.t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	err = st.WithTx(ctx, func(tx store.Tx) error {
		if _, err := tx.UpsertGroup(ctx, store.Group{Anchor: "g-allowed", Name: "Allowed", SID: domainSID + "-571", Directory: "default"}); err != nil {
			return err
		}
		for w := range workers {
			p := store.Principal{Anchor: anchor(w), Directory: "default", Name: fmt.Sprintf("worker%d", w), Realm: realm,
				SID: fmt.Sprintf("%s-%d", domainSID, 1500+w), Enabled: true, SyncedAt: now}
			if _, err := tx.UpsertPrincipal(ctx, p); err != nil {
				return err
			}
			if err := tx.SetMemberships(ctx, p.Anchor, []string{"g-allowed"}); err != nil {
				return err
			}
			for i := range tapsEach {
				c := tapCode(w, i)
				if err := tx.CreateTAP(ctx, store.TAP{ID: c, Principal: p.Anchor, Hash: server.HashTAP(c), UsesLeft: 1,
					CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.t.Fatal(err)
	}
}

// start runs passkdc serve and waits until it answers.
func (b *bed) start() *exec.Cmd {
	b.t.Helper()
	cmd := exec.Command(b.bin, "serve", "--config", b.config, "--insecure-loopback")
	cmd.Env = append(os.Environ(), "PASSKDC_CONFIG=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if !ok && strings.Contains(sc.Text(), "listening on") {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			b.t.Fatalf("passkdc serve did not start:\n%s", stderr.String())
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		b.t.Fatalf("passkdc serve not ready in 20 s:\n%s", stderr.String())
	}
	return cmd
}

// work registers a passkey (when the worker has none, or now and then) and
// signs in, recording what the server acknowledged, until stop.
func (b *bed) work(ctx context.Context, w int, key **softkey.Authenticator, tap *int, stop <-chan struct{}) {
	c, err := client.New(b.url, "")
	if err != nil {
		b.t.Error(err)
		return
	}
	for n := 0; n < 200; n++ {
		select {
		case <-stop:
			return
		default:
		}
		if (*key == nil || n%5 == 4) && *tap < tapsEach {
			b.register(ctx, c, w, key, tap)
			continue
		}
		if *key == nil {
			return
		}
		_, err := c.Login(ctx, "", *key)
		b.mu.Lock()
		switch {
		case err == nil:
			id := enc((*key).CredentialID())
			b.acked[id] = max(b.acked[id], (*key).SignCount())
			b.logins++
		case isAPIError(err):
			b.refusals = append(b.refusals, err.Error())
		default:
			b.failures++
		}
		b.mu.Unlock()
	}
}

func (b *bed) register(ctx context.Context, c *client.Client, w int, key **softkey.Authenticator, tap *int) {
	code := tapCode(w, *tap)
	*tap++
	k, err := softkey.Open(filepath.Join(b.dir, fmt.Sprintf("w%d-%s.passkey", w, code)))
	if err != nil {
		b.t.Error(err)
		return
	}
	_, err = c.Register(ctx, code, "", k)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		if isAPIError(err) {
			b.refusals = append(b.refusals, err.Error())
		}
		b.failures++
		return
	}
	b.registers++
	b.acked[enc(k.CredentialID())] = 0
	*key = k // a passkey is used for sign-in only once its registration is acknowledged
}

// pendingFinish is a sign-in finish body whose session was already used.
type pendingFinish struct{ body []byte }

// usedSession runs a sign-in by hand and returns its finish request, which
// must never succeed again.
func (b *bed) usedSession(key *softkey.Authenticator) pendingFinish {
	bk := enc(append([]byte{9}, make([]byte, 31)...))
	var begin struct {
		Session   string                                     `json:"session"`
		PublicKey protocol.PublicKeyCredentialRequestOptions `json:"publicKey"`
	}
	if code, err := b.postJSON("/v1/login/begin", map[string]string{"binding_key": bk}, &begin); err != nil || code != 200 {
		return pendingFinish{}
	}
	cred, err := key.Assert(begin.PublicKey, b.origin)
	if err != nil {
		return pendingFinish{}
	}
	body, _ := json.Marshal(map[string]any{"session": begin.Session, "credential": json.RawMessage(cred)})
	code, err := b.postJSON("/v1/login/finish", json.RawMessage(body), nil)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil || code != 200 {
		b.failures++
		return pendingFinish{}
	}
	b.logins++
	id := enc(key.CredentialID())
	b.acked[id] = max(b.acked[id], key.SignCount())
	return pendingFinish{body: body}
}

// checkNoReplay sends used sessions again after the restart.
func (b *bed) checkNoReplay(used []pendingFinish) {
	for _, u := range used {
		if u.body == nil {
			continue
		}
		code, err := b.postJSON("/v1/login/finish", json.RawMessage(u.body), nil)
		if err != nil {
			b.t.Fatalf("replay after restart: %v", err)
		}
		if code == http.StatusOK {
			b.t.Fatal("a session used before the kill was accepted again after the restart")
		}
		b.replays++
	}
}

func (b *bed) postJSON(path string, in, out any) (int, error) {
	body, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.url+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

// checkStore opens the database the killed process left (as the next start
// will) and checks integrity, acknowledged registrations and counters.
func (b *bed) checkStore(kill int) {
	b.t.Helper()
	db, err := sql.Open("sqlite", "file:"+b.db)
	if err != nil {
		b.t.Fatal(err)
	}
	defer db.Close()
	var ic string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ic); err != nil || ic != "ok" {
		b.t.Fatalf("kill %d: integrity_check %q, %v", kill, ic, err)
	}
	rows, err := db.Query(`SELECT id, sign_count FROM credentials`)
	if err != nil {
		b.t.Fatal(err)
	}
	stored := map[string]uint32{}
	for rows.Next() {
		var id []byte
		var n uint32
		if err := rows.Scan(&id, &n); err != nil {
			b.t.Fatal(err)
		}
		stored[enc(id)] = n
	}
	rows.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, n := range b.acked {
		got, ok := stored[id]
		switch {
		case !ok:
			b.t.Fatalf("kill %d: acknowledged registration %s is gone", kill, id)
		case got < n:
			b.t.Fatalf("kill %d: credential %s sign counter %d is below the acknowledged %d", kill, id, got, n)
		}
	}
}

// isAPIError: the server answered (rather than the connection failing).
func isAPIError(err error) bool {
	var e *client.APIError
	return errors.As(err, &e)
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
