package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
)

// keyIDs numbers rollup dimensions, adding the ones not seen before. New
// keys are committed on their own, before the ingest transaction that uses
// them, so the cache never holds the number of a key that rolled back.
//
// tx, when not nil, is the caller's open transaction: keys already stored
// are read through it, and only keys never stored take a connection of
// their own. A transaction that waited for a second connection for every
// cache miss could deadlock the pool: after a restart, with the cache
// empty, every consumer and the attribution sweeper held one and waited
// for another (TestKilledMidIngestCountsOnce, stalled under load).
//
// It returns each key's number, in keys' order: a batch of clicks looks
// each of its keys up once, in the cache, and only the keys not cached
// go through a map (reporting hashed each click's key four times).
func (s *Store) keyIDs(ctx context.Context, tx *sql.Tx, keys []ledger.RollupKey) ([]int32, error) {
	out := make([]int32, len(keys))
	var missing []ledger.RollupKey
	var missingAt map[ledger.RollupKey][]int // where each key not cached is in keys
	s.mu.Lock()
	for i, k := range keys {
		if id, ok := s.keys.get(k); ok {
			out[i] = id
			continue
		}
		if missingAt == nil {
			missingAt = map[ledger.RollupKey][]int{}
		}
		if _, dup := missingAt[k]; !dup {
			missing = append(missing, k)
		}
		missingAt[k] = append(missingAt[k], i)
	}
	s.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	found := make(map[ledger.RollupKey]int32, len(missing))
	if tx != nil {
		// What this transaction sees of rollup_keys is committed (it
		// adds none itself), so it may be cached.
		var err error
		if missing, err = s.readKeys(ctx, tx, missing, found); err != nil {
			return nil, err
		}
	}
	if len(missing) > 0 {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO rollup_keys (partner, course_id, code, placement, currency, fx_at)
			SELECT p, c, l, pl, cur, `+fxAtColumn+` FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
				AS k(p, c, l, pl, cur, fx) ORDER BY 1, 2, 3, 4, 5, 6
			ON CONFLICT DO NOTHING`, keyArrays(missing)...); err != nil {
			return nil, database.Classify(fmt.Errorf("add rollup keys: %w", err))
		}
		if _, err := s.readKeys(ctx, s.db, missing, found); err != nil {
			return nil, err
		}
	}
	for k, at := range missingAt {
		for _, i := range at {
			out[i] = found[k]
		}
	}
	return out, nil
}

// cloneKey is k in memory of its own, for the cache (clicks are decoded
// in place: their strings share the Kafka message's memory).
func cloneKey(k ledger.RollupKey) ledger.RollupKey {
	return ledger.RollupKey{Partner: strings.Clone(k.Partner), CourseID: strings.Clone(k.CourseID), Code: strings.Clone(k.Code),
		Placement: strings.Clone(k.Placement), Currency: strings.Clone(k.Currency), FXAt: k.FXAt}
}

// fxAtColumn is a key's FXAt (fx, unix seconds) as rollup_keys.fx_at holds
// it: -infinity for none.
const fxAtColumn = `CASE WHEN fx = 0 THEN '-infinity'::timestamptz ELSE to_timestamp(fx) END`

// keyArrays are keys as the six columns of rollup_keys.
func keyArrays(keys []ledger.RollupKey) []any {
	var partner, course, code, placement, currency []string
	var fx []int64
	for _, k := range keys {
		partner = append(partner, k.Partner)
		course = append(course, k.CourseID)
		code = append(code, k.Code)
		placement = append(placement, k.Placement)
		currency = append(currency, k.Currency)
		fx = append(fx, k.FXAt)
	}
	return []any{pq.Array(partner), pq.Array(course), pq.Array(code), pq.Array(placement), pq.Array(currency), pq.Array(fx)}
}

// readKeys looks keys up in rollup_keys through q, caches and records in
// out the ones stored, and returns the rest.
func (s *Store) readKeys(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, keys []ledger.RollupKey, out map[ledger.RollupKey]int32) ([]ledger.RollupKey, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, partner, course_id, code, placement, currency,
			CASE WHEN fx_at = '-infinity' THEN 0 ELSE extract(epoch FROM fx_at)::bigint END FROM rollup_keys
		WHERE (partner, course_id, code, placement, currency, fx_at) IN
			(SELECT p, c, l, pl, cur, `+fxAtColumn+` FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
				AS k(p, c, l, pl, cur, fx))`, keyArrays(keys)...)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("read rollup keys: %w", err))
	}
	defer rows.Close()
	found := map[ledger.RollupKey]bool{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for rows.Next() {
		var id int32
		var k ledger.RollupKey
		if err := rows.Scan(&id, &k.Partner, &k.CourseID, &k.Code, &k.Placement, &k.Currency, &k.FXAt); err != nil {
			return nil, err
		}
		s.keys.put(k, id)
		out[k] = id
		found[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var rest []ledger.RollupKey
	for _, k := range keys {
		if !found[k] {
			rest = append(rest, k)
		}
	}
	return rest, nil
}
