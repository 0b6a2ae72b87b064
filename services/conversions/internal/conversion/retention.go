package conversion

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/linkcredit/linkcredit/pkg/clock"
)

// InboxPruner deletes stored requests (postgres.Store).
type InboxPruner interface {
	// PruneInbox deletes up to limit stored requests received before
	// cutoff, skipping every one whose event is still in the outbox or
	// set aside (unpublished), and returns how many it deleted.
	PruneInbox(ctx context.Context, cutoff time.Time, limit int) (int, error)
}

// Retention keeps the inbox (the raw requests partners sent, kept for
// audit and replay) to a bounded age: the raw requests hold partners'
// order data, and a request is of no use once it is older than any
// partner's retry and any replay anyone would run. A request whose event
// has not been published is never deleted, however old: the store checks
// that in the same statement, and a foreign key holds it in the schema.
//
// Every replica runs one. Deletes skip rows another replica is deleting,
// so replicas share the work instead of queueing on each other.
type Retention struct {
	Store InboxPruner
	// Keep is how long a request is kept after it was received; 0 keeps
	// every request.
	Keep time.Duration
	// Now tells "now" (received_at is on the same clock); nil: the system
	// clock.
	Now clock.Clock
	// Interval is how often it sweeps (default 1h); it also sweeps at start.
	Interval time.Duration
	// Batch is how many rows one statement deletes (default 1000), so no
	// statement holds locks or writes WAL for long.
	Batch  int
	Logger *slog.Logger

	pruned metric.Int64Counter
}

// Instrument registers the counter of deleted requests.
func (r *Retention) Instrument(meter metric.Meter) error {
	var err error
	r.pruned, err = meter.Int64Counter("conversions.inbox.pruned",
		metric.WithDescription("Stored requests deleted by the inbox retention (INBOX_RETENTION)."))
	return err
}

func (r *Retention) defaults() {
	r.Now = clock.OrSystem(r.Now)
	if r.Interval <= 0 {
		r.Interval = time.Hour
	}
	if r.Batch <= 0 {
		r.Batch = 1000
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
}

// Run sweeps at once and then every Interval until ctx ends. A sweep that
// fails (the database is down) is logged and tried again at the next tick:
// retention must never stop the service.
func (r *Retention) Run(ctx context.Context) error {
	if r.Keep <= 0 {
		return nil
	}
	r.defaults()
	tick := time.NewTicker(r.Interval)
	defer tick.Stop()
	for {
		if n, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
			r.Logger.Warn("inbox retention failed; will retry", "deleted", n, "retry_in", r.Interval.String(), "error", err.Error())
		} else if n > 0 {
			r.Logger.Info("inbox retention deleted old requests", "deleted", n, "keep", r.Keep.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Sweep deletes, batch by batch, every request received more than Keep
// before now whose event was published, and returns how many it deleted.
func (r *Retention) Sweep(ctx context.Context) (int, error) {
	r.defaults()
	if r.Keep <= 0 {
		return 0, nil
	}
	cutoff := r.Now().Add(-r.Keep)
	total := 0
	for ctx.Err() == nil {
		n, err := r.Store.PruneInbox(ctx, cutoff, r.Batch)
		total += n
		if r.pruned != nil && n > 0 {
			r.pruned.Add(ctx, int64(n))
		}
		if err != nil || n < r.Batch {
			return total, err
		}
	}
	return total, ctx.Err()
}
