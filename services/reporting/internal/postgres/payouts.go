package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// AddRemittance records a remittance, posts it to the ledger and applies
// it to the partner's approved commission (the orders it names first,
// then oldest purchase first), as of the store's clock, and journals it
// (by actor). Named orders must have that much approved commission in
// the remittance's currency, else ErrUnknownOrder or
// ErrBeyondCommission (422). The same remittance again
// (same partner and reference) changes nothing and returns created false.
func (s *Store) AddRemittance(ctx context.Context, r payout.Remittance, actor string) (out payout.Remittance, created bool, err error) {
	at := s.now()
	err = database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		// The periods' lock: a month cannot close between the check and
		// the commit.
		if err := lockPeriods(ctx, tx); err != nil {
			return err
		}
		out, created, err = s.addRemittance(ctx, tx, r, at, actor, true)
		if err == nil && created && len(r.Orders) > 0 {
			err = checkRemittanceOrders(ctx, tx, out)
		}
		return err
	})
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) {
			return r, false, err
		}
		return r, false, database.Classify(fmt.Errorf("add remittance: %w", err))
	}
	return out, created, nil
}

// remittanceOpen refuses a remittance received in a month closed at
// instant at: it would change that month's statements, which are final
// once it closes (contract v1.1, "Closed months are frozen"), as a rate
// dated inside it would.
func (ps periods) remittanceOpen(r payout.Remittance, at time.Time) error {
	p, closed := ps.closedAt(r.ReceivedAt, at)
	if !closed {
		return nil
	}
	month := p.month.Format("2006-01")
	return errs.Newf(errs.Conflict, "period_closed",
		"received_at %s is inside %s, which is closed: its statements are final. Record it in an open month, or reopen the month (PUT /v1/periods/%s {\"status\":\"open\"}, admin)",
		r.ReceivedAt.UTC().Format(time.RFC3339), month, month)
}

// addRemittance records r as of instant at. Live (not a replay), a new
// remittance must be received in an open month; a retry of one recorded
// before its month closed is answered as it was, and a replay applies
// what passed then.
//
// A replay gives the remittance the id it had live (r.ID, from the
// journal; 0 for entries journaled before ids were), so that ids finance
// holds (a retry's answer, the list) name the same remittances after a
// rebuild, gaps included; the sequence then continues after the highest.
func (s *Store) addRemittance(ctx context.Context, tx *sql.Tx, r payout.Remittance, at time.Time, actor string, live bool) (payout.Remittance, bool, error) {
	id := sql.NullInt64{Int64: r.ID, Valid: !live && r.ID > 0}
	err := tx.QueryRowContext(ctx, `INSERT INTO remittances (id, partner, amount_minor, currency, received_at, reference, created_at)
		VALUES (coalesce($7, nextval(pg_get_serial_sequence('remittances', 'id'))), $1, $2, $3, $4, $5, $6)
		ON CONFLICT (partner, reference) DO NOTHING RETURNING id, created_at`,
		r.Partner, r.Amount, r.Currency, r.ReceivedAt.UTC(), r.Reference, at.UTC(), id).Scan(&r.ID, &r.CreatedAt)
	if err == nil && id.Valid {
		_, err = tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('remittances', 'id'), greatest($1, (SELECT max(id) FROM remittances)))`, id.Int64)
	}
	if errors.Is(err, sql.ErrNoRows) {
		var prev payout.Remittance
		if err := tx.QueryRowContext(ctx, `SELECT id, amount_minor, currency, received_at, created_at FROM remittances
			WHERE partner = $1 AND reference = $2`, r.Partner, r.Reference).Scan(&prev.ID, &prev.Amount,
			&prev.Currency, &prev.ReceivedAt, &prev.CreatedAt); err != nil {
			return r, false, err
		}
		if prev.Amount != r.Amount || prev.Currency != r.Currency || !prev.ReceivedAt.Equal(r.ReceivedAt) {
			return r, false, payout.ErrRemittanceConflict
		}
		if same, err := sameRemittanceOrders(ctx, tx, prev.ID, r.Orders); err != nil || !same {
			if err == nil {
				err = payout.ErrRemittanceConflict
			}
			return r, false, err
		}
		r.ID, r.CreatedAt = prev.ID, prev.CreatedAt
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	periods, err := loadPeriods(ctx, tx)
	if err != nil {
		return r, false, err
	}
	if live {
		if err := periods.remittanceOpen(r, at); err != nil {
			return r, false, err
		}
	}
	var txn int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO ledger_transactions (kind, partner, effective_at, description, created_at)
		VALUES ('remittance', $1, $2, $3, $4) RETURNING id`, r.Partner, r.ReceivedAt.UTC(),
		"remittance "+r.Reference, at.UTC()).Scan(&txn); err != nil {
		return r, false, err
	}
	for _, p := range ledger.Remittance(r.Currency, r.Amount) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_entries (txn_id, account, partner, currency, amount_minor, effective_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, txn, p.Account, r.Partner, p.Currency, p.Amount, r.ReceivedAt.UTC()); err != nil {
			return r, false, err
		}
	}
	if err := insertRemittanceOrders(ctx, tx, r); err != nil {
		return r, false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO payout_balances AS b (partner, currency, remitted_minor)
		VALUES ($1, $2, $3) ON CONFLICT (partner, currency) DO UPDATE SET remitted_minor = b.remitted_minor + $3`,
		r.Partner, r.Currency, r.Amount); err != nil {
		return r, false, err
	}
	if err := s.allocate(ctx, tx, periods, map[[2]string]bool{{r.Partner, r.Currency}: true}, at); err != nil {
		return r, false, err
	}
	if err := journal(ctx, tx, KindRemittance, at, actor, remittancePayload{ID: r.ID, Partner: r.Partner, AmountMinor: r.Amount,
		Currency: r.Currency, ReceivedAt: r.ReceivedAt.UTC(), Reference: r.Reference, Orders: r.Orders}); err != nil {
		return r, false, err
	}
	return r, true, nil
}

// statementSQL is a partner's ($1) statement lines for [$2, $3). Approved
// is what conversions' own entries moved into approved commission (the
// receivable, and the remittance money held against it), per conversion
// and moment: an approval is counted at the moment it took effect, and
// one that an event of the same moment undid is not, whatever was paid
// meanwhile (the entries of a moment follow the events' timeline,
// whatever order they arrived in: ledger.Moves). Entries of transactions
// posted before that (up to statement_netting.after_txn, migration 0022)
// are read as they were, each positive receivable entry alone, so the
// statements of months closed before stay as they were closed.
const statementSQL = `
		WITH moments AS (
			SELECT e.currency, sum(e.amount_minor) AS moved
			FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.txn_id
				CROSS JOIN statement_netting n
			WHERE e.partner = $1 AND e.effective_at >= $2 AND e.effective_at < $3 AND t.kind = 'conversion'
				AND (e.account = 'receivable_approved' OR e.account = 'unapplied_remittances' AND t.id > n.after_txn)
			GROUP BY e.currency, e.order_id, e.effective_at, CASE WHEN t.id <= n.after_txn THEN e.id END
		), approvals AS (
			SELECT currency, sum(moved) AS approved FROM moments WHERE moved > 0 GROUP BY currency
		), lines AS (
			SELECT e.currency,
				coalesce(sum(e.amount_minor) FILTER (WHERE e.effective_at < $2
					AND e.account IN ('receivable_approved', 'unapplied_remittances')), 0) AS opening,
				coalesce(sum(e.amount_minor) FILTER (WHERE e.effective_at < $3
					AND e.account IN ('receivable_approved', 'unapplied_remittances')), 0) AS closing,
				coalesce(sum(e.amount_minor) FILTER (WHERE e.effective_at >= $2 AND e.effective_at < $3
					AND e.account = 'commission_reversals'), 0) AS reversed,
				coalesce(-sum(e.amount_minor) FILTER (WHERE e.effective_at >= $2 AND e.effective_at < $3
					AND t.kind = 'remittance' AND e.account = 'unapplied_remittances'), 0) AS remitted,
				count(DISTINCT e.order_id) FILTER (WHERE e.effective_at >= $2 AND e.effective_at < $3) AS conversions
			FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.txn_id
			WHERE e.partner = $1 AND e.effective_at < $3
			GROUP BY e.currency
		)
		SELECT l.currency, l.opening, l.closing, coalesce(a.approved, 0), l.reversed, l.remitted, l.conversions
		FROM lines l LEFT JOIN approvals a USING (currency)
		ORDER BY l.currency`

// Statement returns a partner's statement for month (its year and month),
// cut in the finance time zone as periods are, one line per currency it
// has ledger entries in.
func (s *Store) Statement(ctx context.Context, partner string, month time.Time) ([]payout.StatementLine, error) {
	from, to := report.MonthBounds(month, s.FinanceZone())
	rows, err := s.db.QueryContext(ctx, statementSQL, partner, from, to)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("statement: %w", err))
	}
	defer rows.Close()
	var out []payout.StatementLine
	for rows.Next() {
		var l payout.StatementLine
		if err := rows.Scan(&l.Currency, &l.Opening, &l.Closing, &l.Approved, &l.Reversed, &l.Remitted, &l.Conversions); err != nil {
			return nil, err
		}
		l.Adjustments = l.Closing.Sub(l.Opening).Sub(l.Approved).Add(l.Remitted)
		out = append(out, l)
	}
	return out, rows.Err()
}

// PartnerKnown reports whether the ledger has seen the partner at all.
func (s *Store) PartnerKnown(ctx context.Context, partner string) (bool, error) {
	var ok bool
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM ledger_transactions WHERE partner = $1)
		OR EXISTS (SELECT 1 FROM conversions WHERE partner = $1)
		OR EXISTS (SELECT 1 FROM remittances WHERE partner = $1)`, partner).Scan(&ok)
	return ok, database.Classify(err)
}

// Remittances lists every remittance in the order they were recorded.
func (s *Store) Remittances(ctx context.Context) ([]payout.Remittance, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, partner, amount_minor, currency, received_at, reference, created_at
		FROM remittances ORDER BY id`)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("remittances: %w", err))
	}
	defer rows.Close()
	var out []payout.Remittance
	for rows.Next() {
		var r payout.Remittance
		if err := rows.Scan(&r.ID, &r.Partner, &r.Amount, &r.Currency, &r.ReceivedAt, &r.Reference, &r.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
