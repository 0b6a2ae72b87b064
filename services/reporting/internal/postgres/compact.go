package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/errs"
)

// The measures of each rollup table, summed by compaction and reports.
var (
	clickMeasures      = []string{"clicks", "unique_clicks", "bot_clicks"}
	conversionMeasures = []string{"conversions", "direct_conversions", "cross_sell_conversions", "sale_minor",
		"pending_minor", "approved_minor", "reversed_minor", "paid_minor"}
)

const compactLock = `hashtext(current_schema() || '.compact')`

// compactQuery moves table's deltas into its hourly rollups and, in the
// same statement, into its daily rollups in every registered zone. The
// deltas are summed per hour and key once; the daily rollups are summed
// from those sums.
func compactQuery(table string, measures []string) string {
	adds := make([]string, len(measures))
	for i, m := range measures {
		adds[i] = m + " = r." + m + " + excluded." + m
	}
	cols := strings.Join(measures, ", ")
	sums := make([]string, len(measures))
	for i, m := range measures {
		sums[i] = "sum(d." + m + ") AS " + m
	}
	return `
		WITH d AS (DELETE FROM ` + table + `_deltas RETURNING *),
		h AS (SELECT d.bucket, d.key_id, ` + strings.Join(sums, ", ") + ` FROM d GROUP BY 1, 2),
		hourly AS (
			INSERT INTO ` + table + `s AS r (bucket, key_id, ` + cols + `)
			SELECT bucket, key_id, ` + cols + ` FROM h
			ON CONFLICT (bucket, key_id) DO UPDATE SET ` + strings.Join(adds, ", ") + `
		), daily AS (
			INSERT INTO ` + table + `s_daily AS r (tz, day, key_id, ` + cols + `)
			SELECT z.tz, (h.bucket AT TIME ZONE z.tz)::date, h.key_id, ` + strings.Join(sumsOf("h.", measures), ", ") + `
			FROM h CROSS JOIN rollup_zones z GROUP BY 1, 2, 3
			ON CONFLICT (tz, day, key_id) DO UPDATE SET ` + strings.Join(adds, ", ") + `
		)
		SELECT count(*) FROM d`
}

// sumsOf is "sum(<prefix><measure>)" for each measure.
func sumsOf(prefix string, measures []string) []string {
	out := make([]string, len(measures))
	for i, m := range measures {
		out[i] = "sum(" + prefix + m + ")"
	}
	return out
}

// CompactRollups folds the rollup deltas that ingest appended into the
// rollups: one summed row per hour and key, and per day and key in each
// reporting time zone. Deltas are moved, not copied, in one transaction,
// so a report (one statement, one snapshot) sees each count exactly once
// whether it runs before or after. One replica at a time compacts; the
// others return at once. It returns how many delta rows it folded.
func (s *Store) CompactRollups(ctx context.Context) (int64, error) {
	moved, err := s.compactRollups(ctx)
	if isUnknownZone(err) {
		// A kept zone PostgreSQL no longer knows (its tzdata changed
		// under it) fails the fold of every zone: drop it, and fold again.
		if dropped, derr := s.dropUnknownZones(ctx); derr != nil || dropped == 0 {
			return moved, errors.Join(err, derr)
		}
		moved, err = s.compactRollups(ctx)
	}
	return moved, err
}

// dropUnknownZones removes the kept zones PostgreSQL rejects, with their
// daily rollups (reports in them then read the hourly ones), and returns
// how many it removed.
func (s *Store) dropUnknownZones(ctx context.Context) (int, error) {
	var unknown []string
	err := database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		unknown = nil
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(`+compactLock+`)`); err != nil {
			return err
		}
		var zones []string
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(array_agg(tz), '{}') FROM rollup_zones`).Scan(pq.Array(&zones)); err != nil {
			return err
		}
		for _, tz := range zones {
			known, err := s.zoneKnown(ctx, tz)
			if err != nil {
				return err
			}
			if !known {
				unknown = append(unknown, tz)
			}
		}
		for _, q := range []string{`DELETE FROM click_rollups_daily WHERE tz = ANY($1)`,
			`DELETE FROM conversion_rollups_daily WHERE tz = ANY($1)`, `DELETE FROM rollup_zones WHERE tz = ANY($1)`} {
			if _, err := tx.ExecContext(ctx, q, pq.Array(unknown)); err != nil {
				return err
			}
		}
		return nil
	})
	return len(unknown), database.Classify(err)
}

// codeInvalidParameterValue is PostgreSQL's answer to a time zone it
// does not know.
const codeInvalidParameterValue = "22023"

func isUnknownZone(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == codeInvalidParameterValue
}

// zoneKnown asks PostgreSQL whether it knows tz, the way the compactor
// and reports use a zone.
func (s *Store) zoneKnown(ctx context.Context, tz string) (bool, error) {
	var at time.Time
	err := s.db.QueryRowContext(ctx, `SELECT now() AT TIME ZONE $1`, tz).Scan(&at)
	if isUnknownZone(err) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) compactRollups(ctx context.Context) (int64, error) {
	var moved int64
	err := database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		moved = 0
		var locked bool
		if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(`+compactLock+`)`).Scan(&locked); err != nil || !locked {
			return err
		}
		// Room to sum a backlog in memory: with the default 4 MB, folding
		// 166,000 deltas spilled both sums to disk (1.7-2.3 s; 1.5 s with
		// this and summing once).
		if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '64MB'`); err != nil {
			return err
		}
		for _, q := range []string{compactQuery("click_rollup", clickMeasures), compactQuery("conversion_rollup", conversionMeasures)} {
			var n int64
			if err := tx.QueryRowContext(ctx, q).Scan(&n); err != nil {
				return fmt.Errorf("compact rollups: %w", err)
			}
			moved += n
		}
		return nil
	})
	return moved, database.Classify(err)
}

// EnsureZones keeps daily rollups in each of zones from now on, building
// a new zone's from the hourly rollups under the compaction lock, so no
// delta is folded into the hourly rollups without it.
func (s *Store) EnsureZones(ctx context.Context, zones []string) error {
	for _, tz := range zones {
		if _, err := time.LoadLocation(tz); err != nil {
			return errs.Newf(errs.Invalid, "invalid_query", "tz: %q is not an IANA time zone", tz)
		}
		// A zone Go knows and PostgreSQL does not (Go's "Local", or a
		// name its tzdata lacks) would fail every compaction once kept:
		// PostgreSQL is asked first, the way the compactor uses the zone.
		known, err := s.zoneKnown(ctx, tz)
		if err != nil {
			return database.Classify(fmt.Errorf("report time zone %q: %w", tz, err))
		}
		if !known {
			return errs.Newf(errs.Invalid, "invalid_query", "tz: PostgreSQL does not know the time zone %q", tz)
		}
	}
	err := database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(`+compactLock+`)`); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `INSERT INTO rollup_zones (tz) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING tz`,
			pq.Array(zones))
		if err != nil {
			return err
		}
		var added []string
		for rows.Next() {
			var tz string
			if err := rows.Scan(&tz); err != nil {
				rows.Close()
				return err
			}
			added = append(added, tz)
		}
		rows.Close()
		for _, tz := range added {
			for _, t := range []struct {
				table    string
				measures []string
			}{{"click_rollup", clickMeasures}, {"conversion_rollup", conversionMeasures}} {
				sums := sumsOf("", t.measures)
				if _, err := tx.ExecContext(ctx, `INSERT INTO `+t.table+`s_daily (tz, day, key_id, `+strings.Join(t.measures, ", ")+`)
					SELECT $1, (bucket AT TIME ZONE $1)::date, key_id, `+strings.Join(sums, ", ")+`
					FROM `+t.table+`s GROUP BY 2, 3`, tz); err != nil {
					return fmt.Errorf("backfill daily rollups in %s: %w", tz, err)
				}
			}
		}
		return nil
	})
	return database.Classify(err)
}

// Zones lists the time zones with daily rollups.
func (s *Store) Zones(ctx context.Context) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT tz FROM rollup_zones`)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("rollup zones: %w", err))
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var tz string
		if err := rows.Scan(&tz); err != nil {
			return nil, err
		}
		out[tz] = true
	}
	return out, rows.Err()
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
