package loadgen

import (
	"math"
	"testing"
	"time"
)

func TestBucketRoundTrip(t *testing.T) {
	values := []int64{0, 1, 127, 255, 256, 257, 511, 512, 1000, 12345, 1 << 20, 1<<40 + 12345, math.MaxInt64}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= bucketCount {
			t.Fatalf("bucketOf(%d) = %d out of range", v, i)
		}
		hi := bucketHigh(i)
		if hi < v {
			t.Errorf("bucketHigh(bucketOf(%d)) = %d < value", v, hi)
		}
		if v >= exactLimit && float64(hi-v) > float64(v)/subCount {
			t.Errorf("value %d: bucket upper bound %d beyond 1/%d", v, hi, subCount)
		}
		if v < exactLimit && hi != v {
			t.Errorf("small value %d not exact: %d", v, hi)
		}
		if i > 0 && bucketHigh(i-1) >= v {
			t.Errorf("value %d also fits the previous bucket (high %d)", v, bucketHigh(i-1))
		}
	}
}

func TestQuantilesKnownSamples(t *testing.T) {
	tests := []struct {
		name    string
		samples func(h *Histogram)
		q       float64
		want    time.Duration
		tol     float64 // relative
	}{
		{"1..100ns p50 exact", rangeNS(1, 100, 1), 0.50, 50, 0},
		{"1..100ns p99 exact", rangeNS(1, 100, 1), 0.99, 99, 0},
		{"1..100ns p100 exact", rangeNS(1, 100, 1), 1, 100, 0},
		{"1..10000us p50", rangeNS(1, 10000, int64(time.Microsecond)), 0.50, 5000 * time.Microsecond, 1.0 / subCount},
		{"1..10000us p99", rangeNS(1, 10000, int64(time.Microsecond)), 0.99, 9900 * time.Microsecond, 1.0 / subCount},
		{"1..10000us p99.9", rangeNS(1, 10000, int64(time.Microsecond)), 0.999, 9990 * time.Microsecond, 1.0 / subCount},
		{"single sample", func(h *Histogram) { h.Record(3 * time.Millisecond) }, 0.5, 3 * time.Millisecond, 0},
		{"bimodal p50 low", bimodal, 0.5, time.Millisecond, 1.0 / subCount},
		{"bimodal p99 high", bimodal, 0.99, time.Second, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistogram()
			tc.samples(h)
			got := h.Quantile(tc.q)
			if diff := math.Abs(float64(got - tc.want)); diff > tc.tol*float64(tc.want) {
				t.Errorf("Quantile(%v) = %v, want %v (±%.2f%%)", tc.q, got, tc.want, 100*tc.tol)
			}
		})
	}
}

func rangeNS(from, to, unit int64) func(*Histogram) {
	return func(h *Histogram) {
		for v := from; v <= to; v++ {
			h.Record(time.Duration(v * unit))
		}
	}
}

// bimodal: 98 fast samples of 1 ms and 2 slow ones of 1 s.
func bimodal(h *Histogram) {
	for range 98 {
		h.Record(time.Millisecond)
	}
	h.Record(time.Second)
	h.Record(time.Second)
}

func TestHistogramMergeAndStats(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	rangeNS(1, 50, 1)(a)
	rangeNS(51, 100, 1)(b)
	a.Merge(b)
	a.Merge(nil)
	a.Merge(NewHistogram())
	if a.Count() != 100 || a.Min() != 1 || a.Max() != 100 {
		t.Fatalf("count/min/max = %d/%v/%v, want 100/1ns/100ns", a.Count(), a.Min(), a.Max())
	}
	if m := a.Mean(); m != 50 { // 50.5 truncated
		t.Errorf("mean = %v, want 50ns", m)
	}
	if got := a.Quantile(0.5); got != 50 {
		t.Errorf("merged p50 = %v, want 50ns", got)
	}
}

func TestHistogramEdgeCases(t *testing.T) {
	h := NewHistogram()
	if h.Quantile(0.5) != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	h.Record(-5)
	h.Record(time.Duration(math.MaxInt64))
	if h.Min() != 0 || h.Max() != time.Duration(math.MaxInt64) {
		t.Errorf("min/max = %v/%v", h.Min(), h.Max())
	}
	for _, q := range []float64{math.NaN(), -1, 0} {
		if got := h.Quantile(q); got != 0 {
			t.Errorf("Quantile(%v) = %v, want the minimum 0", q, got)
		}
	}
	if got := h.Quantile(7); got != time.Duration(math.MaxInt64) {
		t.Errorf("Quantile(7) = %v, want the maximum", got)
	}
}
