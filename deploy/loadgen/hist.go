package loadgen

import (
	"math/bits"
	"time"
)

// Hist is a latency histogram with about 3 % resolution from 1 µs to
// hours, in constant memory; not safe for concurrent use (keep one per
// worker and Merge).
type Hist struct {
	counts [64 * 64]int64
	n      int64
	max    time.Duration
}

func bucket(d time.Duration) int {
	us := uint64(max(d/time.Microsecond, 0))
	if us < 64 {
		return int(us)
	}
	e := bits.Len64(us) - 6 // us >> e is in [32, 64)
	return min(e*64+int(us>>e), len(Hist{}.counts)-1)
}

func lower(b int) time.Duration {
	if b < 64 {
		return time.Duration(b) * time.Microsecond
	}
	e, m := b/64, b%64
	return time.Duration(uint64(m)<<e) * time.Microsecond
}

// Add records one latency.
func (h *Hist) Add(d time.Duration) {
	h.counts[bucket(d)]++
	h.n++
	h.max = max(h.max, d)
}

// Merge adds o's counts to h.
func (h *Hist) Merge(o *Hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Count is how many latencies h holds.
func (h *Hist) Count() int64 { return h.n }

// Quantile returns the latency below which a share q of the samples fall
// (the lower edge of its bucket); 1 gives the maximum.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := int64(q * float64(h.n))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			return lower(i)
		}
	}
	return h.max
}
