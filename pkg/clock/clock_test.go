package clock

import (
	"testing"
	"time"
)

func TestClocks(t *testing.T) {
	at := time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
	tests := []struct {
		name  string
		clock Clock
		check func(time.Time) bool
	}{
		{"fixed reads its instant", Fixed(at), func(got time.Time) bool { return got.Equal(at) }},
		{"system reads the wall clock", System(), func(got time.Time) bool { return time.Since(got) < time.Hour }},
		{"nil falls back to the system clock", OrSystem(nil), func(got time.Time) bool { return time.Since(got) < time.Hour }},
		{"a set clock is kept", OrSystem(Fixed(at)), func(got time.Time) bool { return got.Equal(at) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.clock(); !tt.check(got) {
				t.Fatalf("read %v", got)
			}
		})
	}
}
