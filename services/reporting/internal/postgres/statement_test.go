package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
)

// Payout statements are a function of the events (ordered by occurred_at,
// then acceptance), not of the order they arrived in nor of when
// remittances were applied between them; months closed stay as they were
// closed. The cases come from a review of ledger.Moves (2026-12-05).

var (
	stmtNow = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	stmtNov = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	stmtAt  = stmtNov.AddDate(0, 0, 17).Add(10 * time.Hour)
)

func stmtEvent(id, partner, order, status string, commission int64, occurred time.Time, seq int64, recorded time.Time) postgres.ConversionEvent {
	return postgres.ConversionEvent{
		Event: ledger.Event{ID: id, Status: status, Sale: 10 * commission, Commission: commission, Currency: "USD",
			OccurredAt: occurred, AcceptedSeq: seq},
		Partner: partner, OrderID: order, Source: "webhook", RecordedAt: recorded,
	}
}

func ingestEach(t *testing.T, s *postgres.Store, evs ...postgres.ConversionEvent) {
	t.Helper()
	for _, e := range evs {
		if err := s.IngestConversions(context.Background(), []postgres.ConversionEvent{e}); err != nil {
			t.Fatal(err)
		}
	}
}

func remitUSD(t *testing.T, s *postgres.Store, partner string, amount int64, ref string, received time.Time) {
	t.Helper()
	if _, _, err := s.AddRemittance(context.Background(), payout.Remittance{Partner: partner, Amount: amount, Currency: "USD",
		ReceivedAt: received, Reference: ref}, "test"); err != nil {
		t.Fatal(err)
	}
}

// statementText is a partner's statement for month, one line per currency.
func statementText(t *testing.T, s *postgres.Store, partner string, month time.Time) string {
	t.Helper()
	ls, err := s.Statement(context.Background(), partner, month)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%s open=%s close=%s approved=%s reversed=%s remitted=%s adj=%s n=%d; ", l.Currency, l.Opening, l.Closing,
			l.Approved, l.Reversed, l.Remitted, l.Adjustments, l.Conversions)
	}
	return b.String()
}

func TestStatementApprovedUndoneAtItsInstant(t *testing.T) {
	t.Parallel()
	s := newStoreAt(t, stmtNow)
	rec := stmtNow.Add(-time.Hour)
	received := stmtNov.AddDate(0, 0, 20)
	// Approved (accepted first) and pending (after) at one instant, with
	// a remittance paying the approval in between, in either order.
	ingestEach(t, s, stmtEvent("p1a", "p1", "O-8", "approved", 400, stmtAt, 1, rec))
	remitUSD(t, s, "p1", 400, "w1", received)
	ingestEach(t, s, stmtEvent("p1p", "p1", "O-8", "pending", 400, stmtAt, 2, rec))
	ingestEach(t, s, stmtEvent("p2p", "p2", "O-8", "pending", 400, stmtAt, 2, rec))
	remitUSD(t, s, "p2", 400, "w1", received)
	ingestEach(t, s, stmtEvent("p2a", "p2", "O-8", "approved", 400, stmtAt, 1, rec))
	// The same two in one batch, in acceptance order, for a partner that
	// holds unapplied remittance money (allocated between the rounds).
	ingestEach(t, s, stmtEvent("p3x", "p3", "O-0", "pending", 100, stmtAt, 1, rec))
	remitUSD(t, s, "p3", 400, "prepaid", received)
	if err := s.IngestConversions(context.Background(), []postgres.ConversionEvent{
		stmtEvent("p3a", "p3", "O-8", "approved", 400, stmtAt, 1, rec), stmtEvent("p3p", "p3", "O-8", "pending", 400, stmtAt, 2, rec)}); err != nil {
		t.Fatal(err)
	}
	verify(t, s)
	p1, p2 := statementText(t, s, "p1", stmtNov), statementText(t, s, "p2", stmtNov)
	if p1 != p2 {
		t.Fatalf("the same events, another arrival order:\n%s\n%s", p1, p2)
	}
	for _, p := range []string{"p1", "p3"} {
		if got := statementText(t, s, p, stmtNov); !strings.Contains(got, "approved=0 ") {
			t.Errorf("%s: an approval undone at its instant counted: %s", p, got)
		}
	}
}

// A settlement line that reverses an approved conversion, dated before the
// approval, takes effect just after it: the statement shows the approval
// and its reversal, as when the same reversal comes later by webhook.
func TestStatementSettlementReversalAfterApproval(t *testing.T) {
	t.Parallel()
	s := newStoreAt(t, stmtNow)
	rec := stmtNow.Add(-time.Hour)
	for _, p := range []string{"bysettlement", "bywebhook"} {
		ingestEach(t, s, stmtEvent(p+"p", p, "O-1", "pending", 400, stmtAt.Add(-48*time.Hour), 1, rec),
			stmtEvent(p+"a", p, "O-1", "approved", 400, stmtAt, 2, rec))
	}
	if _, _, _, _, err := s.ApplySettlement(context.Background(), payout.SettlementFile{Partner: "bysettlement", Month: stmtNov,
		Digest: strings.Repeat("ab", 32), FileName: "f.csv", Format: "csv",
		Lines: []payout.Line{{Line: 2, OrderID: "O-1", Commission: 400, Currency: "USD", Status: "reversed", Date: stmtNov.AddDate(0, 0, 9)}}}, "test"); err != nil {
		t.Fatal(err)
	}
	ingestEach(t, s, stmtEvent("bywebhookr", "bywebhook", "O-1", "reversed", 400, stmtAt.Add(7*24*time.Hour), 3, rec))
	verify(t, s)
	settled, reversed := statementText(t, s, "bysettlement", stmtNov), statementText(t, s, "bywebhook", stmtNov)
	if settled != reversed || !strings.Contains(settled, "approved=400 reversed=400 ") {
		t.Fatalf("reversed by settlement: %s\nby webhook:             %s", settled, reversed)
	}
}

// A partner that reverses with 0.00 (the conversion's money now nothing)
// takes back what it had approved: the statement shows it reversed, as
// when the reversal names the amount, and the report's reversed column
// carries it (a finance review found approved 0.00 beside reversed 0.00
// while the balance fell by the approval).
func TestStatementReversalOfNothingReversesTheApproval(t *testing.T) {
	t.Parallel()
	s := newStoreAt(t, stmtNow)
	rec := stmtNow.Add(-time.Hour)
	for _, p := range []string{"named", "zero"} {
		amount := int64(400)
		if p == "zero" {
			amount = 0
		}
		ingestEach(t, s, stmtEvent(p+"a", p, "O-1", "approved", 400, stmtAt, 1, rec),
			stmtEvent(p+"r", p, "O-1", "reversed", amount, stmtAt.Add(24*time.Hour), 2, rec))
	}
	verify(t, s)
	named, zero := statementText(t, s, "named", stmtNov), statementText(t, s, "zero", stmtNov)
	if named != zero || !strings.Contains(zero, "approved=400 reversed=400 ") {
		t.Fatalf("reversed naming the amount: %s\nreversed with 0.00:        %s", named, zero)
	}
}

// Entries posted before statements netted per moment (migration 0022) are
// read as they were, so a month closed before keeps its statement; later
// ones are netted.
func TestStatementKeepsTheOldReadingOfOldEntries(t *testing.T) {
	t.Parallel()
	s := newStoreAt(t, stmtNow)
	rec := stmtNow.Add(-time.Hour)
	ingestEach(t, s, stmtEvent("oa", "q", "O-8", "approved", 400, stmtAt, 1, rec), stmtEvent("op", "q", "O-8", "pending", 400, stmtAt, 2, rec))
	// As if the migration had run now, after these transactions.
	for _, q := range []string{`ALTER TABLE statement_netting DISABLE TRIGGER USER`,
		`UPDATE statement_netting SET after_txn = (SELECT max(id) FROM ledger_transactions)`,
		`ALTER TABLE statement_netting ENABLE TRIGGER USER`} {
		if _, err := s.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if got := statementText(t, s, "q", stmtNov); !strings.Contains(got, "approved=400 ") {
		t.Fatalf("the old entries read anew: %s", got)
	}
	ingestEach(t, s, stmtEvent("na", "q", "O-9", "approved", 500, stmtAt, 3, rec), stmtEvent("np", "q", "O-9", "pending", 500, stmtAt, 4, rec))
	if got := statementText(t, s, "q", stmtNov); !strings.Contains(got, "approved=400 ") {
		t.Fatalf("new entries not netted: %s", got)
	}
	if _, err := s.DB().Exec(`UPDATE statement_netting SET after_txn = 0`); err == nil {
		t.Fatal("statement_netting can be changed")
	}
}

// Late events in any order and batching, with remittances between them,
// leave the statements of closed months as they were closed.
func TestStatementOfClosedMonthsStaysFrozen(t *testing.T) {
	t.Parallel()
	for seed := range 5 {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { closedMonthsStayFrozen(t, uint64(seed)) })
	}
}

func closedMonthsStayFrozen(t *testing.T, seed uint64) {
	s := newStoreAt(t, stmtNow)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 9))
	oct := stmtNov.AddDate(0, -1, 0)
	statuses := []string{"pending", "approved", "reversed"}
	closeAt := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	var early, late []postgres.ConversionEvent
	for c := range 40 {
		for i := range 1 + rng.IntN(5) {
			occurred := oct.Add(time.Duration(rng.IntN(24*80)) * time.Hour) // October to mid-December
			e := stmtEvent(fmt.Sprintf("c%d_%d", c, i), "pp", fmt.Sprintf("O-%d", c), statuses[rng.IntN(3)],
				int64(100*(1+rng.IntN(5))), occurred, int64(1+rng.IntN(3)), time.Time{})
			if rng.IntN(2) == 0 {
				e.RecordedAt = closeAt.Add(-time.Duration(1+rng.IntN(1000)) * time.Minute)
				early = append(early, e)
			} else {
				e.RecordedAt = closeAt.Add(time.Duration(1+rng.IntN(1000)) * time.Minute)
				late = append(late, e)
			}
		}
	}
	rng.Shuffle(len(early), func(i, j int) { early[i], early[j] = early[j], early[i] })
	rng.Shuffle(len(late), func(i, j int) { late[i], late[j] = late[j], late[i] })
	ingestEach(t, s, early...)
	remitUSD(t, s, "pp", 700, "w1", stmtNov.AddDate(0, 0, 20))
	for _, m := range []time.Time{oct, stmtNov} {
		if _, err := s.ClosePeriod(ctx, m, closeAt, "test"); err != nil {
			t.Fatal(err)
		}
	}
	wantOct, wantNov := statementText(t, s, "pp", oct), statementText(t, s, "pp", stmtNov)
	for i := 0; i < len(late); {
		k := min(len(late), i+1+rng.IntN(4))
		if err := s.IngestConversions(ctx, late[i:k]); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(5) == 0 {
			remitUSD(t, s, "pp", int64(100*(1+rng.IntN(5))), fmt.Sprint("r", i), stmtNow.Add(-time.Hour))
		}
		i = k
	}
	verify(t, s)
	if got := statementText(t, s, "pp", oct); got != wantOct {
		t.Fatalf("October changed:\n%s\n%s", wantOct, got)
	}
	if got := statementText(t, s, "pp", stmtNov); got != wantNov {
		t.Fatalf("November changed:\n%s\n%s", wantNov, got)
	}
}
