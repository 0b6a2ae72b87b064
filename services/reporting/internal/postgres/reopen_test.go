package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// A month reopened takes back the changes made to its purchases while it
// was closed (the adjustments the open month held): its report holds its
// purchases whole, and a change after the reopening moves them there, not
// between the two months (a finance review found an approval after the
// reopening left the later month showing the purchase pending, and the
// reopened month pending less than nothing). A change recorded while it
// was closed and applied only after the reopening lands where it would
// have, had it been applied before (as a replay applies it).
func TestReopenedMonthTakesItsAdjustmentsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	s := newStoreAt(t, now)
	nov, dec := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	bought := nov.AddDate(0, 0, 19)
	event := func(id, order, status string, commission int64, recorded time.Time) postgres.ConversionEvent {
		return postgres.ConversionEvent{Event: ledger.Event{ID: id, Status: status, Sale: 10 * commission, Commission: commission,
			Currency: "USD", OccurredAt: bought}, Partner: "p", OrderID: order, Source: "webhook", RecordedAt: recorded}
	}
	months, ingest := reportMonths(t, s, nov, dec.AddDate(0, 1, 0), now)
	ingest(event("o1", "O-1", ledger.StatusApproved, 100, nov.AddDate(0, 0, 20)))
	if _, err := s.ClosePeriod(ctx, nov, dec.Add(10*time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	closed := dec.AddDate(0, 0, 1)
	ingest(event("a1", "A-9", ledger.StatusPending, 500, closed))
	if got, want := months(), "2026-11 n=1 pending=0 approved=100; 2026-12 n=1 pending=500 approved=0; "; got != want {
		t.Fatalf("while November is closed:\n got %s\nwant %s", got, want)
	}
	if _, err := s.ReopenPeriod(ctx, nov, dec.AddDate(0, 0, 2), "test"); err != nil {
		t.Fatal(err)
	}
	if got, want := months(), "2026-11 n=2 pending=500 approved=100; "; got != want {
		t.Fatalf("reopened:\n got %s\nwant %s", got, want)
	}
	ingest(event("a2", "A-9", ledger.StatusApproved, 500, dec.AddDate(0, 0, 3)),
		// Recorded while November was closed, applied after it reopened.
		event("b1", "B-1", ledger.StatusPending, 70, closed.Add(time.Hour)))
	if _, err := s.CompactRollups(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := months(), "2026-11 n=3 pending=70 approved=600; "; got != want {
		t.Fatalf("approved after the reopening:\n got %s\nwant %s", got, want)
	}
	verify(t, s)
}

func reportMonths(t *testing.T, s *postgres.Store, from, to, now time.Time) (func() string, func(...postgres.ConversionEvent)) {
	ctx := context.Background()
	months := func() string {
		t.Helper()
		q, err := report.ParseQuery(url.Values{"from": {from.Format(time.DateOnly)}, "to": {to.Format(time.DateOnly)},
			"group_by": {"month"}}, "", now)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if err := s.Commissions(ctx, q, func(r report.Row) error {
			got += fmt.Sprintf("%s n=%d pending=%d approved=%d; ", r.Keys[0], r.Conversions, r.Pending, r.Approved)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	ingest := func(evs ...postgres.ConversionEvent) {
		t.Helper()
		if err := s.IngestConversions(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	return months, ingest
}

// October closed, an October purchase adjusted in November, November
// closed, October reopened (November frozen: the adjustment stays there),
// November reopened: then the October adjustment moves back too, and a
// later approval counts in October alone (a review found it left in
// November for good, the purchase split across two open months).
func TestReopeningTheOlderMonthFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2027, 1, 10, 12, 0, 0, 0, time.UTC)
	s := newStoreAt(t, now)
	oct, nov, dec := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	bought := oct.AddDate(0, 0, 19)
	months, ingest := reportMonths(t, s, oct, dec.AddDate(0, 1, 0), now)
	event := func(id, status string, recorded time.Time) postgres.ConversionEvent {
		return postgres.ConversionEvent{Event: ledger.Event{ID: id, Status: status, Sale: 5000, Commission: 500,
			Currency: "USD", OccurredAt: bought}, Partner: "p", OrderID: "A-9", Source: "webhook", RecordedAt: recorded}
	}
	if _, err := s.ClosePeriod(ctx, oct, nov.Add(10*time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	ingest(event("a1", ledger.StatusPending, nov.AddDate(0, 0, 4)))
	if _, err := s.ClosePeriod(ctx, nov, dec.Add(10*time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReopenPeriod(ctx, oct, dec.AddDate(0, 0, 1), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReopenPeriod(ctx, nov, dec.AddDate(0, 0, 2), "test"); err != nil {
		t.Fatal(err)
	}
	ingest(event("a2", ledger.StatusApproved, dec.AddDate(0, 0, 3)))
	if _, err := s.CompactRollups(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := months(), "2026-10 n=1 pending=0 approved=500; "; got != want {
		t.Errorf("approved after both reopenings:\n got %s\nwant %s", got, want)
	}
	verify(t, s)
}

// A change recorded while November was closed, applied (consumer lag)
// only after it was reopened and closed again, is an adjustment in the
// open month: November is closed now, its figures frozen (a review found
// it written into November, which verify flagged).
func TestLateChangeAfterTheMonthClosedAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	s := newStoreAt(t, now)
	nov, dec := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	months, ingest := reportMonths(t, s, nov, dec.AddDate(0, 1, 0), now)
	if _, err := s.ClosePeriod(ctx, nov, dec.Add(10*time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReopenPeriod(ctx, nov, dec.AddDate(0, 0, 2), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClosePeriod(ctx, nov, dec.AddDate(0, 0, 3), "test"); err != nil {
		t.Fatal(err)
	}
	ingest(postgres.ConversionEvent{Event: ledger.Event{ID: "b1", Status: ledger.StatusPending, Sale: 700, Commission: 70,
		Currency: "USD", OccurredAt: nov.AddDate(0, 0, 19)}, Partner: "p", OrderID: "B-1", Source: "webhook",
		RecordedAt: dec.Add(12 * time.Hour)})
	if got, want := months(), "2026-12 n=1 pending=70 approved=0; "; got != want {
		t.Errorf("after the late change:\n got %s\nwant %s", got, want)
	}
	verify(t, s)
}

// A month reopens while another is still closed (a review found every
// such reopening refused by PostgreSQL: the closed months' bounds were
// sent as text to a timestamptz array).
func TestReopenWithAnotherMonthClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2027, 1, 10, 12, 0, 0, 0, time.UTC)
	s := newStoreAt(t, now)
	oct, nov, dec := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.ClosePeriod(ctx, oct, nov.Add(10*time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClosePeriod(ctx, nov, dec.Add(10*time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReopenPeriod(ctx, nov, dec.AddDate(0, 0, 2), "test"); err != nil {
		t.Fatalf("reopen November with October closed: %v", err)
	}
	verify(t, s)
}

// A batch that read the periods while November was closed and wrote its
// rollups after a reopening had moved November's adjustments back left
// its adjustment in December while November was open, and a later change
// split the purchase (a re-check). Every transaction that places changes
// by the periods holds their lock shared, so a reopening waits for it,
// and one that starts after it reads the periods as reopened. The sleeps
// only give the race its chance: with the lock, any order ends the same.
func TestReopeningWaitsForTheBatchesThatReadThePeriods(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2027, 2, 10, 12, 0, 0, 0, time.UTC)
	nov, dec := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := newStoreAt(t, now)
	months, ingest := reportMonths(t, s, nov, dec.AddDate(0, 1, 0), now)
	bought := nov.AddDate(0, 0, 19)
	event := func(id, status string, recorded time.Time) postgres.ConversionEvent {
		return postgres.ConversionEvent{Event: ledger.Event{ID: id, Status: status, Sale: 5000, Commission: 500,
			Currency: "USD", OccurredAt: bought}, Partner: "p", OrderID: "A-1", Source: "webhook", RecordedAt: recorded}
	}
	ingest(event("a1", ledger.StatusPending, bought))
	if _, err := s.ClosePeriod(ctx, nov, dec.Add(10*time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	// Hold the rollup deltas: the batch and the reopening read what they
	// read, then wait to write.
	hold, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hold.ExecContext(ctx, `LOCK TABLE conversion_rollup_deltas IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs[0] = s.IngestConversions(ctx, []postgres.ConversionEvent{event("a2", ledger.StatusApproved, dec.Add(12*time.Hour))})
	}()
	time.Sleep(500 * time.Millisecond)
	go func() {
		defer wg.Done()
		_, errs[1] = s.ReopenPeriod(ctx, nov, dec.AddDate(0, 0, 2), "test")
	}()
	time.Sleep(500 * time.Millisecond)
	if err := hold.Commit(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	verify(t, s)
	if got, want := months(), "2026-11 n=1 pending=0 approved=500; "; got != want {
		t.Errorf("approved while November reopened:\n got %s\nwant %s", got, want)
	}
	ingest(event("a3", ledger.StatusReversed, dec.AddDate(0, 0, 3)))
	if got, want := months(), "2026-11 n=1 pending=0 approved=0; "; got != want {
		t.Errorf("reversed after the reopening:\n got %s\nwant %s", got, want)
	}
	verify(t, s)
}
