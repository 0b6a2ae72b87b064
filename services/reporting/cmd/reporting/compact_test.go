package main

import (
	"testing"
	"time"
)

func TestCompactionPause(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		took, want time.Duration
	}{
		{0, time.Second},
		{10 * time.Millisecond, time.Second},
		{250 * time.Millisecond, time.Second},
		{400 * time.Millisecond, 1600 * time.Millisecond},
		{700 * time.Millisecond, 2800 * time.Millisecond},
		{2 * time.Second, 8 * time.Second},
		{3 * time.Second, 10 * time.Second},
		{time.Minute, 10 * time.Second},
	} {
		if got := compactionPause(tc.took); got != tc.want {
			t.Errorf("compactionPause(%v) = %v, want %v", tc.took, got, tc.want)
		}
	}
}

func TestDeferFold(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rate      float64
		sinceFold time.Duration
		want      bool
	}{
		{0, 0, false},                        // idle: fold each round
		{3_000, time.Second, false},          // live traffic
		{catchUpRate, time.Second, false},    // at the line: still live
		{catchUpRate + 1, time.Second, true}, // catching up
		{70_000, 9 * time.Second, true},      // catching up, folded recently
		{70_000, maxFoldWait, false},         // catching up, but the deltas waited long enough
		{70_000, 3 * maxFoldWait, false},     // and longer
	} {
		if got := deferFold(tc.rate, tc.sinceFold); got != tc.want {
			t.Errorf("deferFold(%v, %v) = %v, want %v", tc.rate, tc.sinceFold, got, tc.want)
		}
	}
}
