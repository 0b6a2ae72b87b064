package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// Issue 11 item 4 (contract v1.1, "Time zones"): days are cut exactly in
// any zone, half- and quarter-hour offsets and DST changes included. A
// click every 15 minutes and a conversion every 45 (commission 1.00 each)
// over four days around the Berlin and Chicago DST changes of 2026 (both
// directions), in every zone asked, give per-day totals equal to those
// computed here from each event's local date; so do reports read from
// daily rollups (the zone added first) and from quarter-hours (not).
func TestDayTotalsInEveryZone(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	zones := []string{"UTC", "Europe/Berlin", "America/Chicago", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide",
		"Pacific/Chatham", "America/St_Johns"}
	// Daily rollups for half of them from the start, the rest from quarters.
	if err := s.EnsureZones(ctx, zones[:4]); err != nil {
		t.Fatal(err)
	}
	windows := []time.Time{
		time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC),   // Chicago springs forward on the 8th
		time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC),  // Berlin on the 29th
		time.Date(2026, 10, 23, 12, 0, 0, 0, time.UTC), // Berlin falls back on the 25th
		time.Date(2026, 10, 30, 12, 0, 0, 0, time.UTC), // Chicago on 1 November
	}
	var clickTimes, convTimes []time.Time
	var clicks []postgres.Click
	var convs []postgres.ConversionEvent
	n := 0
	for _, w := range windows {
		for at := w; at.Before(w.Add(4 * 24 * time.Hour)); at = at.Add(15 * time.Minute) {
			n++
			id := fmt.Sprintf("z%06d", n)
			clicks = append(clicks, postgres.Click{ClickRecorded: events.ClickRecorded{
				Header:     events.Header{ID: id, Type: events.TypeClickRecorded, SchemaVersion: 1},
				OccurredAt: at.Add(7 * time.Minute), Code: "ml", Partner: "p", CourseID: "ml-101", Unique: true,
			}, RecordedAt: at})
			clickTimes = append(clickTimes, at.Add(7*time.Minute))
			if n%3 == 0 {
				occurred := at.Add(14*time.Minute + 59*time.Second) // the last second of its quarter
				convs = append(convs, postgres.ConversionEvent{Event: ledger.Event{ID: "cv" + id, ClickID: id, Status: ledger.StatusApproved,
					Sale: 1000, Commission: 100, Currency: "USD", OccurredAt: occurred}, Partner: "p", OrderID: "o" + id,
					Source: "webhook", RecordedAt: at})
				convTimes = append(convTimes, occurred)
			}
		}
	}
	if err := s.IngestClicks(ctx, clicks); err != nil {
		t.Fatal(err)
	}
	if err := s.IngestConversions(ctx, convs); err != nil {
		t.Fatal(err)
	}
	for round, compact := range []bool{false, true} {
		if compact {
			if _, err := s.CompactRollups(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, tz := range zones {
			loc, _ := time.LoadLocation(tz)
			v := url.Values{"from": {"2026-03-01"}, "to": {"2026-11-15"}, "group_by": {"day"}, "tz": {tz}}
			q, err := report.ParseQuery(v, "", base)
			if err != nil {
				t.Fatalf("%s: %v", tz, err)
			}
			got := map[string]string{}
			if err := s.Commissions(ctx, q, func(r report.Row) error {
				got[r.Keys[0]] = fmt.Sprintf("%d clicks, %d conversions, %s approved", r.Clicks, r.Conversions,
					money.Amount{Minor: mustInt(t, r.Approved.String()), Currency: "USD"})
				return nil
			}); err != nil {
				t.Fatalf("%s: %v", tz, err)
			}
			want := map[string][2]int64{}
			for _, c := range clickTimes {
				d := c.In(loc).Format(time.DateOnly)
				w := want[d]
				w[0]++
				want[d] = w
			}
			for _, c := range convTimes {
				d := c.In(loc).Format(time.DateOnly)
				w := want[d]
				w[1]++
				want[d] = w
			}
			if len(got) != len(want) {
				t.Errorf("round %d, %s: %d days, want %d", round, tz, len(got), len(want))
			}
			for d, w := range want {
				exp := fmt.Sprintf("%d clicks, %d conversions, %s approved", w[0], w[1], money.Amount{Minor: w[1] * 100, Currency: "USD"})
				if got[d] != exp {
					t.Errorf("round %d, %s %s: %s, want %s", round, tz, d, got[d], exp)
				}
			}
		}
	}
	// The Kolkata day boundary is 18:30 UTC: an event a second either
	// side of it falls on different days, and the DST days have 23 and
	// 25 hours of clicks (92 and 100 quarter-hours) in Berlin.
	rows := dayRows(t, s, "Europe/Berlin", "2026-03-29", "2026-03-30")
	if !strings.Contains(rows, "2026-03-29:92") {
		t.Errorf("29 March in Berlin: %s, want 92 clicks (23 hours)", rows)
	}
	rows = dayRows(t, s, "Europe/Berlin", "2026-10-25", "2026-10-26")
	if !strings.Contains(rows, "2026-10-25:100") {
		t.Errorf("25 October in Berlin: %s, want 100 clicks (25 hours)", rows)
	}
	edge := time.Date(2026, 6, 10, 18, 30, 0, 0, time.UTC)
	var edgeClicks []postgres.Click
	for i, at := range []time.Time{edge.Add(-time.Second), edge, edge.Add(14 * time.Minute)} {
		edgeClicks = append(edgeClicks, postgres.Click{ClickRecorded: events.ClickRecorded{
			Header:     events.Header{ID: fmt.Sprintf("k%d", i), Type: events.TypeClickRecorded, SchemaVersion: 1},
			OccurredAt: at, Code: "ml", Partner: "p", CourseID: "ml-101", Unique: true}, RecordedAt: at})
	}
	if err := s.IngestClicks(ctx, edgeClicks); err != nil {
		t.Fatal(err)
	}
	if rows := dayRows(t, s, "Asia/Kolkata", "2026-06-10", "2026-06-12"); rows != "2026-06-10:1 2026-06-11:2 " {
		t.Errorf("around midnight in Kolkata: %s, want 2026-06-10:1 2026-06-11:2", rows)
	}
}

func dayRows(t *testing.T, s *postgres.Store, tz, from, to string) string {
	t.Helper()
	q, err := report.ParseQuery(url.Values{"from": {from}, "to": {to}, "group_by": {"day"}, "tz": {tz}}, "", base)
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	if err := s.Commissions(context.Background(), q, func(r report.Row) error {
		out += fmt.Sprintf("%s:%d ", r.Keys[0], r.Clicks)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}
