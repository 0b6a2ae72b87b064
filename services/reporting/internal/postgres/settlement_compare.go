package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// compareSettlementSQL is importSettlement's comparison over lines given
// as arrays instead of stored ones: $1 partner, $2 and $8 the month's
// first instant and the next month's in the finance zone (as statements
// and reconciliation cut months; the database session's zone, UTC, cut
// them before: a check of times), $3..$7 the lines.
// Each difference comes with the ledger's and the line's sides as text,
// and, where they hold money, its minor units and currency for
// settlementMoney to write as decimals. A reversed line of 0.00 matches a
// reversed conversion whatever it had carried, as the ledger reads such
// a reversal (ledger.State.reversedAmounts): it takes back what there was.
const compareSettlementSQL = `
	WITH l AS (SELECT * FROM unnest($3::int[], $4::text[], $5::bigint[], $6::text[], $7::text[])
			AS t(line, order_id, commission_minor, currency, status)),
	c AS (SELECT * FROM conversions WHERE partner = $1)
	SELECT l.order_id, l.line, 'duplicate', '', 'line ' || l.line || ' repeats order ' || l.order_id, NULL::bigint, NULL::bigint, NULL::text FROM l
		WHERE EXISTS (SELECT 1 FROM l AS e WHERE e.order_id = l.order_id AND e.line < l.line)
	UNION ALL
	SELECT l.order_id, l.line, 'missing_in_ledger', '', l.status, NULL, l.commission_minor, l.currency
		FROM l WHERE NOT EXISTS (SELECT 1 FROM c WHERE c.order_id = l.order_id)
	UNION ALL
	SELECT c.order_id, 0, 'missing_in_settlement', c.status, '', c.commission_minor, NULL, c.currency
		FROM c WHERE c.purchased_at >= $2 AND c.purchased_at < $8
		AND NOT EXISTS (SELECT 1 FROM l WHERE l.order_id = c.order_id)
	UNION ALL
	SELECT l.order_id, l.line, 'currency', c.currency, l.currency, NULL, NULL, NULL FROM l JOIN c USING (order_id) WHERE c.currency <> l.currency
	UNION ALL
	SELECT l.order_id, l.line, 'status', c.status, l.status, NULL, NULL, NULL FROM l JOIN c USING (order_id) WHERE c.status <> l.status
	UNION ALL
	SELECT l.order_id, l.line, 'commission', '', '', c.commission_minor, l.commission_minor, c.currency
		FROM l JOIN c USING (order_id) WHERE c.currency = l.currency AND c.commission_minor <> l.commission_minor
			AND NOT (l.status = 'reversed' AND c.status = 'reversed' AND l.commission_minor = 0)
	ORDER BY 2, 1, 3`

// settlementMoney appends the decimal amount of minor units in currency
// to a side's text ("approved" becomes "approved 12.34 USD"); a side
// without money is left as it is.
func settlementMoney(text string, minor sql.NullInt64, currency string) string {
	if !minor.Valid {
		return text
	}
	return strings.TrimSpace(text + " " + money.Amount{Minor: minor.Int64, Currency: currency}.String() + " " + currency)
}

// CompareSettlement is a dry run of importSettlement: the same
// differences between a partner's settlement lines and the ledger for
// month, with nothing stored.
func (s *Store) CompareSettlement(ctx context.Context, partner string, month time.Time, lines []payout.Line) ([]payout.Difference, error) {
	diffs, err := compareSettlement(ctx, s.db, partner, month, s.FinanceZone(), lines)
	return diffs, database.Classify(err)
}

// compareSettlement is CompareSettlement through q (the store's pool, or
// a transaction that sees its own changes).
func compareSettlement(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, partner string, month time.Time, zone *time.Location, lines []payout.Line) ([]payout.Difference, error) {
	start, end := report.MonthBounds(monthOf(month), zone)
	ln, order, commission, currency, status := make([]int64, len(lines)), make([]string, len(lines)),
		make([]int64, len(lines)), make([]string, len(lines)), make([]string, len(lines))
	for i, l := range lines {
		ln[i], order[i], commission[i], currency[i], status[i] = int64(l.Line), l.OrderID, l.Commission, l.Currency, l.Status
	}
	rows, err := q.QueryContext(ctx, compareSettlementSQL, partner, start.UTC(),
		pq.Array(ln), pq.Array(order), pq.Array(commission), pq.Array(currency), pq.Array(status), end.UTC())
	if err != nil {
		return nil, fmt.Errorf("compare settlement: %w", err)
	}
	defer rows.Close()
	var diffs []payout.Difference
	for rows.Next() {
		var d payout.Difference
		var ledgerMinor, partnerMinor sql.NullInt64
		var currency sql.NullString
		if err := rows.Scan(&d.OrderID, &d.Line, &d.Kind, &d.Ledger, &d.Partner, &ledgerMinor, &partnerMinor, &currency); err != nil {
			return nil, fmt.Errorf("compare settlement: %w", err)
		}
		d.Ledger = settlementMoney(d.Ledger, ledgerMinor, currency.String)
		d.Partner = settlementMoney(d.Partner, partnerMinor, currency.String)
		diffs = append(diffs, d)
	}
	return diffs, rows.Err()
}
