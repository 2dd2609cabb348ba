package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"
)

func TestFixedRateSchedulesRightCount(t *testing.T) {
	var calls atomic.Int64
	op := func(ctx context.Context, _ int) error { calls.Add(1); return nil }
	t0 := time.Now()
	r := FixedRate(context.Background(), 200, time.Second, 4, op)
	took := time.Since(t0)
	if r.Count != 200 || calls.Load() != 200 || r.Missed != 0 || r.Errors != 0 {
		t.Fatalf("count=%d calls=%d missed=%d errors=%d, want 200/200/0/0", r.Count, calls.Load(), r.Missed, r.Errors)
	}
	// The last arrival is due at 995 ms: the run must not finish much earlier
	// (it would mean arrivals were not paced) nor much later.
	if took < 950*time.Millisecond || took > 5*time.Second {
		t.Errorf("run took %v, want about 1 s", took)
	}
	if r.Throughput > 210 {
		t.Errorf("throughput %.1f/s above the 200/s schedule", r.Throughput)
	}
}

func TestFixedRateCountsQueueingFromIntendedStart(t *testing.T) {
	// One in-flight slot, 100 arrivals/s, each op 20 ms: the server can do
	// 50/s, so arrivals queue; latency measured from the intended start must
	// grow far beyond the 20 ms service time.
	op := func(ctx context.Context, _ int) error { time.Sleep(20 * time.Millisecond); return nil }
	r := FixedRate(context.Background(), 100, 500*time.Millisecond, 1, op)
	if r.Count != 50 {
		t.Fatalf("count = %d, want 50", r.Count)
	}
	if r.Max < 400*time.Millisecond {
		t.Errorf("max latency %v: queueing was not counted (coordinated omission)", r.Max)
	}
	if r.P50 < 100*time.Millisecond {
		t.Errorf("p50 %v, want well above the 20 ms service time", r.P50)
	}
	if r.MaxStartLag < 400*time.Millisecond {
		t.Errorf("max start lag %v, want the backlog to show", r.MaxStartLag)
	}
}

func TestFixedRateBoundedByTime(t *testing.T) {
	// Ops that never finish on their own: the run must still end, by the op
	// context's deadline, with the stuck ops counted as errors and the
	// arrivals never started counted as missed.
	if testing.Short() {
		t.Skip("waits for OpGrace twice")
	}
	op := func(ctx context.Context, _ int) error { <-ctx.Done(); return ctx.Err() }
	t0 := time.Now()
	r := FixedRate(context.Background(), 1000, 100*time.Millisecond, 2, op)
	took := time.Since(t0)
	if took > 100*time.Millisecond+2*OpGrace+time.Second {
		t.Fatalf("run took %v, not bounded", took)
	}
	if r.Errors != 2 || r.Count != 0 || r.Missed != 98 {
		t.Errorf("errors=%d count=%d missed=%d, want 2/0/98", r.Errors, r.Count, r.Missed)
	}
}

func TestSaturateBoundedByTime(t *testing.T) {
	var calls atomic.Int64
	op := func(ctx context.Context, w int) error {
		calls.Add(1)
		time.Sleep(time.Millisecond)
		return nil
	}
	t0 := time.Now()
	r := Saturate(context.Background(), 4, 300*time.Millisecond, op)
	took := time.Since(t0)
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("run took %v, want about 300 ms", took)
	}
	// Back to back: each worker starts operations until the end, and none
	// took longer than Max, so each ran at least duration/Max of them (about
	// 300 on an idle machine; fewer when sleeping 1 ms takes longer).
	want := 4 * int64(300*time.Millisecond/max(r.Max, time.Millisecond))
	if r.Count != calls.Load() || r.Count < want || r.Count < 4 {
		t.Errorf("count = %d (calls %d), want ≥ %d (max latency %v)", r.Count, calls.Load(), want, r.Max)
	}
	if r.P50 < time.Millisecond {
		t.Errorf("p50 %v below the 1 ms sleep", r.P50)
	}
	if math.Abs(r.Throughput-float64(r.Count)/r.Elapsed.Seconds()) > 1e-6 {
		t.Errorf("throughput %.3f inconsistent with count/elapsed", r.Throughput)
	}
}

func TestSaturateErrorsAndWorkers(t *testing.T) {
	var seen [3]atomic.Int64
	op := func(ctx context.Context, w int) error {
		seen[w].Add(1)
		time.Sleep(100 * time.Microsecond)
		if w == 2 {
			return fmt.Errorf("worker %d: %w", w, errBoom)
		}
		return nil
	}
	r := Saturate(context.Background(), 3, 100*time.Millisecond, op)
	for w := range seen {
		if seen[w].Load() == 0 {
			t.Errorf("worker %d never ran", w)
		}
	}
	if r.Errors != seen[2].Load() || r.Count != seen[0].Load()+seen[1].Load() {
		t.Errorf("errors=%d count=%d, want %d/%d", r.Errors, r.Count, seen[2].Load(), seen[0].Load()+seen[1].Load())
	}
	if len(r.ErrorSamples) != min(MaxErrorSamples, int(r.Errors)) || r.ErrorSamples[0] != "worker 2: boom" {
		t.Errorf("error samples %q", r.ErrorSamples)
	}
}

var errBoom = errors.New("boom")

func TestCancelledContextStopsRunWithoutErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	op := func(ctx context.Context, _ int) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
			return nil
		}
	}
	t0 := time.Now()
	r := Saturate(ctx, 2, time.Minute, op)
	if took := time.Since(t0); took > time.Second {
		t.Fatalf("cancelled run took %v", took)
	}
	if r.Errors != 0 {
		t.Errorf("errors = %d after the caller cancelled, want 0", r.Errors)
	}
	r = FixedRate(ctx, 100, time.Minute, 2, op)
	if r.Errors != 0 || r.Count != 0 || r.Missed != 6000 {
		t.Errorf("fixed rate on a done context: %+v", r)
	}
}

func TestBadArguments(t *testing.T) {
	op := func(context.Context, int) error { return nil }
	tests := []struct {
		name string
		run  func() Result
	}{
		{"saturate zero duration", func() Result { return Saturate(context.Background(), 2, 0, op) }},
		{"saturate nil op", func() Result { return Saturate(context.Background(), 2, time.Second, nil) }},
		{"rate zero", func() Result { return FixedRate(context.Background(), 0, time.Second, 1, op) }},
		{"rate NaN", func() Result { return FixedRate(context.Background(), math.NaN(), time.Second, 1, op) }},
		{"rate Inf", func() Result { return FixedRate(context.Background(), math.Inf(1), time.Second, 1, op) }},
		{"rate negative duration", func() Result { return FixedRate(context.Background(), 10, -time.Second, 1, op) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.run()
			if r.Count != 0 || r.Latency == nil || r.Throughput != 0 {
				t.Errorf("got %+v, want an empty result", r)
			}
		})
	}
	if r := Saturate(context.Background(), -3, 10*time.Millisecond, op); r.Workers != 1 || r.Count == 0 {
		t.Errorf("negative workers: %+v, want clamped to 1", r)
	}
}
