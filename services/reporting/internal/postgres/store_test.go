package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// newStore migrates a fresh schema and returns a store whose connections
// use it, its clock frozen at base.
func newStore(t testing.TB) *postgres.Store {
	t.Helper()
	return newStoreAt(t, base)
}

// newStoreAt is newStore with the clock frozen at now.
func newStoreAt(t testing.TB, now time.Time) *postgres.Store {
	t.Helper()
	url, err := postgres.WithSchema(testkit.MigratedDatabaseURL(t, postgres.Schema, postgres.Migrations()), postgres.Schema)
	if err != nil {
		t.Fatal(err)
	}
	if url, err = postgres.WithApplicationName(url); err != nil { // as the service's (storeURL)
		t.Fatal(err)
	}
	db, err := database.Open(url, database.Pool{MaxOpen: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := database.Migrate(context.Background(), db, postgres.Schema, postgres.Migrations()); err != nil {
		t.Fatal(err)
	}
	s := postgres.New(db, clock.Fixed(now))
	s.LearnZones(false) // tests that want it turn it on
	return s
}

var base = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func genClicks(n, offset, links int, span time.Duration) []postgres.Click {
	out := make([]postgres.Click, n)
	for i := range out {
		j := offset + i
		out[i] = postgres.Click{ClickRecorded: events.ClickRecorded{
			Header:     events.Header{ID: fmt.Sprintf("clk%012d", j), Type: events.TypeClickRecorded, SchemaVersion: 1},
			OccurredAt: base.Add(time.Duration(j) * span), Code: fmt.Sprintf("link-%d", j%links), Partner: fmt.Sprintf("p%d", j%links%7),
			CourseID: fmt.Sprintf("course-%d", j%links), Placement: []string{"hero", "list", "email"}[j%3],
			Bot: j%10 == 0, Unique: j%3 != 0,
		}, RecordedAt: base}
	}
	return out
}

func genConversions(n, offset, clicks, links int, span time.Duration) []postgres.ConversionEvent {
	out := make([]postgres.ConversionEvent, n)
	for i := range out {
		j := offset + i
		c := (j * 10) % clicks
		status := []string{"pending", "approved", "reversed", "approved"}[j%4]
		out[i] = postgres.ConversionEvent{
			Event: ledger.Event{ID: fmt.Sprintf("ev%012d", j), ClickID: fmt.Sprintf("clk%012d", c), Status: status,
				Sale: 4900, Commission: 735, Currency: "USD", OccurredAt: base.Add(time.Duration(c)*span + time.Minute)},
			Partner: fmt.Sprintf("p%d", c%links%7), OrderID: fmt.Sprintf("o%d", j), Source: "webhook", RecordedAt: base,
		}
	}
	return out
}

func count(t testing.TB, db *sql.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestIngestIsIdempotent(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	clicks := genClicks(1000, 0, 20, time.Minute)
	convs := genConversions(100, 0, 1000, 20, time.Minute)
	for range 2 {
		if err := s.IngestClicks(ctx, clicks); err != nil {
			t.Fatal(err)
		}
		if err := s.IngestConversions(ctx, convs); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s.DB(), `SELECT sum(clicks + bot_clicks) FROM click_rollup_deltas`); n != 1000 {
		t.Fatalf("rollups count %d clicks, want 1000", n)
	}
	if n := count(t, s.DB(), `SELECT sum(conversions) FROM conversion_rollup_deltas`); n != 100 {
		t.Fatalf("rollups count %d conversions, want 100", n)
	}
	if n := count(t, s.DB(), `SELECT count(*) FROM conversions WHERE NOT attributed`); n != 0 {
		t.Fatalf("%d conversions unattributed", n)
	}
	verify(t, s)
	if n, err := s.CompactRollups(ctx); err != nil || n == 0 {
		t.Fatalf("compact: %d %v", n, err)
	}
	if n := count(t, s.DB(), `SELECT count(*) FROM click_rollup_deltas`); n != 0 {
		t.Fatalf("%d deltas left after compaction", n)
	}
	verify(t, s)
}

func verify(t *testing.T, s *postgres.Store) {
	t.Helper()
	var problems []string
	if _, err := s.Verify(context.Background(), func(p string) { problems = append(problems, p) }); err != nil || len(problems) > 0 {
		t.Fatalf("verify: %v %v", err, problems)
	}
}

func TestLedgerIsAppendOnly(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	if err := s.IngestConversions(context.Background(), genConversions(1, 0, 1, 1, time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE ledger_entries SET amount_minor = 1`, `DELETE FROM ledger_transactions`} {
		if _, err := s.DB().Exec(q); err == nil {
			t.Errorf("%s succeeded on the append-only ledger", q)
		}
	}
}

// BenchmarkIngestClicks measures clicks stored per second, rollups and
// attribution included, in batches as the consumer writes them.
func BenchmarkIngestClicks(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	const batch = 5000
	offset := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		clicks := genClicks(batch, offset, 1000, time.Second)
		offset += batch
		b.StartTimer()
		if err := s.IngestClicks(ctx, clicks); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkIngestConversions measures conversion events per second.
func BenchmarkIngestConversions(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	if err := s.IngestClicks(ctx, genClicks(50000, 0, 1000, time.Second)); err != nil {
		b.Fatal(err)
	}
	const batch = 2000
	offset := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		convs := genConversions(batch, offset, 50000, 1000, time.Second)
		offset += batch
		b.StartTimer()
		if err := s.IngestConversions(ctx, convs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// A report in a zone with daily rollups answers exactly what the hourly
// rollups answer, before and after compaction, and for a zone added after
// the data (backfilled). Europe/Paris cuts days where Europe/Berlin does,
// so with daily rollups kept for Berlin only, Paris is the hourly answer.
func TestDailyRollupsAgreeWithHourly(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	collect := func(tz, groupBy string) string {
		q, err := report.ParseQuery(url.Values{"from": {"2026-10-30"}, "to": {"2026-12-02"}, "group_by": {groupBy},
			"tz": {tz}}, "", base)
		if err != nil {
			t.Fatal(err)
		}
		var rows []report.Row
		if err := s.Commissions(ctx, q, func(r report.Row) error { rows = append(rows, r); return nil }); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(rows)
	}
	same := func(when string) {
		t.Helper()
		for _, g := range []string{"partner", "course,link,day", "month,placement", ""} {
			if daily, hourly := collect("Europe/Berlin", g), collect("Europe/Paris", g); daily != hourly {
				t.Fatalf("%s, group_by=%s: daily rollups answer\n%s\nhourly\n%s", when, g, daily, hourly)
			}
		}
	}
	if err := s.IngestClicks(ctx, genClicks(20000, 0, 50, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.IngestConversions(ctx, genConversions(2000, 0, 20000, 50, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompactRollups(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureZones(ctx, []string{"Europe/Berlin"}); err != nil {
		t.Fatal(err)
	}
	same("after a backfill")
	if err := s.IngestClicks(ctx, genClicks(3000, 20000, 50, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.IngestConversions(ctx, genConversions(500, 2000, 23000, 50, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	same("with deltas")
	if _, err := s.CompactRollups(ctx); err != nil {
		t.Fatal(err)
	}
	same("after compaction")
	verify(t, s)
}

// A month's partition can be detached for archiving; a late click for it
// afterwards lands in a new partition: the store's stale list of
// partitions is its own problem, never a failed (or, worse, poison)
// batch.
func TestDetachedMonthTakesLateClicks(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	old := genClicks(10, 0, 5, time.Hour)
	for i := range old {
		old[i].OccurredAt = old[i].OccurredAt.AddDate(0, -1, 0) // October
	}
	if err := s.IngestClicks(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(`ALTER TABLE clicks DETACH PARTITION clicks_2026_10`); err != nil {
		t.Fatal(err)
	}
	late := genClicks(1, 100, 5, time.Hour)
	late[0].OccurredAt = late[0].OccurredAt.AddDate(0, -1, 0)
	if err := s.IngestClicks(ctx, late); err != nil {
		t.Fatalf("a late click for a detached month: %v", err)
	}
	if n := count(t, s.DB(), `SELECT count(*) FROM clicks`); n != 1 {
		t.Fatalf("%d clicks attached, want the late one", n)
	}
}

// A report in a zone without daily rollups makes the store keep them for
// it, so the next report reads days.
func TestZonesAreLearnedFromReports(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	s.LearnZones(true)
	ctx := context.Background()
	if err := s.IngestClicks(ctx, genClicks(1000, 0, 5, time.Minute)); err != nil {
		t.Fatal(err)
	}
	q, err := report.ParseQuery(url.Values{"tz": {"Asia/Tokyo"}, "from": {"2026-11-01"}, "to": {"2026-12-01"}}, "", base)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commissions(ctx, q, func(report.Row) error { return nil }); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 30*time.Second, func() error {
		zones, err := s.Zones(ctx)
		if err == nil && !zones["Asia/Tokyo"] {
			err = fmt.Errorf("Asia/Tokyo not learned: %v", zones)
		}
		return err
	})
	verify(t, s)
}

// CountCommissions predicts how many rows a report emits (the export's
// progress bar), with and without currency conversion.
func TestCountCommissions(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	if err := s.IngestClicks(ctx, genClicks(3000, 0, 30, 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.IngestConversions(ctx, genConversions(300, 0, 3000, 30, 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, v := range []url.Values{
		{"from": {"2026-11-01"}, "to": {"2027-01-01"}, "group_by": {"link,day"}},
		{"from": {"2026-11-01"}, "to": {"2027-01-01"}, "group_by": {"partner"}, "currency": {"USD"}},
		{"from": {"2026-11-01"}, "to": {"2027-01-01"}},
	} {
		q, err := report.ParseQuery(v, "", base)
		if err != nil {
			t.Fatal(err)
		}
		var emitted int64
		if err := s.Commissions(ctx, q, func(report.Row) error { emitted++; return nil }); err != nil {
			t.Fatal(err)
		}
		n, err := s.CountCommissions(ctx, q)
		if err != nil || n != emitted || n == 0 {
			t.Fatalf("%v: count %d (%v), emitted %d", v, n, err, emitted)
		}
	}
}

// Conversions that came before their clicks are found by the range of the
// batch's click ids, or, when that range holds too many waiting
// conversions, click by click: the same ones either way, and no
// conversion waiting for another click, in the range or out of it.
func TestWaitingConversionsAreFoundByRangeOrProbe(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	clicks := genClicks(1000, 0, 20, time.Minute)
	convs := genConversions(100, 0, 1000, 20, time.Minute) // clicks 0, 10, ..., 990
	decoy := func(order, click string) postgres.ConversionEvent {
		c := convs[0]
		c.ID, c.OrderID, c.ClickID = "ev-"+order, order, click
		return c
	}
	convs = append(convs,
		decoy("in-range", "clk000000000505x"), // between the batch's first and last id
		decoy("before", "clj"), decoy("after", "clk999999999999"))
	if err := s.IngestConversions(ctx, convs); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range convs[:100] {
		want = append(want, c.Partner+"/"+c.OrderID+"/"+c.ClickID)
	}
	slices.Sort(want)
	for _, limit := range []int{1000, 101, 100, 1} { // 101 waiting in range: read by range, then probed
		got, err := s.WaitingFor(ctx, clicks, limit)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: found %d waiting conversions %v..., want %d", limit, len(got), got[:min(3, len(got))], len(want))
		}
	}
	if err := s.IngestClicks(ctx, clicks); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s.DB(), `SELECT count(*) FROM conversions WHERE NOT attributed`); n != 3 {
		t.Fatalf("%d conversions wait after their clicks came, want the 3 decoys", n)
	}
	verify(t, s)
}
