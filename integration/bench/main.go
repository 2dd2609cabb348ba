// Command bench measures passkdc's passkey sign-in against the cryptographic
// floor and against MIT's KDC, on loopback (issue 8):
//
//	go run ./integration/bench -quick   # < 2 min
//	go run ./integration/bench          # full run
//
// For each store size (principals, each with one passkey) it prepares a
// SQLite store, starts the passkdc server in a process of its own (this
// program re-executed: the wiring of `passkdc serve` with the RODC policy
// given instead of read from a directory), registers some passkeys through
// the API (internal/softkey + internal/client) and bulk-inserts the rest,
// then drives discoverable sign-ins (login begin + finish, KRB-CRED opened
// with the binding key) over a bounded pool of keep-alive TLS connections:
// closed loop for the throughput at saturation and the server's CPU time per
// sign-in (from its /proc rusage), then open loop at 25, 50 and 80 % of
// saturation for latency. It measures one bare ECDSA P-256 verification in Go
// and, with the same load generator, MIT krb5kdc answering AS-REQs with
// encrypted-timestamp pre-authentication: with its defaults at each -w, and
// at the better -w with disable_last_success and disable_lockout (a second
// reference: no database write per AS-REQ). It times passkinit (built once)
// from process start to cache written, --no-exchange, against the first
// size's server; with -dc also against `passkdc serve` installed into a
// throwaway Samba AD DC, without and with the exchange at the DC. With -pg
// it serves a PostgreSQL store with one replica, then two (two server
// processes on the same database, the load spread over both). The last line is
//
//	bench: cpu_per_signin_per_verify=R1 signins_vs_mit=R2 p99_ms_at_50pct=L allocs_per_signin=A tls=on
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if dir := os.Getenv(childEnv); dir != "" {
		if err := runChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		return
	}
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, opts.Deadline)
	defer cancel()
	rep, err := run(ctx, opts, os.Stderr)
	if rep != nil {
		fmt.Print(rep.String())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Options of one bench run.
type Options struct {
	Sizes         []int         // store sizes (principals = credentials)
	ViaAPI        int           // passkeys registered through the API per size
	Workers       int           // closed-loop workers (keep-alive connections)
	InFlight      int           // open-loop bound on requests in flight
	Warmup        time.Duration // before each saturation phase
	Phase         time.Duration // saturation phase
	LatencyPhase  time.Duration // each open-loop phase
	Loads         []float64     // open-loop loads, fractions of saturation
	MIT           bool          // measure MIT krb5kdc
	MITPhase      time.Duration
	MITWorkers    []int // krb5kdc -w values to try (the best one is the reference)
	MITUsers      int   // principals the AS-REQs cycle through
	PasskinitRuns int   // passkinit runs timed (first size), 0: none
	DC            bool  // time passkinit with the exchange against a Samba DC (-dc)
	PG            bool  // also measure one and two replicas on PostgreSQL
	PGSize        int   // principals in the PostgreSQL store
	// HotSet is the number of principals of the hot-set phase: at every
	// size larger than it, a second saturation phase signs in only that
	// many of the principals (their view entries warm), which separates
	// the store's size from the view's cold reads (0: no such phase).
	HotSet     int
	CPUProfile string // server CPU profile of the first saturation phase
	Dir        string // keep the run's files here (default: temporary, removed)
	Deadline   time.Duration

	passkinit string // the passkinit program, built by run
}

func quickOptions() Options {
	return Options{Sizes: []int{1000, 10000}, ViaAPI: 20, Workers: 16, InFlight: 64,
		Warmup: time.Second, Phase: 4 * time.Second, LatencyPhase: 3 * time.Second, Loads: []float64{0.25, 0.5, 0.8},
		MIT: true, MITPhase: 2 * time.Second, MITWorkers: []int{1, 2}, MITUsers: 200, PasskinitRuns: 20, PGSize: 1000, HotSet: 1000, Deadline: 3 * time.Minute}
}

func fullOptions() Options {
	return Options{Sizes: []int{1000, 10000, 100000}, ViaAPI: 100, Workers: 16, InFlight: 64,
		Warmup: 3 * time.Second, Phase: 10 * time.Second, LatencyPhase: 10 * time.Second, Loads: []float64{0.25, 0.5, 0.8},
		MIT: true, MITPhase: 5 * time.Second, MITWorkers: []int{1, 2}, MITUsers: 1000, PasskinitRuns: 20, PGSize: 10000, HotSet: 1000, Deadline: 15 * time.Minute}
}

func parseFlags(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "short run (< 2 min): sizes 1k and 10k, short phases, MIT -w 1 and -w 2")
	sizes := fs.String("sizes", "", "comma-separated store sizes (default 1000,10000,100000; quick 1000,10000)")
	phase := fs.Duration("phase", 0, "saturation phase length (default 10s; quick 4s)")
	lat := fs.Duration("latency-phase", 0, "length of each fixed-rate phase (default 10s; quick 3s)")
	workers := fs.Int("workers", 0, "closed-loop workers = keep-alive connections (default 16)")
	noMIT := fs.Bool("no-mit", false, "skip the MIT krb5kdc reference")
	dc := fs.Bool("dc", false, "also time passkinit against `passkdc serve` installed into a throwaway Samba AD DC on "+dcIP+", without and with the exchange at the DC")
	pg := fs.Bool("pg", false, "also run the store on a throwaway PostgreSQL cluster with one replica, then two (two server processes, the load spread over both)")
	prof := fs.String("cpuprofile", "", "write the server's CPU profile of the first saturation phase to this file, and its allocation profiles at the start and the end of that phase to FILE.heap0 and FILE.heap1 (compare them with go tool pprof -base), the CPU profile of the 50% load phase to FILE.load50, and with -pg the first replica's CPU profile of each PostgreSQL saturation phase to FILE.pg1 and FILE.pg2")
	dir := fs.String("dir", "", "keep the run's files (stores, logs) in this directory")
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	o := fullOptions()
	if *quick {
		o = quickOptions()
	}
	if *sizes != "" {
		o.Sizes = nil
		for s := range strings.SplitSeq(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 || n > maxSize {
				fmt.Fprintf(stderr, "bench: -sizes: %q is not a size in [1, %d]\n", s, maxSize)
				return Options{}, fmt.Errorf("bad -sizes")
			}
			o.Sizes = append(o.Sizes, n)
		}
	}
	o.Phase = pick(*phase, o.Phase)
	o.LatencyPhase = pick(*lat, o.LatencyPhase)
	if *workers > 0 {
		o.Workers = min(*workers, 256)
	}
	o.MIT = o.MIT && !*noMIT
	o.PG, o.DC = *pg, *dc
	if o.PG {
		o.Deadline += 2 * time.Minute
	}
	if o.DC {
		o.Deadline += 3 * time.Minute // provisioning a DC takes 10-60 s on a busy machine
	}
	o.CPUProfile, o.Dir = *prof, *dir
	return o, nil
}

// maxSize bounds a store size.
const maxSize = 1_000_000

func pick[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func jsonMarshal(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
