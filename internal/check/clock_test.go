package check

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/internal/kdctest"
)

// TestKDCProbeMeasuresTheClockDifference: the probe's KRB-ERROR carries
// the DC's time; a difference beyond MaxSkew is fatal, naming the fix.
func TestKDCProbeMeasuresTheClockDifference(t *testing.T) {
	dcTime := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	addr, requests := kdctest.Serve(t, func([]byte) []byte {
		kerr := messages.NewKRBError(types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/CORP.EXAMPLE.TEST"),
			"CORP.EXAMPLE.TEST", errorcode.KDC_ERR_PREAUTH_REQUIRED, "")
		kerr.STime = dcTime
		b, err := kerr.Marshal()
		if err != nil {
			t.Error(err)
		}
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
	})
	for _, tc := range []struct {
		name      string
		offset    time.Duration
		ok, fatal bool
		want      string
	}{
		{"in step", 2 * time.Second, true, false, "2s off the DC's"},
		{"ten minutes ahead", 10 * time.Minute, false, true, "10m0s off the DC's"},
		{"ten minutes behind", -10 * time.Minute, false, true, "10m0s off the DC's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{Realm: "CORP.EXAMPLE.TEST", LDAP: config.LDAP{BindDN: "svc@CORP.EXAMPLE.TEST"}}
			r := &run{o: Options{Config: cfg, KDC: addr, MaxSkew: 5 * time.Minute, Now: func() time.Time { return dcTime.Add(tc.offset) }}, cfg: cfg}
			r.kdc(context.Background())
			if len(r.results) != 2 || !r.results[0].OK || r.results[0].Name != "kdc" {
				t.Fatalf("results %+v, want kdc ok then clock", r.results)
			}
			got := r.results[1]
			if got.Name != "clock" || got.OK != tc.ok || got.Fatal != tc.fatal || !strings.Contains(got.Detail+got.Problem, tc.want) {
				t.Fatalf("clock result %+v, want ok=%v fatal=%v mentioning %q", got, tc.ok, tc.fatal, tc.want)
			}
			if !tc.ok && !strings.Contains(got.Fix, "synchronise the clock") {
				t.Errorf("fix %q", got.Fix)
			}
		})
	}
	if requests.Load() != 3 {
		t.Errorf("%d probes reached the KDC, want 3", requests.Load())
	}
}

// TestKDCAddressDefaultsToTheProxysKDC: with kdc_proxy on, its first KDC is
// the one probed (a config whose ldap.url host runs no KDC still checks).
func TestKDCAddressDefaultsToTheProxysKDC(t *testing.T) {
	addr, requests := kdctest.Serve(t, func([]byte) []byte { return []byte{0, 0, 0, 1, 0} })
	cfg := &config.Config{Realm: "CORP.EXAMPLE.TEST", LDAP: config.LDAP{URL: "ldaps://127.0.0.1:1"},
		KDCProxy: config.KDCProxy{Enabled: true, KDCs: []string{addr}}}
	r := &run{o: Options{Config: cfg, Now: time.Now, MaxSkew: time.Minute}, cfg: cfg}
	r.kdc(context.Background())
	if requests.Load() != 1 {
		t.Fatalf("the proxy's KDC %s got %d probes, want 1: %+v", addr, requests.Load(), r.results)
	}
	if len(r.results) != 1 || r.results[0].OK || !strings.Contains(r.results[0].Problem, addr) {
		t.Fatalf("a reply that is not Kerberos must fail the kdc check naming %s: %+v", addr, r.results)
	}
}
