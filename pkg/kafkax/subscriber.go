package kafkax

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
)

// Handler handles a batch of messages. It returns nil only when every
// message's effect is durable. An error whose kind errs.Decide calls
// DeadLetter marks the batch as holding poison: the subscriber then hands
// the messages over one by one to find it. Any other error retries the
// batch. Handlers must be idempotent: after a crash or a rebalance, a batch
// whose commit did not happen is delivered again. The subscriber reuses the
// msgs slice for the next batch: a handler keeps no reference to it (the
// messages' Key and Value are its own to keep).
type Handler interface {
	Handle(ctx context.Context, msgs []kafka.Message) error
}

// Poisoned is what a batch handler returns when it made every message of
// its batch durable except the poison ones it names (by index in the
// batch): the subscriber dead-letters those and commits the batch, instead
// of handing the messages over one by one.
type Poisoned struct {
	Reasons map[int]error
}

func (p *Poisoned) Error() string {
	return fmt.Sprintf("kafkax: %d poison messages in the batch", len(p.Reasons))
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, msgs []kafka.Message) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, msgs []kafka.Message) error { return f(ctx, msgs) }

// SubscriberConfig configures a Subscriber. Zero fields take defaults.
type SubscriberConfig struct {
	Brokers []string
	GroupID string // <service>.<purpose>
	Topics  []string
	// BatchSize is the most messages per Handle call (default 1).
	BatchSize int
	// BatchWait is how long to wait for a batch to fill once its first
	// message is there (default 50ms).
	BatchWait time.Duration
	// MinBackoff and MaxBackoff bound the retry delay (defaults 100ms, 30s).
	MinBackoff, MaxBackoff time.Duration
	// SessionTimeout for the consumer group (default 10s).
	SessionTimeout time.Duration
	// Security is TLS and SASL towards the brokers (zero: plaintext).
	Security Security
	// DeadLetter writes poison messages to <topic>.dlq. Required.
	DeadLetter MessageWriter
	// Classify, when set, gives a handler's error its kind before the
	// subscriber decides (database.Classify: a lost connection is
	// Unavailable, a value Postgres refuses is poison).
	Classify func(error) error
	// MaxAttempts bounds the attempts at a batch whose error is neither
	// Unavailable nor poison (an unforeseen error, perhaps caused by one
	// message); the batch is then split until the failing message is
	// found and dead-lettered, and the rest is applied. Unavailable errors
	// retry without limit. Zero retries every error without limit.
	MaxAttempts int

	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
}

func (c *SubscriberConfig) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 1
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 50 * time.Millisecond
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(30*time.Second, c.MinBackoff)
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.TracerProvider == nil {
		c.TracerProvider = noop.NewTracerProvider()
	}
	if c.MeterProvider == nil {
		c.MeterProvider = metricnoop.NewMeterProvider()
	}
	if c.Propagator == nil {
		c.Propagator = propagation.TraceContext{}
	}
}

// Validate reports a configuration the subscriber cannot run with.
func (c *SubscriberConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("kafkax: subscriber needs brokers")
	case c.GroupID == "":
		return errors.New("kafkax: subscriber needs a group id: commits are per group")
	case len(c.Topics) == 0:
		return errors.New("kafkax: subscriber needs topics")
	case c.DeadLetter == nil:
		return errors.New("kafkax: subscriber needs a dead-letter writer")
	}
	return c.Security.Validate()
}

// Subscriber consumes topics in a consumer group.
type Subscriber struct {
	cfg     SubscriberConfig
	handler Handler
	reader  *kafka.Reader
	tracer  trace.Tracer

	handled  metric.Int64Counter
	duration metric.Float64Histogram
	// attempts is how often the batch at the head has failed in a row:
	// a gauge an alert watches (a partition that does not move).
	attempts atomic.Int64
}

// NewSubscriber returns a subscriber; Run starts it.
func NewSubscriber(cfg SubscriberConfig, h Handler) (*Subscriber, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dialer, err := cfg.Security.Dialer()
	if err != nil {
		return nil, err
	}
	reader := kafka.NewReader(kafka.ReaderConfig{
		Dialer:      dialer,
		Brokers:     cfg.Brokers,
		GroupID:     cfg.GroupID,
		GroupTopics: cfg.Topics,
		MinBytes:    1,
		// Twice a produce request's most (MaxBatchBytes), so any batch
		// fits. Not more: with 16 MiB fetches the dev broker (kfake), which
		// builds each response in fresh memory, took two thirds of a
		// 2-core machine while reporting caught up on 300,000 clicks, and
		// reporting ingested 14-17k clicks/s; with 2 MiB it took a tenth,
		// and reporting ingested 20-30k/s (make bench, issue 15).
		MaxBytes: 2 * MaxBatchBytes,
		// MaxWait bounds a fetch with no data; kafka-go's 10 s default also
		// makes Close block that long.
		MaxWait:           250 * time.Millisecond,
		ReadBatchTimeout:  time.Second,
		QueueCapacity:     queueCapacity(cfg.BatchSize),
		CommitInterval:    0, // synchronous commits: CommitMessages returns once committed
		StartOffset:       kafka.FirstOffset,
		SessionTimeout:    cfg.SessionTimeout,
		HeartbeatInterval: cfg.SessionTimeout / 5,
		RebalanceTimeout:  2 * cfg.SessionTimeout,
		JoinGroupBackoff:  500 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			cfg.Logger.Warn("kafka reader", "group", cfg.GroupID, "detail", fmt.Sprintf(msg, args...))
		}),
	})
	meter := cfg.MeterProvider.Meter("github.com/linkcredit/linkcredit/pkg/kafkax")
	handled, err := meter.Int64Counter("kafkax.consumer.messages",
		metric.WithDescription("Messages a consumer finished with, by outcome: handled, dead_letter."))
	if err != nil {
		return nil, err
	}
	duration, err := meter.Float64Histogram("kafkax.consumer.batch.duration",
		metric.WithDescription("Time to handle one batch, retries included."), metric.WithUnit("s"),
		// Seconds, not the SDK's default boundaries, which are for milliseconds.
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
	if err != nil {
		return nil, err
	}
	s := &Subscriber{cfg: cfg, handler: h, reader: reader, handled: handled, duration: duration,
		tracer: cfg.TracerProvider.Tracer("github.com/linkcredit/linkcredit/pkg/kafkax")}
	if _, err := meter.Int64ObservableGauge("kafkax.consumer.retry.attempts",
		metric.WithDescription("Failed attempts in a row at the batch the consumer is on; above a few, its partitions are not moving."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(s.attempts.Load(), metric.WithAttributes(attribute.String("group", cfg.GroupID)))
			return nil
		})); err != nil {
		return nil, err
	}
	if _, err := meter.Int64ObservableGauge("kafkax.consumer.lag",
		metric.WithDescription("Messages between the group's position and the end of the partition, as last fetched."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(s.reader.Stats().Lag, metric.WithAttributes(attribute.String("group", cfg.GroupID)))
			return nil
		})); err != nil {
		return nil, err
	}
	return s, nil
}

// Run consumes until ctx ends, then closes the reader. A batch being
// handled when ctx ends is not committed; it is delivered again later.
func (s *Subscriber) Run(ctx context.Context) error {
	defer s.reader.Close()
	fetchDelay := s.cfg.MinBackoff
	// One array holds every batch in turn: a batch is committed (or ctx
	// ended) before the next is fetched, and handlers keep no message.
	// Growing a fresh one to 20,000 messages each batch was a twentieth
	// of reporting's CPU catching up on clicks (make bench, issue 15).
	var held []kafka.Message
	for {
		clear(held) // the messages' memory is not kept alive by the array
		batch, err := s.fetchBatch(ctx, held[:0])
		held = batch
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The reader reconnects by itself; what it reports (a reset
			// connection, a broker restarting, a partition without a
			// leader for a while) passes. Fetch again after a pause
			// rather than stop consuming.
			s.cfg.Logger.WarnContext(ctx, "kafka consumer fetch failed; fetching again", "group", s.cfg.GroupID,
				"delay", fetchDelay.String(), "error", err.Error())
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(fetchDelay + rand.N(fetchDelay/4+1)):
			}
			fetchDelay = min(2*fetchDelay, s.cfg.MaxBackoff)
			continue
		}
		fetchDelay = s.cfg.MinBackoff
		start := time.Now()
		if err := s.process(ctx, batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.duration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(attribute.String("group", s.cfg.GroupID)))
	}
}

// fetchBatch blocks for one message, then takes whatever else arrives
// within BatchWait, up to BatchSize, appending them to batch.
func (s *Subscriber) fetchBatch(ctx context.Context, batch []kafka.Message) ([]kafka.Message, error) {
	first, err := s.reader.FetchMessage(ctx)
	if err != nil {
		return batch, err
	}
	batch = append(batch, first)
	if s.cfg.BatchSize == 1 {
		return batch, nil
	}
	fillCtx, cancel := context.WithTimeout(ctx, s.cfg.BatchWait)
	defer cancel()
	for len(batch) < s.cfg.BatchSize {
		msg, err := s.reader.FetchMessage(fillCtx)
		if err != nil {
			break // the wait is over (or ctx ended: the caller sees it)
		}
		batch = append(batch, msg)
	}
	return batch, nil
}

// process handles a batch until it succeeds, dead-letters its poison, and
// commits it.
func (s *Subscriber) process(ctx context.Context, batch []kafka.Message) error {
	if err := s.settle(ctx, batch, s.cfg.MaxAttempts); err != nil {
		return err // only ctx ending stops retries
	}
	return s.retry(ctx, "commit", func() error { return s.reader.CommitMessages(ctx, batch...) })
}

// settle makes every message of batch either handled or dead-lettered. A
// batch with poison it cannot place is halved until each poison message is
// alone, so the rest is applied in a few calls, not one call per message.
// maxAttempts bounds the attempts at an unforeseen error (0: no bound).
// Once a batch has used them all, each half gets a single attempt: its
// messages have already failed maxAttempts times, and retrying every half
// of every level in full would stall the partition for minutes.
func (s *Subscriber) settle(ctx context.Context, batch []kafka.Message, maxAttempts int) error {
	err := s.handleWithRetry(ctx, batch, maxAttempts)
	var poisoned *Poisoned
	switch {
	case err == nil:
		s.count(ctx, batch, "handled")
	case errors.As(err, &poisoned):
		for i, msg := range batch {
			if reason, bad := poisoned.Reasons[i]; bad {
				if err := s.deadLetter(ctx, msg, reason); err != nil {
					return err
				}
				continue
			}
			s.count(ctx, []kafka.Message{msg}, "handled")
		}
	case errs.Decide(err) == errs.DeadLetter && len(batch) > 1:
		if errors.Is(err, errRetriesExhausted) {
			maxAttempts = 1
		}
		half := len(batch) / 2
		if err := s.settle(ctx, batch[:half], maxAttempts); err != nil {
			return err
		}
		return s.settle(ctx, batch[half:], maxAttempts)
	case errs.Decide(err) == errs.DeadLetter:
		return s.deadLetter(ctx, batch[0], err)
	default:
		return err
	}
	return nil
}

// errRetriesExhausted marks an unforeseen error that failed MaxAttempts
// times: it is treated as poison.
var errRetriesExhausted = errs.New(errs.Unprocessable, "retries_exhausted", "the message failed every attempt")

// handleWithRetry retries transient failures with backoff until ctx ends;
// it returns nil, a poison error, or ctx's error.
func (s *Subscriber) handleWithRetry(ctx context.Context, batch []kafka.Message, maxAttempts int) error {
	defer s.attempts.Store(0)
	var poison error
	err := s.retry(ctx, "handle", func() error {
		err := s.handleTraced(ctx, batch)
		if err != nil && s.cfg.Classify != nil {
			err = s.cfg.Classify(err)
		}
		var poisoned *Poisoned
		if err != nil && (errs.Decide(err) == errs.DeadLetter || errors.As(err, &poisoned)) {
			poison = err
			return nil
		}
		if err != nil {
			n := s.attempts.Add(1)
			if maxAttempts > 0 && n >= int64(maxAttempts) && !errors.Is(err, errs.Unavailable) {
				poison = fmt.Errorf("%w after %d attempts: %w", errRetriesExhausted, n, err)
				return nil
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	return poison
}

// queueCapacity is how many fetched messages the reader may hold ahead of
// the handler: one batch's worth, at most maxQueued. Room for two whole
// batches (40,000 of reporting's 20,000) made each of its three consumers
// hold up to 60,000 messages while catching up, and on this kind of
// machine every page a growing heap touches first is dear: 125,000 page
// faults in 8 s were a third of reporting's CPU, and reporting peaked at
// 557 MB. With 4,096 it peaked at 318-344 MB, its CPU a click went from
// 27-34 to 19-25 us, and it ingested 31-48k clicks/s (about 38k on
// average) instead of 24-35k (about 28k) (make bench, PHASES=ingest,
// issue 15). A fetch is at most 2 MB (about 4,000 clicks uncompressed,
// several times that with lz4: the queue bounds what is held), so the
// reader still has a fetch ready while a batch is written.
func queueCapacity(batchSize int) int {
	return max(100, min(batchSize, maxQueued))
}

const maxQueued = 4096

// maxLinks bounds the links a batch's span gets to its messages' producer
// spans: OpenTelemetry's default span limit keeps 128, so extracting
// 20,000 was work thrown away (6 % of reporting's CPU catching up).
const maxLinks = 128

func (s *Subscriber) handleTraced(ctx context.Context, batch []kafka.Message) error {
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.consumer.group.name", s.cfg.GroupID),
			attribute.Int("messaging.batch.message_count", len(batch)),
		),
	}
	spanCtx := ctx
	if len(batch) == 1 {
		spanCtx = Extract(ctx, s.cfg.Propagator, batch[0]) // the producer's span is the parent
	} else {
		var links []trace.Link
		for _, msg := range batch {
			if len(links) == maxLinks {
				break
			}
			if sc := trace.SpanContextFromContext(Extract(ctx, s.cfg.Propagator, msg)); sc.IsValid() {
				links = append(links, trace.Link{SpanContext: sc})
			}
		}
		opts = append(opts, trace.WithLinks(links...))
	}
	spanCtx, span := s.tracer.Start(spanCtx, "process "+batch[0].Topic, opts...)
	defer span.End()
	err := s.handler.Handle(spanCtx, batch)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "handler failed")
	}
	return err
}

// retry runs op until it succeeds or ctx ends, with jittered exponential
// backoff between attempts.
func (s *Subscriber) retry(ctx context.Context, what string, op func() error) error {
	delay := s.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.cfg.Logger.WarnContext(ctx, "kafka consumer will retry", "group", s.cfg.GroupID, "step", what,
			"attempt", attempt, "delay", delay.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay + rand.N(delay/4+1)):
		}
		delay = min(2*delay, s.cfg.MaxBackoff)
	}
}

// Dead-letter headers: why a message was set aside and where it came from.
const (
	HeaderDLQReason    = "dlq-reason"
	HeaderDLQCode      = "dlq-code"
	HeaderDLQTopic     = "dlq-original-topic"
	HeaderDLQPartition = "dlq-original-partition"
	HeaderDLQOffset    = "dlq-original-offset"
	HeaderDLQGroup     = "dlq-group"
	HeaderDLQFailedAt  = "dlq-failed-at"
)

// deadLetter writes msg, unchanged, to its topic's dead-letter twin with
// the reason in headers. It retries until the write succeeds: a poison
// message is committed only once it is safe in the dead-letter topic.
func (s *Subscriber) deadLetter(ctx context.Context, msg kafka.Message, reason error) error {
	code, _ := errs.Public(reason)
	headers := append([]kafka.Header(nil), msg.Headers...)
	headers = append(headers,
		kafka.Header{Key: HeaderDLQReason, Value: []byte(reason.Error())},
		kafka.Header{Key: HeaderDLQCode, Value: []byte(code)},
		kafka.Header{Key: HeaderDLQTopic, Value: []byte(msg.Topic)},
		kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(msg.Partition))},
		kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(msg.Offset, 10))},
		kafka.Header{Key: HeaderDLQGroup, Value: []byte(s.cfg.GroupID)},
		kafka.Header{Key: HeaderDLQFailedAt, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
	)
	dlq := kafka.Message{Topic: events.DeadLetterTopic(msg.Topic), Key: msg.Key, Value: msg.Value, Headers: headers}
	s.cfg.Logger.ErrorContext(ctx, "dead-lettering a message", "group", s.cfg.GroupID, "topic", msg.Topic,
		"partition", msg.Partition, "offset", msg.Offset, "code", code, "reason", reason.Error())
	err := s.retry(ctx, "dead-letter", func() error { return s.cfg.DeadLetter.WriteMessages(ctx, dlq) })
	if err == nil {
		s.count(ctx, []kafka.Message{msg}, "dead_letter")
	}
	return err
}

func (s *Subscriber) count(ctx context.Context, msgs []kafka.Message, outcome string) {
	s.handled.Add(ctx, int64(len(msgs)), metric.WithAttributes(
		attribute.String("group", s.cfg.GroupID),
		attribute.String("topic", msgs[0].Topic),
		attribute.String("outcome", outcome)))
}
