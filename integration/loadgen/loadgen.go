package loadgen

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Limits that bound every run, whatever the caller asks for.
const (
	// MaxWorkers caps the workers of Saturate and the in-flight operations of FixedRate.
	MaxWorkers = 4096
	// MaxDuration caps the duration of one run.
	MaxDuration = time.Hour
	// MaxOps caps the operations of one run.
	MaxOps = 50_000_000
	// MaxErrorSamples is how many error texts a Result keeps.
	MaxErrorSamples = 5
	// OpGrace is how long operations still in flight at the end of a run may
	// take before their context is cancelled; an operation cut off this way
	// counts as an error.
	OpGrace = 5 * time.Second
)

// Op is one operation of a load run: worker is the index of the goroutine
// running it (0 ≤ worker < workers), so that it can use per-worker state such
// as a connection without locking. It must return when ctx is done.
type Op func(ctx context.Context, worker int) error

// Result is what a run measured.
type Result struct {
	// Mode is "saturate" or "fixed-rate".
	Mode string
	// Workers is the number of workers (Saturate) or the in-flight limit (FixedRate).
	Workers int
	// TargetRate is the requested arrival rate per second (FixedRate only).
	TargetRate float64
	// Count is the number of operations that succeeded.
	Count int64
	// Errors is the number of operations that failed.
	Errors int64
	// ErrorSamples holds the texts of the first MaxErrorSamples errors.
	ErrorSamples []string
	// Missed is the number of scheduled arrivals never started because the
	// run ran out of time (FixedRate only; non-zero means the target rate was
	// not sustained).
	Missed int64
	// MaxStartLag is the largest delay between an arrival's intended start and
	// its actual start (FixedRate only; large means the in-flight limit or
	// the machine could not keep up).
	MaxStartLag time.Duration
	// Elapsed is the wall time from the start of the run to the completion of
	// its last operation.
	Elapsed time.Duration
	// Throughput is Count / Elapsed, in operations per second.
	Throughput float64
	// P50, P99, P999 and Max are latency quantiles of the successful
	// operations. For FixedRate, latency runs from the intended start.
	P50, P99, P999, Max time.Duration
	// Mean is the mean latency of the successful operations.
	Mean time.Duration
	// Latency holds every successful operation's latency.
	Latency *Histogram
}

// workerStats is what one worker collects, merged at the end of a run.
type workerStats struct {
	hist     *Histogram
	ok, errs int64
	lag      time.Duration
}

// errorLog keeps the first few error texts of a run.
type errorLog struct {
	mu    sync.Mutex
	texts []string
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.texts) < MaxErrorSamples {
		l.texts = append(l.texts, err.Error())
	}
}

// record files the outcome of one operation. An error seen after the
// caller's context ended is the run being stopped, not a failure.
func (s *workerStats) record(parent context.Context, err error, latency time.Duration, log *errorLog) {
	switch {
	case err == nil:
		s.ok++
		s.hist.Record(latency)
	case parent.Err() != nil:
	default:
		s.errs++
		log.add(err)
	}
}

// Saturate runs a closed loop: workers goroutines each call op back to back
// until duration has elapsed (or ctx ends, or MaxOps operations have run), so
// the throughput it reports is the service's throughput at saturation for
// that concurrency. workers is clamped to [1, MaxWorkers] and duration to
// MaxDuration; a non-positive duration runs nothing.
func Saturate(ctx context.Context, workers int, duration time.Duration, op Op) Result {
	workers = min(max(workers, 1), MaxWorkers)
	res := Result{Mode: "saturate", Workers: workers, Latency: NewHistogram()}
	if duration <= 0 || op == nil {
		return res
	}
	duration = min(duration, MaxDuration)
	start := time.Now()
	end := start.Add(duration)
	opCtx, cancel := context.WithDeadline(ctx, end.Add(OpGrace))
	defer cancel()
	perWorker := int64(MaxOps / workers)
	stats := make([]workerStats, workers)
	var log errorLog
	var wg sync.WaitGroup
	for w := range workers {
		stats[w].hist = NewHistogram()
		wg.Go(func() {
			s := &stats[w]
			for i := int64(0); i < perWorker && ctx.Err() == nil; i++ {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				err := op(opCtx, w)
				s.record(ctx, err, time.Since(t0), &log)
			}
		})
	}
	wg.Wait()
	res.finish(stats, &log, time.Since(start))
	return res
}

// FixedRate runs an open loop: arrivals are scheduled every 1/rate seconds
// for duration, each started by one of at most maxInFlight goroutines as
// soon as its time has come and a goroutine is free. Latency is measured from
// the arrival's intended start, not its actual start, so queueing behind a
// slow operation is counted (no coordinated omission). Arrivals not started
// by duration+OpGrace are counted in Missed. rate must be positive and
// finite (otherwise nothing runs); maxInFlight is clamped to [1, MaxWorkers],
// duration to MaxDuration, and the number of arrivals to MaxOps.
func FixedRate(ctx context.Context, rate float64, duration time.Duration, maxInFlight int, op Op) Result {
	maxInFlight = min(max(maxInFlight, 1), MaxWorkers)
	res := Result{Mode: "fixed-rate", Workers: maxInFlight, TargetRate: rate, Latency: NewHistogram()}
	if duration <= 0 || op == nil || !(rate > 0) || math.IsInf(rate, 0) {
		return res
	}
	duration = min(duration, MaxDuration)
	total := int64(min(rate*duration.Seconds(), MaxOps))
	start := time.Now()
	stopIssuing := start.Add(duration + OpGrace)
	opCtx, cancel := context.WithDeadline(ctx, stopIssuing.Add(OpGrace))
	defer cancel()
	intended := func(i int64) time.Time {
		return start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
	}
	var next, started atomic.Int64
	stats := make([]workerStats, maxInFlight)
	var log errorLog
	var wg sync.WaitGroup
	for w := range maxInFlight {
		stats[w].hist = NewHistogram()
		wg.Go(func() {
			s := &stats[w]
			for range total {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				at := intended(i)
				if !at.Before(stopIssuing) || !sleepUntil(ctx, at) || time.Now().After(stopIssuing) {
					return
				}
				started.Add(1)
				s.lag = max(s.lag, time.Since(at))
				err := op(opCtx, w)
				s.record(ctx, err, time.Since(at), &log)
			}
		})
	}
	wg.Wait()
	res.Missed = total - started.Load()
	res.finish(stats, &log, time.Since(start))
	return res
}

// sleepUntil waits until t or until ctx ends; it reports whether t was reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// finish merges the workers' statistics into r.
func (r *Result) finish(stats []workerStats, log *errorLog, elapsed time.Duration) {
	for i := range stats {
		r.Count += stats[i].ok
		r.Errors += stats[i].errs
		r.MaxStartLag = max(r.MaxStartLag, stats[i].lag)
		r.Latency.Merge(stats[i].hist)
	}
	r.ErrorSamples = log.texts
	r.Elapsed = elapsed
	if elapsed > 0 {
		r.Throughput = float64(r.Count) / elapsed.Seconds()
	}
	r.P50 = r.Latency.Quantile(0.50)
	r.P99 = r.Latency.Quantile(0.99)
	r.P999 = r.Latency.Quantile(0.999)
	r.Max = r.Latency.Max()
	r.Mean = r.Latency.Mean()
}

// String summarises r on one line.
func (r Result) String() string {
	s := fmt.Sprintf("%s workers=%d ok=%d errors=%d elapsed=%v throughput=%.1f/s p50=%v p99=%v p99.9=%v max=%v",
		r.Mode, r.Workers, r.Count, r.Errors, r.Elapsed.Round(time.Millisecond), r.Throughput,
		r.P50, r.P99, r.P999, r.Max)
	if r.Mode == "fixed-rate" {
		s += fmt.Sprintf(" target=%.1f/s missed=%d max-start-lag=%v", r.TargetRate, r.Missed, r.MaxStartLag)
	}
	if len(r.ErrorSamples) > 0 {
		s += fmt.Sprintf(" first-error=%q", r.ErrorSamples[0])
	}
	return s
}
