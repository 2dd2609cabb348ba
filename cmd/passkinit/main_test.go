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

func TestPrintKrb5Conf(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	const url = "https://passkdc.example.test:8443/KdcProxy"
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"realm from principal", []string{"--kdc-proxy", url, "alice@corp.example.test"}, exitOK,
			[]string{"default_realm = CORP.EXAMPLE.TEST", "CORP.EXAMPLE.TEST = {", "kdc = " + url}},
		{"anchors", []string{"--kdc-proxy", url, "--realm", "R.TEST", "--ca-file", ca}, exitOK, []string{"http_anchors = FILE:" + ca}},
		{"no proxy", []string{"--realm", "R.TEST"}, exitUsage, []string{"needs --kdc-proxy"}},
		{"no realm", []string{"--kdc-proxy", url}, exitUsage, []string{"--realm REALM"}},
		{"bad url", []string{"--kdc-proxy", "dc1:88", "--realm", "R"}, exitUsage, []string{"want https://"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"--print-krb5-conf"}, tc.args...), &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s", code, tc.wantCode, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
