package kafkatransport

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
	"github.com/linkcredit/linkcredit/pkg/pollwait"
	"github.com/linkcredit/linkcredit/services/redirect/internal/clicklog"
)

// Shipper publishes the click log to clicks.v1. A click Kafka refuses as
// too large is set aside to clicks.v1.dlq rather than retried (publish).
type Shipper struct {
	Log       *clicklog.Log
	Publisher *kafkax.Publisher
	Logger    *slog.Logger
	BatchSize int           // default 1000
	Linger    time.Duration // how long a click may wait for its batch to fill, default DefaultLinger
	// Drain, when closed, tells the shipper that no more clicks will come
	// (the HTTP server stopped): it returns once the log is shipped.
	Drain <-chan struct{}

	shipped, failures, aside metric.Int64Counter
	setAsideBackoff          time.Duration // the first retry of a dead-letter write, default 100ms
}

// Instrument registers the shipper's and the click log's metrics.
func (s *Shipper) Instrument(meter metric.Meter) error {
	var err error
	if s.shipped, err = meter.Int64Counter("redirect.clicklog.shipped",
		metric.WithDescription("Clicks published to Kafka and acknowledged.")); err != nil {
		return err
	}
	if s.failures, err = meter.Int64Counter("redirect.clicklog.ship_errors",
		metric.WithDescription("Failed attempts to publish a batch of clicks.")); err != nil {
		return err
	}
	if s.aside, err = meter.Int64Counter("redirect.clicklog.set_aside",
		metric.WithDescription("Clicks Kafka refused as too large, set aside instead of retried, by outcome: dead_letter (the click is on clicks.v1.dlq) or dropped (it is not: too large for that topic too, or the topic cannot be written).")); err != nil {
		return err
	}
	gauge := func(name, desc, unit string, f func(clicklog.Stats) float64) error {
		_, err := meter.Float64ObservableGauge(name, metric.WithDescription(desc), metric.WithUnit(unit),
			metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
				o.Observe(f(s.Log.Stats(time.Now())))
				return nil
			}))
		return err
	}
	return errors.Join(
		gauge("redirect.clicklog.bytes", "Bytes of click log on disk.", "By", func(st clicklog.Stats) float64 { return float64(st.Bytes) }),
		gauge("redirect.clicklog.unshipped_bytes", "Bytes of clicks not yet acknowledged by Kafka (shipper lag).", "By", func(st clicklog.Stats) float64 { return float64(st.Unacked) }),
		gauge("redirect.clicklog.oldest_unshipped_age", "Age of the oldest click not yet acknowledged by Kafka.", "s", func(st clicklog.Stats) float64 { return st.OldestAge.Seconds() }),
		gauge("redirect.clicklog.budget_used", "Share of the click log's disk budget in use; at 1 redirects fail with 503.", "1", func(st clicklog.Stats) float64 { return st.BudgetUsed }),
	)
}

// Run ships until ctx ends. Everything appended before ctx ended and
// acknowledged by Kafka is committed; the rest ships on the next start.
func (s *Shipper) Run(ctx context.Context) error {
	batch := s.BatchSize
	if batch <= 0 {
		batch = 1000
	}
	pos := s.Log.Acked()
	// Between slices of a batch's work the shipper waits for the next
	// network poll, so that a server given one core reads the requests
	// that came in meanwhile before it goes on (pollwait; the batch's
	// compression waits the same way: kafkax's snappy and lz4 codecs).
	poll := pollwait.New()
	defer poll.Close()
	// Reused for every batch: a busy shipper allocates nothing per click.
	msgs := make([]kafka.Message, 0, batch)
	headers := make([]kafka.Header, 0, batch)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		recs, next, err := s.Log.Read(pos, batch)
		if err != nil {
			if errors.Is(err, clicklog.ErrCorrupt) {
				// Only a failing disk corrupts a record that was whole when
				// written. Ship what is readable and skip the rest of the
				// segment, loudly.
				s.Logger.Error("click log segment is corrupt; skipping its rest", "segment", next.Segment, "offset", next.Offset, "error", err.Error())
				if len(recs) == 0 {
					next = s.Log.SkipSegment(next)
					if err := s.Log.Commit(next); err != nil {
						return err
					}
					if next == pos && !sleep(ctx, time.Second) { // could not skip: do not spin
						return nil
					}
					pos = next
					continue
				}
			} else {
				s.Logger.Error("read click log", "error", err.Error())
				if !sleep(ctx, time.Second) {
					return nil
				}
				continue
			}
		}
		if len(recs) == 0 {
			select {
			case <-s.Drain:
				return nil // everything appended is acknowledged
			default:
			}
			// Caught up: put the last commit on disk, or a crash before
			// the next click would ship the last batches again.
			if err := s.Log.Checkpoint(); err != nil {
				s.Logger.Error("write the click log's checkpoint", "error", err.Error())
			}
			select {
			case <-ctx.Done():
				return nil
			case <-s.Drain:
			case <-s.Log.Appended():
			case <-tick.C:
			}
			continue
		}
		if wait := s.lingerFor(recs, batch); wait > 0 {
			// A partial batch whose oldest click is younger than the
			// linger: wait for more, so a busy server ships in large
			// batches. Each publish costs a produce request per partition
			// whatever it carries, so a batch of 20 costs about ten times
			// the CPU per click of a batch of 1,000 (BenchmarkShip). The
			// lag this adds is at most the linger.
			select {
			case <-ctx.Done():
				return nil
			case <-s.Drain:
			case <-time.After(wait):
			}
			continue // read again from pos: the batch has grown
		}
		// The messages point into recs, which the next Read reuses: they
		// are done with once publish returns.
		msgs = msgs[:0]
		headers = headers[:0]
		for i, r := range recs {
			if i%shipSlice == 0 {
				poll.Wait() // after the read's, and each slice's, few hundred µs
			}
			key, tp, value, err := parseFrame(r.Payload)
			if err != nil {
				s.Logger.Error("click log record is not a frame; skipped", "error", err.Error())
				continue
			}
			msg := kafka.Message{Topic: events.TopicClicks, Key: key, Value: value}
			if len(tp) > 0 {
				headers = append(headers, kafka.Header{Key: "traceparent", Value: tp})
				msg.Headers = headers[len(headers)-1 : len(headers) : len(headers)]
			}
			msgs = append(msgs, msg)
		}
		shipped, ok := s.publish(ctx, msgs)
		if !ok {
			return nil
		}
		if err := s.Log.Commit(next); err != nil {
			return err
		}
		s.count(ctx, s.shipped, int64(shipped))
		pos = next
	}
}

func (s *Shipper) count(ctx context.Context, c metric.Int64Counter, n int64) {
	if c != nil {
		c.Add(ctx, n, metric.WithAttributes(attribute.String("topic", events.TopicClicks)))
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// shipSlice is how many clicks of a batch the shipper turns into
// messages between two waits for the network poll: about 100 µs of work.
const shipSlice = 250

// DefaultLinger is how long a click may wait in the click log for its
// batch to fill when Shipper.Linger is zero.
const DefaultLinger = 50 * time.Millisecond

// lingerFor says how much longer to wait before shipping recs: nothing
// for a full batch or once draining, else until the oldest of them has
// waited the linger.
func (s *Shipper) lingerFor(recs []clicklog.Record, batch int) time.Duration {
	if len(recs) >= batch {
		return 0
	}
	select {
	case <-s.Drain:
		return 0
	default:
	}
	linger := s.Linger
	if linger <= 0 {
		linger = DefaultLinger
	}
	// Bounded by the linger: a clock set back must not hold clicks.
	return min(linger-time.Since(recs[0].AppendedAt), linger)
}
