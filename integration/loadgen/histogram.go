package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the precision of Histogram: each power-of-two range is split
// into 1<<subBits buckets, so a recorded value is known within 1/128 (0.8 %).
const subBits = 7

const (
	subCount    = 1 << subBits
	exactLimit  = 2 * subCount // values below this have a bucket of their own
	bucketCount = exactLimit + (64-subBits-2)*subCount
)

// Histogram is a fixed-size latency histogram in the manner of HdrHistogram:
// values below 256 ns are exact, larger ones are kept with a relative error
// of at most 1/128. It uses about 58 KiB whatever the number of samples. The
// zero value is not usable: call NewHistogram. A Histogram is not safe for
// concurrent use; give each goroutine its own and Merge them.
type Histogram struct {
	counts   []uint64
	n        uint64
	min, max int64
	sum      float64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, bucketCount), min: math.MaxInt64}
}

// bucketOf returns the bucket index of a non-negative value.
func bucketOf(v int64) int {
	if v < exactLimit {
		return int(v)
	}
	u := uint64(v)
	e := bits.Len64(u) - (subBits + 1) // ≥ 1
	m := u >> uint(e)                  // in [subCount, 2*subCount)
	return exactLimit + (e-1)*subCount + int(m-subCount)
}

// bucketHigh returns the largest value that falls in bucket i.
func bucketHigh(i int) int64 {
	if i < exactLimit {
		return int64(i)
	}
	e := (i-exactLimit)/subCount + 1
	m := uint64((i-exactLimit)%subCount + subCount)
	hi := (m+1)<<uint(e) - 1
	if hi > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(hi)
}

// Record adds one sample; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest sample, or 0 if there is none.
func (h *Histogram) Min() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Max returns the largest sample, or 0 if there is none.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the arithmetic mean of the samples, or 0 if there is none.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the nearest-rank q-quantile (0 < q ≤ 1): the smallest
// recorded value v such that at least a fraction q of the samples are ≤ v,
// rounded up to its bucket's upper bound (so never under-reported by more
// than the bucket width) and clamped to [Min, Max]. It returns 0 for an empty
// histogram; q outside (0, 1] is clamped.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if math.IsNaN(q) || q <= 0 {
		return h.Min()
	}
	rank := uint64(math.Ceil(min(q, 1) * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(bucketHigh(i), h.min), h.max))
		}
	}
	return h.Max()
}
