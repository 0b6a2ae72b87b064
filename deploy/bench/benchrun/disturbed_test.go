package main

import (
	"strings"
	"testing"
)

// A per-core round in which CPU 0 was much busier than its pinned server
// is named: something else ran there.
func TestDisturbedRounds(t *testing.T) {
	m := func(server, cpu0 float64) measure {
		return measure{Busy: server, Cores: map[string]coreShares{"cpu0": {Busy: cpu0}}}
	}
	quiet := pair{Subject: m(0.96, 0.97), Yardstick: m(0.98, 0.99)}
	if got := disturbedRounds([]pair{quiet, quiet}); got != "" {
		t.Fatalf("quiet rounds named: %q", got)
	}
	noisy := pair{Subject: m(0.50, 1.00), Yardstick: m(0.98, 0.99)}
	got := disturbedRounds([]pair{quiet, noisy})
	if !strings.Contains(got, "round 2 redirect 50 % of CPU 0's 100 %") || strings.Contains(got, "round 1") || strings.Contains(got, "bare302") {
		t.Fatalf("disturbedRounds = %q", got)
	}
}
