package postgres_test

import (
	"context"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkMonthReport ingests a month of clicks and conversions through
// the store (REPORT_CLICKS, default 1,000,000; REPORT_CONVERSIONS, default
// a tenth of that; 1,000 links on 7 partners, 3 placements), compacts the
// rollups as the service does every second, then times month reports in a
// zone with daily rollups and in one without. `make bench-report`
// runs it at 10,000,000 clicks and 1,000,000 conversions.
func BenchmarkMonthReport(b *testing.B) {
	clicks := envInt("REPORT_CLICKS", 1000000)
	convs := envInt("REPORT_CONVERSIONS", clicks/10)
	s := newStore(b)
	ctx := context.Background()
	month := 30 * 24 * time.Hour
	span := month / time.Duration(clicks)
	s.LearnZones(false) // America/Chicago stays hourly
	if err := s.EnsureZones(ctx, []string{"Europe/Berlin"}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for off := 0; off < clicks; off += 10000 {
		if err := s.IngestClicks(ctx, genClicks(min(10000, clicks-off), off, 1000, span)); err != nil {
			b.Fatal(err)
		}
	}
	for off := 0; off < convs; off += 5000 {
		if err := s.IngestConversions(ctx, genConversions(min(5000, convs-off), off, clicks, 1000, span)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.CompactRollups(ctx); err != nil {
		b.Fatal(err)
	}
	if err := s.VacuumDeltas(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := s.DB().Exec(`ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("ingested %d clicks and %d conversions in %v", clicks, convs, time.Since(start).Round(time.Second))
	// Europe/Berlin has daily rollups; America/Chicago is cut from the
	// hourly ones.
	for _, c := range []struct{ name, groupBy, tz string }{
		{"partner", "partner", "Europe/Berlin"}, {"course,link,day", "course,link,day", "Europe/Berlin"},
		{"total", "", "Europe/Berlin"}, {"hourly/partner", "partner", "America/Chicago"},
		{"hourly/course,link,day", "course,link,day", "America/Chicago"},
	} {
		b.Run(c.name, func(b *testing.B) {
			q, err := report.ParseQuery(url.Values{"from": {"2026-11-01"}, "to": {"2026-12-01"}, "group_by": {c.groupBy},
				"tz": {c.tz}}, "", base)
			if err != nil {
				b.Fatal(err)
			}
			rows := 0
			for i := 0; i < b.N; i++ {
				rows = 0
				if err := s.Commissions(ctx, q, func(report.Row) error { rows++; return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows), "rows")
		})
	}
}
