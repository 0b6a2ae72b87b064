package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
)

// raceClicks stores conversions and then their clicks the way a
// consumer's transaction that could not see the conversions would: the
// clicks are stored and counted, and the conversions stay unattributed. Each conversion's last change is then
// set to ages[i] ago on the database's clock.
func raceClicks(t *testing.T, s *postgres.Store, ages []time.Duration) []string {
	t.Helper()
	ctx := context.Background()
	clicks := genClicks(len(ages), 0, len(ages), time.Minute)
	convs := make([]postgres.ConversionEvent, len(ages))
	var orders []string
	for i, c := range clicks {
		convs[i] = genConversions(1, i, 1, 1, 0)[0]
		convs[i].ClickID, convs[i].Partner, convs[i].OrderID = c.ID, c.Partner, fmt.Sprintf("race-%d", i)
		convs[i].OccurredAt = c.OccurredAt.Add(time.Minute)
		orders = append(orders, convs[i].OrderID)
	}
	if err := s.IngestConversions(ctx, convs); err != nil {
		t.Fatal(err)
	}
	// The clicks' own transaction must not see the conversions: their
	// click ids are hidden from it, then put back.
	if _, err := s.DB().ExecContext(ctx, `UPDATE conversions SET click_id = '' WHERE order_id LIKE 'race-%'`); err != nil {
		t.Fatal(err)
	}
	if err := s.IngestClicks(ctx, clicks); err != nil {
		t.Fatal(err)
	}
	for i, c := range clicks {
		if _, err := s.DB().ExecContext(ctx, `UPDATE conversions SET click_id = $2, updated_at = now() - $3::interval
			WHERE order_id = $1`, orders[i], c.ID, ages[i].String()); err != nil {
			t.Fatal(err)
		}
	}
	return orders
}

func attributed(t *testing.T, s *postgres.Store, order string) bool {
	t.Helper()
	return count(t, s.DB(), fmt.Sprintf(`SELECT count(*) FROM conversions WHERE attributed AND order_id = '%s'`, order)) == 1
}

// The first sweep of a process probes every waiting conversion that
// changed within the last 64 s (a restart forgets nothing it should
// find); older ones are left to their click's own transaction.
func TestFirstSweepCoversTheLastMinute(t *testing.T) {
	s := newStore(t)
	ages := []time.Duration{0, 500 * time.Millisecond, 3 * time.Second, 10 * time.Second, 30 * time.Second,
		60 * time.Second, 90 * time.Second, time.Hour}
	orders := raceClicks(t, s, ages)
	n, err := s.NewAttributionSweep().Run(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Fatalf("first sweep attributed %d, want 6", n)
	}
	for i, age := range ages {
		if want := age <= time.Minute; attributed(t, s, orders[i]) != want {
			t.Errorf("changed %s ago: attributed %v, want %v", age, !want, want)
		}
	}
	verify(t, s)
}

// After a sweep, a conversion whose click raced it is found by a later
// sweep once its age reaches the next probing age, and sweeps that stop
// at their limit lose none.
func TestLaterSweepsFindRacedClicks(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	sweep := s.NewAttributionSweep()
	if _, err := sweep.Run(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	orders := raceClicks(t, s, []time.Duration{1500 * time.Millisecond, 1500 * time.Millisecond, 5 * time.Second})
	found := 0
	for deadline := time.Now().Add(30 * time.Second); found < len(orders) && time.Now().Before(deadline); {
		n, err := sweep.Run(ctx, 1) // one at a time: the limit must not lose the others
		if err != nil {
			t.Fatal(err)
		}
		found += n
		time.Sleep(100 * time.Millisecond)
	}
	for _, o := range orders {
		if !attributed(t, s, o) {
			t.Errorf("%s never attributed", o)
		}
	}
	verify(t, s)
}
