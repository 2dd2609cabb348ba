package mitkdc

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/passkdc/passkdc/internal/testenv"
)

// BenchmarkMITKDC measures the reference figures of issue 8 for each KDC
// configuration (single process or -w 2; with or without the per-AS-REQ
// database write). Run it once:
//
//	go test -run='^$' -bench=MITKDC -benchtime=1x ./integration/mitkdc/
//
// MITKDC_PHASE sets the length of each phase (default 5s).
func BenchmarkMITKDC(b *testing.B) {
	if err := ToolsInstalled(); err != nil {
		testenv.Missing(b, err.Error())
	}
	phase := 5 * time.Second
	if s := os.Getenv("MITKDC_PHASE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("MITKDC_PHASE: %v", err)
		}
		phase = d
	}
	for _, kdcWorkers := range []int{1, 2} {
		for _, noWrites := range []bool{false, true} {
			b.Run(fmt.Sprintf("w%d/nodbwrites=%v", kdcWorkers, noWrites), func(b *testing.B) {
				for range b.N {
					r, err := MeasureWith(context.Background(), MeasureConfig{
						Dir: b.TempDir(), Users: 100, Phase: phase,
						KDC: Options{Workers: kdcWorkers, NoDBWrites: noWrites},
					})
					if err != nil {
						b.Fatal(err)
					}
					b.Log("\n" + r.String())
					sat := r.UDP
					if r.Transport == TCP {
						sat = r.TCP
					}
					b.ReportMetric(r.Saturation, "AS-REQ/s")
					b.ReportMetric(us(sat.KDCCPUPerRequest()), "kdc-µs/req")
					b.ReportMetric(us(r.HalfLoad.Result.P50), "p50-µs@50%")
					b.ReportMetric(us(r.HalfLoad.Result.P99), "p99-µs@50%")
					b.ReportMetric(us(r.VerifyFloor), "p256-verify-µs")
				}
			})
		}
	}
}

// TestMeasureShort runs Measure with tiny phases to check that the whole
// pipeline produces sane figures.
func TestMeasureShort(t *testing.T) {
	if err := ToolsInstalled(); err != nil {
		testenv.Missing(t, err.Error())
	}
	if testing.Short() {
		t.Skip("starts a KDC and loads it for about 2 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := MeasureWith(ctx, MeasureConfig{Dir: t.TempDir(), Users: 5, Phase: 400 * time.Millisecond, Workers: 2, InFlight: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + r.String())
	if r.UDP.Result.Count == 0 || r.TCP.Result.Count == 0 || r.UDP.Result.Errors+r.TCP.Result.Errors != 0 {
		t.Errorf("saturation phases: udp %v; tcp %v", r.UDP.Result, r.TCP.Result)
	}
	if r.HalfLoad.Result.Count == 0 || r.HalfLoad.Result.Errors != 0 || r.HalfLoad.Result.P50 <= 0 {
		t.Errorf("half load: %v", r.HalfLoad.Result)
	}
	if r.KDCPeakRSS <= 0 || r.VerifyFloor <= 0 {
		t.Errorf("rss %d floor %v", r.KDCPeakRSS, r.VerifyFloor)
	}
}
