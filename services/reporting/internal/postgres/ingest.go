package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
)

// Store reads and writes the reporting schema. Its queries use unqualified
// names: the connection's search_path picks the schema (see WithSchema),
// which is how `reporting replay` builds into a fresh one.
type Store struct {
	db *sql.DB

	mu         sync.Mutex
	partitions map[time.Time]bool // months whose click partition exists
}

// New returns a store over db.
func New(db *sql.DB) *Store { return &Store{db: db, partitions: map[time.Time]bool{}} }

// DB is the store's database handle.
func (s *Store) DB() *sql.DB { return s.db }

// Click is a clicks.v1 event and when Kafka recorded it.
type Click struct {
	events.ClickRecorded
	RecordedAt time.Time
}

// ConversionEvent is a conversions.v1 event with its money in minor units.
type ConversionEvent struct {
	ledger.Event
	Partner    string
	OrderID    string
	Source     string
	ReceivedAt time.Time
	RecordedAt time.Time
}

type convKey struct{ partner, orderID string }

// IngestClicks stores clicks not stored before, counts them into the
// rollups, and attributes conversions that were waiting for them, all in
// one transaction. A click seen before changes nothing.
func (s *Store) IngestClicks(ctx context.Context, clicks []Click) error {
	if len(clicks) == 0 {
		return nil
	}
	if err := s.ensurePartitions(ctx, clicks); err != nil {
		return err
	}
	return database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		periods, err := loadPeriods(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS click_stage (
			id text, occurred_at timestamptz, bucket timestamptz, code text, partner text, course_id text,
			placement text, utm_source text, utm_medium text, utm_campaign text, bot boolean, bot_reason text,
			is_unique boolean) ON COMMIT DELETE ROWS`); err != nil {
			return fmt.Errorf("stage clicks: %w", err)
		}
		stmt, err := tx.PrepareContext(ctx, `COPY click_stage (id, occurred_at, bucket, code, partner, course_id,
			placement, utm_source, utm_medium, utm_campaign, bot, bot_reason, is_unique) FROM STDIN`)
		if err != nil {
			return fmt.Errorf("stage clicks: %w", err)
		}
		for _, c := range clicks {
			bucket := periods.bucket(c.OccurredAt, c.RecordedAt)
			if _, err := stmt.ExecContext(ctx, c.ID, c.OccurredAt, bucket, c.Code, c.Partner, c.CourseID, c.Placement,
				c.UTMSource, c.UTMMedium, c.UTMCampaign, c.Bot, c.BotReason, c.Unique); err != nil {
				stmt.Close()
				return fmt.Errorf("stage clicks: %w", err)
			}
		}
		if _, err := stmt.ExecContext(ctx); err != nil {
			stmt.Close()
			return fmt.Errorf("stage clicks: %w", err)
		}
		if err := stmt.Close(); err != nil {
			return fmt.Errorf("stage clicks: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `
			WITH inserted AS (
				INSERT INTO clicks (id, occurred_at, code, partner, course_id, placement, utm_source, utm_medium,
					utm_campaign, bot, bot_reason, is_unique)
				SELECT id, occurred_at, code, partner, course_id, placement, utm_source, utm_medium,
					utm_campaign, bot, bot_reason, is_unique FROM click_stage
				ON CONFLICT DO NOTHING
				RETURNING id, occurred_at
			), counted AS (
				-- A click twice in one batch is inserted once: count it once.
				SELECT DISTINCT ON (s.id, s.occurred_at) s.* FROM click_stage s JOIN inserted USING (id, occurred_at)
			)
			INSERT INTO click_rollup_deltas (bucket, partner, course_id, code, placement, clicks, unique_clicks, bot_clicks)
			SELECT bucket, partner, course_id, code, placement,
				count(*) FILTER (WHERE NOT bot), count(*) FILTER (WHERE NOT bot AND is_unique), count(*) FILTER (WHERE bot)
			FROM counted
			GROUP BY 1, 2, 3, 4, 5`); err != nil {
			return fmt.Errorf("insert clicks: %w", err)
		}
		// Conversions that arrived before their click.
		keys, err := queryKeys(ctx, tx, `SELECT c.partner, c.order_id FROM conversions c
			WHERE NOT c.attributed AND c.click_id <> '' AND c.click_id IN (SELECT id FROM click_stage)`)
		if err != nil {
			return fmt.Errorf("find waiting conversions: %w", err)
		}
		if len(keys) == 0 {
			return nil
		}
		return s.recompute(ctx, tx, periods, keys, cause{recordedAt: latestRecorded(clicks), description: "attributed to a late click"})
	})
}

func latestRecorded(clicks []Click) time.Time {
	var t time.Time
	for _, c := range clicks {
		if c.RecordedAt.After(t) {
			t = c.RecordedAt
		}
	}
	return t
}

// ensurePartitions creates the click partitions of the batch's months.
func (s *Store) ensurePartitions(ctx context.Context, clicks []Click) error {
	s.mu.Lock()
	var missing []time.Time
	seen := map[time.Time]bool{}
	for _, c := range clicks {
		m := monthOf(c.OccurredAt)
		if !s.partitions[m] && !seen[m] {
			seen[m] = true
			missing = append(missing, m)
		}
	}
	s.mu.Unlock()
	for _, m := range missing {
		err := database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
			// Serialises replicas creating the same partition.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('reporting.click_partitions'))`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `SELECT ensure_click_partition($1::date)`, m.Format(time.DateOnly))
			return err
		})
		if err != nil {
			return fmt.Errorf("create click partition %s: %w", m.Format("2006-01"), err)
		}
		s.mu.Lock()
		s.partitions[m] = true
		s.mu.Unlock()
	}
	return nil
}

func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// IngestConversions stores events not stored before, folds every
// conversion they touch again in occurred_at order, posts the ledger
// transactions that move each one to its new state, and updates the
// rollups and remittance allocations, all in one transaction.
func (s *Store) IngestConversions(ctx context.Context, evs []ConversionEvent) error {
	if len(evs) == 0 {
		return nil
	}
	cols := struct {
		id, partner, order, click, course, status, currency, occurred, received, recorded, source, replayOf []string
		sale, commission                                                                                    []int64
	}{}
	for _, e := range evs {
		cols.id = append(cols.id, e.ID)
		cols.partner = append(cols.partner, e.Partner)
		cols.order = append(cols.order, e.OrderID)
		cols.click = append(cols.click, e.ClickID)
		cols.course = append(cols.course, e.CourseID)
		cols.status = append(cols.status, e.Status)
		cols.currency = append(cols.currency, e.Currency)
		cols.occurred = append(cols.occurred, e.OccurredAt.UTC().Format(time.RFC3339Nano))
		received := ""
		if !e.ReceivedAt.IsZero() {
			received = e.ReceivedAt.UTC().Format(time.RFC3339Nano)
		}
		cols.received = append(cols.received, received)
		cols.recorded = append(cols.recorded, e.RecordedAt.UTC().Format(time.RFC3339Nano))
		cols.source = append(cols.source, e.Source)
		cols.replayOf = append(cols.replayOf, e.ReplayOf)
		cols.sale = append(cols.sale, e.Sale)
		cols.commission = append(cols.commission, e.Commission)
	}
	var recordedAt time.Time
	for _, e := range evs {
		if e.RecordedAt.After(recordedAt) {
			recordedAt = e.RecordedAt
		}
	}
	return database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		periods, err := loadPeriods(ctx, tx)
		if err != nil {
			return err
		}
		keys, err := queryKeys(ctx, tx, `
			INSERT INTO conversion_events (id, partner, order_id, click_id, course_id, status, sale_minor,
				commission_minor, currency, occurred_at, received_at, recorded_at, source, replay_of)
			SELECT id, partner, order_id, click_id, course_id, status, sale, commission, currency,
				occurred::timestamptz, nullif(received, '')::timestamptz, recorded::timestamptz, source, replay_of
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
				$8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])
				AS e(id, partner, order_id, click_id, course_id, status, sale, commission, currency, occurred,
				received, recorded, source, replay_of)
			ON CONFLICT (id) DO NOTHING
			RETURNING partner, order_id`,
			pq.Array(cols.id), pq.Array(cols.partner), pq.Array(cols.order), pq.Array(cols.click), pq.Array(cols.course),
			pq.Array(cols.status), pq.Array(cols.sale), pq.Array(cols.commission), pq.Array(cols.currency),
			pq.Array(cols.occurred), pq.Array(cols.received), pq.Array(cols.recorded), pq.Array(cols.source),
			pq.Array(cols.replayOf))
		if err != nil {
			return fmt.Errorf("insert conversion events: %w", err)
		}
		if len(keys) == 0 {
			return nil // every event was seen before
		}
		return s.recompute(ctx, tx, periods, dedupe(keys), cause{recordedAt: recordedAt})
	})
}

func dedupe(keys []convKey) []convKey {
	seen := make(map[convKey]bool, len(keys))
	out := keys[:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func queryKeys(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]convKey, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []convKey
	for rows.Next() {
		var k convKey
		if err := rows.Scan(&k.partner, &k.orderID); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// AttributeWaiting attributes conversions whose click arrived in a
// transaction that could not see them (another replica's), at most limit
// at a time. It returns how many it attributed.
func (s *Store) AttributeWaiting(ctx context.Context, limit int) (int, error) {
	var n int
	err := database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		keys, err := queryKeys(ctx, tx, `SELECT c.partner, c.order_id FROM conversions c
			WHERE NOT c.attributed AND c.click_id <> ''
			  AND EXISTS (SELECT 1 FROM clicks k WHERE k.id = c.click_id AND k.partner = c.partner)
			ORDER BY c.partner, c.order_id LIMIT $1`, limit)
		if err != nil || len(keys) == 0 {
			return err
		}
		periods, err := loadPeriods(ctx, tx)
		if err != nil {
			return err
		}
		n = len(keys)
		return s.recompute(ctx, tx, periods, keys, cause{recordedAt: time.Now(), description: "attributed to a late click"})
	})
	return n, err
}
