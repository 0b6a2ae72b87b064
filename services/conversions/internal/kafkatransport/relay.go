package kafkatransport

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/lib/pq"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/metric"

	"github.com/linkcredit/linkcredit/pkg/kafkax"
)

// Relay moves outbox rows to Kafka. Replicas all run one; a session
// advisory lock (the lease) lets exactly one publish at a time, so each
// conversion's events reach its partition in the order they were accepted.
// If the holder dies, its connection closes, the lock is released and a
// standby takes over within StandbyPoll.
type Relay struct {
	DB          *sql.DB
	Publisher   *kafkax.Publisher
	Logger      *slog.Logger
	LeaseKey    int64
	Batch       int           // rows per publish, default 500
	Poll        time.Duration // idle poll, default 20ms
	StandbyPoll time.Duration // how often a standby tries the lease, default 2s

	published, failures metric.Int64Counter
}

// Instrument registers the relay's counters.
func (r *Relay) Instrument(meter metric.Meter) error {
	var err error
	if r.published, err = meter.Int64Counter("conversions.outbox.published",
		metric.WithDescription("Events published from the outbox and acknowledged.")); err != nil {
		return err
	}
	r.failures, err = meter.Int64Counter("conversions.outbox.publish_errors",
		metric.WithDescription("Failed attempts to publish a batch from the outbox."))
	return err
}

func (r *Relay) defaults() {
	if r.Batch <= 0 {
		r.Batch = 500
	}
	if r.Poll <= 0 {
		r.Poll = 20 * time.Millisecond
	}
	if r.StandbyPoll <= 0 {
		r.StandbyPoll = 2 * time.Second
	}
}

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	r.defaults()
	for ctx.Err() == nil {
		err := r.lead(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.Logger.Warn("outbox relay lost its connection; will retry", "error", err.Error())
		}
		sleep(ctx, r.StandbyPoll)
	}
	return nil
}

// lead takes the lease and relays while holding it.
func (r *Relay) lead(ctx context.Context) error {
	conn, err := r.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close() // closing the session releases the lease
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, r.LeaseKey).Scan(&got); err != nil {
		return err
	}
	if !got {
		return nil // another replica relays; stand by
	}
	r.Logger.Info("outbox relay holds the lease")
	backoff := 100 * time.Millisecond
	for {
		n, err := r.relayBatch(ctx, conn)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errPublish):
			r.add(ctx, r.failures, 1)
			r.Logger.Warn("publish from outbox failed; events stay in the outbox", "retry_in", backoff.String(), "error", err.Error())
			sleep(ctx, backoff+rand.N(backoff/2))
			backoff = min(2*backoff, 10*time.Second)
			continue
		case err != nil:
			return err
		}
		backoff = 100 * time.Millisecond
		if n < r.Batch {
			sleep(ctx, r.Poll)
		}
	}
}

var errPublish = errors.New("publish")

func (r *Relay) relayBatch(ctx context.Context, conn *sql.Conn) (int, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	// No FOR UPDATE: the lease already makes this the only relay, and row
	// locks would write to every outbox row (and the WAL) once more.
	rows, err := tx.QueryContext(ctx, `SELECT id, topic, key, value, headers FROM conversions.outbox ORDER BY id LIMIT $1`, r.Batch)
	if err != nil {
		return 0, err
	}
	var ids []int64
	var msgs []kafka.Message
	for rows.Next() {
		var id int64
		var m kafka.Message
		var headers []byte
		if err := rows.Scan(&id, &m.Topic, &m.Key, &m.Value, &headers); err != nil {
			rows.Close()
			return 0, err
		}
		var h map[string]string
		_ = json.Unmarshal(headers, &h)
		for k, v := range h {
			m.Headers = append(m.Headers, kafka.Header{Key: k, Value: []byte(v)})
		}
		ids = append(ids, id)
		msgs = append(msgs, m)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, tx.Commit()
	}
	if err := r.Publisher.Publish(ctx, msgs...); err != nil {
		return 0, errors.Join(errPublish, err)
	}
	// Acknowledged by Kafka: now, and only now, the rows go. A crash
	// between the two republishes them: consumers dedupe by event id.
	if _, err := tx.ExecContext(ctx, `DELETE FROM conversions.outbox WHERE id = ANY($1)`, pq.Array(ids)); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	r.add(ctx, r.published, int64(len(ids)))
	return len(ids), nil
}

func (r *Relay) add(ctx context.Context, c metric.Int64Counter, n int64) {
	if c != nil {
		c.Add(ctx, n)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
