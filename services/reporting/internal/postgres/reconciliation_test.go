package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A month's count of unpaid conversions is of the conversions purchased
// by its end: a later month's approval does not raise it (a finance
// review saw October's count go 1, 0, 1 as December's events came),
// while a later remittance paying one of them lowers it.
func TestReconciliationCountsTheMonthsPurchases(t *testing.T) {
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
	if got, want := line(dec), "expected=1400 remitted=1000 unpaid=1"; got != want {
		t.Fatalf("December: %s, want %s", got, want)
	}
}
