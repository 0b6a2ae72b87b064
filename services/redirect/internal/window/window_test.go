package window

import (
	"runtime"
	"testing"
	"time"

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

func TestRecentBoundsMemory(t *testing.T) {
	r := NewRecent(time.Hour, shards*10)
	now := time.Now()
	for k := range uint64(100000) {
		r.Seen(k, now)
	}
	for i := range r.shards {
		if n := len(r.shards[i].cur) + len(r.shards[i].prev); n > 20 {
			t.Fatalf("shard %d holds %d keys", i, n)
		}
	}
}

func TestLimiterBoundsMemory(t *testing.T) {
	l := NewLimiter(2, shards*10)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	// Key 0 is counted before the flood fills every shard; key 1<<40 only
	// comes after.
	if !l.Allow(0, t0) || !l.Allow(0, t0) || l.Allow(0, t0) {
		t.Fatal("key 0 not limited to two")
	}
	for k := range uint64(100000) {
		l.Allow(k+1, t0)
	}
	for i := range l.shards {
		if n := len(l.shards[i].cur) + len(l.shards[i].prev); n > 10 {
			t.Fatalf("shard %d holds %d keys, want at most 10", i, n)
		}
	}
	if l.Allow(0, t0) {
		t.Error("a key counted before the flood was let through past its limit")
	}
	for range 5 {
		if !l.Allow(1<<40, t0) {
			t.Fatal("a new key was refused while the generation is full")
		}
	}
	// The next minute has room again.
	if !l.Allow(1<<40, t0.Add(time.Minute)) {
		t.Fatal("refused in the next minute")
	}
}

// BenchmarkKeyBytes reports what a key costs in each structure when both
// generations are full: the figures behind the bounds in NewRecent's and
// NewLimiter's comments.
//
//	go test -run '^$' -bench KeyBytes -benchtime 1x ./internal/window
func BenchmarkKeyBytes(b *testing.B) {
	const keys = 1 << 20
	measure := func(fill func()) float64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		fill()
		runtime.GC()
		runtime.ReadMemStats(&after)
		return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (2 * keys)
	}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	key := func(k uint64) uint64 { return k * 0x9E3779B97F4A7C15 }
	for b.Loop() {
		var r *Recent
		perRecent := measure(func() {
			r = NewRecent(time.Hour, keys)
			for k := range uint64(3 * keys) { // past two generations' worth
				r.Seen(key(k), now)
			}
		})
		var l *Limiter
		perLimiter := measure(func() {
			l = NewLimiter(10, keys)
			for minute := range 3 { // fill a minute, then the next
				for k := range uint64(keys) {
					l.Allow(key(k+uint64(minute)<<32), now.Add(time.Duration(minute)*time.Minute))
				}
			}
		})
		b.ReportMetric(perRecent, "recent-B/key")
		b.ReportMetric(perLimiter, "limiter-B/key")
		runtime.KeepAlive(r)
		runtime.KeepAlive(l)
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

func BenchmarkRecentSeen(b *testing.B) {
	r := NewRecent(30*time.Minute, 0)
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		k := uint64(0)
		for pb.Next() {
			r.Seen(k%100000, now)
			k++
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
