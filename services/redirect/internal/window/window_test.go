package window

import (
	"testing"
	"time"
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

func TestLimiter(t *testing.T) {
	l := NewLimiter(10)
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
