package kafkax

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/linkcredit/linkcredit/pkg/clock"
)

// WriterConfig configures NewWriter. Zero fields take the defaults.
type WriterConfig struct {
	Brokers []string
	// BatchTimeout bounds how long a message waits for its batch to fill.
	// Default 2ms: kafka-go's default of 1 s would make every synchronous
	// write wait a second.
	BatchTimeout time.Duration
	// BatchSize is the most messages per batch (default 1000).
	BatchSize int
	// WriteTimeout bounds one produce request (default 10s).
	WriteTimeout time.Duration
	// MaxAttempts per batch before WriteMessages fails (default 3).
	MaxAttempts int
	// Compression of batches: none (the default here), gzip, snappy, lz4
	// or zstd. Compression trades producer CPU for network, disk and the
	// broker's copying; the services' default (pkg/platform) is snappy.
	Compression string
	// Security is TLS and SASL towards the brokers (zero: plaintext).
	Security Security
	// Balancer picks each message's partition (default: a hash of its
	// key, so one key stays in order).
	Balancer kafka.Balancer
}

// OnePartitionAPublish is a balancer for messages that need no order
// among themselves (clicks: each is its own key): every message of one
// Publish goes to one partition, chosen from the instant Publish stamps
// them all with, so successive publishes spread over the partitions.
// kafka-go sends one produce request, with one compressed batch, per
// partition a publish touches: a shipper batch of 1,000 clicks hashed by
// key over clicks.v1's 12 partitions cost twelve of each, about 83 clicks
// apiece (issue 15, docs/performance.md).
type OnePartitionAPublish struct{}

// Balance implements kafka.Balancer.
func (OnePartitionAPublish) Balance(msg kafka.Message, partitions ...int) int {
	h := uint64(msg.Time.UnixNano()) * 0x9e3779b97f4a7c15 // Fibonacci hashing: nearby instants spread
	return partitions[(h>>32)%uint64(len(partitions))]
}

// ParseCompression maps a compression name to kafka-go's codec.
func ParseCompression(name string) (kafka.Compression, error) {
	switch name {
	case "", "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("unknown compression %q (none, gzip, snappy, lz4, zstd)", name)
}

// MaxBatchBytes keeps every produce request below Apache Kafka's default
// message.max.bytes (1,048,588), so a full batch is never refused as too
// large; a single message above it fails alone (IsMessageTooLarge).
const MaxBatchBytes = 1_000_000

// IsMessageTooLarge reports whether a write failed because a message (or
// its batch) is above the broker's or the writer's size limit. No retry
// can fix that, so producers set such a message aside instead of retrying
// it forever.
func IsMessageTooLarge(err error) bool {
	var tooLarge kafka.MessageTooLargeError
	if errors.As(err, &tooLarge) || errors.Is(err, kafka.MessageSizeTooLarge) {
		return true
	}
	// A broker's refusal of single messages comes as kafka.WriteErrors, one
	// entry per message (nil for those it took), which errors.As cannot see
	// into.
	var each kafka.WriteErrors
	if errors.As(err, &each) {
		for _, e := range each {
			if e != nil && IsMessageTooLarge(e) {
				return true
			}
		}
	}
	return false
}

// NewWriter returns a synchronous writer: WriteMessages returns once every
// in-sync replica has the messages (acks=all). Messages name their topic;
// their key picks the partition through a hash, so one key stays in order.
func NewWriter(cfg WriterConfig) *kafka.Writer {
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = 2 * time.Millisecond
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	compression, _ := ParseCompression(cfg.Compression) // validated with the config
	var transport kafka.RoundTripper
	if cfg.Security != (Security{}) {
		tr, _ := cfg.Security.transport(10 * time.Second) // validated with the config
		transport = tr
	}
	balancer := cfg.Balancer
	if balancer == nil {
		balancer = &kafka.Hash{}
	}
	return &kafka.Writer{
		Transport:    newTopicMetadataCache(transport),
		Addr:         kafka.TCP(cfg.Brokers...),
		Balancer:     balancer,
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: cfg.BatchTimeout,
		BatchSize:    cfg.BatchSize,
		BatchBytes:   MaxBatchBytes,
		WriteTimeout: cfg.WriteTimeout,
		ReadTimeout:  cfg.WriteTimeout,
		MaxAttempts:  cfg.MaxAttempts,
		Compression:  compression,
		// Topics are created deliberately (EnsureTopics, or the operator);
		// a typo must fail, not create a topic nobody reads.
		AllowAutoTopicCreation: false,
	}
}

// MessageWriter is what Publisher writes through: *kafka.Writer, or a fake
// in unit tests.
type MessageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Publisher writes messages with a producer span and trace context headers.
type Publisher struct {
	now        clock.Clock
	w          MessageWriter
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
}

// NewPublisher wraps w. Messages without a time get now's reading, the
// service's clock rather than the client library's, so the Kafka
// timestamps that reporting books late events by agree with the service's
// idea of the date (nil: the system clock). A nil tracer provider disables
// spans; a nil propagator uses W3C trace context.
func NewPublisher(w MessageWriter, now clock.Clock, tp trace.TracerProvider, p propagation.TextMapPropagator) *Publisher {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	if p == nil {
		p = propagation.TraceContext{}
	}
	return &Publisher{now: clock.OrSystem(now), w: w, tracer: tp.Tracer("github.com/linkcredit/linkcredit/pkg/kafkax"), propagator: p}
}

// Publish writes msgs and returns once the cluster acknowledged all of them.
// Each message without a traceparent header gets the span's context.
func (p *Publisher) Publish(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	topic := msgs[0].Topic
	ctx, span := p.tracer.Start(ctx, "send "+topic, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", topic),
			attribute.Int("messaging.batch.message_count", len(msgs)),
		))
	defer span.End()
	now := p.now()
	for i := range msgs {
		Inject(ctx, p.propagator, &msgs[i])
		if msgs[i].Time.IsZero() {
			msgs[i].Time = now
		}
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "write failed")
		return fmt.Errorf("kafkax: publish %d messages to %s: %w", len(msgs), topic, err)
	}
	return nil
}

// rootCause is the innermost error err wraps.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// ErrorText is err as a log line says it. kafka-go's per-message errors
// (kafka.WriteErrors) repeat one message per message, so a failed batch of
// 500 logged 500 copies of one i/o timeout: they are counted instead, each
// distinct cause once (the innermost error: "i/o timeout", not each
// connection's "read tcp <its address>: i/o timeout") with how many
// messages it failed, at most three.
func ErrorText(err error) string {
	var each kafka.WriteErrors
	if !errors.As(err, &each) || each.Count() == 0 {
		return err.Error()
	}
	var order []string
	counts := map[string]int{}
	for _, e := range each {
		if e == nil {
			continue
		}
		msg := rootCause(e).Error() // "i/o timeout", not each connection's own address
		if counts[msg] == 0 {
			order = append(order, msg)
		}
		counts[msg]++
	}
	parts := make([]string, 0, 3)
	for i, msg := range order {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d other errors", len(order)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%d)", msg, counts[msg]))
	}
	return fmt.Sprintf("%d of %d messages failed: %s", each.Count(), len(each), strings.Join(parts, "; "))
}
