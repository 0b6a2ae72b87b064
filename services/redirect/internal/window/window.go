package window

import (
	"sync"
	"time"
)

const shards = 64

// Recent reports whether a key was seen within a window.
type Recent struct {
	window   time.Duration
	maxShard int
	shards   [shards]recentShard
}

type recentShard struct {
	mu         sync.Mutex
	cur, prev  map[uint64]int64 // key -> last seen, unix nanos
	curStarted int64
}

// NewRecent remembers keys for window, holding at most maxKeys per
// generation (default 4M); past that a generation turns over early, and a
// key may then count as unseen once more. Keys are visitor input (hashed),
// so this is the bound on memory whatever visitors send: at most 2 x
// maxKeys keys, at 18 to 36 bytes each in Go's maps (BenchmarkKeyBytes), so
// at most about 300 MB at the default, 150 MB typically.
func NewRecent(window time.Duration, maxKeys int) *Recent {
	if maxKeys <= 0 {
		maxKeys = 4 << 20
	}
	r := &Recent{window: window, maxShard: max(1, maxKeys/shards)}
	for i := range r.shards {
		r.shards[i].cur, r.shards[i].prev = map[uint64]int64{}, map[uint64]int64{}
	}
	return r
}

// Seen records key at now and reports whether it was already seen within
// the window before now.
func (r *Recent) Seen(key uint64, now time.Time) bool {
	s := &r.shards[key%shards]
	t := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if t-s.curStarted >= int64(r.window) || len(s.cur) >= r.maxShard {
		// The previous generation now only holds keys older than a
		// window: drop it. (After an idle gap of two windows, drop both.)
		if t-s.curStarted >= 2*int64(r.window) {
			clear(s.cur)
		}
		s.prev, s.cur = s.cur, s.prev
		clear(s.cur)
		s.curStarted = t
	}
	last, ok := s.cur[key]
	if !ok {
		last, ok = s.prev[key]
	}
	s.cur[key] = t
	return ok && t-last < int64(r.window)
}

// Limiter allows at most limit events per key per minute, estimated over
// a sliding minute from two fixed ones.
type Limiter struct {
	limit    float64
	period   int64
	maxShard int
	shards   [shards]limitShard
}

type limitShard struct {
	mu        sync.Mutex
	cur, prev map[uint64]uint32
	curStart  int64
}

// DefaultLimiterKeys is how many keys a Limiter counts per minute by
// default: 256Ki distinct visitors a minute (over 4,000 a second).
const DefaultLimiterKeys = 256 << 10

// NewLimiter allows limit events per key per minute, counting at most
// maxKeys keys per minute (default DefaultLimiterKeys). Keys are visitor
// input (hashed), so that is the bound on memory whatever visitors send:
// two generations of at most maxKeys keys, 18 to 36 bytes each in Go's
// maps, so at most about 19 MB at the default (BenchmarkKeyBytes).
//
// When a minute's generation is full, a key it does not hold yet is let
// through uncounted: only a flood of distinct keys (each its own first
// event) fills it, and refusing every new visitor then would hand the
// flood a denial of service. Keys already counted stay limited.
func NewLimiter(limit, maxKeys int) *Limiter {
	if maxKeys <= 0 {
		maxKeys = DefaultLimiterKeys
	}
	l := &Limiter{limit: float64(limit), period: int64(time.Minute), maxShard: max(1, maxKeys/shards)}
	for i := range l.shards {
		l.shards[i].cur, l.shards[i].prev = map[uint64]uint32{}, map[uint64]uint32{}
	}
	return l
}

// Allow records an event for key at now and reports whether it is within
// the limit. Refused events are not counted.
func (l *Limiter) Allow(key uint64, now time.Time) bool {
	s := &l.shards[key%shards]
	t := now.UnixNano()
	start := t - t%l.period
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case start == s.curStart:
	case start-s.curStart == l.period:
		s.prev, s.cur = s.cur, s.prev
		clear(s.cur)
		s.curStart = start
	default:
		clear(s.prev)
		clear(s.cur)
		s.curStart = start
	}
	// One lookup in each generation and at most one store: with tens of
	// thousands of visitors a minute the maps are larger than the CPU's
	// caches, and each lookup is a miss (issue 15's profile).
	n, counted := s.cur[key]
	estimate := float64(n)
	if len(s.prev) > 0 {
		elapsed := float64(t-start) / float64(l.period)
		estimate += float64(s.prev[key]) * (1 - elapsed)
	}
	if estimate+1 > l.limit {
		return false
	}
	if counted || len(s.cur) < l.maxShard {
		s.cur[key] = n + 1
	}
	return true
}
