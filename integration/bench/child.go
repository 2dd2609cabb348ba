package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/internal/gotune"
	"github.com/passkdc/passkdc/internal/logjson"
	"github.com/passkdc/passkdc/kdc/issuer"
	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/rodc"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/postgres"
	"github.com/passkdc/passkdc/store/sqlite"
)

// childEnv names the environment variable that turns this program into the
// measured server: its value is the directory holding childConfig. The bench
// re-executes itself so that the server runs in a process of its own, whose
// CPU time and peak RSS are the server's alone.
const childEnv = "PASSKDC_BENCH_SERVER_DIR"

// childConfig is what the parent prepares for the server process.
type childConfig struct {
	Realm    string   `json:"realm"`
	RPID     string   `json:"rp_id"`
	Store    string   `json:"store"`  // SQLite file, unless PGURL is set
	PGURL    string   `json:"pg_url"` // PostgreSQL store (holds a password: never logged)
	Keytab   string   `json:"keytab"`
	Krbtgt   string   `json:"krbtgt"`    // krbtgt_N principal name
	AllowSID []string `json:"allow_sid"` // reveal-on-demand group SIDs
	DenySID  []string `json:"deny_sid"`  // never-reveal group SIDs
	Number   uint16   `json:"rodc_number"`
	AuditLog string   `json:"audit_log"` // where the structured log goes
}

const childConfigFile = "server.json"

// runChild is the server process: it wires the same components as `passkdc
// serve` (SQLite store, WebAuthn relying party, issuer with an RODC key set
// and replication policy, the HTTP API) except the directory: the RODC policy
// is given instead of read over LDAP, and there is no live directory check.
// It applies the Go runtime settings passkdc serve applies with no runtime
// section (gotune's defaults; GOGC and GOMEMLIMIT in the environment win).
// It prints "listening ADDR GC" on stdout, GC being the settings in effect
// (gotune.Applied as JSON), then obeys stdin commands ("profile-start
// PATH", "profile-stop") and exits when stdin closes.
func runChild(dir string) error {
	gc, err := json.Marshal(gotune.Apply(gotune.Options{}, os.Getenv))
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(dir, childConfigFile))
	if err != nil {
		return err
	}
	var cfg childConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", childConfigFile, err)
	}
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	// TLS as deployed (keep-alive connections: one handshake per connection).
	cert, err := server.EnsureSelfSigned(dir, []string{cfg.RPID, "127.0.0.1"}, time.Now())
	if err != nil {
		ln.Close()
		return err
	}
	h, closeAll, err := assembleServer(ctx, cfg, []string{fmt.Sprintf("https://%s:%d", cfg.RPID, port)})
	if err != nil {
		ln.Close()
		return err
	}
	defer closeAll()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, cert.CertFile, cert.KeyFile) }()
	fmt.Printf("listening %s %s\n", ln.Addr(), gc)
	cmds := make(chan string)
	go readCommands(os.Stdin, cmds)
	var prof *os.File
	defer func() {
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
		}
	}()
	for {
		select {
		case err := <-errc:
			return err
		case c, ok := <-cmds:
			if !ok {
				sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				return srv.Shutdown(sctx)
			}
			if prof, err = profileCommand(c, prof); err != nil {
				return err
			}
		}
	}
}

// readCommands sends the lines of r to out and closes it at EOF.
func readCommands(r io.Reader, out chan<- string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		out <- strings.TrimSpace(sc.Text())
	}
	close(out)
}

// profileCommand starts or stops the CPU profile.
func profileCommand(c string, cur *os.File) (*os.File, error) {
	switch {
	case strings.HasPrefix(c, "profile-start "):
		if cur != nil {
			return cur, errors.New("profile already running")
		}
		f, err := os.OpenFile(strings.TrimPrefix(c, "profile-start "), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		if err := writeHeapProfile(f.Name() + ".heap0"); err != nil {
			return f, err
		}
		fmt.Println("profile started")
		return f, nil
	case c == "mallocs":
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("mallocs %d\n", ms.Mallocs)
		return cur, nil
	case c == "profile-stop":
		if cur != nil {
			pprof.StopCPUProfile()
			if err := cur.Close(); err != nil {
				return nil, err
			}
			if err := writeHeapProfile(cur.Name() + ".heap1"); err != nil {
				return nil, err
			}
		}
		fmt.Println("profile stopped")
		return nil, nil
	}
	return cur, fmt.Errorf("unknown command %q", c)
}

// benchLimits are the default limits except the rate limits: the whole
// load comes from one loopback address and cycles through the principals
// faster than a person signs in.
func benchLimits() server.Limits {
	l := server.DefaultLimits()
	l.PerAddressPerMinute, l.PerAddressBurst = 1<<30, 1<<20
	l.PerPrincipalPerMinute, l.PerPrincipalBurst = 1<<30, 1<<20
	return l
}

// openStore opens the PostgreSQL store of cfg.PGURL, else the SQLite file
// cfg.Store.
func openStore(ctx context.Context, cfg childConfig) (store.Store, error) {
	if cfg.PGURL != "" {
		return postgres.Open(ctx, cfg.PGURL) // its errors never hold the password
	}
	return sqlite.Open(ctx, cfg.Store)
}

// assembleServer builds the HTTP handler the way internal/serve does.
func assembleServer(ctx context.Context, cfg childConfig, origins []string) (http.Handler, func(), error) {
	kt, err := keytabs.Load(cfg.Keytab)
	if err != nil {
		return nil, nil, err
	}
	keys, err := kt.KeySet(keytabs.NewPrincipal(cfg.Realm, cfg.Krbtgt))
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	logf, err := os.OpenFile(cfg.AuditLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	closeAll := func() { st.Close(); logf.Close() }
	log := logrus.New()
	log.SetOutput(logf)
	log.SetFormatter(logjson.New()) // as `passkdc serve` formats JSON logs
	rp, err := assertion.New(assertion.Config{RPID: cfg.RPID, Origins: origins}, st)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	policy := &rodc.RODC{Name: "PASSKDC", KrbtgtName: cfg.Krbtgt, Number: cfg.Number, Allow: cfg.AllowSID, Deny: cfg.DenySID}
	iss, err := issuer.New(issuer.Config{Realm: cfg.Realm}, keys, policy, issuer.StoreGroups{Store: st}, nil)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	srv, err := server.New(server.Config{Realm: cfg.Realm, Store: st, RP: rp, Issuer: iss, Log: log, Limits: benchLimits()})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return srv.Handler(), closeAll, nil
}

// writeHeapProfile writes the allocation profile so far to path: the one
// written at profile-start and the one at profile-stop bracket the profiled
// phase (go tool pprof -sample_index=alloc_objects -base PATH.heap0 PATH.heap1).
func writeHeapProfile(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
