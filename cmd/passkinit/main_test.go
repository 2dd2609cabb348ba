package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitCodesTellAnUntrustedCertificateFromAnUnreachableServer runs the
// passkinit command against a TLS server whose CA is not given, the same
// server with --ca-file, and a closed port.
func TestExitCodesTellAnUntrustedCertificateFromAnUnreachableServer(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":"tap_invalid","message":"The temporary access pass is not valid."}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name     string
		extra    []string
		server   string
		wantCode int
		wantText string
	}{
		{"unknown CA", nil, srv.URL, exitUntrusted, "--ca-file"},
		{"trusted with --ca-file", []string{"--ca-file", ca}, srv.URL, exitRefused, "tap_invalid"},
		{"nothing listening", nil, closed, exitUnreachable, "cannot reach passkdc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"--server", tc.server, "--authenticator", "soft:" + filepath.Join(t.TempDir(), "k.passkey"),
				"--register", "--tap", "AAAA-BBBB", "--no-exchange", "-c", filepath.Join(t.TempDir(), "cc")}, tc.extra...)
			code := run(context.Background(), append(args, "alice"), &stdout, &stderr)
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantText) {
				t.Fatalf("exit %d (want %d), stderr: %s", code, tc.wantCode, stderr.String())
			}
		})
	}
}
