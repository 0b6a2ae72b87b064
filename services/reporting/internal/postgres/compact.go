package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/linkcredit/linkcredit/pkg/database"
)

// CompactRollups folds the rollup deltas that ingest appended into the
// rollups, one summed row per hour and key. Deltas are moved, not copied,
// in one transaction, so a report (one statement, one snapshot) sees each
// count exactly once whether it runs before or after. One replica at a
// time compacts; the others return at once. It returns how many delta rows
// it folded.
func (s *Store) CompactRollups(ctx context.Context) (int64, error) {
	var moved int64
	err := database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		moved = 0
		var locked bool
		if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.compact'))`).Scan(&locked); err != nil || !locked {
			return err
		}
		for _, q := range []string{`
			WITH d AS (DELETE FROM click_rollup_deltas RETURNING *)
			INSERT INTO click_rollups AS r (bucket, key_id, clicks, unique_clicks, bot_clicks)
			SELECT bucket, key_id, sum(clicks), sum(unique_clicks), sum(bot_clicks)
			FROM d GROUP BY 1, 2
			ON CONFLICT (bucket, key_id) DO UPDATE SET
				clicks = r.clicks + excluded.clicks,
				unique_clicks = r.unique_clicks + excluded.unique_clicks,
				bot_clicks = r.bot_clicks + excluded.bot_clicks`, `
			WITH d AS (DELETE FROM conversion_rollup_deltas RETURNING *)
			INSERT INTO conversion_rollups AS r (bucket, key_id, conversions, direct_conversions, cross_sell_conversions,
				sale_minor, pending_minor, approved_minor, reversed_minor, paid_minor)
			SELECT bucket, key_id, sum(conversions), sum(direct_conversions), sum(cross_sell_conversions), sum(sale_minor),
				sum(pending_minor), sum(approved_minor), sum(reversed_minor), sum(paid_minor)
			FROM d GROUP BY 1, 2
			ON CONFLICT (bucket, key_id) DO UPDATE SET
				conversions = r.conversions + excluded.conversions,
				direct_conversions = r.direct_conversions + excluded.direct_conversions,
				cross_sell_conversions = r.cross_sell_conversions + excluded.cross_sell_conversions,
				sale_minor = r.sale_minor + excluded.sale_minor,
				pending_minor = r.pending_minor + excluded.pending_minor,
				approved_minor = r.approved_minor + excluded.approved_minor,
				reversed_minor = r.reversed_minor + excluded.reversed_minor,
				paid_minor = r.paid_minor + excluded.paid_minor`} {
			res, err := tx.ExecContext(ctx, q)
			if err != nil {
				return fmt.Errorf("compact rollups: %w", err)
			}
			n, _ := res.RowsAffected()
			moved += n
		}
		return nil
	})
	return moved, database.Classify(err)
}

// VacuumDeltas reclaims the delta rows compaction deleted, so the tables
// reports scan stay small. VACUUM cannot run inside a transaction.
func (s *Store) VacuumDeltas(ctx context.Context) error {
	for _, t := range []string{"click_rollup_deltas", "conversion_rollup_deltas"} {
		if _, err := s.db.ExecContext(ctx, `VACUUM (SKIP_LOCKED) `+t); err != nil {
			return database.Classify(fmt.Errorf("vacuum %s: %w", t, err))
		}
	}
	return nil
}
