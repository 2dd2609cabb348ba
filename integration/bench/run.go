package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/passkdc/passkdc/integration/loadgen"
	"github.com/passkdc/passkdc/integration/mitkdc"
	"github.com/passkdc/passkdc/internal/gotune"
)

// SizeResult is what one store size measured.
type SizeResult struct {
	Size       int
	Saturation loadgen.Result
	ServerCPU  time.Duration  // during the saturation phase
	ClientCPU  time.Duration  // this process, same phase
	PeakRSS    int64          // server, whole life
	ServerGC   gotune.Applied // the server's GC settings (GOGC, memory limit)
	Mallocs    uint64         // server heap allocations, saturation phase
	Latency    []LoadResult   // fixed-rate phases (first size only)
	// NewConn is a closed-loop phase with one new TLS connection per
	// sign-in (first size only): what a client that does not keep its
	// connection, like one passkinit run, costs the server.
	NewConn *LoadResult
	// Passkinit is passkinit's wall time with --no-exchange against this
	// server (first size only).
	Passkinit *PasskinitResult
	Setup     time.Duration
	// Hot is the hot-set phase (sizes above Options.HotSet only).
	Hot *HotResult
}

// HotResult is a saturation phase over a subset of the principals: the
// same store, the view warm for every sign-in.
type HotResult struct {
	Principals int
	Saturation loadgen.Result
	ServerCPU  time.Duration
	Mallocs    uint64
}

// CPUPerSignIn is the server's CPU time per sign-in of the phase.
func (h HotResult) CPUPerSignIn() time.Duration { return perOp(h.ServerCPU, h.Saturation) }

// AllocsPerSignIn is the server's heap allocations per sign-in of the phase.
func (h HotResult) AllocsPerSignIn() float64 { return allocsPer(h.Mallocs, h.Saturation) }

// CPUPerSignIn is the server's CPU time per sign-in at saturation.
func (s SizeResult) CPUPerSignIn() time.Duration { return perOp(s.ServerCPU, s.Saturation) }

// AllocsPerSignIn is the server's heap allocations per sign-in at saturation.
func (s SizeResult) AllocsPerSignIn() float64 { return allocsPer(s.Mallocs, s.Saturation) }

func allocsPer(mallocs uint64, r loadgen.Result) float64 {
	if r.Count == 0 {
		return math.NaN()
	}
	return float64(mallocs) / float64(r.Count)
}

// ClientCPUPerSignIn is the load generator's CPU time per sign-in.
func (s SizeResult) ClientCPUPerSignIn() time.Duration { return perOp(s.ClientCPU, s.Saturation) }

func perOp(d time.Duration, r loadgen.Result) time.Duration {
	if n := r.Count + r.Errors; n > 0 {
		return d / time.Duration(n)
	}
	return 0
}

// LoadResult is one fixed-rate phase.
type LoadResult struct {
	Fraction  float64
	Result    loadgen.Result
	ServerCPU time.Duration
}

// MITResult is the reference figure of one krb5kdc configuration.
type MITResult struct {
	Workers    int
	NoDBWrites bool // disable_last_success and disable_lockout (the second reference)
	Report     *mitkdc.Report
}

// run measures every size, the verify floor and MIT.
func run(ctx context.Context, o Options, progress io.Writer) (*Report, error) {
	root := o.Dir
	if root == "" {
		tmp, err := os.MkdirTemp("", "passkdc-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		root = tmp
	} else if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	rep := &Report{Options: o, Started: time.Now()}
	if o.PasskinitRuns > 0 {
		fmt.Fprintln(progress, "bench: building cmd/passkinit")
		exe, err := buildPasskinit(ctx, root)
		if err != nil {
			return rep, err
		}
		o.passkinit = exe
	}
	fmt.Fprintln(progress, "bench: measuring one bare P-256 verification")
	rep.VerifyFloor = loadgen.VerifyFloor()
	for i, n := range o.Sizes {
		dir := filepath.Join(root, fmt.Sprintf("size-%d", n))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return rep, err
		}
		res, err := measureSize(ctx, dir, n, o, i == 0, progress)
		if err != nil {
			return rep, fmt.Errorf("%d principals: %w", n, err)
		}
		rep.Sizes = append(rep.Sizes, *res)
	}
	if o.DC && o.passkinit != "" {
		pk, err := measurePasskinitDC(ctx, root, o, progress)
		rep.PasskinitDC = pk
		if err != nil {
			return rep, fmt.Errorf("passkinit against a Samba DC: %w", err)
		}
	}
	if o.PG {
		pg, err := measurePG(ctx, root, o, progress)
		rep.PG = pg
		if err != nil {
			return rep, fmt.Errorf("PostgreSQL: %w", err)
		}
	}
	if o.MIT {
		if err := mitkdc.ToolsInstalled(); err != nil {
			fmt.Fprintf(progress, "bench: MIT reference skipped: %v\n", err)
		} else {
			if err := measureMITs(ctx, root, o, rep, progress); err != nil {
				return rep, err
			}
		}
	}
	rep.Elapsed = time.Since(rep.Started)
	return rep, nil
}

// measureSize prepares a store of n principals, starts the server and loads it.
func measureSize(ctx context.Context, dir string, n int, o Options, latency bool, progress io.Writer) (*SizeResult, error) {
	res := &SizeResult{Size: n}
	t0 := time.Now()
	fmt.Fprintf(progress, "bench: %d principals: preparing the store\n", n)
	pop, err := setUp(ctx, dir, n, o.ViaAPI, "")
	if err != nil {
		return nil, err
	}
	srv, err := startServer(ctx, pop.dir)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	res.ServerGC = srv.gc
	apiKeys, err := registerViaAPI(ctx, srv, dir, pop.taps)
	if err != nil {
		return nil, err
	}
	// The first passkey registered through the API is passkinit's (its
	// counter lives in its file), not the load's.
	var passkinitKey string
	if latency && o.passkinit != "" && len(apiKeys) > 0 {
		passkinitKey, apiKeys = filepath.Join(dir, "softkey-0.json"), apiKeys[1:]
	}
	keys := append(apiKeys, pop.keys...)
	res.Setup = time.Since(t0)
	slots := max(o.Workers, o.InFlight)
	if latency {
		slots = max(slots, o.InFlight)
	}
	g, err := newSigner([]*serverProc{srv}, keys, min(slots, len(keys)))
	if err != nil {
		return nil, err
	}
	defer g.close()
	workers := min(o.Workers, g.slots)
	fmt.Fprintf(progress, "bench: %d principals: ready in %v (%d registered through the API); warming up\n",
		n, res.Setup.Round(time.Millisecond), len(apiKeys))
	if w := loadgen.Saturate(ctx, workers, o.Warmup, g.signIn); w.Errors > 0 {
		return nil, fmt.Errorf("warm-up: %d errors, first: %v", w.Errors, w.ErrorSamples)
	}
	profile := ""
	if latency {
		profile = o.CPUProfile
	}
	if err := srv.profiled(profile, func() (err error) {
		res.Mallocs, err = saturation(ctx, srv, g, workers, o.Phase, &res.Saturation, &res.ServerCPU, &res.ClientCPU)
		return err
	}); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "bench: %d principals: saturation %v; server CPU %.1f µs/sign-in\n", n, res.Saturation, us(res.CPUPerSignIn()))
	if res.Saturation.Count == 0 || res.Saturation.Errors > 0 {
		return res, fmt.Errorf("saturation phase: %d ok, %d errors, first: %v", res.Saturation.Count, res.Saturation.Errors, res.Saturation.ErrorSamples)
	}
	if o.HotSet > 0 && len(keys) > o.HotSet {
		if res.Hot, err = hotPhase(ctx, srv, keys[:o.HotSet], workers, o, progress); err != nil {
			return nil, err
		}
	}
	if latency {
		for _, f := range o.Loads {
			lr := LoadResult{Fraction: f}
			var client time.Duration
			run := func() {
				lr.Result = loadgen.FixedRate(ctx, f*res.Saturation.Throughput, o.LatencyPhase, g.slots, g.signIn)
			}
			profile := ""
			if o.CPUProfile != "" && f == 0.5 {
				profile = o.CPUProfile + ".load50"
			}
			if err := srv.profiled(profile, func() error { return measured(ctx, srv, run, &lr.ServerCPU, &client) }); err != nil {
				return nil, err
			}
			fmt.Fprintf(progress, "bench: %d principals: %.0f%% load: %v\n", n, 100*f, lr.Result)
			res.Latency = append(res.Latency, lr)
		}
		if res.NewConn, err = newConnPhase(ctx, srv, keys, workers, o, progress); err != nil {
			return nil, err
		}
		if passkinitKey != "" {
			r := passkinitRun{mode: "bench server, --no-exchange (partial TGT written as is)", exe: o.passkinit, want: "partial TGT for ",
				args: []string{"--server", srv.origin, "--ca-file", srv.caFile, "--authenticator", "soft:" + passkinitKey, "--no-exchange"}}
			pk, err := timePasskinit(ctx, []passkinitRun{r}, dir, o.PasskinitRuns, progress)
			if err != nil {
				return nil, err
			}
			res.Passkinit = pk[0]
		}
	}
	if res.PeakRSS, err = loadgen.PeakRSS(srv.pid()); err != nil {
		return nil, err
	}
	return res, ctx.Err()
}

// saturation runs one closed-loop phase of g against srv into out, with the
// server's and this process's CPU time, and returns the server's heap
// allocations in it.
func saturation(ctx context.Context, srv *serverProc, g *signer, workers int, d time.Duration, out *loadgen.Result, server, self *time.Duration) (uint64, error) {
	m0, err := srv.mallocs()
	if err != nil {
		return 0, err
	}
	if err := measured(ctx, srv, func() { *out = loadgen.Saturate(ctx, workers, d, g.signIn) }, server, self); err != nil {
		return 0, err
	}
	m1, err := srv.mallocs()
	if err != nil {
		return 0, err
	}
	return m1 - m0, nil
}

// hotPhase is a saturation phase signing in only the principals of keys:
// warmed up first, so every sign-in finds its principal in the view.
func hotPhase(ctx context.Context, srv *serverProc, keys []*passkey, workers int, o Options, progress io.Writer) (*HotResult, error) {
	g, err := newSigner([]*serverProc{srv}, keys, min(max(o.Workers, o.InFlight), len(keys)))
	if err != nil {
		return nil, err
	}
	defer g.close()
	workers = min(workers, g.slots)
	if w := loadgen.Saturate(ctx, workers, o.Warmup, g.signIn); w.Errors > 0 {
		return nil, fmt.Errorf("hot-set warm-up: %d errors, first: %v", w.Errors, w.ErrorSamples)
	}
	h := &HotResult{Principals: len(keys)}
	var client time.Duration
	if h.Mallocs, err = saturation(ctx, srv, g, workers, o.Phase, &h.Saturation, &h.ServerCPU, &client); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "bench: hot set of %d principals: saturation %v; server CPU %.1f µs/sign-in\n", len(keys), h.Saturation, us(h.CPUPerSignIn()))
	if h.Saturation.Count == 0 || h.Saturation.Errors > 0 {
		return h, fmt.Errorf("hot-set phase: %d ok, %d errors, first: %v", h.Saturation.Count, h.Saturation.Errors, h.Saturation.ErrorSamples)
	}
	return h, nil
}

// measured runs fn and adds the CPU time the server and this process used.
func measured(ctx context.Context, srv *serverProc, fn func(), server, self *time.Duration) error {
	return measuredAll(ctx, []*serverProc{srv}, fn, server, self)
}

// measuredAll runs fn and adds the CPU time the servers srvs (together) and
// this process used.
func measuredAll(_ context.Context, srvs []*serverProc, fn func(), server, self *time.Duration) error {
	s0, err := serversCPU(srvs)
	if err != nil {
		return err
	}
	c0, err := loadgen.ProcCPU(os.Getpid())
	if err != nil {
		return err
	}
	fn()
	s1, err := serversCPU(srvs)
	if err != nil {
		return err
	}
	c1, err := loadgen.ProcCPU(os.Getpid())
	if err != nil {
		return err
	}
	*server, *self = s1-s0, c1-c0
	return nil
}

// serversCPU is the CPU time the server processes used so far, together.
func serversCPU(srvs []*serverProc) (time.Duration, error) {
	var sum time.Duration
	for _, s := range srvs {
		d, err := loadgen.ProcCPU(s.pid())
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// measureMITs measures krb5kdc with its defaults at every -w of o, then, at
// the better of them, the second reference: disable_last_success and
// disable_lockout (no database write per AS-REQ).
func measureMITs(ctx context.Context, root string, o Options, rep *Report, progress io.Writer) error {
	for _, w := range o.MITWorkers {
		r, err := measureMIT(ctx, filepath.Join(root, fmt.Sprintf("mit-w%d", w)), w, false, o, progress)
		if err != nil {
			return fmt.Errorf("MIT krb5kdc -w %d: %w", w, err)
		}
		rep.MIT = append(rep.MIT, MITResult{Workers: w, Report: r})
	}
	w := rep.bestMITWorkers()
	r, err := measureMIT(ctx, filepath.Join(root, fmt.Sprintf("mit-w%d-nowrites", w)), w, true, o, progress)
	if err != nil {
		return fmt.Errorf("MIT krb5kdc -w %d without db writes: %w", w, err)
	}
	rep.MITNoWrites = &MITResult{Workers: w, NoDBWrites: true, Report: r}
	return nil
}

// measureMIT measures krb5kdc -w workers with the same load generator and
// closed-loop concurrency; noWrites sets disable_last_success and
// disable_lockout in kdc.conf's [dbmodules].
func measureMIT(ctx context.Context, dir string, workers int, noWrites bool, o Options, progress io.Writer) (*mitkdc.Report, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	what := "defaults"
	if noWrites {
		what = "disable_last_success, disable_lockout"
	}
	fmt.Fprintf(progress, "bench: MIT krb5kdc -w %d (%s)\n", workers, what)
	return mitkdc.MeasureWith(ctx, mitkdc.MeasureConfig{Dir: dir, Users: o.MITUsers, Phase: o.MITPhase, Workers: o.Workers,
		InFlight: o.InFlight, KDC: mitkdc.Options{Workers: workers, NoDBWrites: noWrites}, Progress: progress})
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// nan is the value of a ratio that could not be measured.
var nan = math.NaN()

// newConnPhase drives sign-ins at saturation with a new TLS connection for
// each (no keep-alive) and returns the result with the server's CPU.
func newConnPhase(ctx context.Context, srv *serverProc, keys []*passkey, workers int, o Options, progress io.Writer) (*LoadResult, error) {
	g, err := newSigner([]*serverProc{srv}, keys, min(workers, len(keys)))
	if err != nil {
		return nil, err
	}
	defer g.close()
	g.http.Transport.(*http.Transport).DisableKeepAlives = true
	lr := &LoadResult{Fraction: 1}
	var client time.Duration
	run := func() { lr.Result = loadgen.Saturate(ctx, g.slots, o.LatencyPhase, g.signIn) }
	if err := measured(ctx, srv, run, &lr.ServerCPU, &client); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "bench: new TLS connection per sign-in: %v; server CPU %.1f µs/sign-in\n", lr.Result, us(perOp(lr.ServerCPU, lr.Result)))
	if lr.Result.Count == 0 || lr.Result.Errors > 0 {
		return lr, fmt.Errorf("new-connection phase: %d ok, %d errors, first: %v", lr.Result.Count, lr.Result.Errors, lr.Result.ErrorSamples)
	}
	return lr, nil
}
