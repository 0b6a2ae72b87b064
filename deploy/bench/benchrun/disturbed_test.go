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

// Per-core rounds whose yardstick moved by more than a third are flagged:
// the machine's speed changed under the run.
func TestUnsteadyYardstick(t *testing.T) {
	rounds := func(bare ...float64) []pair {
		var out []pair
		for _, b := range bare {
			out = append(out, pair{Subject: measure{PerBusyCoreSecond: 20000}, Yardstick: measure{PerBusyCoreSecond: b}})
		}
		return out
	}
	for _, c := range []struct {
		name string
		bare []float64
		want string
	}{
		{"steady", []float64{44000, 46000, 45000}, ""},
		{"a third apart, not more", []float64{30000, 40000}, ""},
		{"the run of 13:34", []float64{24918, 25745, 48057}, "bare302 24918 to 48057 a busy core-second across the rounds"},
		{"no rounds", nil, ""},
		{"a round without CPU time", []float64{0, 45000}, ""},
	} {
		if got := unsteadyYardstick(rounds(c.bare...)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// Per-core rounds whose redirect moved by more than a third, bare302
// steady, are named too.
func TestUnsteadySubject(t *testing.T) {
	rounds := func(subject ...float64) []pair {
		var out []pair
		for _, v := range subject {
			out = append(out, pair{Subject: measure{PerBusyCoreSecond: v}, Yardstick: measure{PerBusyCoreSecond: 42000}})
		}
		return out
	}
	for _, c := range []struct {
		name    string
		subject []float64
		want    string
	}{
		{"steady", []float64{24000, 25000, 26000}, ""},
		{"the run of 18:59", []float64{17744, 24779, 25696}, "17744 to 25696 a busy core-second across the rounds"},
		{"no rounds", nil, ""},
		{"a round without CPU time", []float64{0, 25000}, ""},
	} {
		if got := unsteadySubject(rounds(c.subject...)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
