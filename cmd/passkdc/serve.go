package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/internal/serve"
)

func newServeCommand() *cobra.Command {
	var cfgPath, rodcName string
	var insecureLoopback bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the passkdc server: enrolment, passkey sign-in, partial TGTs",
		Long: `Run the passkdc server. It listens with TLS (a self-signed certificate is generated on
first start when tls.cert/tls.key are not configured; its path is printed for clients'
--ca-file). Plain HTTP is allowed only on a loopback address with --insecure-loopback.
It reads the RODC's password replication policy from the directory at start, serves
sign-ins, and mirrors the directory every sync.interval.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfigFile(cfgPath)
			if err != nil {
				return err
			}
			log := logrus.New()
			log.SetOutput(cmd.ErrOrStderr())
			log.SetFormatter(&logrus.JSONFormatter{})
			if insecureLoopback {
				if err := requireLoopback(cfg.Listen); err != nil {
					return usageError{err}
				}
			}
			app, err := serve.New(cmd.Context(), serve.Options{Config: cfg, RODCName: rodcName, Log: log})
			if err != nil {
				return err
			}
			defer app.Close()
			srv := &http.Server{
				Addr: cfg.Listen, Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second,
				ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
				ErrorLog: nil,
			}
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return err
			}
			errc := make(chan error, 1)
			if insecureLoopback {
				fmt.Fprintf(cmd.OutOrStdout(), "passkdc listening on http://%s (insecure loopback mode)\n", ln.Addr())
				go func() { errc <- srv.Serve(ln) }()
			} else {
				certFile, keyFile, created, err := app.TLSFiles(filepath.Dir(cfg.Store))
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
			go app.RunSync(cmd.Context())
			select {
			case err := <-errc:
				return err
			case <-cmd.Context().Done():
			}
			// Drain in-flight requests, then stop.
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			log.Info("passkdc stopped")
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&rodcName, "rodc-name", "PASSKDC", "computer name of passkdc's RODC object (its replication policy is read at start)")
	cmd.Flags().BoolVar(&insecureLoopback, "insecure-loopback", false, "serve plain HTTP (only allowed when listen is a loopback address)")
	return cmd
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
