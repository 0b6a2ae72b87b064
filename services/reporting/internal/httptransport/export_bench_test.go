package httptransport

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/services/reporting/internal/minor"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
	"github.com/linkcredit/linkcredit/services/reporting/internal/reporting"
)

// discardWriter is a ResponseWriter that only counts bytes.
type discardWriter struct {
	h http.Header
	n int64
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkExportCSV streams EXPORT_ROWS (default 10,000,000) report rows
// through the HTTP handler as CSV and reports the peak heap while doing
// it: the export must run in constant memory, whatever its length.
func BenchmarkExportCSV(b *testing.B) {
	rows := 10000000
	if v, err := strconv.Atoi(os.Getenv("EXPORT_ROWS")); err == nil && v > 0 {
		rows = v
	}
	eps := reporting.Endpoints{Commissions: func(ctx context.Context, req any) (any, error) {
		r := req.(reporting.CommissionsRequest)
		meta := report.Meta{GroupBy: r.Query.GroupBy, AsOf: time.Now()}
		if err := r.Begin(meta); err != nil {
			return nil, err
		}
		row := report.Row{Keys: []string{"", "", ""}, Currency: "USD", Clicks: 1234, UniqueClicks: 1000, Conversions: 12,
			Sale: minor.Of(58800), Approved: minor.Of(8820), Pending: minor.Of(735)}
		for i := 0; i < rows; i++ {
			row.Keys[0], row.Keys[1], row.Keys[2] = "course-"+strconv.Itoa(i%5000), "link-"+strconv.Itoa(i), "2026-11-20"
			if err := r.Emit(row); err != nil {
				return nil, err
			}
		}
		return meta, nil
	}}
	tokens, _ := httpx.ParseTokens(benchToken, "")
	rt := httpx.NewRouter()
	Register(rt, eps, time.Now, tokens, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for i := 0; i < b.N; i++ {
		var peak atomic.Uint64
		done := make(chan struct{})
		go func() {
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-done:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
		req := httptest.NewRequest("GET", "/v1/reports/commissions?group_by=course,link,day&format=csv", nil)
		req.Header.Set("Authorization", "Bearer "+benchToken)
		w := &discardWriter{h: http.Header{}}
		start := time.Now()
		rt.ServeHTTP(w, req)
		close(done)
		b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
		b.ReportMetric(float64(w.n)/1e6, "MB_out")
		b.ReportMetric(float64(peak.Load())/1e6, "peak_heap_MB")
	}
}

// benchToken is a bearer token of the length services require.
const benchToken = "bench-token-0123456789abcdefghijklmn"
