package postgres_test

import (
	"context"
	"fmt"
	"sync"
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
		if _, err := s.DB().ExecContext(ctx, `UPDATE conversions SET click_id = $2, updated_at = now() - $3::interval,
			raced = true WHERE order_id = $1`, orders[i], c.ID, ages[i].String()); err != nil {
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

func raced(t *testing.T, s *postgres.Store, order string) bool {
	t.Helper()
	return count(t, s.DB(), fmt.Sprintf(`SELECT count(*) FROM conversions WHERE raced AND order_id = '%s'`, order)) == 1
}

// holdAttributionLock begins a transaction on its own connection that
// takes the attribution lock as a click's transaction (exclusive) or a
// conversion's (shared) does, and returns the function that commits it.
func holdAttributionLock(t *testing.T, s *postgres.Store, shared bool) func() {
	t.Helper()
	ctx := context.Background()
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	fn := "pg_advisory_xact_lock"
	if shared {
		fn += "_shared"
	}
	if _, err := tx.ExecContext(ctx, `SELECT `+fn+`(hashtext(current_schema() || '.attribution'))`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			if err := tx.Commit(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// A conversion's transaction that runs while a click's transaction is
// between its look for waiting conversions and its commit stores its
// conversions as raced, for the sweep; one that runs alone does not.
func TestConversionsBesideAClickTransactionAreRaced(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	release := holdAttributionLock(t, s, false)
	beside := genConversions(1, 100, 1, 1, time.Minute)
	beside[0].OrderID = "beside"
	if err := s.IngestConversions(ctx, beside); err != nil {
		t.Fatal(err)
	}
	release()
	alone := genConversions(1, 101, 1, 1, time.Minute)
	alone[0].OrderID = "alone"
	if err := s.IngestConversions(ctx, alone); err != nil {
		t.Fatal(err)
	}
	if !raced(t, s, "beside") {
		t.Error("a conversion stored beside a click's transaction is not marked raced")
	}
	if raced(t, s, "alone") {
		t.Error("a conversion stored alone is marked raced")
	}
	// The sweep probes only the raced one. Both clicks are stored the
	// way a transaction that could not see the conversions would.
	orders := raceClicks(t, s, []time.Duration{0})
	if _, err := s.DB().ExecContext(ctx, `UPDATE conversions SET raced = false WHERE order_id = $1`, orders[0]); err != nil {
		t.Fatal(err)
	}
	if n, err := s.NewAttributionSweep().Run(ctx, 1000); err != nil || n != 0 {
		t.Fatalf("sweep attributed %d (%v), want 0: it probed a conversion that cannot have raced", n, err)
	}
	if count(t, s.DB(), `SELECT count(*) FROM conversions WHERE NOT attributed AND order_id = '`+orders[0]+`'`) != 1 {
		t.Fatalf("%s is not stored and waiting", orders[0])
	}
	verify(t, s)
}

// The race the lock closes: a click's transaction that waits for the lock
// while a conversion of its click is stored, by a transaction that cannot
// see the click, finds that conversion once it has the lock.
func TestClickTransactionWaitsForConversionsInFlight(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	release := holdAttributionLock(t, s, true) // a conversion's transaction in flight
	click := genClicks(1, 0, 1, time.Minute)
	done := make(chan error, 1)
	go func() { done <- s.IngestClicks(ctx, click) }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if count(t, s.DB(), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`) == 1 {
			break // the click's transaction waits for the lock
		}
		if time.Now().After(deadline) {
			t.Fatal("the click's transaction never waited for the attribution lock")
		}
	}
	conv := genConversions(1, 0, 1, 1, time.Minute)
	if conv[0].ClickID != click[0].ID {
		t.Fatalf("conversion's click %s, want %s", conv[0].ClickID, click[0].ID)
	}
	if err := s.IngestConversions(ctx, conv); err != nil {
		t.Fatal(err)
	}
	if attributed(t, s, conv[0].OrderID) || !raced(t, s, conv[0].OrderID) {
		t.Fatal("the conversion saw a click not yet committed, or was not marked raced")
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !attributed(t, s, conv[0].OrderID) {
		t.Error("the click's transaction did not attribute the conversion committed while it waited")
	}
	verify(t, s)
}
