package main

import (
	"math"
	"testing"
)

func TestCPUSnapshotSince(t *testing.T) {
	conv, rep := pgOwner("linkcredit_conversions"), pgOwner("linkcredit_reporting")
	before := cpuSnapshot{
		procs: map[string]float64{"conversions": 10, "loadgen": 2},
		backends: map[int]backendCPU{
			101: {conv, 5},           // still there after
			102: {rep, 7},            // closes during the run: 7 before, 9 when it closed
			103: {pgBackground, 1.5}, // the WAL writer
		},
		reaped: 3,
	}
	after := cpuSnapshot{
		procs: map[string]float64{"conversions": 14, "loadgen": 2.5, "reporting": 1},
		backends: map[int]backendCPU{
			101: {conv, 8},
			103: {pgBackground, 2},
			104: {rep, 0.25}, // opened during the run
		},
		reaped: 3 + 9 + 0.5, // the closed backend's whole time, and the postmaster's 0.5
	}
	got := after.since(before)
	want := map[string]float64{
		"conversions": 4, "loadgen": 0.5, "reporting": 1, conv: 3, rep: 0.25,
		// The closed backend's 2 s during the run are the postmaster's
		// reaped time: counted as background, with the WAL writer's 0.5
		// and the postmaster's own 0.5.
		pgBackground: 3,
	}
	if len(got) != len(want) {
		t.Fatalf("since = %v, want %v", got, want)
	}
	for k, w := range want {
		if math.Abs(got[k]-w) > 1e-9 {
			t.Errorf("since[%q] = %v, want %v", k, got[k], w)
		}
	}
	per := perRequest(got, 1000)
	if math.Abs(per["conversions"]-4000) > 1e-6 {
		t.Errorf("perRequest[conversions] = %v µs, want 4000", per["conversions"])
	}
	if len(perRequest(got, 0)) != 0 {
		t.Error("perRequest of no requests is not empty")
	}
}

func TestCPULine(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   map[string]float64
		want string
	}{
		{"none", nil, "-"},
		{"the stack, in order, small ones in the sum only", map[string]float64{
			"loadgen": 106, pgOwner("linkcredit_reporting"): 290, "conversions": 398.4, "reporting": 95,
			pgOwner("linkcredit_conversions"): 326, "devbroker": 38, pgBackground: 4, "redirect": 0.6, "bare302": 0.2},
			"conversions 398, postgres for conversions 326, reporting 95, postgres for reporting 290, devbroker 38, postgres background 4, loadgen 106 = 1258"},
		{"bareinsert and an unlisted role", map[string]float64{"bareinsert": 152, pgOwner("postgres"): 264, "loadgen": 69},
			"bareinsert 152, loadgen 69, postgres for postgres 264 = 485"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cpuLine(tc.in); got != tc.want {
				t.Errorf("cpuLine = %q\nwant     %q", got, tc.want)
			}
		})
	}
}
