package window

import (
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

func TestRecent(t *testing.T) {
	r := NewRecent(30*time.Minute, 0)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		key  uint64
		at   time.Duration
		seen bool
	}{
		{1, 0, false},
		{1, time.Minute, true},
		{2, time.Minute, false},
		{1, 29 * time.Minute, true}, // within 30 min of the last click
		{1, 58 * time.Minute, true}, // last click at 29 min
		{1, 58*time.Minute + time.Second, true},
		{1, 89 * time.Minute, false},  // 31 min after the last
		{2, 200 * time.Minute, false}, // long idle gap
		{2, 200*time.Minute + time.Second, true},
	}
	for i, s := range steps {
		if got := r.Seen(s.key, t0.Add(s.at)); got != s.seen {
			t.Fatalf("step %d: Seen(%d, +%v) = %v, want %v", i, s.key, s.at, got, s.seen)
		}
	}
}

func TestLayout(t *testing.T) {
	for name, size := range map[string]uintptr{
		"recentShard": unsafe.Sizeof(recentShard{}), "limitShard": unsafe.Sizeof(limitShard{}),
		"recentSet": unsafe.Sizeof(recentSet{}),
	} {
		if size != 64 {
			t.Errorf("%s is %d bytes, want one cache line (64)", name, size)
		}
	}
}

// spread turns a counter into keys like the hashes the redirect passes.
func spread(k uint64) uint64 { return (k + 1) * 0x9E3779B97F4A7C15 }

func TestRecentBoundsMemory(t *testing.T) {
	const slots = shards * ways * 4
	r := NewRecent(time.Hour, slots)
	for i := range r.shards {
		if n := len(r.shards[i].sets) * ways; n != slots/shards {
			t.Fatalf("shard %d has %d slots, want %d", i, n, slots/shards)
		}
	}
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	const keys = 100_000
	for k := range uint64(keys) {
		r.Seen(spread(k), t0.Add(time.Duration(k)*time.Millisecond))
	}
	// Full, the table keeps the most recent keys and forgets the oldest.
	at := t0.Add(keys * time.Millisecond)
	for k := uint64(keys - 64); k < keys; k++ {
		if !r.Seen(spread(k), at) {
			t.Errorf("key %d, among the last 64 of %d, forgotten", k, keys)
		}
	}
	forgotten := 0
	for k := range uint64(1000) {
		if !r.Seen(spread(k), at) {
			forgotten++
		}
	}
	if forgotten < 990 {
		t.Errorf("%d of the first 1,000 keys forgotten in a table of %d slots, want nearly all", forgotten, slots)
	}
}

// A key's own slot is found among its set's others, whatever their order
// and times, and a free slot (time 0) is never taken for key 0.
func TestRecentSetSharing(t *testing.T) {
	r := NewRecent(time.Minute, shards*ways) // one set a shard
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	if r.Seen(0, t0) {
		t.Fatal("key 0 seen in an empty table")
	}
	keys := []uint64{0, shards, 2 * shards, 3 * shards} // one shard, one set
	for i, k := range keys[1:] {
		if r.Seen(k, t0.Add(time.Duration(i+1)*time.Second)) {
			t.Fatalf("key %d seen before its first click", k)
		}
	}
	for _, k := range keys {
		if !r.Seen(k, t0.Add(10*time.Second)) {
			t.Errorf("key %d forgotten with its set not full", k)
		}
	}
	// A fifth key takes the least recent slot: key 0's, refreshed first
	// above (ties go to the first slot).
	if r.Seen(4*shards, t0.Add(11*time.Second)) {
		t.Fatal("a fifth key seen")
	}
	if r.Seen(0, t0.Add(12*time.Second)) {
		t.Error("key 0 still held after a fifth key took the least recent slot")
	}
}

func TestLimiterBoundsMemory(t *testing.T) {
	const perMinute = shards * ways * 2
	l := NewLimiter(2, perMinute)
	for i := range l.shards {
		if n := len(l.shards[i].sets) * ways; n != 2*perMinute/shards {
			t.Fatalf("shard %d has %d slots, want %d", i, n, 2*perMinute/shards)
		}
	}
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	// Key 0 is at its limit before the flood.
	if !l.Allow(spread(0), t0) || !l.Allow(spread(0), t0) || l.Allow(spread(0), t0) {
		t.Fatal("key 0 not limited to two")
	}
	for k := range uint64(100000) {
		if !l.Allow(spread(k+1), t0) {
			t.Fatalf("new key %d refused in a flood of new keys: no room must never refuse", k+1)
		}
	}
	if l.Allow(spread(0), t0) {
		t.Error("a key at its limit before the flood was let through past it")
	}
	// A key that arrives in the flood is counted too.
	late := spread(1 << 40)
	if !l.Allow(late, t0) || !l.Allow(late, t0) || l.Allow(late, t0) {
		t.Error("a key arriving in the flood not limited to two")
	}
	// Two minutes on, nothing counts any more.
	if !l.Allow(late, t0.Add(2*time.Minute)) || !l.Allow(spread(0), t0.Add(2*time.Minute)) {
		t.Fatal("refused two minutes later")
	}
}

// A key nearing its limit keeps its count while new keys, each with one
// event, land in its set: they evict each other, not it.
func TestLimiterKeepsTheBusiestKeys(t *testing.T) {
	l := NewLimiter(3, shards*ways/2) // one set a shard
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	busy := uint64(5 * shards)
	for range 2 {
		if !l.Allow(busy, t0) {
			t.Fatal("busy key refused under its limit")
		}
	}
	for k := range uint64(100) {
		if !l.Allow((k+10)*shards, t0) { // the same shard and set
			t.Fatalf("new key %d refused", k)
		}
	}
	if !l.Allow(busy, t0) {
		t.Fatal("busy key's third event refused: its count grew while others came")
	}
	if l.Allow(busy, t0) {
		t.Error("busy key forgotten by a flood into its set: its fourth event allowed")
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(10, 0)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	allowed := 0
	for i := range 15 {
		if l.Allow(7, t0.Add(time.Duration(i)*time.Second)) {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("allowed %d of 15 in a minute, want 10", allowed)
	}
	if !l.Allow(8, t0) {
		t.Fatal("another key was limited")
	}
	// Half-way through the next minute, half of the previous still counts.
	if got := l.Allow(7, t0.Add(90*time.Second)); !got {
		t.Fatal("limit did not slide")
	}
	if !l.Allow(7, t0.Add(10*time.Minute)) {
		t.Fatal("limit did not reset after idle minutes")
	}
}

// BenchmarkFull is a click's lookups in tables as full as the bench's:
// the unique window at its default size and a rate limit over 320,000
// visitors, random keys (lookups that miss the CPU's caches, the case
// that matters).
//
//	go test -run '^$' -bench Full ./internal/window
func BenchmarkFull(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	keys := make([]uint64, 1<<20)
	for i := range keys {
		keys[i] = rng.Uint64()
	}
	b.Run("recent", func(b *testing.B) {
		r := NewRecent(30*time.Minute, 0)
		for i := range DefaultRecentKeys {
			r.Seen(rng.Uint64(), now.Add(time.Duration(i)))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			r.Seen(keys[i&(len(keys)-1)], now.Add(time.Second))
		}
	})
	b.Run("limiter", func(b *testing.B) {
		l := NewLimiter(600, 0)
		visitors := keys[:320_000]
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			l.Allow(visitors[rng.IntN(len(visitors))], now)
		}
	})
}

// TestWindowsOnInstants: the unique-click window and the rate limit count
// elapsed time only, so a month end, New Year or a daylight-saving change
// at the instant starts nothing over: a click one second before the
// instant and one at it are one visitor's two clicks.
func TestWindowsOnInstants(t *testing.T) {
	const window = 30 * time.Minute
	for _, in := range testkit.Instants() {
		t.Run(in.Name, func(t *testing.T) {
			at := in.At
			r := NewRecent(window, 0)
			steps := []struct {
				at   time.Time
				seen bool
			}{
				{at.Add(-time.Second), false},
				{at, true},
				{at.Add(time.Second), true},
				{at.Add(time.Second + window - time.Nanosecond), true},
				{at.Add(2*time.Second + 2*window), false}, // a window after the last click
			}
			for i, s := range steps {
				if got := r.Seen(1, s.at); got != s.seen {
					t.Errorf("step %d: Seen at %s = %v, want %v", i, s.at.Format(time.RFC3339Nano), got, s.seen)
				}
			}

			l := NewLimiter(2, 0)
			if !l.Allow(1, at.Add(-time.Second)) || !l.Allow(1, at) {
				t.Fatal("two clicks refused under a limit of two")
			}
			if l.Allow(1, at.Add(time.Second)) {
				t.Error("a third click within two seconds was allowed under a limit of two a minute")
			}
			if !l.Allow(1, at.Add(3*time.Minute)) {
				t.Error("the limit did not reset after idle minutes")
			}
		})
	}
}

// A key is forgotten, not only no longer counted, within two windows of
// its last event once events come to its shard (README: visitor keys are
// "forgotten after two windows").
func TestSweepsForgetOldKeys(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	holds := func(slots func(yield func(uint64) bool), key uint64) bool {
		for k := range slots {
			if k == key {
				return true
			}
		}
		return false
	}

	r := NewRecent(time.Minute, shards*ways*8)
	old, other := uint64(7), uint64(7+shards) // one shard
	r.Seen(old, t0)
	r.Seen(other, t0.Add(30*time.Second))
	recentKeys := func(yield func(uint64) bool) {
		for _, set := range r.shards[old%shards].sets {
			for _, sl := range set {
				if sl.at != 0 && !yield(sl.key) {
					return
				}
			}
		}
	}
	if !holds(recentKeys, old) {
		t.Fatal("key not held right after its click")
	}
	r.Seen(other, t0.Add(2*time.Minute))
	if holds(recentKeys, old) {
		t.Error("recent: key still held two windows after its only click")
	}
	if !holds(recentKeys, other) {
		t.Error("recent: a key clicked just now was swept")
	}

	l := NewLimiter(10, shards*ways)
	l.Allow(old, t0)
	l.Allow(other, t0.Add(time.Minute))
	limitKeys := func(yield func(uint64) bool) {
		for _, set := range l.shards[old%shards].sets {
			for _, sl := range set {
				if sl.minute != 0 && !yield(sl.key) {
					return
				}
			}
		}
	}
	if !holds(limitKeys, old) {
		t.Fatal("limiter: key swept while its minute still counts")
	}
	l.Allow(other, t0.Add(4*time.Minute))
	if holds(limitKeys, old) {
		t.Error("limiter: key still held minutes after its event stopped counting")
	}
}
