package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/passkdc/passkdc/integration/loadgen"
	"github.com/passkdc/passkdc/integration/pgtest"
)

// PGResult is what the PostgreSQL phases measured: the same store served by
// one replica, then by two (two server processes on the same database, the
// load spread over both).
type PGResult struct {
	Size     int
	Replicas []ReplicaResult // one, then two replicas
}

// ReplicaResult is one replica count on PostgreSQL.
type ReplicaResult struct {
	Replicas   int
	Saturation loadgen.Result
	ServerCPU  time.Duration // all replicas together, saturation phase
	// Fixed is a fixed-rate phase at half the saturation rate of one
	// replica: the same offered load for both replica counts.
	Fixed loadgen.Result
}

// CPUPerSignIn is the replicas' CPU time per sign-in at saturation.
func (r ReplicaResult) CPUPerSignIn() time.Duration { return perOp(r.ServerCPU, r.Saturation) }

// TwoOverOne is the sign-ins/s of two replicas over one's (NaN when not
// measured).
func (p *PGResult) TwoOverOne() float64 {
	if p == nil || len(p.Replicas) < 2 || p.Replicas[0].Saturation.Throughput <= 0 {
		return nan
	}
	return p.Replicas[1].Saturation.Throughput / p.Replicas[0].Saturation.Throughput
}

// measurePG starts a throwaway PostgreSQL cluster (integration/pgtest) with
// its durability defaults (a commit waits for the WAL flush), puts
// o.PGSize principals in it and measures one replica, then two.
func measurePG(ctx context.Context, root string, o Options, progress io.Writer) (*PGResult, error) {
	fmt.Fprintf(progress, "bench: PostgreSQL: starting a throwaway cluster (fsync and synchronous_commit on, as deployed)\n")
	pg, err := pgtest.StartContext(ctx, true)
	if err != nil {
		return nil, err
	}
	defer pg.Stop()
	dirs := []string{filepath.Join(root, "pg-replica-1"), filepath.Join(root, "pg-replica-2")}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	pop, err := setUp(ctx, dirs[0], o.PGSize, o.ViaAPI, pg.URL("postgres"))
	if err != nil {
		return nil, err
	}
	// The second replica: same store and keytab, its own TLS pair and log.
	cfg2 := pop.cfg
	cfg2.AuditLog = filepath.Join(dirs[1], "passkdc.log")
	if err := writeChildConfig(dirs[1], cfg2); err != nil {
		return nil, err
	}
	var srvs []*serverProc
	defer func() {
		for _, s := range srvs {
			s.stop()
		}
	}()
	for _, d := range dirs {
		s, err := startServer(ctx, d)
		if err != nil {
			return nil, err
		}
		srvs = append(srvs, s)
	}
	apiKeys, err := registerViaAPI(ctx, srvs[0], dirs[0], pop.taps)
	if err != nil {
		return nil, err
	}
	keys := append(apiKeys, pop.keys...)
	res := &PGResult{Size: o.PGSize}
	half := 0.0
	for n := 1; n <= len(srvs); n++ {
		rr, err := measureReplicas(ctx, srvs[:n], keys, o, half, progress)
		if err != nil {
			return res, fmt.Errorf("%d replicas: %w", n, err)
		}
		if n == 1 {
			half = rr.Saturation.Throughput / 2
		}
		res.Replicas = append(res.Replicas, *rr)
	}
	return res, ctx.Err()
}

// measureReplicas drives srvs (workers spread over them) at saturation and
// then at a fixed rate (half of the first saturation rate when half is 0).
func measureReplicas(ctx context.Context, srvs []*serverProc, keys []*passkey, o Options, half float64, progress io.Writer) (*ReplicaResult, error) {
	g, err := newSigner(srvs, keys, min(max(o.Workers, o.InFlight), len(keys)))
	if err != nil {
		return nil, err
	}
	defer g.close()
	workers := min(o.Workers, g.slots)
	rr := &ReplicaResult{Replicas: len(srvs)}
	if w := loadgen.Saturate(ctx, workers, o.Warmup, g.signIn); w.Errors > 0 {
		return nil, fmt.Errorf("warm-up: %d errors, first: %v", w.Errors, w.ErrorSamples)
	}
	var client time.Duration
	sat := func() { rr.Saturation = loadgen.Saturate(ctx, workers, o.Phase, g.signIn) }
	profile := "" // the first replica's
	if o.CPUProfile != "" {
		profile = fmt.Sprintf("%s.pg%d", o.CPUProfile, len(srvs))
	}
	if err := srvs[0].profiled(profile, func() error { return measuredAll(ctx, srvs, sat, &rr.ServerCPU, &client) }); err != nil {
		return nil, err
	}
	if rr.Saturation.Count == 0 || rr.Saturation.Errors > 0 {
		return nil, fmt.Errorf("saturation: %d ok, %d errors, first: %v", rr.Saturation.Count, rr.Saturation.Errors, rr.Saturation.ErrorSamples)
	}
	fmt.Fprintf(progress, "bench: PostgreSQL, %d replicas: saturation %v; server CPU %.1f µs/sign-in\n", len(srvs), rr.Saturation, us(rr.CPUPerSignIn()))
	if half <= 0 {
		half = rr.Saturation.Throughput / 2
	}
	rr.Fixed = loadgen.FixedRate(ctx, half, o.LatencyPhase, g.slots, g.signIn)
	fmt.Fprintf(progress, "bench: PostgreSQL, %d replicas: fixed rate: %v\n", len(srvs), rr.Fixed)
	if rr.Fixed.Count == 0 || rr.Fixed.Errors > 0 {
		return nil, fmt.Errorf("fixed rate: %d ok, %d errors, first: %v", rr.Fixed.Count, rr.Fixed.Errors, rr.Fixed.ErrorSamples)
	}
	return rr, nil
}
