package testkit

import (
	"context"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Counters collects reader and returns every int64 counter's series:
// instrument name, then the series' attributes as "key=value;" pairs in
// key order ("" for none), then its value. Other instruments are left out.
func Counters(t testing.TB, reader *sdkmetric.ManualReader) map[string]map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("testkit: collect metrics: %v", err)
	}
	out := map[string]map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || !sum.IsMonotonic {
				continue
			}
			if out[m.Name] == nil {
				out[m.Name] = map[string]int64{}
			}
			for _, dp := range sum.DataPoints {
				var key strings.Builder
				for _, kv := range dp.Attributes.ToSlice() {
					key.WriteString(string(kv.Key) + "=" + kv.Value.Emit() + ";")
				}
				out[m.Name][key.String()] += dp.Value
			}
		}
	}
	return out
}
