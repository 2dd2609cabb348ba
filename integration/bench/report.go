package main

import (
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/passkdc/passkdc/integration/mitkdc"
	"github.com/passkdc/passkdc/internal/gotune"
)

// Report is the outcome of a bench run.
type Report struct {
	Options     Options
	Started     time.Time
	Elapsed     time.Duration
	VerifyFloor time.Duration
	Sizes       []SizeResult
	MIT         []MITResult // krb5kdc with its defaults, one per -w
	// MITNoWrites is the second reference: krb5kdc at the better -w with
	// disable_last_success and disable_lockout.
	MITNoWrites *MITResult
	PG          *PGResult // with -pg
	// PasskinitDC is passkinit against `passkdc serve` in a Samba domain,
	// without and with the exchange (with -dc).
	PasskinitDC []*PasskinitResult
}

// bestMIT is the MIT configuration with its defaults with the highest AS-REQ rate.
func (r *Report) bestMIT() *mitkdc.Report {
	var best *mitkdc.Report
	for _, m := range r.MIT {
		if best == nil || m.Report.Saturation > best.Saturation {
			best = m.Report
		}
	}
	return best
}

// bestMITWorkers is the -w of bestMIT (1 when MIT was not measured).
func (r *Report) bestMITWorkers() int {
	best, w := 0.0, 1
	for _, m := range r.MIT {
		if m.Report.Saturation > best {
			best, w = m.Report.Saturation, m.Workers
		}
	}
	return max(w, 1)
}

// SignInsVsMITNoWrites is passkdc's sign-ins/s (first size) over the second
// reference's AS-REQs/s (no database write per AS-REQ).
func (r *Report) SignInsVsMITNoWrites() float64 {
	if len(r.Sizes) == 0 || r.MITNoWrites == nil || r.MITNoWrites.Report.Saturation <= 0 {
		return nan
	}
	return r.Sizes[0].Saturation.Throughput / r.MITNoWrites.Report.Saturation
}

// CPUPerVerify is the server's CPU per sign-in (first size) over one verify.
func (r *Report) CPUPerVerify() float64 {
	if len(r.Sizes) == 0 || r.VerifyFloor <= 0 {
		return nan
	}
	return float64(r.Sizes[0].CPUPerSignIn()) / float64(r.VerifyFloor)
}

// SignInsVsMIT is passkdc's sign-ins/s (first size) over MIT's best AS-REQs/s.
func (r *Report) SignInsVsMIT() float64 {
	m := r.bestMIT()
	if len(r.Sizes) == 0 || m == nil || m.Saturation <= 0 {
		return nan
	}
	return r.Sizes[0].Saturation.Throughput / m.Saturation
}

// CPUVsMIT is the server's CPU per sign-in (first size) over the CPU per
// AS-REQ of MIT's fastest configuration, both at saturation.
func (r *Report) CPUVsMIT() float64 {
	m := r.bestMIT()
	if len(r.Sizes) == 0 || m == nil {
		return nan
	}
	sat := m.UDP
	if m.Transport == mitkdc.TCP {
		sat = m.TCP
	}
	if sat.KDCCPUPerRequest() <= 0 {
		return nan
	}
	return float64(r.Sizes[0].CPUPerSignIn()) / float64(sat.KDCCPUPerRequest())
}

// P99At50 is the p99 latency in ms of the phase at 50 % of saturation.
func (r *Report) P99At50() float64 {
	if len(r.Sizes) == 0 {
		return nan
	}
	for _, l := range r.Sizes[0].Latency {
		if math.Abs(l.Fraction-0.5) < 1e-9 {
			return ms(l.Result.P99)
		}
	}
	return nan
}

// Line is the last line of the bench's output.
func (r *Report) Line() string {
	allocs := math.NaN()
	if len(r.Sizes) > 0 {
		allocs = r.Sizes[0].AllocsPerSignIn()
	}
	return fmt.Sprintf("bench: cpu_per_signin_per_verify=%s signins_vs_mit=%s p99_ms_at_50pct=%s allocs_per_signin=%s tls=on",
		ratio(r.CPUPerVerify(), 2), ratio(r.SignInsVsMIT(), 2), ratio(r.P99At50(), 2), ratio(allocs, 0))
}

// serverGC says the Go runtime's GC settings in the measured server, e.g.
// "server GOGC 400 (passkdc's default), no memory limit".
func (r *Report) serverGC() string {
	if len(r.Sizes) == 0 || r.Sizes[0].ServerGC.GCSource == "" {
		return "server GC settings not known"
	}
	gc := r.Sizes[0].ServerGC
	limit := "no memory limit"
	if gc.HasMemoryLimit() {
		limit = fmt.Sprintf("GOMEMLIMIT %d MiB (%s)", gc.MemoryLimit>>20, gcSource(gc.MemoryLimitSource))
	}
	pct := strconv.Itoa(gc.GCPercent)
	if gc.GCPercent < 0 {
		pct = "off"
	}
	return fmt.Sprintf("server GOGC %s (%s), %s", pct, gcSource(gc.GCSource), limit)
}

func gcSource(s gotune.Source) string {
	if s == gotune.SourceDefault {
		return "passkdc's default"
	}
	return string(s)
}

func ratio(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

// String renders the tables (Markdown) and the last line.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\npasskdc sign-in bench, %s, %d CPUs, %s/%s, %s; %s; %d closed-loop workers (keep-alive connections), open loop ≤ %d in flight; run took %v\n\n",
		r.Started.UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), r.serverGC(),
		r.Options.Workers, r.Options.InFlight, r.Elapsed.Round(time.Second))
	r.writeRatios(&b)
	r.writeSizes(&b)
	r.writeLatency(&b)
	r.writeMIT(&b)
	r.writePasskinit(&b)
	r.writePG(&b)
	b.WriteString(r.Line() + "\n")
	return b.String()
}

func (r *Report) writeRatios(b *strings.Builder) {
	first := 0
	if len(r.Sizes) > 0 {
		first = r.Sizes[0].Size
	}
	fmt.Fprintf(b, "| ratio (%d principals) | measured | target |\n|---|---|---|\n", first)
	fmt.Fprintf(b, "| server CPU per sign-in ÷ one P-256 verify (TLS keep-alive) | %s | ≤ 5 |\n", ratio(r.CPUPerVerify(), 1))
	fmt.Fprintf(b, "| passkdc sign-ins/s ÷ MIT krb5kdc AS-REQs/s (its defaults, better -w) | %s | ≥ 1 |\n", ratio(r.SignInsVsMIT(), 2))
	fmt.Fprintf(b, "| passkdc sign-ins/s ÷ MIT krb5kdc AS-REQs/s (disable_last_success, disable_lockout) | %s | — |\n", ratio(r.SignInsVsMITNoWrites(), 2))
	fmt.Fprintf(b, "| p99 at 50%% of saturation | %s ms | ≤ 5 ms |\n", ratio(r.P99At50(), 2))
	if len(r.Sizes) > 0 {
		fmt.Fprintf(b, "| server heap allocations per sign-in | %s | ≤ 400 |\n", ratio(r.Sizes[0].AllocsPerSignIn(), 0))
	}
	fmt.Fprintf(b, "| server CPU per sign-in ÷ MIT KDC CPU per AS-REQ | %s | (less noisy than the rate ratio) |\n\n", ratio(r.CPUVsMIT(), 1))
}

func (r *Report) writeSizes(b *strings.Builder) {
	fmt.Fprintf(b, "| principals + passkeys | sign-ins/s (saturation) | server CPU µs/sign-in | ÷ verify | allocs/sign-in | client CPU µs/sign-in | p50 / p99 at saturation | server peak RSS |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.Sizes {
		fmt.Fprintf(b, "| %d | %.0f | %.0f | %s | %s | %.0f | %.2f / %.2f ms | %.0f MiB |\n", s.Size, s.Saturation.Throughput,
			us(s.CPUPerSignIn()), ratio(float64(s.CPUPerSignIn())/float64(max(r.VerifyFloor, 1)), 1), ratio(s.AllocsPerSignIn(), 0), us(s.ClientCPUPerSignIn()),
			ms(s.Saturation.P50), ms(s.Saturation.P99), float64(s.PeakRSS)/(1<<20))
	}
	fmt.Fprintf(b, "\none bare ECDSA P-256 verify (Go, one core): %.1f µs\n\n", us(r.VerifyFloor))
	r.writeHot(b)
}

// writeHot compares, at each size with a hot-set phase, the sign-ins spread
// over every principal (most of them the first of their principal in a
// while: the view reads the principal and its groups from the store) with
// sign-ins over a warm subset (the store's size alone).
func (r *Report) writeHot(b *strings.Builder) {
	header := false
	for _, s := range r.Sizes {
		h := s.Hot
		if h == nil {
			continue
		}
		if !header {
			b.WriteString("| principals in the store | sign-ins spread over | sign-ins/s | server CPU µs/sign-in | allocs/sign-in |\n|---|---|---|---|---|\n")
			header = true
		}
		fmt.Fprintf(b, "| %d | all of them (view mostly cold) | %.0f | %.0f | %s |\n", s.Size, s.Saturation.Throughput, us(s.CPUPerSignIn()), ratio(s.AllocsPerSignIn(), 0))
		fmt.Fprintf(b, "| %d | %d of them (view warm) | %.0f | %.0f | %s |\n", s.Size, h.Principals, h.Saturation.Throughput, us(h.CPUPerSignIn()), ratio(h.AllocsPerSignIn(), 0))
	}
	if header {
		b.WriteString("\n")
	}
}

func (r *Report) writeLatency(b *strings.Builder) {
	if len(r.Sizes) == 0 || len(r.Sizes[0].Latency) == 0 {
		return
	}
	s := r.Sizes[0]
	fmt.Fprintf(b, "| offered load (%d principals) | sign-ins/s | p50 | p99 | p99.9 | max | server CPU µs/sign-in | errors / missed |\n|---|---|---|---|---|---|---|---|\n", s.Size)
	for _, l := range s.Latency {
		res := l.Result
		fmt.Fprintf(b, "| %.0f%% (%.0f/s) | %.0f | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.0f | %d / %d |\n", 100*l.Fraction, res.TargetRate,
			res.Throughput, ms(res.P50), ms(res.P99), ms(res.P999), ms(res.Max), us(perOp(l.ServerCPU, res)), res.Errors, res.Missed)
	}
	if nc := s.NewConn; nc != nil {
		fmt.Fprintf(b, "\none new TLS connection per sign-in (no keep-alive, closed loop): %.0f sign-ins/s, server CPU %.0f µs/sign-in (keep-alive: %.0f), p50 / p99 %.2f / %.2f ms\n",
			nc.Result.Throughput, us(perOp(nc.ServerCPU, nc.Result)), us(s.CPUPerSignIn()), ms(nc.Result.P50), ms(nc.Result.P99))
	}
	b.WriteString("\n")
}

func (r *Report) writeMIT(b *strings.Builder) {
	if len(r.MIT) == 0 {
		b.WriteString("MIT krb5kdc: not measured\n\n")
		return
	}
	fmt.Fprintf(b, "| MIT krb5kdc (encrypted-timestamp AS-REQ) | AS-REQs/s | transport | KDC CPU µs/AS-REQ | p50 / p99 at 50%% | KDC peak RSS |\n|---|---|---|---|---|---|\n")
	all := r.MIT
	if r.MITNoWrites != nil {
		all = append(all[:len(all):len(all)], *r.MITNoWrites)
	}
	for _, m := range all {
		mr := m.Report
		what := "defaults (last_success and lockout writes)"
		if m.NoDBWrites {
			what = "disable_last_success, disable_lockout"
		}
		sat := mr.UDP
		if mr.Transport == mitkdc.TCP {
			sat = mr.TCP
		}
		h := mr.HalfLoad.Result
		fmt.Fprintf(b, "| -w %d, %s, %d users | %.0f | %s | %.0f | %.2f / %.2f ms | %.0f MiB |\n", max(m.Workers, 1), what, mr.Users, mr.Saturation,
			mr.Transport, us(sat.KDCCPUPerRequest()), ms(h.P50), ms(h.P99), float64(mr.KDCPeakRSS)/(1<<20))
	}
	b.WriteString("\n")
}

func (r *Report) writePG(b *strings.Builder) {
	if r.PG == nil || len(r.PG.Replicas) == 0 {
		return
	}
	fmt.Fprintf(b, "| PostgreSQL store, %d principals (throwaway cluster, fsync and synchronous_commit on) | sign-ins/s (saturation) | p50 / p99 at saturation | server CPU µs/sign-in (all replicas) | fixed rate: sign-ins/s | p50 / p99 |\n|---|---|---|---|---|---|\n", r.PG.Size)
	for _, rr := range r.PG.Replicas {
		s, f := rr.Saturation, rr.Fixed
		fmt.Fprintf(b, "| %d replica(s) | %.0f | %.2f / %.2f ms | %.0f | %.0f of %.0f offered | %.2f / %.2f ms |\n", rr.Replicas, s.Throughput,
			ms(s.P50), ms(s.P99), us(rr.CPUPerSignIn()), f.Throughput, f.TargetRate, ms(f.P50), ms(f.P99))
	}
	fmt.Fprintf(b, "\ntwo replicas ÷ one replica, sign-ins/s at saturation: %s\n\n", ratio(r.PG.TwoOverOne(), 2))
}

// passkinits are the passkinit measurements of the run.
func (r *Report) passkinits() []*PasskinitResult {
	var all []*PasskinitResult
	if len(r.Sizes) > 0 && r.Sizes[0].Passkinit != nil {
		all = append(all, r.Sizes[0].Passkinit)
	}
	return append(all, r.PasskinitDC...)
}

func (r *Report) writePasskinit(b *strings.Builder) {
	all := r.passkinits()
	if len(all) == 0 {
		return
	}
	b.WriteString("| passkinit, process start to credential cache written (soft passkey, one run after another) | runs | p50 | p95 | max |\n|---|---|---|---|---|\n")
	for _, p := range all {
		fmt.Fprintf(b, "| %s | %d | %.1f ms | %.1f ms | %.1f ms |\n", p.Mode, len(p.Times), ms(p.Quantile(0.5)), ms(p.Quantile(0.95)), ms(p.Quantile(1)))
	}
	if len(r.PasskinitDC) == 0 {
		b.WriteString("| with the exchange at a DC | not measured (MIT's KDC cannot take an RODC partial TGT): run with -dc for a Samba DC | | | |\n")
	}
	b.WriteString("\n")
}
