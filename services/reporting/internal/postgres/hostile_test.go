package postgres_test

import (
	"context"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// report runs a report and returns its rows keyed by their group keys.
func reportRows(t *testing.T, s *postgres.Store, v url.Values) map[string]report.Row {
	t.Helper()
	q, err := report.ParseQuery(v, "", base)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]report.Row{}
	if err := s.Commissions(context.Background(), q, func(r report.Row) error {
		out[strings.Join(r.Keys, "/")+"/"+r.Currency] = r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Totals beyond int64 are exact: the conversion rollups' money is
// numeric, so compaction cannot fail on a sum (it used to, for good, on
// "bigint out of range"), and reports read it into exact sums.
func TestTotalsBeyondInt64(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	ceiling := int64(events.MaxAmountMinor)
	var convs []postgres.ConversionEvent
	for i := range 2 {
		convs = append(convs, postgres.ConversionEvent{
			Event: ledger.Event{ID: fmt.Sprintf("max%d", i), Status: ledger.StatusApproved, Sale: ceiling, Commission: ceiling,
				Currency: "USD", OccurredAt: base.Add(time.Hour)},
			Partner: "p", OrderID: fmt.Sprintf("max-%d", i), Source: "webhook", RecordedAt: base,
		})
	}
	if err := s.IngestConversions(ctx, convs); err != nil {
		t.Fatal(err)
	}
	// The sum of twelve million more conversions at the ceiling, as
	// ingest writes it: delta rows each within int64, for the same key
	// and hour, which no int64 can hold together.
	if _, err := s.DB().Exec(`INSERT INTO conversion_rollup_deltas
		SELECT bucket, key_id, 4000000, 4000000, 0, 4000000000000000000, 0, 4000000000000000000, 0, 0
		FROM conversion_rollup_deltas, generate_series(1, 3) LIMIT 3`); err != nil {
		t.Fatal(err)
	}
	want := new(big.Int).Add(big.NewInt(2*ceiling), new(big.Int).Mul(big.NewInt(4e18), big.NewInt(3)))
	wantS := new(big.Int).Quo(want, big.NewInt(100)).String() + "." + fmt.Sprintf("%02d", new(big.Int).Rem(want, big.NewInt(100)).Int64())
	check := func(when string) {
		t.Helper()
		for _, g := range []string{"", "partner", "day"} {
			for key, r := range reportRows(t, s, url.Values{"from": {"2026-11-01"}, "to": {"2026-12-01"}, "group_by": {g}}) {
				if r.Approved.Big().Cmp(want) != 0 || r.Sale.In("USD") != wantS || r.Conversions != 12000002 {
					t.Fatalf("%s, group_by=%s, %s: approved %s sale %s conversions %d, want %s", when, g, key,
						r.Approved.In("USD"), r.Sale.In("USD"), r.Conversions, wantS)
				}
			}
		}
	}
	check("before compaction")
	for range 2 {
		if _, err := s.CompactRollups(ctx); err != nil {
			t.Fatalf("compaction: %v", err)
		}
	}
	check("after compaction")
	// The same in the daily rollups of a zone added now (a backfill).
	if err := s.EnsureZones(ctx, []string{"Europe/Berlin"}); err != nil {
		t.Fatal(err)
	}
	// A zone PostgreSQL does not know is refused before it is kept: kept,
	// it would fail every compaction after (the compactor joins each
	// zone). Go's "Local" is one.
	if err := s.EnsureZones(ctx, []string{"Local"}); errs.HTTPStatus(err) != 400 {
		t.Fatalf("EnsureZones(Local) = %v, want a 400", err)
	}
	if _, err := s.CompactRollups(ctx); err != nil {
		t.Fatalf("compaction after a refused zone: %v", err)
	}
	// A kept zone PostgreSQL stops knowing (its tzdata changed under it):
	// the compactor drops it and folds the other zones.
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO rollup_zones (tz) VALUES ('Mars/Olympus')`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO conversion_rollup_deltas
		SELECT bucket, key_id, 0, 0, 0, 0, 0, 0, 0, 0 FROM conversion_rollups LIMIT 1`); err != nil {
		t.Fatal(err) // a delta to fold (of nothing), so the fold reads the zones
	}
	if _, err := s.CompactRollups(ctx); err != nil {
		t.Fatalf("compaction with a zone PostgreSQL does not know: %v", err)
	}
	var zones []string
	if err := s.DB().QueryRowContext(ctx, `SELECT array_agg(tz ORDER BY tz) FROM rollup_zones`).Scan(pq.Array(&zones)); err != nil ||
		slices.Contains(zones, "Mars/Olympus") || !slices.Contains(zones, "Europe/Berlin") {
		t.Fatalf("zones after the fold: %v %v", zones, err)
	}
	for _, r := range reportRows(t, s, url.Values{"from": {"2026-11-01"}, "to": {"2026-12-01"}, "tz": {"Europe/Berlin"}}) {
		if r.Approved.Big().Cmp(want) != 0 {
			t.Fatalf("daily rollups: approved %s, want %s", r.Approved, want)
		}
	}
	// A statement over the ledger: two conversions at the ceiling.
	lines, err := s.Statement(ctx, "p", base)
	if err != nil || len(lines) != 1 || lines[0].Approved.In("USD") != "20000000000.00" {
		t.Fatalf("statement = %+v %v", lines, err)
	}
}

// A value Postgres refuses is poison: its error, wrapped on its way out
// of the store, is still classed Unprocessable (dead-letter), never
// retried; a click that only a stale cache made fail is not poison.
func TestRefusedValuesArePoison(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	for name, mutate := range map[string]func(*postgres.Click){
		// An index row too large (54000): what an 8 KB placement did
		// before events.Validate and the placement slots.
		"8 KB code": func(c *postgres.Click) { c.Code = incompressible(8192) },
		// A NUL byte, which no Postgres text holds (22021).
		"NUL in the course": func(c *postgres.Click) { c.CourseID = "ml\x00101" },
	} {
		t.Run(name, func(t *testing.T) {
			clicks := genClicks(3, 0, 3, time.Minute)
			mutate(&clicks[1])
			err := database.Classify(s.IngestClicks(ctx, clicks))
			if errs.Decide(err) != errs.DeadLetter {
				t.Fatalf("err = %v, want poison", err)
			}
			t.Logf("refused: %v", err)
			// Each part without it is a batch of its own.
			for _, part := range [][]postgres.Click{clicks[:1], clicks[2:], clicks[:1]} {
				if err := s.IngestClicks(ctx, part); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	if n := count(t, s.DB(), `SELECT count(*) FROM clicks`); n != 2 {
		t.Fatalf("%d clicks stored, want the 2 good ones", n)
	}
	verify(t, s)
}

// incompressible is n bytes Postgres cannot compress into an index row.
func incompressible(n int) string {
	var b strings.Builder
	for x := uint64(1); b.Len() < n; x = x*6364136223846793005 + 1442695040888963407 {
		fmt.Fprintf(&b, "%016x", x)
	}
	return b.String()[:n]
}

// Any part of a batch, in any order, redelivered or not, gives what the
// whole batch gives: a consumer halving a batch to find its poison
// stores the rest exactly once. Here a conversion's events are split
// across parts and arrive before their clicks.
func TestAnyPartOfABatchIsABatch(t *testing.T) {
	t.Parallel()
	clicks := genClicks(400, 0, 8, time.Minute)
	var convs []postgres.ConversionEvent
	for i, c := range genConversions(80, 0, 400, 8, time.Minute) {
		convs = append(convs, c)
		later := c
		later.ID, later.Status, later.OccurredAt = c.ID+"-later", []string{"approved", "reversed"}[i%2], c.OccurredAt.Add(time.Hour)
		convs = append(convs, later)
	}
	whole := newStore(t)
	ctx := context.Background()
	if err := whole.IngestClicks(ctx, clicks); err != nil {
		t.Fatal(err)
	}
	if err := whole.IngestConversions(ctx, convs); err != nil {
		t.Fatal(err)
	}
	halved := newStore(t)
	for _, part := range [][]postgres.ConversionEvent{convs[80:], convs[:40], convs[40:80], convs[:80]} {
		if err := halved.IngestConversions(ctx, part); err != nil {
			t.Fatal(err)
		}
	}
	for _, part := range [][]postgres.Click{clicks[200:], clicks[:100], clicks[:200], clicks[100:300]} {
		if err := halved.IngestClicks(ctx, part); err != nil {
			t.Fatal(err)
		}
	}
	v := url.Values{"from": {"2026-11-01"}, "to": {"2026-12-01"}, "group_by": {"partner,link,placement"}}
	if a, b := fmt.Sprint(reportRows(t, whole, v)), fmt.Sprint(reportRows(t, halved, v)); a != b {
		t.Fatalf("whole batch:\n%s\nin parts:\n%s", a, b)
	}
	verify(t, whole)
	verify(t, halved)
}

// A link has rollup rows for at most MaxPlacements placements a UTC day;
// the rest of its clicks, and the conversions attributed to them, count
// as "other". Totals are exact, redelivery changes nothing, and two
// replicas admitting at once still admit no more than the cap.
func TestPlacementsAreCapped(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	replica := postgres.New(s.DB(), nil)
	ctx := context.Background()
	const distinct = 4 * postgres.MaxPlacements
	var clicks []postgres.Click
	for i := range 2 * distinct {
		c := genClicks(1, i, 1, time.Minute)[0]
		c.Code, c.Partner, c.CourseID = "busy", "p", "course"
		c.OccurredAt = base.Add(time.Duration(i%distinct) * time.Second)
		c.Placement = fmt.Sprintf("p-%03d", i%distinct)
		clicks = append(clicks, c)
	}
	// A quiet link the same day keeps its own placement.
	quiet := genClicks(1, 10000, 1, time.Minute)[0]
	quiet.Code, quiet.Placement = "quiet", "hero"
	clicks = append(clicks, quiet)
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for i, st := range []*postgres.Store{s, replica, s, replica} {
		part := clicks[i*len(clicks)/4 : (i+1)*len(clicks)/4]
		wg.Add(1)
		go func() { defer wg.Done(); errc <- st.IngestClicks(ctx, part) }()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.IngestClicks(ctx, clicks[:100]); err != nil { // redelivered
		t.Fatal(err)
	}
	// A conversion of a click counted as other is other too.
	var folded string
	if err := s.DB().QueryRow(`SELECT id FROM clicks WHERE code = 'busy' AND placement = 'other' LIMIT 1`).Scan(&folded); err != nil {
		t.Fatal(err)
	}
	if err := s.IngestConversions(ctx, []postgres.ConversionEvent{{Event: ledger.Event{ID: "e-other", ClickID: folded,
		Status: ledger.StatusPending, Sale: 100, Commission: 10, Currency: "USD", OccurredAt: base.Add(time.Hour)},
		Partner: "p", OrderID: "o-other", Source: "webhook", RecordedAt: base}}); err != nil {
		t.Fatal(err)
	}
	rows := reportRows(t, s, url.Values{"from": {"2026-11-01"}, "to": {"2026-12-01"}, "group_by": {"link,placement"}})
	named, total := 0, int64(0)
	for key, r := range rows {
		if strings.HasPrefix(key, "busy/p-") {
			named++
			if r.Clicks+r.BotClicks != 2 {
				t.Errorf("%s: %d clicks, want 2", key, r.Clicks+r.BotClicks)
			}
		}
		if strings.HasPrefix(key, "busy/") {
			total += r.Clicks + r.BotClicks
		}
	}
	other := rows["busy/other/USD"]
	if named != postgres.MaxPlacements || total != 2*distinct || other.Conversions != 1 || other.Pending.In("USD") != "0.10" {
		t.Fatalf("%d named placements (want %d), %d clicks (want %d), other = %+v", named, postgres.MaxPlacements, total, 2*distinct, other)
	}
	if _, ok := rows["quiet/hero/"]; !ok {
		t.Fatalf("the quiet link lost its placement: %v", rows)
	}
	if n := count(t, s.DB(), `SELECT count(*) FROM rollup_keys WHERE code = 'busy'`); n > postgres.MaxPlacements+2 {
		t.Fatalf("%d rollup keys for the busy link", n)
	}
	verify(t, s)

	// The next day starts with free slots again.
	next := genClicks(1, 20000, 1, time.Minute)[0]
	next.Code, next.Partner, next.CourseID, next.Placement = "busy", "p", "course", "p-199"
	next.OccurredAt = base.AddDate(0, 0, 1)
	if err := s.IngestClicks(ctx, []postgres.Click{next}); err != nil {
		t.Fatal(err)
	}
	if _, ok := reportRows(t, s, url.Values{"from": {"2026-11-02"}, "to": {"2026-11-03"}, "group_by": {"placement"}})["p-199/"]; !ok {
		t.Fatal("p-199 has no row of its own on a new day")
	}
}

// The store's caches keyed by input stay within their bounds whatever
// the input: here more distinct rollup keys and link-days than they hold.
func TestCachesAreBounded(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	// The real sizes hold a catalog's day; smaller ones are overflowed by
	// a few thousand clicks, through the same code.
	boundKeys, boundSlots := s.ShrinkCaches(8192, 1024)
	ctx := context.Background()
	n := boundKeys + 5000
	for off := 0; off < n; off += 10000 {
		batch := genClicks(min(10000, n-off), off, n, time.Second)
		for i := range batch {
			// A link and a placement per click, over 40 days.
			j := off + i
			batch[i].Code, batch[i].Placement = fmt.Sprintf("l%d", j), "x"
			batch[i].OccurredAt = base.Add(time.Duration(j%40) * 24 * time.Hour)
		}
		if err := s.IngestClicks(ctx, batch); err != nil {
			t.Fatal(err)
		}
		keys, slots := s.CacheSizes()
		if keys > boundKeys || slots > boundSlots {
			t.Fatalf("after %d clicks: %d keys (bound %d), %d link-days (bound %d)", off+len(batch), keys,
				boundKeys, slots, boundSlots)
		}
	}
	if got := count(t, s.DB(), `SELECT count(*) FROM rollup_keys`); got != int64(n) {
		t.Fatalf("%d rollup keys, want %d", got, n)
	}
	verify(t, s)
}

// Clicks carry nanoseconds (the redirect stamps them with its clock);
// Postgres keeps microseconds. A redelivered batch that also holds new
// clicks counts every new click once: the new ones are told apart by
// Postgres, not by comparing times in Go. Whether the batch holds a click
// twice (then the staging table decides) or not (then a probe of the
// stored ones does), and at the half microsecond where rounding turns.
func TestRedeliveryWithNanoseconds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		batch func([]postgres.Click) []postgres.Click
	}{
		{"every click once", func(c []postgres.Click) []postgres.Click { return c }},
		{"some clicks twice", func(c []postgres.Click) []postgres.Click {
			return append(append([]postgres.Click{}, c...), c[1500:]...)
		}},
		{"stored ones only", func(c []postgres.Click) []postgres.Click { return c[100:400] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			clicks := genClicks(2000, 0, 10, time.Second)
			for i := range clicks {
				clicks[i].OccurredAt = clicks[i].OccurredAt.Add(time.Duration(i%1000)*time.Nanosecond + []time.Duration{123, 499, 500, 501}[i%4])
			}
			if err := s.IngestClicks(ctx, clicks[:500]); err != nil {
				t.Fatal(err)
			}
			batch := tc.batch(clicks)
			if err := s.IngestClicks(ctx, batch); err != nil {
				t.Fatal(err)
			}
			want := int64(500)
			if len(batch) > 500 {
				want = 2000
			}
			if n := count(t, s.DB(), `SELECT sum(clicks + bot_clicks) FROM click_rollup_deltas`); n != want {
				t.Fatalf("rollups count %d clicks, want %d", n, want)
			}
			if n := count(t, s.DB(), `SELECT count(*) FROM clicks`); n != want {
				t.Fatalf("%d clicks stored, want %d", n, want)
			}
			verify(t, s)
		})
	}
}

// Consumers of one process take turns at their COPYs (the copy gate),
// and consumers of two processes do not share one: overlapping batches
// handed to both at once, as a rebalance can, are each stored and
// counted once.
func TestOverlappingBatchesAcrossConsumersAndReplicas(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	replica := postgres.New(s.DB(), nil)
	ctx := context.Background()
	clicks := genClicks(3000, 0, 50, time.Second)
	var wg sync.WaitGroup
	errc := make(chan error, 6)
	for i, st := range []*postgres.Store{s, s, s, replica, replica, replica} {
		// Each batch holds two thirds of the clicks, starting at another third.
		from := (i % 3) * 1000
		batch := append(append([]postgres.Click{}, clicks[from:]...), clicks[:from]...)[:2000]
		wg.Add(1)
		go func() { defer wg.Done(); errc <- st.IngestClicks(ctx, batch) }()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	var stored int
	if err := s.DB().QueryRow(`SELECT count(*) FROM clicks`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != len(clicks) {
		t.Errorf("%d clicks stored, want %d", stored, len(clicks))
	}
	var counted int64
	for _, r := range reportRows(t, s, url.Values{"from": {"2026-11-01"}, "to": {"2026-12-01"}, "group_by": {"link"}}) {
		counted += r.Clicks + r.BotClicks
	}
	if counted != int64(len(clicks)) {
		t.Errorf("reports count %d clicks, want %d", counted, len(clicks))
	}
}
