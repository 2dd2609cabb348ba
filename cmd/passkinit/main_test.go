package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/internal/client"
	"github.com/passkdc/passkdc/kdc/krbcred"
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

// exchangeRoute: --kdc-proxy and a proxy URL as krb5.conf's first kdc are
// the only path; otherwise the DCs, then a proxy URL listed after them, then
// the advertised one.
func TestExchangeRoute(t *testing.T) {
	dir := t.TempDir()
	n := 0
	conf := func(kdcs ...string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("krb5-%d.conf", n))
		body := "[libdefaults]\n default_realm = R.TEST\n dns_lookup_kdc = false\n[realms]\n R.TEST = {\n"
		for _, k := range kdcs {
			body += "  kdc = " + k + "\n"
		}
		if err := os.WriteFile(p, []byte(body+" }\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	si := func(advertised string) *client.SignedIn {
		return &client.SignedIn{KDCProxy: advertised, Cred: &krbcred.Cred{Infos: []krbcred.Info{{SRealm: "R.TEST"}}}}
	}
	const adv, listed, flag = "https://adv.test/KdcProxy", "https://listed.test/KdcProxy", "https://flag.test/KdcProxy"
	for _, tc := range []struct {
		name       string
		o          options
		advertised string
		want       client.Route
	}{
		{"flag wins", options{kdcProxy: flag, krb5conf: conf("dc1")}, adv, client.Route{Proxy: flag, ProxyOnly: true}},
		{"proxy first in krb5.conf", options{krb5conf: conf(listed, "dc1")}, adv, client.Route{Proxy: listed, ProxyOnly: true}},
		{"DCs then listed proxy", options{krb5conf: conf("dc1", listed, "dc2:1088")}, adv, client.Route{KDCs: []string{"dc1:88", "dc2:1088"}, Proxy: listed}},
		{"DCs then advertised", options{krb5conf: conf("dc1")}, adv, client.Route{KDCs: []string{"dc1:88"}, Proxy: adv}},
		{"no krb5.conf, advertised", options{krb5conf: filepath.Join(dir, "missing.conf")}, adv, client.Route{Proxy: adv}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := exchangeRoute(tc.o, si(tc.advertised))
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("route %+v (%v), want %+v", got, err, tc.want)
			}
		})
	}
	if _, err := exchangeRoute(options{krb5conf: filepath.Join(dir, "missing.conf")}, si("")); err == nil {
		t.Fatal("no krb5.conf and nothing advertised: accepted")
	}
}
