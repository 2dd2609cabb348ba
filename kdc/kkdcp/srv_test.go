package kkdcp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passkdc/passkdc/internal/dnstest"
)

// resolverFor asks only the DNS server at addr, or a dead address while down is set.
func resolverFor(addr string, down *atomic.Bool) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		to := addr
		if down != nil && down.Load() {
			to = "127.0.0.1:1"
		}
		var d net.Dialer
		return d.DialContext(ctx, network, to)
	}}
}

func port(t *testing.T, addr string) uint16 {
	t.Helper()
	_, p, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(n)
}

func TestSRVOrderCacheAndStale(t *testing.T) {
	dns := dnstest.Start(t, "127.0.0.1:0", dnstest.Zone{SRV: map[string][]dnstest.SRV{
		"_kerberos._tcp.corp.example.test": {
			{Priority: 20, Weight: 100, Port: 88, Target: "backup.corp.example.test"},
			{Priority: 10, Weight: 0, Port: 1088, Target: "dc1.corp.example.test."},
		},
		"_kerberos._tcp.none.example.test": {{Target: "."}},
	}})
	var down atomic.Bool
	now := time.Unix(1_800_000_000, 0)
	s := &SRV{Resolver: resolverFor(dns.Addr, &down), TTL: time.Minute, Now: func() time.Time { return now }}
	ctx := context.Background()
	want := []string{"dc1.corp.example.test:1088", "backup.corp.example.test:88"}
	q := func() int { return dns.Questions("SRV", "_kerberos._tcp.CORP.EXAMPLE.TEST") }

	for _, step := range []struct {
		name      string
		advance   time.Duration
		dnsDown   bool
		questions int
	}{
		{"first lookup", 0, false, 1},
		{"cached within the TTL", 59 * time.Second, false, 1},
		{"asked again after the TTL", 2 * time.Second, false, 2},
		{"stale answer while DNS is down", 2 * time.Minute, true, 2},
	} {
		now = now.Add(step.advance)
		down.Store(step.dnsDown)
		got, err := s.KDCs(ctx, "Corp.Example.Test")
		if err != nil || !equal(got, want) {
			t.Fatalf("%s: %v %v, want %v", step.name, got, err, want)
		}
		if q() != step.questions {
			t.Fatalf("%s: %d SRV questions, want %d", step.name, q(), step.questions)
		}
	}
	down.Store(false)
	for _, realm := range []string{"NONE.EXAMPLE.TEST", "MISSING.EXAMPLE.TEST"} {
		if got, err := s.KDCs(ctx, realm); !errors.Is(err, ErrNoSRV) {
			t.Errorf("%s: %v %v, want ErrNoSRV", realm, got, err)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The forwarder tries the SRV targets (names resolved by the same DNS
// server) before the static list: the priority-0 target is dead, the next
// one answers.
func TestForwardThroughSRV(t *testing.T) {
	rep := Frame([]byte{tagTGSRep, 0x00})
	live, n := fakeKDC(t, rep, 0)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	dns := dnstest.Start(t, "127.0.0.1:0", dnstest.Zone{
		SRV: map[string][]dnstest.SRV{"_kerberos._tcp.r.test": {
			{Priority: 0, Port: port(t, deadAddr), Target: "dead.r.test"},
			{Priority: 5, Port: port(t, live), Target: "live.r.test"},
		}},
		A: map[string]netip.Addr{"dead.r.test": netip.MustParseAddr("127.0.0.1"), "live.r.test": netip.MustParseAddr("127.0.0.1")},
	})
	r := resolverFor(dns.Addr, nil)
	f := &Forwarder{KDCs: map[string][]string{"R.TEST": nil}, SRV: &SRV{Resolver: r}, Timeout: time.Second,
		Dial: (&net.Dialer{Resolver: r}).DialContext}
	got, err := f.Forward(context.Background(), Message{KerbMessage: req(tagTGSReq), Realm: "r.test"})
	if err != nil || !bytes.Equal(got, rep) || n.Load() != 1 {
		t.Fatalf("forward via SRV: %x %v (%d requests at the live KDC)", got, err, n.Load())
	}
	if dns.Questions("A", "live.r.test") == 0 {
		t.Fatal("the KDC's name was not resolved by the configured DNS server")
	}
	// DNS without records for the realm and no static KDCs: unreachable, saying why.
	f.KDCs = map[string][]string{"OTHER.TEST": nil}
	if _, err := f.Forward(context.Background(), Message{KerbMessage: req(tagTGSReq), Realm: "other.test"}); !errors.Is(err, ErrKDCUnreachable) || !errors.Is(err, ErrNoSRV) {
		t.Fatalf("no SRV records: %v", err)
	}
}
