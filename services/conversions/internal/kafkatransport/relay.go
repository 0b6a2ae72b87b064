package kafkatransport

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/metric"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// Relay moves outbox events to Kafka. Replicas all run one; the outbox's
// lease lets exactly one publish at a time, so each conversion's events
// reach their partition in the order they were accepted. If the holder
// dies, its lease goes with its connection and a standby takes over
// within StandbyPoll.
//
// A publish that fails is retried with backoff, except when Kafka refuses
// a message as too large (kafkax.IsMessageTooLarge): no retry can deliver
// it, and retrying it would hold every later event back forever. Such an
// event is set aside (OutboxLease.Park), counted, and logged as an error,
// and the events behind it go on.
//
// While it removes events, the relay also has their space reclaimed every
// ReclaimEvery (OutboxLease.Reclaim), beside its publishing, so the queue
// does not grow between the database's own vacuums. Not while it drains a
// backlog (batches come back full): then the table is mostly dead rows
// and a vacuum every few seconds would read it all each time. Once a
// backlog is drained, the next reclaim also shrinks the table.
type Relay struct {
	Outbox      conversion.Outbox
	Publisher   *kafkax.Publisher
	Logger      *slog.Logger
	Now         clock.Clock   // when an event was set aside; nil: the system clock
	Batch       int           // events per publish, default 500
	Poll        time.Duration // idle poll, default 20ms
	StandbyPoll time.Duration // how often a standby tries the lease, default 2s
	// ReclaimEvery is how often the relay reclaims the space of the
	// events it removed, while it removes any: default 2s; negative,
	// never (the database's own vacuum alone).
	ReclaimEvery time.Duration

	// tick is the monotonic clock of ReclaimEvery (a test steps it); nil:
	// time.Now.
	tick func() time.Time

	published, failures, parked, reclaims metric.Int64Counter
}

// Instrument registers the relay's counters.
func (r *Relay) Instrument(meter metric.Meter) error {
	var err error
	if r.published, err = meter.Int64Counter("conversions.outbox.published",
		metric.WithDescription("Events published from the outbox and acknowledged.")); err != nil {
		return err
	}
	if r.reclaims, err = meter.Int64Counter("conversions.outbox.reclaims",
		metric.WithDescription("Vacuums of the outbox the relay ran to reuse the space of published events.")); err != nil {
		return err
	}
	if r.parked, err = meter.Int64Counter("conversions.outbox.parked",
		metric.WithDescription("Events Kafka refused as too large, set aside in conversions.outbox_parked instead of blocking the outbox.")); err != nil {
		return err
	}
	r.failures, err = meter.Int64Counter("conversions.outbox.publish_errors",
		metric.WithDescription("Failed attempts to publish a batch from the outbox."))
	return err
}

func (r *Relay) defaults() {
	r.Now = clock.OrSystem(r.Now)
	if r.Batch <= 0 {
		r.Batch = 500
	}
	if r.Poll <= 0 {
		r.Poll = 20 * time.Millisecond
	}
	if r.StandbyPoll <= 0 {
		r.StandbyPoll = 2 * time.Second
	}
	if r.ReclaimEvery == 0 {
		r.ReclaimEvery = 2 * time.Second
	}
	if r.tick == nil {
		r.tick = time.Now
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
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
	lease, ok, err := r.Outbox.LeaseOutbox(ctx)
	if err != nil || !ok {
		return err // !ok: another replica relays; stand by
	}
	defer lease.Close()
	r.Logger.Info("outbox relay holds the lease")
	backoff := 100 * time.Millisecond
	reclaim := reclaimer{every: r.ReclaimEvery, last: r.tick()}
	reclaiming := make(chan struct{}, 1) // holds a token while a reclaim runs
	// The lease outlives its reclaims: on the way out, the one in flight
	// is cancelled (deferred last, run first), then its token awaited.
	defer func() { reclaiming <- struct{}{} }()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for {
		n, err := r.relayBatch(ctx, lease)
		if due, shrink := reclaim.due(n, n == r.Batch, r.tick()); due {
			select {
			case reclaiming <- struct{}{}:
				go func() {
					defer func() { <-reclaiming }()
					r.reclaim(rctx, lease, shrink)
				}()
			default: // the last one still runs: this one is not needed
			}
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errPublish):
			r.add(ctx, r.failures, 1)
			r.Logger.Warn("publish from outbox failed; events stay in the outbox", "retry_in", backoff.String(), "error", kafkax.ErrorText(err))
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

// reclaim has the space of removed events reclaimed. A failure loses
// nothing (the rows are already gone) and the database's own vacuum still
// runs: it is logged, and the relay goes on.
func (r *Relay) reclaim(ctx context.Context, lease conversion.OutboxLease, shrink bool) {
	if err := lease.Reclaim(ctx, shrink); err != nil {
		if ctx.Err() == nil {
			r.Logger.Warn("could not reclaim the outbox's space; autovacuum will", "error", err.Error())
		}
		return
	}
	r.add(ctx, r.reclaims, 1)
}

// reclaimer decides when the relay reclaims the space of removed events:
// every so often, once some were removed since the last time, and never
// while a backlog drains; the first time after one, it also shrinks the
// table.
type reclaimer struct {
	every   time.Duration
	last    time.Time
	removed int  // events removed since the last reclaim
	backlog bool // a full batch came since the last reclaim
}

// due counts n events removed by a batch (full: as many as the relay asks
// for, so more wait) at now, and reports whether to reclaim now and
// whether to shrink the table too; if so, it starts counting afresh.
func (c *reclaimer) due(n int, full bool, now time.Time) (reclaim, shrink bool) {
	c.removed += n
	if full {
		c.backlog = true
		return false, false
	}
	if c.every < 0 || c.removed == 0 || now.Sub(c.last) < c.every {
		return false, false
	}
	shrink = c.backlog
	c.removed, c.last, c.backlog = 0, now, false
	return true, shrink
}

// errPublish marks a failure to publish, which the relay retries with
// backoff while it keeps the lease; any other error is the store's.
var errPublish = errors.New("publish")

// relayBatch publishes the oldest waiting events and returns how many left
// the outbox (published or set aside).
func (r *Relay) relayBatch(ctx context.Context, lease conversion.OutboxLease) (int, error) {
	queued, err := lease.Next(ctx, r.Batch)
	if err != nil || len(queued) == 0 {
		return 0, err
	}
	err = r.Publisher.Publish(ctx, messages(queued)...)
	switch {
	case err == nil:
	case tooLarge(err):
		// Which message? kafka-go names it only for its own size check;
		// a broker's refusal covers a whole produce request. Sending the
		// batch one event at a time, in order, finds out for certain.
		return r.oneByOne(ctx, lease, queued)
	default:
		return 0, errors.Join(errPublish, err)
	}
	// Acknowledged by Kafka: now, and only now, the events leave.
	if err := lease.Published(ctx, ids(queued)); err != nil {
		return 0, err
	}
	r.add(ctx, r.published, int64(len(queued)))
	return len(queued), nil
}

// oneByOne publishes queued one event at a time, in order, setting aside
// each that Kafka refuses as too large. Any other failure stops it, so no
// event overtakes one that is still waiting; those published by then
// leave the outbox.
func (r *Relay) oneByOne(ctx context.Context, lease conversion.OutboxLease, queued []conversion.QueuedMessage) (int, error) {
	var done []int64
	var failed error
	left := 0
	for _, q := range queued {
		err := r.Publisher.Publish(ctx, message(q))
		if err == nil {
			done = append(done, q.ID)
			continue
		}
		if !tooLarge(err) {
			failed = errors.Join(errPublish, err)
			break
		}
		if perr := lease.Park(ctx, q.ID, err.Error(), r.Now()); perr != nil {
			failed = perr
			break
		}
		left++
		r.add(ctx, r.parked, 1)
		r.Logger.Error("event set aside: Kafka refuses it as too large; it waits in conversions.outbox_parked",
			"outbox_id", q.ID, "inbox_id", q.InboxID, "topic", q.Topic, "key", string(q.Key), "bytes", len(q.Value), "error", err.Error())
	}
	if err := lease.Published(ctx, done); err != nil {
		return left, err
	}
	r.add(ctx, r.published, int64(len(done)))
	return left + len(done), failed
}

// tooLarge reports whether a publish failed because of a message's size:
// kafka-go's own check fails the whole call, a broker's MESSAGE_TOO_LARGE
// comes back per message in kafka.WriteErrors.
func tooLarge(err error) bool {
	if kafkax.IsMessageTooLarge(err) {
		return true
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil && kafkax.IsMessageTooLarge(e) {
				return true
			}
		}
	}
	return false
}

func message(q conversion.QueuedMessage) kafka.Message {
	m := kafka.Message{Topic: q.Topic, Key: q.Key, Value: q.Value}
	for k, v := range q.Headers {
		m.Headers = append(m.Headers, kafka.Header{Key: k, Value: []byte(v)})
	}
	return m
}

func messages(queued []conversion.QueuedMessage) []kafka.Message {
	out := make([]kafka.Message, len(queued))
	for i, q := range queued {
		out[i] = message(q)
	}
	return out
}

func ids(queued []conversion.QueuedMessage) []int64 {
	out := make([]int64, len(queued))
	for i, q := range queued {
		out[i] = q.ID
	}
	return out
}

func (r *Relay) add(ctx context.Context, c metric.Int64Counter, n int64) {
	if c != nil && n > 0 {
		c.Add(ctx, n)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
