package main

import (
	"math"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/deploy/loadgen"
)

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

func TestPooledMeasureLatencies(t *testing.T) {
	hist := func(n int, d time.Duration) *loadgen.Hist {
		var h loadgen.Hist
		for range n {
			h.Add(d)
		}
		return &h
	}
	// One slow request in a fast run and a run a little slower: pooled,
	// the p99 is the slower run's 2 ms (1.984, its bucket's lower edge);
	// the median of the runs' p99s would be 51 ms.
	slowOne := hist(99, time.Millisecond)
	slowOne.Add(100 * time.Millisecond)
	for _, tt := range []struct {
		name     string
		in       []measure
		p50, p99 float64
	}{
		{"pooled", []measure{{Requests: 100, P50ms: 0.992, P99ms: 99.6, latency: slowOne}, {Requests: 100, P50ms: 1.984, P99ms: 1.984, latency: hist(100, 2*time.Millisecond)}},
			1.984, 1.984},
		{"a run without latencies: the median", []measure{{Requests: 100, P50ms: 0.992, P99ms: 99.6, latency: slowOne}, {Requests: 100, P50ms: 1.984, P99ms: 1.984}},
			(0.992 + 1.984) / 2, (99.6 + 1.984) / 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The latencies at loadgen's socket pool the same way.
			for i := range tt.in {
				x := &tt.in[i]
				x.SocketP50ms, x.SocketP99ms, x.socketLatency = x.P50ms, x.P99ms, x.latency
			}
			m := pooledMeasure(tt.in)
			if math.Abs(m.P50ms-tt.p50) > 1e-9 || math.Abs(m.P99ms-tt.p99) > 1e-9 {
				t.Fatalf("p50/p99 = %v/%v, want %v/%v", m.P50ms, m.P99ms, tt.p50, tt.p99)
			}
			if m.SocketP50ms != m.P50ms || m.SocketP99ms != m.P99ms {
				t.Fatalf("at the socket p50/p99 = %v/%v, want %v/%v", m.SocketP50ms, m.SocketP99ms, m.P50ms, m.P99ms)
			}
		})
	}
}

// Pooled, each process's CPU a request is over every run's requests
// together: a round of many cheap requests weighs more than one of few
// costly ones. Runs without figures (the redirect's) add none.
func TestPooledMeasureCPUPerRequest(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []measure
		want map[string]float64
	}{
		{"none kept", []measure{{Requests: 10}, {Requests: 20}}, nil},
		{"no requests", []measure{{CPUPerRequest: map[string]float64{"conversions": 300}}}, nil},
		{"weighed by requests", []measure{
			{Requests: 300, CPUPerRequest: map[string]float64{"conversions": 200, "postgres": 100}},
			{Requests: 100, CPUPerRequest: map[string]float64{"conversions": 600, "loadgen": 40}},
		}, map[string]float64{"conversions": 300, "postgres": 75, "loadgen": 10}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := pooledMeasure(tt.in).CPUPerRequest
			if len(got) != len(tt.want) {
				t.Fatalf("CPUPerRequest = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if math.Abs(got[k]-v) > 1e-9 {
					t.Fatalf("CPUPerRequest = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// The live webhook step-down tries 2 % over the target, then 0.8 of the
// target and three rates each 0.8 of the one before.
func TestLiveRates(t *testing.T) {
	got := liveRates(2000)
	want := []float64{2040, 1600, 1280, 1024, 819.2}
	if len(got) != len(want) {
		t.Fatalf("liveRates(2000) = %v", got)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Fatalf("liveRates(2000) = %v, want %v", got, want)
		}
	}
}
