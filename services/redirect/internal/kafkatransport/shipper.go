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
	"github.com/linkcredit/linkcredit/services/redirect/internal/clicklog"
)

// Shipper publishes the click log to clicks.v1. A click Kafka refuses as
// too large is set aside to clicks.v1.dlq rather than retried (publish).
type Shipper struct {
	Log       *clicklog.Log
	Publisher *kafkax.Publisher
	Logger    *slog.Logger
	BatchSize int           // default 1000
	Linger    time.Duration // wait after the first new click for more, default 5ms
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
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
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
			select {
			case <-ctx.Done():
				return nil
			case <-s.Drain:
			case <-s.Log.Appended():
				// Linger a moment so a busy server ships in larger batches:
				// fewer round trips and less CPU per click, 5 ms more lag.
				if !sleep(ctx, s.linger()) {
					return nil
				}
			case <-poll.C:
			}
			continue
		}
		msgs := make([]kafka.Message, 0, len(recs))
		for _, r := range recs {
			key, tp, value, err := parseFrame(r.Payload)
			if err != nil {
				s.Logger.Error("click log record is not a frame; skipped", "error", err.Error())
				continue
			}
			msg := kafka.Message{Topic: events.TopicClicks, Key: key, Value: value}
			if tp != "" {
				msg.Headers = []kafka.Header{{Key: "traceparent", Value: []byte(tp)}}
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

func (s *Shipper) linger() time.Duration {
	if s.Linger > 0 {
		return s.Linger
	}
	return 5 * time.Millisecond
}
