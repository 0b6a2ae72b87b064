package window

import (
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

			l := NewLimiter(2)
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
