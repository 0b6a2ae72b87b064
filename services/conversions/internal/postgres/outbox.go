package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// Enqueue adds events to the outbox (for replays), each linked to the
// stored request it was decoded from when it names one.
func (s *Store) Enqueue(ctx context.Context, msgs []conversion.OutboxMessage) error {
	return database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		for _, m := range msgs {
			h := events.AppendStringMap(nil, m.Headers)
			inbox := sql.NullInt64{Int64: m.InboxID, Valid: m.InboxID != 0}
			if _, err := tx.ExecContext(ctx, `INSERT INTO conversions.outbox (topic, key, value, headers, inbox_id) VALUES ($1, $2, $3, $4, $5)`,
				m.Topic, m.Key, m.Value, string(h), inbox); err != nil {
				return err
			}
		}
		return nil
	})
}

// OutboxStats returns the number of waiting events, the age of the oldest
// and the number of events set aside (conversion.OutboxLease.Park). It
// returns once ctx ends, whether the database answered or not (detach):
// the outbox gauges ask for them on every scrape of /metrics, which must
// answer while the database does not.
func (s *Store) OutboxStats(ctx context.Context) (waiting int64, oldest time.Duration, parked int64, err error) {
	type stats struct {
		waiting, parked int64
		first           sql.NullTime
	}
	st, err := detach(ctx, func() (stats, error) {
		var st stats
		err := s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM conversions.outbox), (SELECT min(created_at) FROM conversions.outbox),
			(SELECT count(*) FROM conversions.outbox_parked)`).Scan(&st.waiting, &st.first, &st.parked)
		return st, err
	})
	if err != nil {
		return 0, 0, 0, database.Classify(err)
	}
	if st.first.Valid {
		oldest = time.Since(st.first.Time)
	}
	return st.waiting, oldest, st.parked, nil
}

// RelayLease is the key of the advisory lock held by the one active relay:
// a single publisher keeps each conversion's events in outbox order.
func RelayLease() int64 {
	h := fnv.New64a()
	h.Write([]byte("linkcredit.conversions.relay"))
	return int64(h.Sum64())
}

// LeaseOutbox takes the relay's lease: a session advisory lock on a
// connection of its own, which the lease then uses for every statement.
// If the process dies, its connection closes, the lock is released and a
// standby replica takes over.
func (s *Store) LeaseOutbox(ctx context.Context) (conversion.OutboxLease, bool, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, false, database.Classify(err)
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, RelayLease()).Scan(&got); err != nil {
		conn.Close()
		return nil, false, database.Classify(err)
	}
	if !got {
		return nil, false, conn.Close()
	}
	return &outboxLease{conn: conn, db: s.db}, true, nil
}

type outboxLease struct {
	conn *sql.Conn // the lease's session, which holds the lock
	db   *sql.DB   // the pool, for Reclaim
}

// Next reads without FOR UPDATE: the lease already makes this the only
// relay, and row locks would write every outbox row (and the WAL) once
// more. Nor does it open a transaction: no snapshot is held while Kafka
// is slow, so vacuum keeps up with the queue. It reads through
// conversions.outbox_head (migration 0006), which walks the primary key:
// the table between vacuums is mostly dead rows, and a sequential scan of
// them cost a hundred times more.
func (l *outboxLease) Next(ctx context.Context, n int) ([]conversion.QueuedMessage, error) {
	rows, err := l.conn.QueryContext(ctx, `SELECT id, topic, key, value, headers, coalesce(inbox_id, 0), created_at
		FROM conversions.outbox_head($1) ORDER BY id`, n)
	if err != nil {
		return nil, database.Classify(err)
	}
	defer rows.Close()
	var out []conversion.QueuedMessage
	for rows.Next() {
		var m conversion.QueuedMessage
		var headers []byte
		if err := rows.Scan(&m.ID, &m.Topic, &m.Key, &m.Value, &headers, &m.InboxID, &m.CreatedAt); err != nil {
			return nil, database.Classify(err)
		}
		_ = json.Unmarshal(headers, &m.Headers)
		out = append(out, m)
	}
	return out, database.Classify(rows.Err())
}

// Published deletes what Kafka acknowledged. A crash before it republishes
// the events: consumers dedupe by event id.
func (l *outboxLease) Published(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := l.conn.ExecContext(ctx, `DELETE FROM conversions.outbox WHERE id = ANY($1)`, pq.Array(ids))
	return database.Classify(err)
}

// Park moves an event to conversions.outbox_parked in one statement: it is
// in exactly one of the two tables at any time.
func (l *outboxLease) Park(ctx context.Context, id int64, reason string, at time.Time) error {
	_, err := l.conn.ExecContext(ctx, `
		WITH m AS (DELETE FROM conversions.outbox WHERE id = $1 RETURNING *)
		INSERT INTO conversions.outbox_parked (id, inbox_id, topic, key, value, headers, created_at, parked_at, reason)
		SELECT id, inbox_id, topic, key, value, headers, created_at, $2, $3 FROM m`, id, at, reason)
	if err != nil {
		return database.Classify(fmt.Errorf("park outbox event %d: %w", id, err))
	}
	return nil
}

// Reclaim vacuums the outbox. The table is a queue: every event is
// inserted, then deleted once Kafka has it, and until a vacuum the dead
// rows keep their space, so inserts extend the file instead. Autovacuum
// looks at each database about once a minute (autovacuum_naptime), and
// at 5,500 webhooks/s the outbox grew by 233 MB in that time; vacuumed
// every few seconds, it stays a few megabytes, reused in place (issue 15).
//
// It runs on a connection of the pool, not the lease's, so the relay goes
// on publishing meanwhile. SKIP_LOCKED: never wait for an autovacuum
// already at work on the table. Without shrink, TRUNCATE false: giving
// back free pages at the end would take the table's exclusive lock for a
// moment, which the inserts of accept_batch wait behind, and a queue
// refills that space within seconds. With shrink (once a backlog has
// drained) it may: the vacuums of a relay keep autovacuum's count of dead
// rows low, so at low rates autovacuum never comes to shrink the table.
// Without the privilege to vacuum, PostgreSQL skips the table with a
// warning in its own log, and no error here.
func (l *outboxLease) Reclaim(ctx context.Context, shrink bool) error {
	stmt := fmt.Sprintf(`VACUUM (SKIP_LOCKED, TRUNCATE %t) conversions.outbox`, shrink)
	if _, err := l.db.ExecContext(ctx, stmt); err != nil {
		return database.Classify(fmt.Errorf("vacuum the outbox: %w", err))
	}
	return nil
}

// Close releases the lease. sql.Conn.Close returns the connection to the
// pool rather than ending its session, so the lock is released first: a
// pooled connection holding it would keep every replica standing by. On a
// broken connection the unlock fails, the pool discards the connection,
// and the session's end releases the lock.
func (l *outboxLease) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = l.conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, RelayLease())
	return l.conn.Close()
}
