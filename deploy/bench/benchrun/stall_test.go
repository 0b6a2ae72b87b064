package main

import (
	"context"
	"testing"
	"time"
)

// The stall clock runs across waitReports' two polls: a count standing
// since before the second poll ends it reportStall after it last moved,
// not reportStall after the second poll began (a re-check found the
// second poll's first count restarting it).
func TestPollReportsKeepsItsStallClock(t *testing.T) {
	p := &reportProgress{last: 5, moved: time.Now().Add(-reportStall + time.Second), began: time.Now().Add(-time.Minute)}
	start := time.Now()
	n, ok, err := pollReports(context.Background(), 10, 50*time.Millisecond, time.Minute, func() (int64, error) { return 5, nil }, p)
	if err != nil || ok || n != 5 {
		t.Fatalf("pollReports = %d, %v, %v", n, ok, err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a count standing for %s before the poll ended it after %s more", reportStall-time.Second, took)
	}
	// A count that fails is no stall.
	p = &reportProgress{last: 5, moved: time.Now().Add(-reportStall + 200*time.Millisecond)}
	fails := 0
	n, ok, err = pollReports(context.Background(), 10, 50*time.Millisecond, 2*time.Second, func() (int64, error) {
		fails++
		return 0, context.DeadlineExceeded
	}, p)
	if err != nil || ok || fails < 20 {
		t.Errorf("failed counts ended the poll after %d tries (%d, %v, %v)", fails, n, ok, err)
	}
}
