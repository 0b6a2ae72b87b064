package main

import (
	"fmt"
	"testing"
)

// One METRICS_ADDR gives each service a listener of its own: they cannot
// share one (found by an acceptance check: make run with METRICS_ADDR set
// stopped at start-up, two services failing to bind it).
func TestMetricsAddrs(t *testing.T) {
	for _, tt := range []struct {
		in, want string // want: redirect, conversions, reporting; "" an error
	}{
		{"127.0.0.1:9100", "map[conversions:127.0.0.1:9101 redirect:127.0.0.1:9100 reporting:127.0.0.1:9102]"},
		{"[::1]:9100", "map[conversions:[::1]:9101 redirect:[::1]:9100 reporting:[::1]:9102]"},
		{"127.0.0.1:0", "map[conversions:127.0.0.1:0 redirect:127.0.0.1:0 reporting:127.0.0.1:0]"},
		{"127.0.0.1:65534", ""},
		{"127.0.0.1", ""},
		{"127.0.0.1:x", ""},
	} {
		got, err := metricsAddrs(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("metricsAddrs(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != tt.want {
			t.Errorf("metricsAddrs(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}
