package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// importSettlement stores a partner's settlement report for month and
// compares it with the ledger: every order of the report against the
// conversion of the same order id, and every conversion purchased in the
// month that the report leaves out. It runs in tx (an apply's, or a
// replay's) and journals the import (KindSettlementImport) as recorded at
// at by actor.
func importSettlement(ctx context.Context, tx *sql.Tx, partner string, month time.Time, zone *time.Location, lines []payout.Line, at time.Time,
	actor string) (int64, []payout.Difference, error) {
	month = monthOf(month)
	var id int64
	var diffs []payout.Difference
	err := func() error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO settlement_imports (partner, month, lines, created_at) VALUES ($1, $2::date, $3, $4)
			RETURNING id`, partner, month.Format(time.DateOnly), len(lines), at.UTC()).Scan(&id); err != nil {
			return err
		}
		if err := journal(ctx, tx, KindSettlementImport, at, actor, settlementPayload{Partner: partner,
			Month: month.Format(time.DateOnly), Lines: lines}); err != nil {
			return err
		}
		var ln []int64
		var order, currency, status []string
		var commission []int64
		for _, l := range lines {
			ln = append(ln, int64(l.Line))
			order = append(order, l.OrderID)
			commission = append(commission, l.Commission)
			currency = append(currency, l.Currency)
			status = append(status, l.Status)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settlement_lines (import_id, line, order_id, commission_minor, currency, status)
			SELECT $1, l, o, c, cur, st FROM unnest($2::int[], $3::text[], $4::bigint[], $5::text[], $6::text[]) AS t(l, o, c, cur, st)`,
			id, pq.Array(ln), pq.Array(order), pq.Array(commission), pq.Array(currency), pq.Array(status)); err != nil {
			return err
		}
		// The lines just stored, compared as CompareSettlement compares them.
		var err error
		diffs, err = compareSettlement(ctx, tx, partner, month, zone, lines)
		return err
	}()
	if err != nil {
		return 0, nil, fmt.Errorf("import settlement: %w", err)
	}
	return id, diffs, nil
}

// Reconciliation compares every partner's remittances with the ledger
// through the end of month, cut in the finance time zone. Its money is as
// of the month's end; unpaid_conversions counts the conversions whose
// approval counts in that money (approved by the month's end, by the
// ledger's own entries, as expected counts them) and that are approved
// and not paid in full now: what is still open of what the month
// expected, which later remittances lower. It counted every conversion
// of the partner, later months' too (a finance review saw October's
// count rise with a December approval). Paid as of the month's end would
// need remittances allocated again as they stood then (oldest purchase
// first, named orders before): a remittance is applied when recorded.
func (s *Store) Reconciliation(ctx context.Context, month time.Time) ([]payout.ReconciliationLine, error) {
	from, to := report.MonthBounds(month, s.FinanceZone())
	rows, err := s.db.QueryContext(ctx, `
		WITH l AS (
			SELECT e.partner, e.currency,
				coalesce(sum(e.amount_minor) FILTER (WHERE e.account IN ('receivable_approved', 'unapplied_remittances')
					AND t.kind = 'conversion'), 0) AS expected,
				coalesce(sum(e.amount_minor) FILTER (WHERE e.account IN ('receivable_approved', 'unapplied_remittances')
					AND t.kind = 'conversion' AND e.effective_at >= $1), 0) AS month_approved
			FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.txn_id
			WHERE e.effective_at < $2 GROUP BY 1, 2
		), r AS (
			SELECT partner, currency, sum(amount_minor) AS remitted,
				coalesce(sum(amount_minor) FILTER (WHERE received_at >= $1), 0) AS month_remitted
			FROM remittances WHERE received_at < $2 GROUP BY 1, 2
		), owed AS (
			SELECT e.partner, e.currency, e.order_id FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.txn_id
			WHERE t.kind = 'conversion' AND e.account IN ('receivable_approved', 'unapplied_remittances') AND e.effective_at < $2
			GROUP BY 1, 2, 3 HAVING sum(e.amount_minor) > 0
		), u AS (
			-- Counted in the currency the month expected it in, whatever
			-- the conversion's currency is now.
			SELECT o.partner, o.currency, count(*) AS unpaid FROM owed o JOIN conversions c USING (partner, order_id)
			WHERE c.status = 'approved' AND c.paid_minor < c.commission_minor GROUP BY 1, 2
		)
		SELECT partner, currency, coalesce(l.expected, 0), coalesce(r.remitted, 0), coalesce(l.month_approved, 0),
			coalesce(r.month_remitted, 0), coalesce(u.unpaid, 0)
		FROM l FULL JOIN r USING (partner, currency) LEFT JOIN u USING (partner, currency)
		ORDER BY 1, 2`, from, to)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("reconciliation: %w", err))
	}
	defer rows.Close()
	var out []payout.ReconciliationLine
	for rows.Next() {
		var l payout.ReconciliationLine
		if err := rows.Scan(&l.Partner, &l.Currency, &l.Expected, &l.Remitted, &l.MonthApproved, &l.MonthRemitted, &l.Unpaid); err != nil {
			return nil, err
		}
		l.Difference = l.Remitted.Sub(l.Expected)
		out = append(out, l)
	}
	return out, rows.Err()
}
