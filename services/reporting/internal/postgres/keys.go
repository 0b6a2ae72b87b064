package postgres

import (
	"context"
	"fmt"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
)

// keyIDs numbers rollup dimensions, adding the ones not seen before. New
// keys are committed on their own, before the ingest transaction that uses
// them, so the cache never holds the number of a key that rolled back.
func (s *Store) keyIDs(ctx context.Context, keys []ledger.RollupKey) (map[ledger.RollupKey]int32, error) {
	out := make(map[ledger.RollupKey]int32, len(keys))
	var missing []ledger.RollupKey
	s.mu.Lock()
	for _, k := range keys {
		if id, ok := s.keys.get(k); ok {
			out[k] = id
		} else if _, dup := out[k]; !dup {
			out[k] = 0
			missing = append(missing, k)
		}
	}
	s.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	var partner, course, code, placement, currency []string
	for _, k := range missing {
		partner = append(partner, k.Partner)
		course = append(course, k.CourseID)
		code = append(code, k.Code)
		placement = append(placement, k.Placement)
		currency = append(currency, k.Currency)
	}
	args := []any{pq.Array(partner), pq.Array(course), pq.Array(code), pq.Array(placement), pq.Array(currency)}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO rollup_keys (partner, course_id, code, placement, currency)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) ORDER BY 1, 2, 3, 4, 5
		ON CONFLICT DO NOTHING`, args...); err != nil {
		return nil, database.Classify(fmt.Errorf("add rollup keys: %w", err))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, partner, course_id, code, placement, currency FROM rollup_keys
		WHERE (partner, course_id, code, placement, currency) IN
			(SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]))`, args...)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("read rollup keys: %w", err))
	}
	defer rows.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for rows.Next() {
		var id int32
		var k ledger.RollupKey
		if err := rows.Scan(&id, &k.Partner, &k.CourseID, &k.Code, &k.Placement, &k.Currency); err != nil {
			return nil, err
		}
		s.keys.put(k, id)
		out[k] = id
	}
	return out, rows.Err()
}
