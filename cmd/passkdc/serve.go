package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/internal/logjson"
	"github.com/passkdc/passkdc/internal/serve"
	"github.com/passkdc/passkdc/internal/storeopen"
)

func newServeCommand() *cobra.Command {
	var cfgPath, rodcName string
	var insecureLoopback bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the passkdc server: enrolment, passkey sign-in, partial TGTs",
		Long: `Run the passkdc server. At start it runs the checks of passkdc check: a fatal problem
(keytab, store, directory, RODC object, key version, policy, TLS certificate, metadata blob,
clock) stops it with every fatal problem and its fix; the others are logged as warnings (fields
check, problem, fix). The "passkdc ready" log line then sums up what it runs with (rodc, kvno,
reveal/never-reveal groups, rp_id, origins, store, directory, check_warnings). Before the
checks it sets the Go garbage collector from runtime.gc_percent (default 400) and
runtime.memory_limit (default none), GOGC and GOMEMLIMIT in the environment winning, and
logs one line with gc_percent, gc_source, memory_limit and memory_limit_source. It listens with TLS (a self-signed certificate is generated on
first start when tls.cert/tls.key are not configured; its path is printed for clients'
--ca-file). Plain HTTP is allowed only on a loopback address with --insecure-loopback.
It reads the RODC's password replication policy from the directory at start (and again
before every sync and on SIGHUP), serves sign-ins, and mirrors the directory every
sync.interval (in standalone mode, without a directory, principals come from the store
and the policy from standalone.allow/deny). A never-reveal entry that names no group
(no SID) stops the start, and found later refuses every sign-in until it is fixed.

Signals: SIGTERM or SIGINT stops accepting connections and drains the requests in
flight (up to limits.shutdown_timeout); SIGHUP re-reads the keytab, the RODC's policy and the FIDO metadata blob; a change
of the keytab file (checked every 2 s) reloads the keytab too, so a rotated RODC key is used from the next
sign-in without dropping a request.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfigFile(cfgPath)
			if err != nil {
				return err
			}
			log := newLogger(cfg.Log.Level, cfg.Log.Format, cmd.ErrOrStderr())
			if insecureLoopback {
				if err := requireLoopback(cfg.Listen); err != nil {
					return usageError{err}
				}
			}
			if !cmd.Flags().Changed("rodc-name") {
				rodcName = cfg.RODCName
			}
			app, err := serve.New(cmd.Context(), serve.Options{Config: cfg, RODCName: rodcName, Log: log})
			if err != nil {
				return err
			}
			defer app.Close()
			srv := app.HTTPServer()
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return err
			}
			errc := make(chan error, 1)
			if insecureLoopback {
				fmt.Fprintf(cmd.OutOrStdout(), "passkdc listening on http://%s (insecure loopback mode)\n", ln.Addr())
				go func() { errc <- srv.Serve(ln) }()
			} else {
				certFile, keyFile, created, err := app.TLSFiles(stateDir(cfg.Store, cfg.Keytab))
				if err != nil {
					ln.Close()
					return err
				}
				if created {
					fmt.Fprintf(cmd.OutOrStdout(), "generated a self-signed certificate; clients trust it with --ca-file %s\n", certFile)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "passkdc listening on https://%s (CA file %s)\n", ln.Addr(), certFile)
				go func() { errc <- srv.ServeTLS(ln, certFile, keyFile) }()
			}
			msrv, err := startMetrics(app, isLoopback(cfg.MetricsListen), stateDir(cfg.Store, cfg.Keytab), errc, cmd.OutOrStdout())
			if err != nil {
				_ = srv.Close()
				return err
			}
			if msrv != nil {
				defer msrv.Close()
			}
			go app.WatchKeytab(cmd.Context(), 2*time.Second)
			go app.RunSync(cmd.Context())
			go app.RunPrune(cmd.Context(), time.Minute)
			stopHUP := reloadOnHUP(cmd.Context(), app)
			defer stopHUP()
			select {
			case err := <-errc:
				return err
			case <-cmd.Context().Done():
			}
			// Drain in-flight requests, then stop.
			log.Info("passkdc stopping: draining requests in flight")
			ctx, cancel := context.WithTimeout(context.Background(), cfg.Limits.ShutdownTimeout)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			log.Info("passkdc stopped")
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&rodcName, "rodc-name", "PASSKDC", "computer name of passkdc's RODC object, its replication policy read at start (overrides rodc_name of the config)")
	cmd.Flags().BoolVar(&insecureLoopback, "insecure-loopback", false, "serve plain HTTP (only allowed when listen is a loopback address)")
	return cmd
}

// newLogger is the server's logger at the configured level and format
// (validated by the config: an unknown level falls back to info).
func newLogger(level, format string, w io.Writer) *logrus.Logger {
	log := logrus.New()
	log.SetOutput(w)
	if format == "text" {
		log.SetFormatter(&logrus.TextFormatter{DisableColors: true, FullTimestamp: true})
	} else {
		log.SetFormatter(logjson.New()) // logrus.JSONFormatter's lines, fewer allocations
	}
	if l, err := logrus.ParseLevel(level); err == nil {
		log.SetLevel(l)
	}
	return log
}

// startMetrics serves /metrics on metrics_listen when it is configured:
// plain HTTP on a loopback address, TLS with the server's certificate
// otherwise. It returns nil when /metrics stays on the API listener.
func startMetrics(app *serve.App, plain bool, dir string, errc chan<- error, out io.Writer) (*http.Server, error) {
	msrv := app.MetricsServer()
	if msrv == nil {
		return nil, nil
	}
	ln, err := net.Listen("tcp", msrv.Addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_listen %s: %w", msrv.Addr, err)
	}
	if plain {
		fmt.Fprintf(out, "metrics on http://%s/metrics\n", ln.Addr())
		go func() { errc <- msrv.Serve(ln) }()
		return msrv, nil
	}
	certFile, keyFile, _, err := app.TLSFiles(dir)
	if err != nil {
		ln.Close()
		return nil, err
	}
	fmt.Fprintf(out, "metrics on https://%s/metrics\n", ln.Addr())
	go func() { errc <- msrv.ServeTLS(ln, certFile, keyFile) }()
	return msrv, nil
}

// isLoopback reports whether addr (host:port) is on a loopback address.
func isLoopback(addr string) bool {
	return addr != "" && requireLoopback(addr) == nil
}

// reloadOnHUP re-reads the keytab and the RODC's replication policy on every SIGHUP until ctx ends or the
// returned function is called.
func reloadOnHUP(ctx context.Context, app *serve.App) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-hup:
				_, _ = app.ReloadKeys()    // logged and counted by ReloadKeys
				_ = app.RefreshPolicy(ctx) // logged by RefreshPolicy
				_ = app.ReloadMetadata()   // logged by ReloadMetadata
				_ = app.ReloadKerberos()   // logged by ReloadKerberos
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--insecure-loopback needs a loopback listen address (127.0.0.0/8 or ::1), not %q", addr)
	}
	return nil
}

// stateDir is where a generated certificate is kept: beside the SQLite store,
// or beside the keytab when the store is a PostgreSQL URL.
func stateDir(storePath, keytab string) string {
	if storeopen.IsURL(storePath) {
		return filepath.Dir(keytab)
	}
	return filepath.Dir(storePath)
}
