package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/mitkdc"
	"github.com/passkdc/passkdc/integration/pgtest"
	"github.com/passkdc/passkdc/integration/samba"
	"github.com/passkdc/passkdc/internal/gotune"
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
		PasskinitRuns: 3, PGSize: 60, HotSet: 50, Deadline: 2 * time.Minute}
}

var lastLine = regexp.MustCompile(`^bench: cpu_per_signin_per_verify=[0-9.]+ signins_vs_mit=[0-9.]+ p99_ms_at_50pct=[0-9.]+ allocs_per_signin=[0-9]+ tls=on$`)

// TestBenchTiny runs the whole bench on tiny stores: passkeys registered
// through the API and bulk-inserted both sign in without a single error, the
// server's CPU per sign-in is at least one P-256 verification (a sign-in does
// one: less would mean the CPU of another process was read), MIT's KDC
// answers with its defaults and without database writes (the second
// reference, at the better worker count), passkinit writes a cache every
// run, and the report ends with the one summary line.
func TestBenchTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bench for about 15 s")
	}
	if err := mitkdc.ToolsInstalled(); err != nil {
		testenv.Missing(t, err.Error())
	}
	o := tinyOptions()
	o.CPUProfile = filepath.Join(t.TempDir(), "cpu.prof")
	rep, out := runTiny(t, o)
	// -cpuprofile: the first saturation phase's CPU profile, its allocation
	// profiles at the start and the end, and the 50% load phase's CPU profile
	// (each a gzipped pprof profile).
	for _, suffix := range []string{"", ".heap0", ".heap1", ".load50"} {
		if b, err := os.ReadFile(o.CPUProfile + suffix); err != nil || len(b) < 64 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("-cpuprofile %s%s: %d bytes, %v", o.CPUProfile, suffix, len(b), err)
		}
	}
	if len(rep.Sizes) != len(o.Sizes) || len(rep.MIT) != 1 {
		t.Fatalf("measured %d sizes and %d MIT configurations", len(rep.Sizes), len(rep.MIT))
	}
	if m := rep.MITNoWrites; m == nil || !m.NoDBWrites || !m.Report.NoDBWrites || m.Workers != rep.MIT[0].Workers || !(m.Report.Saturation > 0) {
		t.Errorf("second MIT reference (no db writes, at the better -w): %+v", m)
	} else if !(rep.SignInsVsMITNoWrites() > 0) || !strings.Contains(out, "| -w 1, disable_last_success, disable_lockout,") {
		t.Errorf("the report lacks the second MIT reference (ratio %v)", rep.SignInsVsMITNoWrites())
	}
	if p := rep.Sizes[0].Passkinit; p == nil || len(p.Times) != o.PasskinitRuns || p.Times[0] <= 0 {
		t.Errorf("passkinit runs: %+v", p)
	} else if !strings.Contains(out, fmt.Sprintf("| %s | %d | %.1f ms | %.1f ms |", p.Mode, o.PasskinitRuns, ms(p.Quantile(0.5)), ms(p.Quantile(0.95)))) {
		t.Error("the report lacks passkinit's p50 and p95")
	}
	if rep.Sizes[1].Passkinit != nil {
		t.Error("passkinit timed for a second size")
	}
	if !strings.Contains(out, "| with the exchange at a DC | not measured") {
		t.Error("the report does not say the exchange was not measured (no -dc)")
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
	// The hot set (50) runs at the size above it only, and is reported.
	if rep.Sizes[0].Hot != nil {
		t.Errorf("a hot-set phase at %d principals (hot set %d)", rep.Sizes[0].Size, o.HotSet)
	}
	if h := rep.Sizes[1].Hot; h == nil || h.Principals != o.HotSet || h.Saturation.Count == 0 || h.Saturation.Errors != 0 || !(h.AllocsPerSignIn() > 0) || h.CPUPerSignIn() < rep.VerifyFloor {
		t.Errorf("hot-set phase at %d principals: %+v", rep.Sizes[1].Size, h)
	} else if row := fmt.Sprintf("| %d | %d of them (view warm) | %.0f |", rep.Sizes[1].Size, o.HotSet, h.Saturation.Throughput); !strings.Contains(out, row) {
		t.Errorf("the report lacks the hot-set row %q", row)
	}
	// The server runs with passkdc serve's GC default unless this process's
	// environment (which the server inherits) sets GOGC.
	wantGC := "; server GOGC 400 (passkdc's default), "
	if os.Getenv("GOGC") != "" {
		wantGC = "(environment)"
	}
	if !strings.Contains(out, wantGC) || rep.Sizes[1].ServerGC != rep.Sizes[0].ServerGC {
		t.Errorf("the report's header does not say %q (server GC settings %+v, %+v)", wantGC, rep.Sizes[0].ServerGC, rep.Sizes[1].ServerGC)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !lastLine.MatchString(last) {
		t.Errorf("last line %q does not match %v", last, lastLine)
	}
}

// TestServerGCInTheHeader: the report's header says the server's GC
// settings and where each came from.
func TestServerGCInTheHeader(t *testing.T) {
	for _, c := range []struct {
		gc   gotune.Applied
		want string
	}{
		{gotune.Applied{}, "server GC settings not known"},
		{gotune.Applied{GCPercent: 400, GCSource: gotune.SourceDefault, MemoryLimit: gotune.NoLimit, MemoryLimitSource: gotune.SourceDefault},
			"server GOGC 400 (passkdc's default), no memory limit"},
		{gotune.Applied{GCPercent: 100, GCSource: gotune.SourceEnvironment, MemoryLimit: 1 << 30, MemoryLimitSource: gotune.SourceEnvironment},
			"server GOGC 100 (environment), GOMEMLIMIT 1024 MiB (environment)"},
		{gotune.Applied{GCPercent: -1, GCSource: gotune.SourceEnvironment, MemoryLimit: gotune.NoLimit, MemoryLimitSource: gotune.SourceDefault},
			"server GOGC off (environment), no memory limit"},
	} {
		r := &Report{Sizes: []SizeResult{{ServerGC: c.gc}}}
		if got := r.serverGC(); got != c.want {
			t.Errorf("serverGC(%+v) = %q, want %q", c.gc, got, c.want)
		}
	}
}

// TestParseListening: the server's first line gives its address and GC
// settings; anything else is refused.
func TestParseListening(t *testing.T) {
	addr, gc, ok := parseListening(`listening 127.0.0.1:4433 {"GCPercent":400,"GCSource":"default","MemoryLimit":9223372036854775807,"MemoryLimitSource":"default"}`)
	if !ok || addr != "127.0.0.1:4433" || gc.GCPercent != 400 || gc.GCSource != gotune.SourceDefault || gc.HasMemoryLimit() {
		t.Errorf("parseListening = %q %+v %v", addr, gc, ok)
	}
	for _, bad := range []string{"listening 127.0.0.1:4433", "listening 127.0.0.1:4433 {}", "panic: boom"} {
		if _, _, ok := parseListening(bad); ok {
			t.Errorf("parseListening accepted %q", bad)
		}
	}
}

// TestBenchPostgres: one replica and then two on one PostgreSQL database
// sign in without an error at saturation and at a fixed rate (the same for
// both), the CPU of both replicas is counted, and the report shows both rows.
func TestBenchPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two servers on PostgreSQL for about 10 s")
	}
	if _, err := pgtest.FindBinDir(); err != nil {
		testenv.Missing(t, err.Error())
	}
	o := tinyOptions()
	o.Sizes, o.MIT, o.PasskinitRuns, o.PG = []int{40}, false, 0, true
	o.CPUProfile = filepath.Join(t.TempDir(), "cpu.prof")
	rep, out := runTiny(t, o)
	if rep.PG == nil || len(rep.PG.Replicas) != 2 || rep.PG.Size != o.PGSize {
		t.Fatalf("PostgreSQL result %+v", rep.PG)
	}
	// -cpuprofile: the first replica's CPU profile of each saturation phase.
	for _, suffix := range []string{".pg1", ".pg2"} {
		if b, err := os.ReadFile(o.CPUProfile + suffix); err != nil || len(b) < 64 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("-cpuprofile %s%s: %d bytes, %v", o.CPUProfile, suffix, len(b), err)
		}
	}
	for i, rr := range rep.PG.Replicas {
		s, f := rr.Saturation, rr.Fixed
		if rr.Replicas != i+1 || s.Count == 0 || s.Errors != 0 || f.Count == 0 || f.Errors != 0 || s.P99 <= 0 || f.P99 <= 0 {
			t.Errorf("%d replicas: %+v", i+1, rr)
		}
		if rr.CPUPerSignIn() < rep.VerifyFloor {
			t.Errorf("%d replicas: server CPU %v per sign-in below one verify %v", i+1, rr.CPUPerSignIn(), rep.VerifyFloor)
		}
		if row := fmt.Sprintf("| %d replica(s) | %.0f |", i+1, s.Throughput); !strings.Contains(out, row) {
			t.Errorf("the report lacks %q", row)
		}
	}
	if a, b := rep.PG.Replicas[0].Fixed.TargetRate, rep.PG.Replicas[1].Fixed.TargetRate; a != b || a <= 0 {
		t.Errorf("fixed rates %v and %v: want the same offered load", a, b)
	}
	if !(rep.PG.TwoOverOne() > 0) || !strings.Contains(out, "two replicas ÷ one replica") {
		t.Errorf("no two-over-one ratio (%v)", rep.PG.TwoOverOne())
	}
}

// TestBenchPasskinitDC: against `passkdc serve` in a throwaway Samba domain,
// passkinit writes a partial TGT with --no-exchange and a full TGT with the
// exchange at the DC on every run, and the report shows both.
func TestBenchPasskinitDC(t *testing.T) {
	if testing.Short() {
		t.Skip("provisions a Samba DC (10-30 s)")
	}
	if missing := samba.Missing(); len(missing) > 0 {
		testenv.Missing(t, fmt.Sprintf("Samba DC prerequisites: %v", missing))
	}
	o := tinyOptions()
	o.PasskinitRuns = 2
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var progress strings.Builder
	pk, err := measurePasskinitDC(ctx, t.TempDir(), o, &progress)
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(pk) != 2 || !strings.Contains(pk[0].Mode, "--no-exchange") || !strings.Contains(pk[1].Mode, "exchange at the DC") {
		t.Fatalf("passkinit results %+v", pk)
	}
	rep := &Report{PasskinitDC: pk}
	out := rep.String()
	for _, p := range pk {
		if len(p.Times) != o.PasskinitRuns || p.Times[0] <= 0 {
			t.Errorf("%s: times %v", p.Mode, p.Times)
		}
		if !strings.Contains(out, "| "+p.Mode+" | 2 |") {
			t.Errorf("the report lacks %s", p.Mode)
		}
	}
	if strings.Contains(out, "not measured (MIT") {
		t.Error("the report says the exchange was not measured")
	}
}

// TestQuantile: nearest rank over the sorted run times.
func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		times []time.Duration
		q     float64
		want  time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.95, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 0.95, 19 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 0.5, 10 * time.Millisecond},
		{ms(1, 2, 3), 1, 3 * time.Millisecond},
	}
	for _, tc := range tests {
		p := &PasskinitResult{Times: tc.times}
		if got := p.Quantile(tc.q); got != tc.want {
			t.Errorf("%v q=%v: %v, want %v", tc.times, tc.q, got, tc.want)
		}
	}
}

// TestParseFlags: -quick picks the short run, -sizes and -workers override.
func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		sizes   []int
		workers int
		pg, dc  bool
		wantErr bool
	}{
		{nil, []int{1000, 10000, 100000}, 16, false, false, false},
		{[]string{"-quick"}, []int{1000, 10000}, 16, false, false, false},
		{[]string{"-quick", "-sizes", "50, 60", "-workers", "3"}, []int{50, 60}, 3, false, false, false},
		{[]string{"-quick", "-pg"}, []int{1000, 10000}, 16, true, false, false},
		{[]string{"-dc"}, []int{1000, 10000, 100000}, 16, false, true, false},
		{[]string{"-sizes", "0"}, nil, 0, false, false, true},
		{[]string{"-sizes", "x"}, nil, 0, false, false, true},
	}
	for _, tc := range tests {
		o, err := parseFlags(tc.args, &strings.Builder{})
		if (err != nil) != tc.wantErr {
			t.Errorf("%v: err %v", tc.args, err)
			continue
		}
		if err == nil && (!equalInts(o.Sizes, tc.sizes) || o.Workers != tc.workers || o.PG != tc.pg || o.DC != tc.dc || o.PasskinitRuns != 20) {
			t.Errorf("%v: sizes %v workers %d pg %v dc %v passkinit runs %d, want %v %d %v %v 20", tc.args, o.Sizes, o.Workers, o.PG, o.DC, o.PasskinitRuns,
				tc.sizes, tc.workers, tc.pg, tc.dc)
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

// runTiny runs the bench with o in a temporary directory within o.Deadline
// and returns its report and the report's text (both logged).
func runTiny(t *testing.T, o Options) (*Report, string) {
	t.Helper()
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
	return rep, out
}
