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
	t.Parallel()
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
	t.Parallel()
	s, sweep := sweptStore(t)
	ctx := context.Background()
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
	t.Parallel()
	s := newStore(t)
	release := holdAttributionLock(t, s, false)
	storeConversion(t, s, 100, "beside")
	release()
	storeConversion(t, s, 101, "alone")
	if !raced(t, s, "beside") {
		t.Error("a conversion stored beside a click's transaction is not marked raced")
	}
	if raced(t, s, "alone") {
		t.Error("a conversion stored alone is marked raced")
	}
	verify(t, s)
}

// After its first sweep, the sweep probes only raced conversions: two
// that lost the race to their clicks, one marked raced and one not; only
// the raced one is found.
func TestSweepProbesOnlyRacedConversions(t *testing.T) {
	t.Parallel()
	s, sweep := sweptStore(t)
	orders := raceClicks(t, s, []time.Duration{1500 * time.Millisecond, 1500 * time.Millisecond})
	markUnraced(t, s, orders[1])
	sweepUntil(t, sweep, func() bool { return attributed(t, s, orders[0]) })
	if attributed(t, s, orders[1]) {
		t.Error("the sweep probed a conversion that cannot have raced")
	}
	verify(t, s)
}

// While a session of a reporting from before the attribution lock is
// there (another application_name), no conversion is stored unraced, and
// the sweep probes every waiting conversion, raced or not.
func TestOlderReportingBesideMeansEveryConversionIsSwept(t *testing.T) {
	t.Parallel()
	s, sweep := sweptStore(t)
	ctx := context.Background()
	older, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer older.Close()
	if _, err := older.ExecContext(ctx, `SET application_name = 'an older reporting'`); err != nil {
		t.Fatal(err)
	}
	storeConversion(t, s, 200, "beside-older")
	if !raced(t, s, "beside-older") {
		t.Error("a conversion stored beside an older reporting's session is not marked raced")
	}
	orders := raceClicks(t, s, []time.Duration{1500 * time.Millisecond})
	markUnraced(t, s, orders[0])
	sweepUntil(t, sweep, func() bool { return attributed(t, s, orders[0]) })
	verify(t, s)
}

// sweptStore is a new store and its sweep, after the sweep's first run
// (which probes every conversion of its window, raced or not).
func sweptStore(t *testing.T) (*postgres.Store, *postgres.AttributionSweep) {
	t.Helper()
	s := newStore(t)
	sweep := s.NewAttributionSweep()
	if _, err := sweep.Run(context.Background(), 1000); err != nil {
		t.Fatal(err)
	}
	return s, sweep
}

// storeConversion ingests the n-th generated conversion event as order.
func storeConversion(t *testing.T, s *postgres.Store, n int, order string) {
	t.Helper()
	conv := genConversions(1, n, 1, 1, time.Minute)
	conv[0].OrderID = order
	if err := s.IngestConversions(context.Background(), conv); err != nil {
		t.Fatal(err)
	}
}

// markUnraced marks order's conversion as one that cannot have raced.
func markUnraced(t *testing.T, s *postgres.Store, order string) {
	t.Helper()
	if _, err := s.DB().Exec(`UPDATE conversions SET raced = false WHERE order_id = $1`, order); err != nil {
		t.Fatal(err)
	}
}

// sweepUntil runs sweep every 100 ms until done, for at most 20 s.
func sweepUntil(t *testing.T, sweep *postgres.AttributionSweep, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !done(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sweep never found it")
		}
		if _, err := sweep.Run(context.Background(), 1000); err != nil {
			t.Fatal(err)
		}
	}
}

// The race the lock closes. A conversion's transaction that got the lock
// has read the clicks (none yet) and waits (here for a payout balance a
// test transaction holds); a click's transaction for its click, which
// cannot see the conversion yet, must wait for the lock, so that its look
// for waiting conversions comes after the conversion's commit and finds
// it. Without the click's side of the lock the click would commit first,
// each would miss the other, and the conversion would be stored unraced:
// never swept.
func TestClickTransactionWaitsForConversionsInFlight(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	conv := genConversions(1, 0, 1, 1, time.Minute)
	click := genClicks(1, 0, 1, time.Minute)
	if conv[0].ClickID != click[0].ID || conv[0].Partner != click[0].Partner {
		t.Fatalf("conversion's click %s/%s, want %s/%s", conv[0].Partner, conv[0].ClickID, click[0].Partner, click[0].ID)
	}
	// Another click of the month first: creating a month's partition
	// waits for every transaction that read clicks.
	if err := s.IngestClicks(ctx, genClicks(1, 5, 1, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO payout_balances (partner, currency) VALUES ($1, $2)`,
		conv[0].Partner, conv[0].Currency); err != nil {
		t.Fatal(err)
	}
	hold, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback()
	if _, err := hold.ExecContext(ctx, `SELECT 1 FROM payout_balances FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	convDone, clickDone := make(chan error, 1), make(chan error, 1)
	go func() { convDone <- s.IngestConversions(ctx, conv) }()
	waitForLockWait(t, s, "transactionid") // the conversion's transaction waits for the payout balance
	go func() { clickDone <- s.IngestClicks(ctx, click) }()
	// The click's transaction waits for the attribution lock; without
	// it, it would commit now, missing the conversion.
	var clickErr error
	clickFinished := false
	for deadline := time.Now().Add(20 * time.Second); !clickFinished && !lockWaiting(t, s, "advisory"); time.Sleep(10 * time.Millisecond) {
		select {
		case clickErr = <-clickDone:
			clickFinished = true
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the click's transaction neither waited for the attribution lock nor finished")
		}
	}
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-convDone; err != nil {
		t.Fatal(err)
	}
	if !clickFinished {
		clickErr = <-clickDone
	}
	if clickErr != nil {
		t.Fatal(clickErr)
	}
	if !attributed(t, s, conv[0].OrderID) {
		t.Errorf("conversion %s left unattributed (raced %v): each transaction missed the other", conv[0].OrderID, raced(t, s, conv[0].OrderID))
	}
	verify(t, s)
}

// lockWaiting reports whether a session of this test's database waits
// for a lock of the given type.
func lockWaiting(t *testing.T, s *postgres.Store, locktype string) bool {
	t.Helper()
	return count(t, s.DB(), fmt.Sprintf(`SELECT count(*) FROM pg_locks l
		JOIN pg_stat_activity a ON a.pid = l.pid AND a.datname = current_database()
		WHERE NOT l.granted AND l.locktype = '%s'`, locktype)) > 0
}

// waitForLockWait waits until a session of this test's database waits
// for a lock of the given type.
func waitForLockWait(t *testing.T, s *postgres.Store, locktype string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !lockWaiting(t, s, locktype); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			rows, _ := s.DB().Query(`SELECT l.locktype, a.wait_event_type || ':' || a.wait_event, left(a.query, 120) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted`)
			for rows != nil && rows.Next() {
				var a, b, c string
				_ = rows.Scan(&a, &b, &c)
				t.Logf("waiting: %s %s %s", a, b, c)
			}
			t.Fatalf("no session waited for a lock of type %s", locktype)
		}
	}
}
