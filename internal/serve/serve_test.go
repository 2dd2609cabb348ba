package serve_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/internal/client"
	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/internal/serve"
	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
)

const (
	realm     = "CORP.EXAMPLE.TEST"
	domainSID = "S-1-5-21-7-8-9"
)

// writeKeytab writes krbtgt_40000's keys of versions 1..latest (one aes256
// key per version, as a rotation leaves them).
func writeKeytab(t *testing.T, path string, latest int) {
	t.Helper()
	kp := keytabs.NewPrincipal(realm, "krbtgt_40000")
	kt := &keytabs.Keytab{}
	for v := 1; v <= latest; v++ {
		key, err := keytabs.StringToKey(18, fmt.Sprintf("rodc-v%d", v), keytabs.ADUserSalt(realm, "krbtgt_40000"))
		if err != nil {
			t.Fatal(err)
		}
		kt.Entries = append(kt.Entries, keytabs.Entry{Principal: kp, KVNO: keytabs.EncodeKVNO(40000, uint16(v)), Key: key})
	}
	if err := kt.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

type standalone struct {
	app    *serve.App
	url    string
	keytab string
}

// startStandalone runs a standalone passkdc (no directory) on loopback.
func startStandalone(t *testing.T) *standalone {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	kt := filepath.Join(dir, "krbtgt.keytab")
	writeKeytab(t, kt, 1)
	yaml := fmt.Sprintf(`realm: %s
listen: 127.0.0.1:%s
rp_id: localhost
origins: ["http://localhost:%s"]
store: %s
keytab: %s
standalone: {enabled: true, allow: ["%s-571"]}
limits: {per_address_per_minute: 1000000, per_address_burst: 100000, per_principal_per_minute: 1000000, per_principal_burst: 100000}
`, realm, port, port, filepath.Join(dir, "passkdc.db"), kt, domainSID)
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	ctx := context.Background()
	app, err := serve.New(ctx, serve.Options{Config: cfg, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	srv := app.HTTPServer()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &standalone{app: app, url: "http://localhost:" + port, keytab: kt}
}

// enrol puts a principal allowed by the policy into the store and registers a
// software passkey for it through the API.
func (s *standalone) enrol(t *testing.T, name string, rid int) *softkey.Authenticator {
	t.Helper()
	ctx := context.Background()
	st := s.app.Store()
	if _, err := st.UpsertGroup(ctx, store.Group{Anchor: "g-allowed", Name: "Allowed", SID: domainSID + "-571", Directory: "default"}); err != nil {
		t.Fatal(err)
	}
	p := store.Principal{Anchor: fmt.Sprintf("5d0c8e1a-0000-4000-8000-%012d", rid), Directory: "default", Name: name,
		Realm: realm, SID: fmt.Sprintf("%s-%d", domainSID, rid), Enabled: true, SyncedAt: time.Now()}
	if _, err := st.UpsertPrincipal(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := st.SetMemberships(ctx, p.Anchor, []string{"g-allowed"}); err != nil {
		t.Fatal(err)
	}
	pass := "PASS-" + name
	if err := st.CreateTAP(ctx, store.TAP{ID: pass, Principal: p.Anchor, Hash: server.HashTAP(pass), UsesLeft: 1,
		CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	key, err := softkey.Open(filepath.Join(t.TempDir(), name+".passkey"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(s.url, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, pass, "", key); err != nil {
		t.Fatal(err)
	}
	return key
}

func ticketKVNO(t *testing.T, si *client.SignedIn) int {
	t.Helper()
	var tkt messages.Ticket
	if err := tkt.Unmarshal(si.Cred.Tickets[0]); err != nil {
		t.Fatal(err)
	}
	return tkt.EncPart.KVNO
}

// TestReloadKeysPicksUpARotatedKeyWithoutDroppingRequests signs in
// continuously from several clients while the keytab is rotated and
// reloaded: every sign-in succeeds, and those begun after the reload carry
// the new kvno.
func TestReloadKeysPicksUpARotatedKeyWithoutDroppingRequests(t *testing.T) {
	s := startStandalone(t)
	const workers, rounds = 4, 12
	keys := make([]*softkey.Authenticator, workers)
	for i := range keys {
		keys[i] = s.enrol(t, fmt.Sprintf("user%d", i), 1300+i)
	}
	v1 := int(int32(keytabs.EncodeKVNO(40000, 1)))
	v2 := int(int32(keytabs.EncodeKVNO(40000, 2)))
	ctx := context.Background()
	var mu sync.Mutex
	var errs []error
	seen := map[int]int{}
	reloaded := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _ := client.New(s.url, "")
			for r := range rounds {
				if r == rounds/2 {
					<-reloaded // half the rounds after the reload
				}
				si, err := c.Login(ctx, "", keys[w])
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					seen[ticketKVNO(t, si)]++
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // sign-ins in flight
	writeKeytab(t, s.keytab, 2)
	kvno, err := s.app.ReloadKeys()
	close(reloaded)
	if err != nil || int(int32(kvno)) != v2 {
		t.Fatalf("reload: kvno %d, %v", kvno, err)
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d sign-ins failed during the rotation, first: %v", len(errs), errors.Join(errs[0]))
	}
	if seen[v1]+seen[v2] != workers*rounds || seen[v2] < workers*rounds/2 {
		t.Fatalf("tickets by kvno %v (v1 %d, v2 %d)", seen, v1, v2)
	}
	// A broken keytab is refused and the current keys stay.
	if err := writeFile(s.keytab, []byte("not a keytab")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.app.ReloadKeys(); err == nil {
		t.Fatal("a broken keytab was accepted")
	}
	c, _ := client.New(s.url, "")
	si, err := c.Login(ctx, "", keys[0])
	if err != nil || ticketKVNO(t, si) != v2 {
		t.Fatalf("after a failed reload: %v", err)
	}
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`passkdc_keytab_reloads_total{result="ok"} 1`, `passkdc_keytab_reloads_total{result="error"} 1`,
		`passkdc_rodc_key_versions 2`} {
		if !containsLine(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }

func containsLine(text, line string) bool { return strings.Contains(text, line) }
