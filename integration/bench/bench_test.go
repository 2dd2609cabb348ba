package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/mitkdc"
	"github.com/passkdc/passkdc/internal/testenv"
)

// TestMain lets the test binary serve as the bench's server process, as the
// bench command re-executes itself.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		if err := runChild(dir); err != nil {
			os.Stderr.WriteString("bench server: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tinyOptions is a run of a few seconds.
func tinyOptions() Options {
	return Options{Sizes: []int{40, 120}, ViaAPI: 3, Workers: 4, InFlight: 8,
		Warmup: 200 * time.Millisecond, Phase: 800 * time.Millisecond, LatencyPhase: 500 * time.Millisecond,
		Loads: []float64{0.5}, MIT: true, MITPhase: 300 * time.Millisecond, MITWorkers: []int{1}, MITUsers: 5,
		Deadline: time.Minute}
}

var lastLine = regexp.MustCompile(`^bench: cpu_per_signin_per_verify=[0-9.]+ signins_vs_mit=[0-9.]+ p99_ms_at_50pct=[0-9.]+ allocs_per_signin=[0-9]+ tls=on$`)

// TestBenchTiny runs the whole bench on tiny stores: passkeys registered
// through the API and bulk-inserted both sign in without a single error, the
// server's CPU per sign-in is at least one P-256 verification (a sign-in does
// one: less would mean the CPU of another process was read), MIT's KDC
// answers, and the report ends with the one summary line.
func TestBenchTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bench for about 15 s")
	}
	if err := mitkdc.ToolsInstalled(); err != nil {
		testenv.Missing(t, err.Error())
	}
	o := tinyOptions()
	o.Dir = t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), o.Deadline)
	defer cancel()
	var progress strings.Builder
	rep, err := run(ctx, o, &progress)
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	out := rep.String()
	t.Log(out)
	if len(rep.Sizes) != len(o.Sizes) || len(rep.MIT) != 1 {
		t.Fatalf("measured %d sizes and %d MIT configurations", len(rep.Sizes), len(rep.MIT))
	}
	for _, s := range rep.Sizes {
		if s.Saturation.Count == 0 || s.Saturation.Errors != 0 {
			t.Errorf("%d principals: %d sign-ins, %d errors %v", s.Size, s.Saturation.Count, s.Saturation.Errors, s.Saturation.ErrorSamples)
		}
		if s.CPUPerSignIn() < rep.VerifyFloor || s.PeakRSS <= 0 {
			t.Errorf("%d principals: server CPU %v per sign-in below one verify %v, or RSS %d", s.Size, s.CPUPerSignIn(), rep.VerifyFloor, s.PeakRSS)
		}
	}
	lat := rep.Sizes[0].Latency
	if len(lat) != 1 || lat[0].Result.Count == 0 || lat[0].Result.Errors != 0 || lat[0].Result.P99 <= 0 {
		t.Errorf("fixed-rate phase: %+v", lat)
	}
	if nc := rep.Sizes[0].NewConn; nc == nil || nc.Result.Count == 0 || nc.Result.Errors != 0 || nc.ServerCPU <= 0 {
		t.Errorf("new-connection phase: %+v", nc)
	}
	if a := rep.Sizes[0].AllocsPerSignIn(); !(a > 0) {
		t.Errorf("allocations per sign-in %v", a)
	}
	if !strings.Contains(out, "one new TLS connection per sign-in") {
		t.Error("the report has no new-connection figure")
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !lastLine.MatchString(last) {
		t.Errorf("last line %q does not match %v", last, lastLine)
	}
}

// TestParseFlags: -quick picks the short run, -sizes and -workers override.
func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		sizes   []int
		workers int
		wantErr bool
	}{
		{nil, []int{1000, 10000, 100000}, 16, false},
		{[]string{"-quick"}, []int{1000, 10000}, 16, false},
		{[]string{"-quick", "-sizes", "50, 60", "-workers", "3"}, []int{50, 60}, 3, false},
		{[]string{"-sizes", "0"}, nil, 0, true},
		{[]string{"-sizes", "x"}, nil, 0, true},
	}
	for _, tc := range tests {
		o, err := parseFlags(tc.args, &strings.Builder{})
		if (err != nil) != tc.wantErr {
			t.Errorf("%v: err %v", tc.args, err)
			continue
		}
		if err == nil && (!equalInts(o.Sizes, tc.sizes) || o.Workers != tc.workers) {
			t.Errorf("%v: sizes %v workers %d, want %v %d", tc.args, o.Sizes, o.Workers, tc.sizes, tc.workers)
		}
	}
}

func equalInts(a, b []int) bool {
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
