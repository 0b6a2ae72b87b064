package main

import (
	"testing"
	"time"
)

func TestCompactionPause(t *testing.T) {
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
