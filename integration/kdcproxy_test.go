package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/kdc/kkdcp"
)

// deadKDC is an address in this helper's loopback range where nothing listens.
const deadKDC = "127.0.0.31:88"

// proxyKrb5Conf writes a krb5.conf whose realm has kdc entries kdcs only
// (and http_anchors = FILE:ca when ca is set).
func proxyKrb5Conf(t *testing.T, f *fixture, ca string, kdcs ...string) string {
	t.Helper()
	r, d := f.dc.Realm(), strings.ToLower(f.dc.Realm())
	var b strings.Builder
	fmt.Fprintf(&b, "[libdefaults]\n\tdefault_realm = %s\n\tdns_lookup_realm = false\n\tdns_lookup_kdc = false\n"+
		"\trdns = false\n\tdns_canonicalize_hostname = false\n\tforwardable = true\n\n[realms]\n\t%s = {\n", r, r)
	for _, k := range kdcs {
		fmt.Fprintf(&b, "\t\tkdc = %s\n", k)
	}
	if ca != "" {
		fmt.Fprintf(&b, "\t\thttp_anchors = FILE:%s\n", ca)
	}
	fmt.Fprintf(&b, "\t}\n\n[domain_realm]\n\t.%[2]s = %[1]s\n\t%[2]s = %[1]s\n", r, d)
	path := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// proxyMetric is passkdc_kdc_proxy_requests_total{outcome} from the running server.
func proxyMetric(t *testing.T, f *fixture, outcome string) float64 {
	t.Helper()
	hc, err := f.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(f.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	prefix := `passkdc_kdc_proxy_requests_total{outcome="` + outcome + `"} `
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	return 0
}

// Off the corporate network (user kpuser, so alice's passkey count in the
// other tests is untouched): the client's krb5.conf names no DC, only
// passkdc's /KdcProxy. passkinit signs in and exchanges through it, then MIT
// kvno gets a service ticket (and smbclient -k uses it) and MIT kinit gets a TGT with a password, all
// through the proxy (its forwarded count rises with each).
func TestKDCProxyCarriesPasskinitKvnoAndKinit(t *testing.T) {
	kvno, kinit, klist := testenv.RequireTool(t, "kvno"), testenv.RequireTool(t, "kinit"), testenv.RequireTool(t, "klist")
	f := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	proxyURL := f.URL + "/KdcProxy"
	realm := f.dc.Realm()

	// passkinit --print-krb5-conf writes the client's configuration.
	conf, err := f.Passkinit(ctx, nil, "--print-krb5-conf", "--kdc-proxy", proxyURL, "kpuser@"+realm)
	if err != nil || !strings.Contains(conf, "kdc = "+proxyURL) || !strings.Contains(conf, "http_anchors = FILE:"+f.CAFile) {
		t.Fatalf("passkinit --print-krb5-conf: %v\n%s", err, conf)
	}
	printed := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(printed, []byte(conf+"\n[domain_realm]\n\t."+strings.ToLower(realm)+" = "+realm+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	onlyProxy := proxyKrb5Conf(t, f, f.CAFile, proxyURL)

	// 1. --kdc-proxy with a krb5.conf whose direct KDC is dead: only the proxy can answer.
	before := proxyMetric(t, f, "forwarded")
	dead := proxyKrb5Conf(t, f, "", deadKDC)
	cc, out, err := signInUser(t, f, "kpuser", "--kdc-proxy", proxyURL, "--krb5-config", dead)
	if err != nil || !strings.Contains(out, "TGT for kpuser@"+realm) {
		t.Fatalf("passkinit --kdc-proxy: %v\n%s\nserver log:\n%s", err, out, f.Log())
	}
	if n := tgtRODCNumber(t, cc); n != 0 {
		t.Fatalf("the cache holds a TGT under RODC %d's key: the exchange did not happen", n)
	}
	if got := proxyMetric(t, f, "forwarded"); got < before+1 {
		t.Fatalf("forwarded count %v -> %v: the exchange did not go through the proxy", before, got)
	}
	// (Without --kdc-proxy, passkinit falls back to the proxy passkdc
	// advertises: TestPasskinitFallsBackToTheProxyWhenNoDCConnects; with
	// nothing advertised it fails with exit 5: TestKDCProxyFindsKDCsInDNSSRV.)

	// 2. passkinit with no flag, the krb5.conf printed above: the proxy URL is its only kdc.
	cc2, out, err := signInUser(t, f, "kpuser", "--krb5-config", printed)
	if err != nil || !strings.Contains(out, "TGT for kpuser@"+realm) {
		t.Fatalf("passkinit with the printed krb5.conf: %v\n%s", err, out)
	}

	// 3. MIT kvno with the proxy-only krb5.conf and the exchanged TGT.
	env := append(f.clientEnv(cc2), "KRB5_CONFIG="+onlyProxy)
	before = proxyMetric(t, f, "forwarded")
	svc := "cifs/" + f.dc.FQDN()
	if out, err := run(ctx, env, kvno, svc); err != nil {
		t.Fatalf("kvno %s through the proxy: %v\n%s", svc, err, out)
	}
	if list, _ := run(ctx, env, klist); !strings.Contains(list, svc+"@"+realm) {
		t.Fatalf("klist does not show the service ticket:\n%s", list)
	}
	if got := proxyMetric(t, f, "forwarded"); got < before+1 {
		t.Fatalf("forwarded count %v -> %v: kvno did not use the proxy", before, got)
	}
	// smbclient -k with the same cache and krb5.conf (it already has the cifs ticket or asks the proxy).
	smb := f.dc.SMBClient(ctx, cc2, "netlogon", "-c", "ls")
	smb.Env = append(smb.Env, "KRB5_CONFIG="+onlyProxy)
	if b, err := smb.CombinedOutput(); err != nil {
		t.Fatalf("smbclient -k //%s/netlogon with the proxy-only krb5.conf: %v\n%s", f.dc.FQDN(), err, b)
	}

	// 4. MIT kinit with a password through the proxy (AS-REQ, preauth round trip).
	before = proxyMetric(t, f, "forwarded")
	kcc := filepath.Join(t.TempDir(), "kinit.cc")
	cmd := exec.CommandContext(ctx, kinit, "kpuser@"+realm)
	cmd.Env = append(f.clientEnv(kcc), "KRB5_CONFIG="+onlyProxy)
	cmd.Stdin = strings.NewReader(f.password + "\n")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit through the proxy: %v\n%s", err, b)
	}
	if list, _ := run(ctx, append(f.clientEnv(kcc), "KRB5_CONFIG="+onlyProxy), klist); !strings.Contains(list, "krbtgt/"+realm+"@"+realm) {
		t.Fatalf("klist after kinit:\n%s", list)
	}
	if got := proxyMetric(t, f, "forwarded"); got < before+2 {
		t.Fatalf("forwarded count %v -> %v: kinit (AS-REQ + preauth) did not use the proxy", before, got)
	}
}

// The proxy refuses bad input without contacting a DC: each answer's status,
// a log line with its reason, and the metric of that outcome.
func TestKDCProxyRefusalsThroughTheBinary(t *testing.T) {
	f := server(t)
	hc, err := f.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	msg := func(realm string, size int) []byte {
		krb := append([]byte{0x6a}, bytes.Repeat([]byte{0}, size)...)
		b, err := kkdcp.Message{KerbMessage: kkdcp.Frame(krb), Realm: realm}.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		reason string
	}{
		{"not DER", []byte("GET / HTTP/1.0\r\n\r\n"), http.StatusBadRequest, "outer_tag"},
		{"truncated DER", msg(f.dc.Realm(), 10)[:8], http.StatusBadRequest, "not_der"},
		{"wrong realm", msg("EVIL.EXAMPLE.TEST", 10), http.StatusBadRequest, "realm"},
		{"AP-REQ", func() []byte {
			b, _ := kkdcp.Message{KerbMessage: kkdcp.Frame([]byte{0x6e, 0}), Realm: f.dc.Realm()}.Marshal()
			return b
		}(), http.StatusBadRequest, "message_type"},
		{"oversize", msg(f.dc.Realm(), 20000), http.StatusRequestEntityTooLarge, "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := proxyMetric(t, f, tc.reason)
			logBefore := len(f.Log())
			resp, err := hc.Post(f.URL+"/KdcProxy", "application/kerberos", bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := proxyMetric(t, f, tc.reason); got != before+1 {
				t.Errorf("metric outcome=%s %v -> %v", tc.reason, before, got)
			}
			// The log line may reach stderr just after the answer.
			logged := false
			for deadline := time.Now().Add(3 * time.Second); !logged && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				logged = refusalLogged(f.Log()[logBefore:], tc.reason)
			}
			if !logged {
				t.Errorf("no log line result=refused reason=%s in:\n%s", tc.reason, f.Log()[logBefore:])
			}
		})
	}
}

func refusalLogged(log, reason string) bool {
	for _, line := range strings.Split(log, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m["result"] == "refused" && m["reason"] == reason && m["remote"] != nil && m["level"] == "warning" {
			return true
		}
	}
	return false
}
