package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
)

// Issue 11 item 5: `reporting verify` proves itself. A small ledger
// (October closed, November open) is corrupted in each way verify guards
// against, one at a time and then all together; verify exits non-zero
// and names each. The ledger and the journal refuse UPDATE, DELETE and
// TRUNCATE.
func TestVerifyNamesEachCorruption(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	october := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	november := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	dbURL := migratedDatabaseURL(t)
	url, err := postgres.WithSchema(dbURL, postgres.Schema)
	if err != nil {
		t.Fatal(err)
	}
	db, err := database.Open(url, database.Pool{MaxOpen: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := database.Migrate(ctx, db, postgres.Schema, postgres.Migrations()); err != nil {
		t.Fatal(err)
	}
	s := postgres.New(db, clock.Fixed(now))
	var clicks []postgres.Click
	var convs []postgres.ConversionEvent
	for i, m := range []time.Time{october, november} {
		for j := 0; j < 3; j++ {
			id := fmt.Sprintf("c%d%d", i, j)
			at := m.AddDate(0, 0, 5+j).Add(10 * time.Hour)
			clicks = append(clicks, postgres.Click{ClickRecorded: events.ClickRecorded{
				Header:     events.Header{ID: id, Type: events.TypeClickRecorded, SchemaVersion: 1},
				OccurredAt: at, Code: "ml", Partner: "p", CourseID: "ml-101", Unique: true}, RecordedAt: at})
			convs = append(convs, postgres.ConversionEvent{Event: ledger.Event{ID: "e" + id, ClickID: id, Status: ledger.StatusApproved,
				Sale: 1000, Commission: 100, Currency: "USD", OccurredAt: at.Add(time.Minute)}, Partner: "p", OrderID: "O-" + id,
				Source: "webhook", RecordedAt: at.Add(time.Minute)})
		}
	}
	if err := s.IngestClicks(ctx, clicks); err != nil {
		t.Fatal(err)
	}
	if err := s.IngestConversions(ctx, convs); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddRemittance(ctx, payout.Remittance{Partner: "p", Amount: 150, Currency: "USD", ReceivedAt: now, Reference: "w"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompactRollups(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClosePeriod(ctx, october, now, "test"); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return dbURL
		}
		return ""
	}
	verify := func() (string, error) {
		var out bytes.Buffer
		err := run(ctx, clock.Fixed(now), []string{"verify"}, getenv, &out, &out)
		return out.String(), err
	}
	if out, err := verify(); err != nil {
		t.Fatalf("verify of a sound ledger: %v\n%s", err, out)
	}

	var someTxn int64
	if err := db.QueryRow(`SELECT min(id) FROM ledger_transactions WHERE kind = 'conversion'`).Scan(&someTxn); err != nil {
		t.Fatal(err)
	}
	corruptions := []struct {
		name  string
		sql   []string
		names string // what verify's output must say
	}{
		{"an unbalanced transaction", []string{fmt.Sprintf(`INSERT INTO ledger_entries (txn_id, account, partner, order_id, currency, amount_minor, effective_at)
			SELECT id, 'cash', partner, order_id, 'USD', 7, effective_at FROM ledger_transactions WHERE id = %d`, someTxn)},
			fmt.Sprintf("transaction %d does not balance in USD: off by 7", someTxn)},
		{"a posting to a missing conversion", []string{`WITH t AS (INSERT INTO ledger_transactions (kind, partner, order_id, effective_at, description)
				VALUES ('conversion', 'p', 'GHOST-1', now(), 'forged') RETURNING id, effective_at)
			INSERT INTO ledger_entries (txn_id, account, partner, order_id, currency, amount_minor, effective_at)
			SELECT id, a, 'p', 'GHOST-1', 'USD', x, effective_at FROM t,
				(VALUES ('commission_revenue', -500), ('receivable_approved', 500)) AS v(a, x)`},
			"posts to missing conversion p/GHOST-1"},
		{"a rollup that disagrees with the ledger", []string{`UPDATE conversion_rollups SET approved_minor = approved_minor + 3
			WHERE ctid = (SELECT ctid FROM conversion_rollups WHERE bucket >= '2026-11-01' AND approved_minor > 0 LIMIT 1)`},
			"conversion rollups against conversions: USD differs"},
		// A click moved out of October into November: every total still
		// adds up, only the closed month changed.
		{"a changed closed-month figure", []string{
			`UPDATE click_rollups SET clicks = clicks - 1 WHERE ctid = (SELECT ctid FROM click_rollups WHERE bucket < '2026-11-01' AND clicks > 0 LIMIT 1)`,
			`UPDATE click_rollups SET clicks = clicks + 1 WHERE ctid = (SELECT ctid FROM click_rollups WHERE bucket >= '2026-11-01' AND clicks > 0 LIMIT 1)`},
			"closed month figures against those it closed with: 2026-10 (UTC) differs"},
	}
	var all []string
	for _, c := range corruptions {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range c.sql {
			if _, err := tx.Exec(q); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		out, err := verify()
		if err == nil || !strings.Contains(out, c.names) {
			t.Errorf("after %s: verify = %v\n%s\nwant it to fail naming %q", c.name, err, out, c.names)
		}
		all = append(all, c.names)
	}
	// All four at once: each named.
	out, err := verify()
	if err == nil {
		t.Fatalf("verify passed a corrupt ledger:\n%s", out)
	}
	for _, want := range all {
		if !strings.Contains(out, want) {
			t.Errorf("verify with every corruption does not name %q:\n%s", want, out)
		}
	}

	for _, table := range []string{"ledger_transactions", "ledger_entries", "finance_journal"} {
		for _, q := range []string{`UPDATE ` + table + ` SET id = id`, `DELETE FROM ` + table, `TRUNCATE ` + table + ` CASCADE`} {
			_, err := db.Exec(q)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v, want it refused", q, err)
			}
		}
	}
}
