package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// AddHealth implements conversion.HealthStore. Rows are written in key
// order, so replicas adding to the same rows at once never deadlock.
func (s *Store) AddHealth(ctx context.Context, counts []conversion.HealthCount, lastAccepted map[string]time.Time) (err error) {
	defer func() {
		if err != nil {
			err = database.Classify(fmt.Errorf("add partner health: %w", err))
		}
	}()
	counts = slices.Clone(counts)
	slices.SortFunc(counts, func(a, b conversion.HealthCount) int {
		return cmp.Or(cmp.Compare(a.Partner, b.Partner), a.Hour.Compare(b.Hour), cmp.Compare(a.Outcome, b.Outcome))
	})
	partners, hours, outcomes, ns := make([]string, len(counts)), make([]time.Time, len(counts)), make([]string, len(counts)), make([]int64, len(counts))
	for i, c := range counts {
		partners[i], hours[i], outcomes[i], ns[i] = c.Partner, c.Hour.UTC(), c.Outcome, c.N
	}
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range lastAccepted {
			if !yield(id) {
				return
			}
		}
	})
	ats := make([]time.Time, len(ids))
	for i, id := range ids {
		ats[i] = lastAccepted[id].UTC()
	}
	return database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		if len(counts) > 0 {
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO conversions.partner_health AS h (partner, hour, outcome, n)
				SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bigint[])
				ON CONFLICT (partner, hour, outcome) DO UPDATE SET n = h.n + EXCLUDED.n`,
				pq.Array(partners), pq.Array(hours), pq.Array(outcomes), pq.Array(ns)); err != nil {
				return err
			}
		}
		if len(ids) > 0 {
			// A partner is only counted as accepted after the service
			// found it, so it exists (partners are never deleted).
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO conversions.partner_last_accepted AS l (partner, accepted_at)
				SELECT * FROM unnest($1::text[], $2::timestamptz[])
				ON CONFLICT (partner) DO UPDATE SET accepted_at = GREATEST(l.accepted_at, EXCLUDED.accepted_at)`,
				pq.Array(ids), pq.Array(ats)); err != nil {
				return err
			}
		}
		return nil
	})
}

// HealthCounts implements conversion.HealthStore.
func (s *Store) HealthCounts(ctx context.Context, partner string, since time.Time) ([]conversion.HealthCount, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT partner, hour, outcome, n FROM conversions.partner_health
		WHERE hour >= $1 AND ($2 = '' OR partner = $2)`, since, partner)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("read partner health: %w", err))
	}
	defer rows.Close()
	var out []conversion.HealthCount
	for rows.Next() {
		var c conversion.HealthCount
		if err := rows.Scan(&c.Partner, &c.Hour, &c.Outcome, &c.N); err != nil {
			return nil, database.Classify(fmt.Errorf("read partner health: %w", err))
		}
		out = append(out, c)
	}
	return out, database.Classify(rows.Err())
}

// LastAccepted implements conversion.HealthStore.
func (s *Store) LastAccepted(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT partner, accepted_at FROM conversions.partner_last_accepted`)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("read last accepted: %w", err))
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return nil, database.Classify(fmt.Errorf("read last accepted: %w", err))
		}
		out[id] = at
	}
	return out, database.Classify(rows.Err())
}

// PruneHealth implements conversion.HealthStore.
func (s *Store) PruneHealth(ctx context.Context, cutoff time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM conversions.partner_health WHERE hour < $1`, cutoff)
	if err != nil {
		return 0, database.Classify(fmt.Errorf("prune partner health: %w", err))
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// PartnerIDs implements conversion.HealthStore.
func (s *Store) PartnerIDs(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM conversions.partners ORDER BY id`)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("list partner ids: %w", err))
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, database.Classify(fmt.Errorf("list partner ids: %w", err))
		}
		ids = append(ids, id)
	}
	return ids, database.Classify(rows.Err())
}
