package main

import "testing"

func TestPooledMeasure(t *testing.T) {
	for _, tt := range []struct {
		name       string
		in         []measure
		perCore    float64
		perSecond  float64
		busy       float64
		p99        float64
		statuses   int64
		requests   int64
		cpuSeconds float64
	}{
		{"none", nil, 0, 0, 0, 0, 0, 0, 0},
		{"one", []measure{{Requests: 100, Seconds: 2, CPUSeconds: 1, P99ms: 7, Statuses: map[int]int64{302: 100}}},
			100, 50, 0.5, 7, 100, 100, 1},
		// Rates come from the sums, not the mean of the rates: a slow
		// round weighs as much as its requests.
		{"three", []measure{
			{Requests: 300, Seconds: 5, CPUSeconds: 1, P99ms: 10, Statuses: map[int]int64{302: 300}},
			{Requests: 100, Seconds: 5, CPUSeconds: 1, P99ms: 30, Statuses: map[int]int64{302: 99, 503: 1}},
			{Requests: 200, Seconds: 5, CPUSeconds: 2, P99ms: 20, Statuses: map[int]int64{302: 200}},
		}, 150, 40, 4.0 / 15, 20, 600, 600, 4},
		{"two: the mean of the middle", []measure{{Requests: 1, Seconds: 1, CPUSeconds: 1, P99ms: 4}, {Requests: 1, Seconds: 1, CPUSeconds: 1, P99ms: 8}},
			1, 1, 1, 6, 0, 2, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := pooledMeasure(tt.in)
			var statuses int64
			for _, n := range m.Statuses {
				statuses += n
			}
			if m.PerBusyCoreSecond != tt.perCore || m.PerSecond != tt.perSecond || m.Busy != tt.busy || m.P99ms != tt.p99 ||
				statuses != tt.statuses || m.Requests != tt.requests || m.CPUSeconds != tt.cpuSeconds {
				t.Fatalf("pooledMeasure = %+v", m)
			}
		})
	}
}
