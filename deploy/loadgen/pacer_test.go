package loadgen

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestDuePacerSchedule(t *testing.T) {
	began := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	past := time.Now().Add(-time.Hour) // due times in the past: next does not wait
	tests := []struct {
		name     string
		rate     float64
		deadline time.Duration // after began; 0: none
		limit    int64
		claims   int // next calls
		handed   int // of them, the ones that return a due time
		end      time.Duration
		sent     int64
		notSent  int64
	}{
		{name: "rate and deadline", rate: 100, deadline: time.Second, claims: 150, handed: 100, end: 2 * time.Second, sent: 90, notSent: 10},
		{name: "ended before the deadline", rate: 100, deadline: time.Second, claims: 10, handed: 10, end: 500 * time.Millisecond, sent: 40, notSent: 10},
		{name: "partial interval counts as due", rate: 100, deadline: time.Second, claims: 1, handed: 1, end: 5*time.Millisecond + 1, sent: 0, notSent: 1},
		{name: "limit", rate: 1000, limit: 25, claims: 30, handed: 25, end: time.Second, sent: 20, notSent: 5},
		{name: "all sent", rate: 10, deadline: time.Second, claims: 10, handed: 10, end: time.Second, sent: 10, notSent: 0},
		{name: "closed loop", rate: 0, limit: 7, claims: 10, handed: 7, end: time.Hour, sent: 3, notSent: 0},
		{name: "closed loop, no limit", rate: 0, claims: 10, handed: 10, end: time.Hour, sent: 3, notSent: 0},
		// One a day at most (maxInterval): 1e-300/s would overflow.
		{name: "a rate too small for a Duration", rate: 1e-300, limit: 3, claims: 1, handed: 1, end: 48*time.Hour + 1, sent: 1, notSent: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var deadline, pastDeadline time.Time
			if tt.deadline > 0 {
				deadline, pastDeadline = began.Add(tt.deadline), past.Add(tt.deadline)
			}
			// The schedule's arithmetic on a fixed instant...
			p := newDuePacer(began, tt.rate, deadline, tt.limit)
			if got := p.notSent(began.Add(tt.end), tt.sent); got != tt.notSent {
				t.Errorf("notSent = %d, want %d", got, tt.notSent)
			}
			// ...and its hand-out, on a schedule already due.
			p = newDuePacer(past, tt.rate, pastDeadline, tt.limit)
			handed := 0
			var last time.Time
			for range tt.claims {
				at, ok := p.next(context.Background())
				if !ok {
					continue
				}
				want := past.Add(time.Duration(handed) * p.interval)
				if tt.rate <= 0 {
					want = time.Time{} // closed loop: from the send
				}
				if !at.Equal(want) {
					t.Fatalf("due time %d = %v, want %v", handed, at, want)
				}
				if at.Before(last) {
					t.Fatalf("due times out of order")
				}
				last = at
				handed++
			}
			if handed != tt.handed {
				t.Errorf("handed %d due times, want %d", handed, tt.handed)
			}
		})
	}
}

func TestDuePacerCountsNothingDueAfterTheRunStopped(t *testing.T) {
	began := time.Now().Add(-time.Second)
	p := newDuePacer(began, 100, time.Time{}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	stop := p.stopsWith(ctx)
	defer stop()
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for p.stopped.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // AfterFunc runs on its own goroutine
	}
	// Counted an hour after the stop, only what fell due by the stop.
	if got := p.notSent(time.Now().Add(time.Hour), 0); got < 100 || got > 1000 {
		t.Errorf("notSent an hour after a stop 1 s into a run at 100/s = %d, want about 100", got)
	}
}

func TestDuePacerStopsWithItsContext(t *testing.T) {
	p := newDuePacer(time.Now().Add(time.Hour), 1, time.Time{}, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, ok := p.next(ctx); ok {
		t.Fatal("next handed out a due time an hour away after its context ended")
	}
}

// stallOnce answers through h, the first request only after 150 ms.
func stallOnce(served *atomic.Int64) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if served.Add(1) == 1 {
				time.Sleep(150 * time.Millisecond)
			}
			h.ServeHTTP(w, r)
		})
	}
}

// checkLatencyFromDue checks a run of 600 ms at 500/s on one worker
// against a server that stalled once for 150 ms (stallOnce): 300
// requests fall due, 75 of them in the stall. Lower bounds only, on what
// the pacing fixes: a slow machine makes latencies longer and sends
// fewer, never the reverse. Requests go out in the order they fell due,
// so once 56 are acknowledged the 50 due in the stall's first 100 ms are
// among them, each having waited at least 50 ms.
func checkLatencyFromDue(t *testing.T, sent, acked, notSent, served int64, latency *Hist) {
	t.Helper()
	if acked < 60 || acked != served || acked != sent {
		t.Fatalf("acknowledged %d, sent %d, served %d", acked, sent, served)
	}
	if due := sent + notSent; due < 295 || due > 300 {
		t.Errorf("%d sent and %d not sent: %d due in 600 ms at 500/s, want 300", sent, notSent, due)
	}
	if q := 1 - 50/float64(acked); latency.Quantile(q) < 40*time.Millisecond {
		t.Errorf("p%.0f %v after a 150 ms stall: latencies do not count from the due time", 100*q, latency.Quantile(q))
	}
}

// At a rate, a delivery due while the workers are busy waits its turn and
// its latency counts from when it was due: a server that stalls once for
// 150 ms shows it in the latencies of every delivery due meanwhile, not
// only in the one it held (no coordinated omission), and nothing is
// dropped.
func TestWebhookLoadLatencyFromDue(t *testing.T) {
	var served atomic.Int64
	_, stack := startFakeStack(t, stallOnce(&served))
	res, err := WebhookLoad{Stack: stack, Partner: Partner{ID: "p", Secret: NewSecret(), Currency: "USD"},
		RunID: "t", Rate: 500, Concurrency: 1, Duration: 600 * time.Millisecond}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkLatencyFromDue(t, res.Sent, res.Acked, res.NotSent, served.Load(), &res.Latency)
}

// The click load at a rate does the same.
func TestClickLoadLatencyFromDue(t *testing.T) {
	var served atomic.Int64
	_, stack := startFakeStack(t, stallOnce(&served))
	r := NewRunner(stack, Config{Run: "t", Links: 20, Rate: 500, Concurrency: 1, Duration: 600 * time.Millisecond,
		UserAgents: 50, Seed: 3})
	res := r.Clicks(context.Background())
	checkLatencyFromDue(t, res.Sent, res.Acked, res.NotSent, served.Load(), &res.Latency)
}

// With MaxClicks and no Duration, a run at a rate sends every click,
// however late: none is dropped while the server stalls.
func TestClickLoadAtARateStopsAtMaxClicks(t *testing.T) {
	var served atomic.Int64
	f, stack := startFakeStack(t, stallOnce(&served))
	r := NewRunner(stack, Config{Run: "t", Links: 20, Rate: 2000, MaxClicks: 100, Concurrency: 1, UserAgents: 50, Seed: 3})
	res := r.Clicks(context.Background())
	if res.Sent != 100 || res.NotSent != 0 || res.Acked != f.clicks.Load() {
		t.Errorf("sent %d, not sent %d, acknowledged %d (server %d), want 100 sent", res.Sent, res.NotSent, res.Acked, f.clicks.Load())
	}
}

// A run without a Duration, stopped by its context while a click is in
// flight, counts as not sent only what fell due before the stop.
func TestClickLoadStoppedCountsWhatFellDueBeforeTheStop(t *testing.T) {
	var served atomic.Int64
	_, stack := startFakeStack(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if served.Add(1) == 1 {
				time.Sleep(600 * time.Millisecond)
			}
			h.ServeHTTP(w, r)
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	r := NewRunner(stack, Config{Run: "t", Links: 20, Rate: 500, Concurrency: 1, UserAgents: 50, Seed: 3})
	res := r.Clicks(ctx)
	// About 100 fell due by the stop; 300 by the time the stalled click
	// was answered.
	if res.Sent != 1 || res.NotSent < 90 || res.NotSent > 200 {
		t.Errorf("sent %d, not sent %d: want 1 sent and about 100 due by the stop at 200 ms", res.Sent, res.NotSent)
	}
}
