package integration

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/deploy"
	"github.com/passkdc/passkdc/internal/dnstest"
	"github.com/passkdc/passkdc/internal/testenv"
)

// Addresses of this helper's loopback range (127.0.0.33-.36).
const (
	fallbackDNS    = "127.0.0.33:53" // the DNS server the SRV test starts
	fallbackDead   = "127.0.0.34:88" // nothing listens: connection refused
	fallbackHangUp = "127.0.0.35"    // :88 accepts the connection and closes it unanswered; :89 never accepts
	fallbackGone   = "127.0.0.36"    // SRV priority-0 target where nothing listens
)

// hangUpDC listens on fallbackHangUp:88 and closes every connection after
// reading a little: a DC that was reached but answered nothing.
func hangUpDC(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(fallbackHangUp, "88"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Read(make([]byte, 64))
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// blackholeDC is a DC address whose connections never complete (as when a
// network drops the packets): a socket on fallbackHangUp:89 listening with
// a backlog of 0, its queue filled by one connection never accepted, so the
// kernel ignores further SYNs.
func blackholeDC(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	ip := netip.MustParseAddr(fallbackHangUp).As4()
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: 89, Addr: ip}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(fallbackHangUp, "89")
	for range 8 { // bounded: the queue holds one or two
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			return addr // full: connections now hang
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("%s still accepts connections after 8: cannot make a black hole", addr)
	return ""
}

// Off the corporate network without any proxy configuration on the client:
// passkinit tries the krb5.conf DC, cannot connect, and trades the partial
// TGT through the KDC proxy passkdc advertised at sign-in (its first origin
// + /KdcProxy by default). -v says so; without -v nothing is said. A DC
// that connects is used directly, and one that connects but answers badly
// is final (no fallback). A proxy URL later in krb5.conf is the fallback
// before the advertised one, and MIT kvno works with that krb5.conf too.
func TestPasskinitFallsBackToTheProxyWhenNoDCConnects(t *testing.T) {
	kvno, klist := testenv.RequireTool(t, "kvno"), testenv.RequireTool(t, "klist")
	f := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	realm, proxyURL := f.dc.Realm(), f.URL+"/KdcProxy"
	dead := proxyKrb5Conf(t, f, "", fallbackDead)

	// 1. Only a dead DC in krb5.conf, no --kdc-proxy: the advertised proxy, said with -v.
	before := proxyMetric(t, f, "forwarded")
	cc, out, err := signInUser(t, f, "kpuser", "--krb5-config", dead, "-v", "--kdc-connect-timeout", "2s")
	if err != nil || !strings.Contains(out, "TGT for kpuser@"+realm) {
		t.Fatalf("passkinit with a dead DC: %v\n%s\nserver log:\n%s", err, out, f.Log())
	}
	t.Logf("passkinit -v with a dead DC:\n%s", out)
	for _, want := range []string{"no DC reachable", fallbackDead, "exchanged through the KDC proxy " + proxyURL} {
		if !strings.Contains(out, want) {
			t.Errorf("passkinit -v does not say %q:\n%s", want, out)
		}
	}
	if n := tgtRODCNumber(t, cc); n != 0 {
		t.Fatalf("the cache holds a TGT under RODC %d's key: the exchange did not happen", n)
	}
	if got := proxyMetric(t, f, "forwarded"); got != before+1 {
		t.Fatalf("forwarded count %v -> %v: the exchange did not go through the proxy once", before, got)
	}

	// 1b. A DC whose packets are dropped: passkinit gives up after --kdc-connect-timeout, not the 10 s exchange bound.
	start := time.Now()
	if _, out, err := signInUser(t, f, "kpuser", "--krb5-config", proxyKrb5Conf(t, f, "", blackholeDC(t)), "-v", "--kdc-connect-timeout", "1s"); err != nil ||
		!strings.Contains(out, "timeout") || !strings.Contains(out, "exchanged through the KDC proxy "+proxyURL) {
		t.Fatalf("passkinit with a DC that never connects: %v\n%s", err, out)
	}
	if took := time.Since(start); took < time.Second || took > 9*time.Second {
		t.Errorf("passkinit with a 1 s connect timeout took %s", took)
	}

	// 2. The same without -v: it works and says nothing about the path.
	if _, out, err := signInUser(t, f, "kpuser", "--krb5-config", dead); err != nil || strings.Contains(out, "exchanged") {
		t.Fatalf("passkinit without -v: %v\n%s", err, out)
	}

	// 3. A reachable DC is used directly: the proxy is not asked.
	before = proxyMetric(t, f, "forwarded")
	live := proxyKrb5Conf(t, f, "", fallbackDead, f.dc.KDCAddr())
	if _, out, err := signInUser(t, f, "kpuser", "--krb5-config", live, "-v"); err != nil ||
		!strings.Contains(out, "exchanged at the DC "+f.dc.KDCAddr()+" directly") {
		t.Fatalf("passkinit with a live DC: %v\n%s", err, out)
	}
	if got := proxyMetric(t, f, "forwarded"); got != before {
		t.Fatalf("forwarded count %v -> %v with a reachable DC", before, got)
	}

	// 4. A DC that accepts the connection and hangs up answered (badly): exit 5, no fallback.
	hungUp := proxyKrb5Conf(t, f, "", hangUpDC(t))
	if _, out, err := signInUser(t, f, "kpuser", "--krb5-config", hungUp); exitCode(err) != 5 || !strings.Contains(out, "read length") {
		t.Fatalf("passkinit with a DC that hangs up: exit %d, want 5\n%s", exitCode(err), out)
	}
	if got := proxyMetric(t, f, "forwarded"); got != before {
		t.Fatalf("forwarded count %v -> %v: a DC that connected was passed over", before, got)
	}

	// 5. krb5.conf: the dead DC, then the proxy URL: passkinit and MIT kvno both get through.
	both := proxyKrb5Conf(t, f, f.CAFile, fallbackDead, proxyURL)
	cc, out, err = signInUser(t, f, "kpuser", "--krb5-config", both, "-v")
	if err != nil || !strings.Contains(out, "exchanged through the KDC proxy "+proxyURL) {
		t.Fatalf("passkinit with dead DC + proxy in krb5.conf: %v\n%s", err, out)
	}
	env := append(f.clientEnv(cc), "KRB5_CONFIG="+both)
	before = proxyMetric(t, f, "forwarded")
	svc := "cifs/" + f.dc.FQDN()
	if out, err := run(ctx, env, kvno, svc); err != nil {
		t.Fatalf("kvno %s with the dead DC first: %v\n%s", svc, err, out)
	}
	if list, _ := run(ctx, env, klist); !strings.Contains(list, svc+"@"+realm) {
		t.Fatalf("klist does not show the service ticket:\n%s", list)
	}
	if got := proxyMetric(t, f, "forwarded"); got < before+1 {
		t.Fatalf("forwarded count %v -> %v: kvno did not use the proxy", before, got)
	}
}

// A passkdc whose proxy finds the realm's KDCs in DNS (kdc_proxy.dns_srv,
// dns_resolver: a DNS server this test runs on 127.0.0.33:53, no static
// kdcs) and advertises nothing (advertise_url: none). The SRV records list
// a dead DC at priority 0 and the real Samba DC at priority 10: passkinit
// --kdc-proxy and MIT kvno get through, the dead target was tried first,
// and one SRV answer served every request (dns_cache). Without --kdc-proxy
// and with no DC reachable, passkinit fails (exit 5) naming --kdc-proxy.
func TestKDCProxyFindsKDCsInDNSSRV(t *testing.T) {
	kvno := testenv.RequireTool(t, "kvno")
	f := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	realm, domain := f.dc.Realm(), strings.ToLower(f.dc.Realm())
	_, dcPort, _ := net.SplitHostPort(f.dc.KDCAddr())
	p, _ := strconv.Atoi(dcPort)
	srvName := "_kerberos._tcp." + realm
	gone := "gone-dc." + domain
	dns := dnstest.Start(t, fallbackDNS, dnstest.Zone{
		SRV: map[string][]dnstest.SRV{srvName: {
			{Priority: 10, Weight: 100, Port: uint16(p), Target: f.dc.FQDN()},
			{Priority: 0, Weight: 0, Port: 88, Target: gone},
		}},
		A: map[string]netip.Addr{gone: netip.MustParseAddr(fallbackGone), f.dc.FQDN(): netip.MustParseAddr(f.dc.IP())},
	})
	d, err := f.Derive(t.TempDir(), func(o *deploy.Options) {
		o.KDCProxy = nil
		o.KDCProxyKeys = []string{"dns_srv: true", "dns_resolver: " + strings.TrimSuffix(fallbackDNS, ":53"), "dns_cache: 10m", "advertise_url: none"}
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := d.Passkdc(ctx, "sync", "--full"); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	if err := d.Serve(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	proxyURL := d.URL + "/KdcProxy"
	dead := proxyKrb5Conf(t, f, "", fallbackDead)

	if _, out, err := signInAt(t, d, "kpuser", "--krb5-config", dead); exitCode(err) != 5 || !strings.Contains(out, "--kdc-proxy") {
		t.Fatalf("nothing advertised, no DC reachable: exit %d, want 5 naming --kdc-proxy\n%s", exitCode(err), out)
	}
	cc, out, err := signInAt(t, d, "kpuser", "--krb5-config", dead, "--kdc-proxy", proxyURL)
	if err != nil || !strings.Contains(out, "TGT for kpuser@"+realm) {
		t.Fatalf("passkinit through the SRV-fed proxy: %v\n%s\nserver log:\n%s", err, out, d.Log())
	}
	if n := tgtRODCNumber(t, cc); n != 0 {
		t.Fatalf("the cache holds a TGT under RODC %d's key: the exchange did not happen", n)
	}
	onlyProxy := proxyKrb5Conf(t, f, d.CAFile, proxyURL)
	svc := "cifs/" + f.dc.FQDN()
	if out, err := run(ctx, append(f.clientEnv(cc), "KRB5_CONFIG="+onlyProxy), kvno, svc); err != nil {
		t.Fatalf("kvno %s through the SRV-fed proxy: %v\n%s", svc, err, out)
	}
	if n := dns.Questions("SRV", srvName); n != 1 {
		t.Errorf("%d SRV questions for %s, want 1 (one answer cached for every request)", n, srvName)
	}
	if dns.Questions("A", gone) == 0 {
		t.Errorf("the priority-0 target %s was never tried", gone)
	}
}

// A passkdc whose own proxy is off (kdc_proxy.enabled: false) advertises
// another one (kdc_proxy.advertise_url: the fixture's /KdcProxy, same TLS
// certificate): passkinit, with no DC reachable, exchanges through that
// one, whose forwarded count rises; the advertising server has no /KdcProxy.
func TestPasskinitUsesAnAdvertisedProxyOfAnotherServer(t *testing.T) {
	f := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	other := f.URL + "/KdcProxy"
	tlsDir := filepath.Dir(f.CAFile)
	d, err := f.Derive(t.TempDir(), func(o *deploy.Options) {
		o.KDCProxy = nil
		o.KDCProxyKeys = []string{"enabled: false", "advertise_url: " + other}
		o.ExtraYAML = "tls: {cert: " + filepath.Join(tlsDir, "tls.crt") + ", key: " + filepath.Join(tlsDir, "tls.key") + "}\n"
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := d.Passkdc(ctx, "sync", "--full"); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	if err := d.Serve(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	if d.URL == f.URL {
		t.Fatal("the derived passkdc listens where the fixture does")
	}
	before := proxyMetric(t, f, "forwarded")
	cc, out, err := signInAt(t, d, "kpuser", "--krb5-config", proxyKrb5Conf(t, f, "", fallbackDead), "-v")
	if err != nil || !strings.Contains(out, "exchanged through the KDC proxy "+other) {
		t.Fatalf("passkinit via the advertised proxy of another server: %v\n%s\nlog:\n%s", err, out, d.Log())
	}
	if n := tgtRODCNumber(t, cc); n != 0 {
		t.Fatalf("the cache holds a TGT under RODC %d's key: the exchange did not happen", n)
	}
	if got := proxyMetric(t, f, "forwarded"); got != before+1 {
		t.Fatalf("forwarded count of the advertised proxy %v -> %v", before, got)
	}
	hc, err := d.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Post(d.URL+"/KdcProxy", "application/kerberos", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusBadRequest {
		t.Fatalf("POST /KdcProxy on a passkdc with the proxy off: %s", resp.Status)
	}
}
