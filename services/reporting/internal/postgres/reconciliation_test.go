package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// A month's count of unpaid conversions is of the conversions whose
// approval it expects (approved by its end): a later month's approval
// does not raise it (a finance review saw October's count go 1, 0, 1 as
// December's events came), while a later remittance paying one lowers it.
func TestReconciliationCountsWhatTheMonthExpects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStoreAt(t, stmtNow)
	oct, dec := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ingestEach(t, s, stmtEvent("q1", "pq", "Q-1", "approved", 1000, oct.AddDate(0, 0, 4), 1, oct.AddDate(0, 0, 4)))
	line := func(month time.Time) string {
		t.Helper()
		ls, err := s.Reconciliation(ctx, month)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			if l.Partner == "pq" {
				return fmt.Sprintf("expected=%s remitted=%s unpaid=%d", l.Expected, l.Remitted, l.Unpaid)
			}
		}
		return "none"
	}
	if got, want := line(oct), "expected=1000 remitted=0 unpaid=1"; got != want {
		t.Fatalf("October before the remittance: %s, want %s", got, want)
	}
	remitUSD(t, s, "pq", 1000, "q1", dec.AddDate(0, 0, 4))
	if got, want := line(oct), "expected=1000 remitted=0 unpaid=0"; got != want {
		t.Fatalf("October after December's remittance: %s, want %s", got, want)
	}
	ingestEach(t, s, stmtEvent("q2", "pq", "Q-2", "approved", 400, dec.AddDate(0, 0, 4).Add(time.Hour), 2, dec.AddDate(0, 0, 4).Add(time.Hour)))
	if got, want := line(oct), "expected=1000 remitted=0 unpaid=0"; got != want {
		t.Fatalf("October after December's approval: %s, want %s", got, want)
	}
	// An October purchase approved in December is December's to expect
	// (a review: counted by purchase date, it raised October's count).
	ingestEach(t, s, stmtEvent("q3p", "pq", "Q-3", "pending", 300, oct.AddDate(0, 0, 20), 3, oct.AddDate(0, 0, 20)))
	ingestEach(t, s, stmtEvent("q3a", "pq", "Q-3", "approved", 300, dec.AddDate(0, 0, 4).Add(2*time.Hour), 4, dec.AddDate(0, 0, 4).Add(2*time.Hour)))
	if got, want := line(oct), "expected=1000 remitted=0 unpaid=0"; got != want {
		t.Fatalf("October after an October purchase's December approval: %s, want %s", got, want)
	}
	if got, want := line(dec), "expected=1700 remitted=1000 unpaid=2"; got != want {
		t.Fatalf("December: %s, want %s", got, want)
	}
}

// A settlement line reversed at 0.00 matches a conversion reversed at
// 0.00, which the ledger holds at what it had carried (a review: every
// such line became a commission difference).
func TestSettlementReversalOfNothingMatches(t *testing.T) {
	t.Parallel()
	s := newStoreAt(t, stmtNow)
	rec := stmtNow.Add(-time.Hour)
	ingestEach(t, s, stmtEvent("z1", "pz", "Z-1", "approved", 400, stmtAt, 1, rec),
		stmtEvent("z2", "pz", "Z-1", "reversed", 0, stmtAt.Add(time.Hour), 2, rec))
	for _, commission := range []int64{0, 400} {
		diffs, err := s.CompareSettlement(context.Background(), "pz", stmtNov,
			[]payout.Line{{Line: 2, OrderID: "Z-1", Commission: commission, Currency: "USD", Status: "reversed", Date: stmtAt}})
		if err != nil {
			t.Fatal(err)
		}
		if len(diffs) != 0 {
			t.Errorf("a line reversed at %d: %+v", commission, diffs)
		}
	}
}

// A conversion approved in October in USD, changed to EUR in December,
// is still unpaid on October's USD line, which expected it (a re-check:
// counted under its currency now, it was on no line).
func TestReconciliationCountsInTheCurrencyExpected(t *testing.T) {
	t.Parallel()
	oct, dec := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := newStoreAt(t, stmtNow)
	bought := oct.AddDate(0, 0, 4)
	ingestEach(t, s, stmtEvent("q1", "pq", "Q-1", "approved", 1000, bought, 1, bought))
	e := stmtEvent("q2", "pq", "Q-1", "approved", 900, dec.AddDate(0, 0, 3), 2, dec.AddDate(0, 0, 3))
	e.Currency = "EUR"
	ingestEach(t, s, e)
	ls, err := s.Reconciliation(context.Background(), oct)
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, l := range ls {
		got += fmt.Sprintf("%s %s expected=%s unpaid=%d; ", l.Partner, l.Currency, l.Expected, l.Unpaid)
	}
	if want := "pq USD expected=1000 unpaid=1; "; got != want {
		t.Errorf("October:\n got %s\nwant %s", got, want)
	}
	// Verify takes the USD rollups, netting to nothing, for what they are
	// (a re-check: a currency no conversion is in any more was a problem).
	verify(t, s)
}

// A settlement file for a month is compared with the purchases of that
// month in the finance zone, as statements and reconciliation cut it, not
// in the database session's (UTC): with Berlin's months, November's
// orders are those bought from 2026-10-31T23:00Z to 2026-11-30T23:00Z
// (from a check of times: F-2, 1 December in Berlin, was named missing
// and F-3, 1 November there, was not).
func TestSettlementComparesTheFinanceZonesMonth(t *testing.T) {
	t.Parallel()
	s := newStoreAt(t, stmtNow)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if err := s.SetFinanceZone(context.Background(), berlin); err != nil {
		t.Fatal(err)
	}
	rec := stmtNow.Add(-time.Hour)
	ingestEach(t, s,
		stmtEvent("f1", "pf", "F-1", "approved", 100, time.Date(2026, 11, 30, 22, 59, 59, 999000000, time.UTC), 1, rec),
		stmtEvent("f2", "pf", "F-2", "approved", 100, time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC), 2, rec),
		stmtEvent("f3", "pf", "F-3", "approved", 100, time.Date(2026, 10, 31, 23, 30, 0, 0, time.UTC), 3, rec))
	diffs, err := s.CompareSettlement(context.Background(), "pf", stmtNov, nil)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, d := range diffs {
		if d.Kind == "missing_in_settlement" {
			missing = append(missing, d.OrderID)
		}
	}
	if fmt.Sprint(missing) != "[F-1 F-3]" {
		t.Fatalf("missing in November's settlement %v, want [F-1 F-3]: %+v", missing, diffs)
	}
}

// An event recorded before a close but stored after it lands in the
// closed month (it was recorded while the month was open), and verify
// names the month; RefreshClosedFigures, which closing calls once ingest
// has caught up, records the figures again, and only for the close still
// in force (a check of times: the September statement moved after its
// close).
func TestRefreshClosedFiguresAfterALateStore(t *testing.T) {
	t.Parallel()
	s := newStoreAt(t, stmtNow)
	ctx := context.Background()
	ingestEach(t, s, stmtEvent("r1", "pr", "R-1", "approved", 500, stmtAt, 1, stmtAt))
	closeAt := stmtNow.Add(-time.Hour)
	if _, err := s.ClosePeriod(ctx, stmtNov, closeAt, "test"); err != nil {
		t.Fatal(err)
	}
	ingestEach(t, s, stmtEvent("r2", "pr", "R-2", "approved", 300, stmtAt, 2, closeAt.Add(-time.Millisecond)))
	var problems []string
	if _, err := s.Verify(ctx, func(p string) { problems = append(problems, p) }); err != nil || len(problems) == 0 {
		t.Fatalf("verify after a late store: %v %v, want the month named", err, problems)
	}
	if err := s.RefreshClosedFigures(ctx, stmtNov, closeAt.Add(time.Second)); err != nil { // not this close: nothing
		t.Fatal(err)
	}
	problems = nil
	if _, err := s.Verify(ctx, func(p string) { problems = append(problems, p) }); err != nil || len(problems) == 0 {
		t.Fatalf("verify after refreshing another close: %v %v, want the month still named", err, problems)
	}
	if err := s.RefreshClosedFigures(ctx, stmtNov, closeAt); err != nil {
		t.Fatal(err)
	}
	verify(t, s)
}

// FinalDays walks the days of a zone where a change of offset skips a
// midnight (America/Santiago on 2026-09-06) and ends: with a month
// closed, a report over such a day held a core for ever (a check of
// times). September is not final in Santiago while August alone is
// closed; August's days are.
func TestFinalDaysOverADayWithoutMidnight(t *testing.T) {
	t.Parallel()
	s := newStoreAt(t, stmtNow)
	ctx := context.Background()
	aug := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.ClosePeriod(ctx, aug, stmtNow.Add(-time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	santiago, _ := time.LoadLocation("America/Santiago")
	from := report.DayStart(2026, 8, 30, santiago)
	to := report.DayStart(2026, 9, 10, santiago)
	done := make(chan struct{})
	var days []report.DayRange
	var err error
	go func() {
		defer close(done)
		days, err = s.FinalDays(ctx, from, to, santiago)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("FinalDays did not return")
	}
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(days) != "[]" && (len(days) != 1 || days[0].To > "2026-09-01") {
		t.Fatalf("final days %+v: none of September's is final", days)
	}
}
