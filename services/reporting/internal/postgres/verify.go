package postgres

import (
	"context"
	"fmt"

	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
	"github.com/linkcredit/linkcredit/services/reporting/internal/minor"
)

// Verify checks the ledger's invariants and reports each violation to
// problem: every transaction balances in every currency; every entry's
// transaction and conversion exist; a closed month's figures are those it
// closed with; each
// conversion's entries sum to the balances its state implies; the rollups
// add up to the conversions and clicks they were built from; no partner
// has more applied than it remitted. It returns how many conversions it
// checked.
func (s *Store) Verify(ctx context.Context, problem func(string)) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT txn_id, currency, sum(amount_minor) FROM ledger_entries
		GROUP BY 1, 2 HAVING sum(amount_minor) <> 0 ORDER BY 1`)
	if err != nil {
		return 0, fmt.Errorf("verify: %w", err)
	}
	for rows.Next() {
		var txn int64
		var sum minor.Sum
		var cur string
		if err := rows.Scan(&txn, &cur, &sum); err != nil {
			rows.Close()
			return 0, err
		}
		problem(fmt.Sprintf("transaction %d does not balance in %s: off by %s minor units", txn, cur, sum))
	}
	rows.Close()

	// Each conversion's entries against its state, merged in key order.
	rows, err = s.db.QueryContext(ctx, `
		SELECT c.partner, c.order_id, c.status, c.commission_minor, c.paid_minor, c.currency,
			coalesce((SELECT json_agg(json_build_array(account, currency, total) ORDER BY currency, account)::text
			          FROM (SELECT account, currency, sum(amount_minor) AS total FROM ledger_entries e
			                WHERE e.partner = c.partner AND e.order_id = c.order_id
			                GROUP BY 1, 2 HAVING sum(amount_minor) <> 0) b), '[]')
		FROM conversions c ORDER BY 1, 2`)
	if err != nil {
		return 0, fmt.Errorf("verify: %w", err)
	}
	checked := 0
	for rows.Next() {
		var k convKey
		var st ledger.State
		var got string
		if err := rows.Scan(&k.partner, &k.orderID, &st.Status, &st.Commission, &st.Paid, &st.Currency, &got); err != nil {
			rows.Close()
			return checked, err
		}
		checked++
		want := "["
		for i, p := range ledger.Balances(st) {
			if i > 0 {
				want += ", "
			}
			want += fmt.Sprintf(`["%s", "%s", %d]`, p.Account, p.Currency, p.Amount)
		}
		want += "]"
		if got != want {
			problem(fmt.Sprintf("conversion %s/%s (%s %d paid %d %s): entries sum to %s, its state implies %s",
				k.partner, k.orderID, st.Status, st.Commission, st.Paid, st.Currency, got, want))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return checked, err
	}

	checks := []struct{ what, query string }{
		{"conversion rollups against conversions", `
			SELECT currency FROM
				(SELECT currency, sum(conversions) n, sum(pending_minor) p, sum(approved_minor) a, sum(reversed_minor) v,
					sum(paid_minor) d, sum(sale_minor) s FROM
					(SELECT * FROM conversion_rollups UNION ALL SELECT * FROM conversion_rollup_deltas) u
					JOIN rollup_keys k ON k.id = u.key_id GROUP BY 1) r
			FULL JOIN
				(SELECT currency, count(*) n,
					sum(CASE WHEN status = 'pending' THEN commission_minor ELSE 0 END) p,
					sum(CASE WHEN status = 'approved' THEN commission_minor - paid_minor ELSE 0 END) a,
					sum(CASE WHEN status = 'reversed' THEN commission_minor ELSE 0 END) v,
					sum(paid_minor) d,
					sum(CASE WHEN status <> 'reversed' THEN sale_minor ELSE 0 END) s FROM conversions GROUP BY 1) c
			USING (currency)
			-- A currency no conversion is in any more (one changed its
			-- currency) has rollups that net to zero: absent is zero.
			WHERE (coalesce(r.n, 0), coalesce(r.p, 0), coalesce(r.a, 0), coalesce(r.v, 0), coalesce(r.d, 0), coalesce(r.s, 0))
				IS DISTINCT FROM (coalesce(c.n, 0), coalesce(c.p, 0), coalesce(c.a, 0), coalesce(c.v, 0), coalesce(c.d, 0), coalesce(c.s, 0))`},
		{"ledger references", `
			SELECT 'entry ' || e.id || ' of missing transaction ' || e.txn_id FROM ledger_entries e
			WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.id = e.txn_id)
			UNION ALL
			SELECT 'entry ' || e.id || ' posts to missing conversion ' || e.partner || '/' || e.order_id FROM ledger_entries e
			WHERE e.order_id IS NOT NULL
			  AND NOT EXISTS (SELECT 1 FROM conversions c WHERE c.partner = e.partner AND c.order_id = e.order_id)
			UNION ALL
			SELECT 'transaction ' || t.id || ' corrects missing ' || t.corrects FROM ledger_transactions t
			WHERE t.corrects IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger_transactions c WHERE c.id = t.corrects)
			UNION ALL
			SELECT 'transaction ' || t.id || ' has no entries' FROM ledger_transactions t
			WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.txn_id = t.id)`},
		{"daily rollups against hourly", `
			SELECT z.tz FROM rollup_zones z
			WHERE (SELECT coalesce(sum(clicks), 0) FROM click_rollups_daily d WHERE d.tz = z.tz)
			      <> (SELECT coalesce(sum(clicks), 0) FROM click_rollups)
			   OR (SELECT coalesce(sum(approved_minor), 0) + coalesce(sum(conversions), 0) FROM conversion_rollups_daily d WHERE d.tz = z.tz)
			      <> (SELECT coalesce(sum(approved_minor), 0) + coalesce(sum(conversions), 0) FROM conversion_rollups)`},
		{"click rollups against clicks", `
			SELECT 'clicks' WHERE (SELECT coalesce(sum(clicks + bot_clicks), 0) FROM
				(SELECT * FROM click_rollups UNION ALL SELECT * FROM click_rollup_deltas) u)
				<> (SELECT count(*) FROM clicks)`},
		{"payout balances against remittances and conversions", `
			SELECT b.partner || ' ' || b.currency FROM payout_balances b
			WHERE b.remitted_minor <> (SELECT coalesce(sum(amount_minor), 0) FROM remittances r
			                           WHERE r.partner = b.partner AND r.currency = b.currency)
			   OR b.applied_minor <> (SELECT coalesce(sum(paid_minor), 0) FROM conversions c
			                          WHERE c.partner = b.partner AND c.currency = b.currency)`},
		{"closed month figures against those it closed with", `
			WITH p AS (SELECT * FROM periods WHERE reopened_at IS NULL),
			now AS (
				SELECT p.id AS period_id, f.key_id, sum(f.clicks) clicks, sum(f.bot_clicks) bot_clicks,
					sum(f.conversions) conversions, sum(f.sale) sale, sum(f.pending) pending, sum(f.approved) approved,
					sum(f.reversed) reversed, sum(f.paid) paid
				FROM p CROSS JOIN LATERAL (
					SELECT key_id, clicks, bot_clicks, 0 AS conversions, 0 AS sale, 0 AS pending, 0 AS approved,
						0 AS reversed, 0 AS paid FROM click_rollups r
						WHERE r.bucket >= p.month::timestamp AT TIME ZONE p.time_zone
						  AND r.bucket < (p.month + interval '1 month')::timestamp AT TIME ZONE p.time_zone
					UNION ALL SELECT key_id, clicks, bot_clicks, 0, 0, 0, 0, 0, 0 FROM click_rollup_deltas r
						WHERE r.bucket >= p.month::timestamp AT TIME ZONE p.time_zone
						  AND r.bucket < (p.month + interval '1 month')::timestamp AT TIME ZONE p.time_zone
					UNION ALL SELECT key_id, 0, 0, conversions, sale_minor, pending_minor, approved_minor, reversed_minor,
						paid_minor FROM conversion_rollups r
						WHERE r.bucket >= p.month::timestamp AT TIME ZONE p.time_zone
						  AND r.bucket < (p.month + interval '1 month')::timestamp AT TIME ZONE p.time_zone
					UNION ALL SELECT key_id, 0, 0, conversions, sale_minor, pending_minor, approved_minor, reversed_minor,
						paid_minor FROM conversion_rollup_deltas r
						WHERE r.bucket >= p.month::timestamp AT TIME ZONE p.time_zone
						  AND r.bucket < (p.month + interval '1 month')::timestamp AT TIME ZONE p.time_zone) f
				GROUP BY 1, 2),
			was AS (SELECT f.* FROM period_figures f JOIN p ON p.id = f.period_id)
			SELECT DISTINCT to_char(p.month, 'YYYY-MM') || ' (' || p.time_zone || ')'
			FROM now FULL JOIN was USING (period_id, key_id) JOIN p ON p.id = coalesce(now.period_id, was.period_id)
			WHERE (coalesce(now.clicks, 0), coalesce(now.bot_clicks, 0), coalesce(now.conversions, 0), coalesce(now.sale, 0),
			       coalesce(now.pending, 0), coalesce(now.approved, 0), coalesce(now.reversed, 0), coalesce(now.paid, 0))
			   IS DISTINCT FROM
			      (coalesce(was.clicks, 0), coalesce(was.bot_clicks, 0), coalesce(was.conversions, 0), coalesce(was.sale_minor, 0),
			       coalesce(was.pending_minor, 0), coalesce(was.approved_minor, 0), coalesce(was.reversed_minor, 0),
			       coalesce(was.paid_minor, 0))`},
		{"placement slots within their cap", `
			SELECT code || ' on ' || day || ' has ' || cardinality(placements) FROM placement_slots
			WHERE cardinality(placements) > ` + fmt.Sprint(MaxPlacements)},
		{"applied remittances against remitted", `
			SELECT c.partner || ' ' || c.currency FROM
				(SELECT partner, currency, sum(paid_minor) paid FROM conversions GROUP BY 1, 2) c
			LEFT JOIN (SELECT partner, currency, sum(amount_minor) remitted FROM remittances GROUP BY 1, 2) r
				USING (partner, currency)
			WHERE c.paid > coalesce(r.remitted, 0)`},
	}
	for _, c := range checks {
		rows, err := s.db.QueryContext(ctx, c.query)
		if err != nil {
			return checked, fmt.Errorf("verify %s: %w", c.what, err)
		}
		for rows.Next() {
			var what string
			if err := rows.Scan(&what); err != nil {
				rows.Close()
				return checked, err
			}
			problem(fmt.Sprintf("%s: %s differs", c.what, what))
		}
		rows.Close()
	}
	return checked, nil
}
