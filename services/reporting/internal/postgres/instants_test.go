package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// The tests here loop over testkit.Instants themselves, so their names
// leave out "AtInstant": `make test` need not run them again per instant.

var reportZones = []string{"UTC", "Europe/Berlin", "America/Chicago"}

// Reports cut days and months where the zone's calendar does, around every
// instant: on DST change days (23 and 25 hours long), at month and year
// ends, whether they read deltas not yet compacted, hourly rollups or
// daily ones. A report without a period covers the month running at the
// instant in its zone.
func TestDayCutsAtEveryInstant(t *testing.T) {
	t.Parallel()
	for _, inst := range testkit.Instants() {
		t.Run(inst.Name, func(t *testing.T) {
			at := inst.At
			s := newStoreAt(t, at)
			ctx := context.Background()
			var clicks, convs []time.Time
			// ingest stores a click every 20 minutes from two days before
			// the instant to two days after, shifted by offset, and a
			// conversion 7 minutes after every third: a DST change day the
			// instant is on is covered whole.
			ingest := func(prefix string, offset time.Duration) {
				t.Helper()
				var cs []postgres.Click
				var es []postgres.ConversionEvent
				for i := -144; i <= 144; i++ {
					when := at.Add(time.Duration(i)*20*time.Minute + offset).UTC()
					id := fmt.Sprintf("%s%03d", prefix, i+144)
					cs = append(cs, postgres.Click{ClickRecorded: events.ClickRecorded{
						Header:     events.Header{ID: id, Type: events.TypeClickRecorded, SchemaVersion: 1},
						OccurredAt: when, Code: "link", Partner: "p", CourseID: "course", Placement: "hero", Unique: true,
					}, RecordedAt: at})
					clicks = append(clicks, when)
					if i%3 == 0 {
						bought := when.Add(7 * time.Minute)
						es = append(es, postgres.ConversionEvent{
							Event: ledger.Event{ID: "e" + id, ClickID: id, Status: ledger.StatusApproved, Sale: 1000, Commission: 100,
								Currency: "USD", OccurredAt: bought},
							Partner: "p", OrderID: "o" + id, Source: "webhook", RecordedAt: at,
						})
						convs = append(convs, bought)
					}
				}
				if err := s.IngestClicks(ctx, cs); err != nil {
					t.Fatal(err)
				}
				if err := s.IngestConversions(ctx, es); err != nil {
					t.Fatal(err)
				}
			}
			check := func(stage string) {
				t.Helper()
				for _, tz := range reportZones {
					loc, err := time.LoadLocation(tz)
					if err != nil {
						t.Fatal(err)
					}
					// Whole days around all the data (at most 48h and 17min away).
					from, to := at.Add(-72*time.Hour).In(loc), at.Add(96*time.Hour).In(loc)
					period := url.Values{"from": {from.Format(time.DateOnly)}, "to": {to.Format(time.DateOnly)}, "tz": {tz}}
					for _, unit := range []struct{ groupBy, layout string }{{"day", time.DateOnly}, {"month", "2006-01"}} {
						v := url.Values{"group_by": {unit.groupBy}}
						for k, x := range period {
							v[k] = x
						}
						got := byKey(t, s, v, at)
						want := expected(clicks, convs, loc, unit.layout, nil)
						if got != want {
							t.Errorf("%s, %s by %s:\n got %s\nwant %s", stage, tz, unit.groupBy, got, want)
						}
					}
					// No period: the month running at the instant, there.
					local := at.In(loc)
					first := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, loc)
					running := func(x time.Time) bool { return !x.Before(first) && x.Before(first.AddDate(0, 1, 0)) }
					got := byKey(t, s, url.Values{"group_by": {"day"}, "tz": {tz}}, at)
					if want := expected(clicks, convs, loc, time.DateOnly, running); got != want {
						t.Errorf("%s, %s, the running month at %s:\n got %s\nwant %s", stage, tz, local.Format(time.RFC3339), got, want)
					}
				}
			}

			ingest("a", 0)
			check("deltas, hourly")
			if _, err := s.CompactRollups(ctx); err != nil {
				t.Fatal(err)
			}
			check("hourly rollups")
			if err := s.EnsureZones(ctx, reportZones); err != nil {
				t.Fatal(err)
			}
			check("daily rollups, backfilled")
			ingest("b", 10*time.Minute)
			check("daily rollups and deltas")
			if _, err := s.CompactRollups(ctx); err != nil {
				t.Fatal(err)
			}
			check("daily rollups, compacted")
			verify(t, s)
		})
	}
}

// byKey runs a report at the instant now and renders its clicks and
// conversions by its one time key.
func byKey(t *testing.T, s *postgres.Store, v url.Values, now time.Time) string {
	t.Helper()
	q, err := report.ParseQuery(v, "", now)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string][2]int64{}
	var keys []string
	if err := s.Commissions(context.Background(), q, func(r report.Row) error {
		k := r.Keys[0]
		if _, ok := sums[k]; !ok {
			keys = append(keys, k)
		}
		n := sums[k]
		sums[k] = [2]int64{n[0] + r.Clicks, n[1] + r.Conversions}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out := ""
	for _, k := range keys {
		out += fmt.Sprintf("%s:%d/%d ", k, sums[k][0], sums[k][1])
	}
	return out
}

// expected renders clicks and conversions by their calendar unit (layout)
// in loc, as byKey does, keeping those in (when set), in time order.
func expected(clicks, convs []time.Time, loc *time.Location, layout string, in func(time.Time) bool) string {
	sums := map[string][2]int64{}
	var keys []string
	add := func(at time.Time, i int) {
		if in != nil && !in(at) {
			return
		}
		k := at.In(loc).Format(layout)
		n, ok := sums[k]
		if !ok {
			keys = append(keys, k)
		}
		n[i]++
		sums[k] = n
	}
	for _, c := range clicks {
		add(c, 0)
	}
	for _, c := range convs {
		add(c, 1)
	}
	slices.Sort(keys)
	out := ""
	for _, k := range keys {
		out += fmt.Sprintf("%s:%d/%d ", k, sums[k][0], sums[k][1])
	}
	return out
}

// A change to a closed month lands in the month running at the clock's
// instant: a late event by its Kafka time, a remittance applied by the
// store's clock. Closing the running month is refused.
func TestLateChangesAtEveryInstant(t *testing.T) {
	t.Parallel()
	for _, inst := range testkit.Instants() {
		t.Run(inst.Name, func(t *testing.T) {
			at := inst.At
			s := newStoreAt(t, at)
			ctx := context.Background()
			running := monthStart(at)
			closed := running.AddDate(0, -1, 0)
			bought := closed.AddDate(0, 0, 9).Add(12 * time.Hour)
			event := func(id, status string, recorded time.Time) postgres.ConversionEvent {
				return postgres.ConversionEvent{Event: ledger.Event{ID: id, Status: status, Sale: 1000, Commission: 100,
					Currency: "USD", OccurredAt: bought}, Partner: "p", OrderID: "o1", Source: "webhook", RecordedAt: recorded}
			}
			if err := s.IngestConversions(ctx, []postgres.ConversionEvent{event("e1", ledger.StatusPending, at.Add(-time.Hour))}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ClosePeriod(ctx, running, at, "test"); err == nil {
				t.Fatalf("closed the running month %s at %s", running.Format("2006-01"), at.Format(time.RFC3339))
			}
			if _, err := s.ClosePeriod(ctx, closed, at, "test"); err != nil {
				t.Fatalf("close %s at %s: %v", closed.Format("2006-01"), at.Format(time.RFC3339), err)
			}
			// Recorded at the instant of the close: after it.
			if err := s.IngestConversions(ctx, []postgres.ConversionEvent{event("e2", ledger.StatusApproved, at)}); err != nil {
				t.Fatal(err)
			}
			// Paid now: 0.40 of the approved 1.00.
			if _, _, err := s.AddRemittance(ctx, payout.Remittance{Partner: "p", Amount: 40, Currency: "USD",
				ReceivedAt: at, Reference: "wire"}, "test"); err != nil {
				t.Fatal(err)
			}
			q, err := report.ParseQuery(url.Values{"from": {closed.Format(time.DateOnly)},
				"to": {running.AddDate(0, 1, 0).Format(time.DateOnly)}, "group_by": {"month"}}, "", at)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if err := s.Commissions(ctx, q, func(r report.Row) error {
				got += fmt.Sprintf("%s pending %d approved %d paid %d conversions %d; ", r.Keys[0], r.Pending, r.Approved, r.Paid, r.Conversions)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("%s pending 100 approved 0 paid 0 conversions 1; %s pending -100 approved 60 paid 40 conversions 0; ",
				closed.Format("2006-01"), running.Format("2006-01"))
			if got != want {
				t.Fatalf("at %s:\n got %s\nwant %s", at.Format(time.RFC3339), got, want)
			}
			verify(t, s)
		})
	}
}

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}
