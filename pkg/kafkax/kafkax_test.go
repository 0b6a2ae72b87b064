package kafkax_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

func setup(t *testing.T) []string {
	t.Helper()
	brokers := testkit.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafkax.EnsureTopics(ctx, brokers, kafkax.Security{}, events.Topics()); err != nil {
		t.Fatal(err)
	}
	return brokers
}

func TestEnsureTopicsIsIdempotentAndPingWorks(t *testing.T) {
	brokers := setup(t)
	ctx := context.Background()
	if err := kafkax.EnsureTopics(ctx, brokers, kafkax.Security{}, events.Topics()); err != nil {
		t.Fatalf("second EnsureTopics: %v", err)
	}
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(events.TopicClicks)
	if err != nil || len(parts) != 12 {
		t.Fatalf("clicks.v1 has %d partitions (err %v), want 12", len(parts), err)
	}
	if err := kafkax.Ping(ctx, brokers, kafkax.Security{}); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := kafkax.Ping(pingCtx, []string{"127.0.0.1:1"}, kafkax.Security{}); err == nil {
		t.Fatal("Ping of a closed port succeeded")
	}
}

// collector gathers handled values and lets a test wait for a count.
type collector struct {
	mu   sync.Mutex
	seen []string
	ch   chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1000)} }

func (c *collector) add(v string) {
	c.mu.Lock()
	c.seen = append(c.seen, v)
	c.mu.Unlock()
	c.ch <- struct{}{}
}

func (c *collector) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-c.ch:
		case <-deadline:
			t.Fatalf("saw %d of %d messages", i, n)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

func run(t *testing.T, cfg kafkax.SubscriberConfig, h kafkax.Handler) (stop func()) {
	t.Helper()
	sub, err := kafkax.NewSubscriber(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func publish(t *testing.T, brokers []string, topic string, values ...string) {
	t.Helper()
	w := kafkax.NewWriter(kafkax.WriterConfig{Brokers: brokers})
	defer w.Close()
	p := kafkax.NewPublisher(w, nil, nil, nil)
	var msgs []kafka.Message
	for _, v := range values {
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(v), Value: []byte(v)})
	}
	if err := p.Publish(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// traced starts a broker and returns it, a span recorder, a tracer
// provider recording into it, and a writer to the broker.
func traced(t *testing.T) ([]string, *tracetest.SpanRecorder, *sdktrace.TracerProvider, *kafka.Writer) {
	t.Helper()
	brokers := setup(t)
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	w := kafkax.NewWriter(kafkax.WriterConfig{Brokers: brokers})
	t.Cleanup(func() { w.Close() })
	return brokers, recorder, tp, w
}

func TestSubscriberDeliversTracesAndCommits(t *testing.T) {
	brokers, recorder, tp, w := traced(t)

	// Publish inside a parent span: the consumer's span must join its trace.
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	pub := kafkax.NewPublisher(w, nil, tp, propagation.TraceContext{})
	if err := pub.Publish(ctx, kafka.Message{Topic: events.TopicClicks, Key: []byte("k"), Value: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	parent.End()

	got := newCollector()
	var traceIDs sync.Map
	cfg := kafkax.SubscriberConfig{Brokers: brokers, GroupID: "test.deliver", Topics: []string{events.TopicClicks},
		DeadLetter: w, TracerProvider: tp, SessionTimeout: 2 * time.Second}
	stop := run(t, cfg, kafkax.HandlerFunc(func(ctx context.Context, msgs []kafka.Message) error {
		for _, m := range msgs {
			traceIDs.Store(string(m.Value), kafkax.Header(m, "traceparent"))
			got.add(string(m.Value))
		}
		return nil
	}))
	got.wait(t, 1)
	// The commit follows the handler: stopping before it would rightly
	// deliver v1 again (Run's contract), so wait for it.
	testkit.WaitFor(t, 30*time.Second, func() error { return committed(brokers, "test.deliver", events.TopicClicks) })
	stop()

	tpHeader, _ := traceIDs.Load("v1")
	if !strings.Contains(tpHeader.(string), parent.SpanContext().TraceID().String()) {
		t.Fatalf("traceparent %q does not carry trace %s", tpHeader, parent.SpanContext().TraceID())
	}
	var consumerInTrace bool
	for _, s := range recorder.Ended() {
		if strings.HasPrefix(s.Name(), "process ") && s.SpanContext().TraceID() == parent.SpanContext().TraceID() {
			consumerInTrace = true
		}
	}
	if !consumerInTrace {
		t.Fatal("no consumer span in the producer's trace")
	}

	// Committed: a new member of the group starts after v1.
	publish(t, brokers, events.TopicClicks, "v2")
	again := newCollector()
	run(t, cfg, kafkax.HandlerFunc(func(_ context.Context, msgs []kafka.Message) error {
		for _, m := range msgs {
			again.add(string(m.Value))
		}
		return nil
	}))
	if seen := again.wait(t, 1); seen[0] != "v2" {
		t.Fatalf("after commit the group saw %q first, want v2", seen)
	}
}

// A batch's span links to its messages' producer spans, at most 128 of
// them (OpenTelemetry's default limit): a batch of 300 gets 128, and the
// subscriber does not extract the ones the span would drop.
func TestSubscriberLinksABatchToAtMost128Producers(t *testing.T) {
	brokers, recorder, tp, w := traced(t)
	pub := kafkax.NewPublisher(w, nil, tp, propagation.TraceContext{})
	for i := range 300 {
		ctx, span := tp.Tracer("test").Start(context.Background(), "request")
		if err := pub.Publish(ctx, kafka.Message{Topic: events.TopicClicks, Value: []byte(fmt.Sprintf("v%03d", i))}); err != nil {
			t.Fatal(err)
		}
		span.End()
	}
	got := newCollector()
	stop := run(t, kafkax.SubscriberConfig{Brokers: brokers, GroupID: "test.links", Topics: []string{events.TopicClicks},
		// One batch of all 300, however slowly the 12 partitions arrive.
		BatchSize: 300, BatchWait: 30 * time.Second, DeadLetter: w, TracerProvider: tp, SessionTimeout: 2 * time.Second},
		kafkax.HandlerFunc(func(_ context.Context, msgs []kafka.Message) error {
			for _, m := range msgs {
				got.add(string(m.Value))
			}
			return nil
		}))
	got.wait(t, 300)
	stop()
	var largest int64
	for _, s := range recorder.Ended() {
		if !strings.HasPrefix(s.Name(), "process ") {
			continue
		}
		var n int64
		for _, a := range s.Attributes() {
			if a.Key == "messaging.batch.message_count" {
				n = a.Value.AsInt64()
			}
		}
		want := min(n, 128)
		if n == 1 {
			want = 0 // a batch of one is its producer's child instead
		}
		if got := int64(len(s.Links())); got != want {
			t.Errorf("a batch of %d has %d links, want %d", n, got, want)
		}
		if d := s.DroppedLinks(); d != 0 {
			t.Errorf("a batch of %d dropped %d links: they were extracted for nothing", n, d)
		}
		largest = max(largest, n)
	}
	if largest <= 128 {
		t.Fatalf("the largest batch had %d messages: the test needs one of more than 128", largest)
	}
}

func TestSubscriberDeadLettersPoisonAndKeepsTheRest(t *testing.T) {
	brokers := setup(t)
	w := kafkax.NewWriter(kafkax.WriterConfig{Brokers: brokers})
	defer w.Close()
	var values []string
	for i := range 20 {
		values = append(values, fmt.Sprintf("m%02d", i))
	}
	values[7] = "poison"
	publish(t, brokers, events.TopicConversions, values...)

	got := newCollector()
	run(t, kafkax.SubscriberConfig{Brokers: brokers, GroupID: "test.poison", Topics: []string{events.TopicConversions},
		BatchSize: 50, DeadLetter: w, SessionTimeout: 2 * time.Second},
		kafkax.HandlerFunc(func(_ context.Context, msgs []kafka.Message) error {
			for _, m := range msgs {
				if string(m.Value) == "poison" {
					return errs.New(errs.Invalid, "bad_event", "cannot decode")
				}
			}
			for _, m := range msgs {
				got.add(string(m.Value))
			}
			return nil
		}))
	seen := got.wait(t, 19)
	for _, v := range seen {
		if v == "poison" {
			t.Fatal("poison reached the handler's output")
		}
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: events.TopicConversionsDLQ, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dead, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("nothing on the dead-letter topic: %v", err)
	}
	if string(dead.Value) != "poison" || kafkax.Header(dead, kafkax.HeaderDLQCode) != "bad_event" ||
		kafkax.Header(dead, kafkax.HeaderDLQTopic) != events.TopicConversions ||
		kafkax.Header(dead, kafkax.HeaderDLQReason) != "cannot decode" {
		t.Fatalf("dead letter = %q headers %v", dead.Value, dead.Headers)
	}
}

// A batch handler that names its poison gets the rest committed in one
// go and only the poison dead-lettered.
func TestSubscriberTakesPoisonedFromABatchHandler(t *testing.T) {
	brokers := setup(t)
	w := kafkax.NewWriter(kafkax.WriterConfig{Brokers: brokers})
	defer w.Close()
	values := []string{"a", "poison-1", "b", "c", "poison-2", "d"}
	publish(t, brokers, events.TopicConversions, values...)

	got := newCollector()
	var calls atomic.Int32
	run(t, kafkax.SubscriberConfig{Brokers: brokers, GroupID: "test.poisoned", Topics: []string{events.TopicConversions},
		BatchSize: 50, BatchWait: 200 * time.Millisecond, DeadLetter: w, SessionTimeout: 2 * time.Second},
		kafkax.HandlerFunc(func(_ context.Context, msgs []kafka.Message) error {
			calls.Add(1)
			poison := map[int]error{}
			for i, m := range msgs {
				if strings.HasPrefix(string(m.Value), "poison") {
					poison[i] = errs.New(errs.Invalid, "bad_event", "cannot decode "+string(m.Value))
					continue
				}
				got.add(string(m.Value))
			}
			if len(poison) > 0 {
				return &kafkax.Poisoned{Reasons: poison}
			}
			return nil
		}))
	got.wait(t, 4)

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: events.TopicConversionsDLQ, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reasons := map[string]bool{}
	for range 2 {
		dead, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("dead-letter topic: %v", err)
		}
		reasons[kafkax.Header(dead, kafkax.HeaderDLQReason)] = true
	}
	if !reasons["cannot decode poison-1"] || !reasons["cannot decode poison-2"] {
		t.Fatalf("dead letters: %v", reasons)
	}
}

func TestSubscriberRetriesTransientFailures(t *testing.T) {
	brokers := setup(t)
	w := kafkax.NewWriter(kafkax.WriterConfig{Brokers: brokers})
	defer w.Close()
	publish(t, brokers, events.TopicClicks, "flaky")

	got := newCollector()
	var mu sync.Mutex
	attempts := 0
	run(t, kafkax.SubscriberConfig{Brokers: brokers, GroupID: "test.retry", Topics: []string{events.TopicClicks},
		DeadLetter: w, MinBackoff: 10 * time.Millisecond, SessionTimeout: 2 * time.Second},
		kafkax.HandlerFunc(func(_ context.Context, msgs []kafka.Message) error {
			mu.Lock()
			defer mu.Unlock()
			attempts++
			if attempts < 4 {
				return errs.New(errs.Unavailable, "", "database down")
			}
			got.add(string(msgs[0].Value))
			return nil
		}))
	got.wait(t, 1)
	mu.Lock()
	defer mu.Unlock()
	if attempts != 4 {
		t.Fatalf("attempts = %d, want 4", attempts)
	}
}

func TestUncommittedBatchIsRedelivered(t *testing.T) {
	brokers := setup(t)
	w := kafkax.NewWriter(kafkax.WriterConfig{Brokers: brokers})
	defer w.Close()
	publish(t, brokers, events.TopicClicks, "once")
	cfg := kafkax.SubscriberConfig{Brokers: brokers, GroupID: "test.redeliver", Topics: []string{events.TopicClicks},
		DeadLetter: w, SessionTimeout: 2 * time.Second}

	started := make(chan struct{})
	stop := run(t, cfg, kafkax.HandlerFunc(func(ctx context.Context, _ []kafka.Message) error {
		close(started)
		<-ctx.Done() // "crash" mid-handling: never succeeds
		return errors.Join(errs.New(errs.Unavailable, "", "stopped"), ctx.Err())
	}))
	<-started
	stop()

	got := newCollector()
	run(t, cfg, kafkax.HandlerFunc(func(_ context.Context, msgs []kafka.Message) error {
		got.add(string(msgs[0].Value))
		return nil
	}))
	if seen := got.wait(t, 1); seen[0] != "once" {
		t.Fatalf("redelivered %q", seen)
	}
}

func TestHeaderCarrier(t *testing.T) {
	var headers []kafka.Header
	c := kafkax.HeaderCarrier{Headers: &headers}
	c.Set("traceparent", "a")
	c.Set("traceparent", "b")
	c.Set("tracestate", "x=1")
	if c.Get("traceparent") != "b" || len(headers) != 2 || len(c.Keys()) != 2 || c.Get("missing") != "" {
		t.Fatalf("headers = %v", headers)
	}
}

// A message's Kafka timestamp is the service clock's reading, so a service
// running at a pinned instant books its events at that instant.
func TestPublisherStampsTheServiceClock(t *testing.T) {
	brokers := setup(t)
	at := time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
	w := kafkax.NewWriter(kafkax.WriterConfig{Brokers: brokers})
	defer w.Close()
	pub := kafkax.NewPublisher(w, clock.Fixed(at), nil, nil)
	if err := pub.Publish(context.Background(), kafka.Message{Topic: events.TopicClicks, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: events.TopicClicks, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msg, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !msg.Time.Equal(at) {
		t.Fatalf("message time %v, want %v", msg.Time, at)
	}
}

// An unforeseen error that one message keeps causing (here: a plain error,
// as a driver returns for a value no one planned for) stops the partition
// only for MaxAttempts tries: the batch is then halved until the message
// is alone, it is dead-lettered, and everything else is applied.
// Unavailable errors, meanwhile, are retried past MaxAttempts.
func TestSubscriberGivesUpOnAnUnforeseenErrorAfterMaxAttempts(t *testing.T) {
	brokers := setup(t)
	w := kafkax.NewWriter(kafkax.WriterConfig{Brokers: brokers})
	defer w.Close()
	var values []string
	for i := range 40 {
		values = append(values, fmt.Sprintf("m%02d", i))
	}
	values[23] = "stuck"
	publish(t, brokers, events.TopicClicks, values...)

	got := newCollector()
	var outage, stuckCalls atomic.Int32
	run(t, kafkax.SubscriberConfig{Brokers: brokers, GroupID: "test.exhausted", Topics: []string{events.TopicClicks},
		BatchSize: 100, BatchWait: 200 * time.Millisecond, DeadLetter: w, SessionTimeout: 2 * time.Second,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxAttempts: 3},
		kafkax.HandlerFunc(func(_ context.Context, msgs []kafka.Message) error {
			if outage.Add(1) <= 6 { // longer than MaxAttempts, yet nothing is given up
				return errs.New(errs.Unavailable, "", "database down")
			}
			for _, m := range msgs {
				if string(m.Value) == "stuck" {
					stuckCalls.Add(1)
					return errors.New("pq: something nobody foresaw")
				}
			}
			for _, m := range msgs {
				got.add(string(m.Value))
			}
			return nil
		}))
	if seen := got.wait(t, 39); len(seen) != 39 {
		t.Fatalf("handled %d", len(seen))
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: events.TopicClicksDLQ, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dead, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("nothing on the dead-letter topic: %v", err)
	}
	if string(dead.Value) != "stuck" || kafkax.Header(dead, kafkax.HeaderDLQCode) != "retries_exhausted" {
		t.Fatalf("dead letter %q, headers %v", dead.Value, dead.Headers)
	}
	// MaxAttempts at the batch, then one attempt per half down to the
	// message (40 messages: at most 6 halvings), however the batch was cut.
	if n := stuckCalls.Load(); n > 3+7 {
		t.Fatalf("the stuck message was tried %d times; the halves retried in full", n)
	}
}

// A message above the limit fails alone, and is recognisably too large.
func TestMessageTooLargeIsRecognised(t *testing.T) {
	brokers := setup(t)
	w := kafkax.NewWriter(kafkax.WriterConfig{Brokers: brokers})
	defer w.Close()
	err := w.WriteMessages(context.Background(), kafka.Message{Topic: events.TopicClicks, Value: make([]byte, kafkax.MaxBatchBytes+1)})
	if err == nil || !kafkax.IsMessageTooLarge(err) {
		t.Fatalf("err = %v, want message too large", err)
	}
	if err := w.WriteMessages(context.Background(), kafka.Message{Topic: events.TopicClicks, Value: []byte("small")}); err != nil {
		t.Fatalf("a small message after it: %v", err)
	}
	if !kafkax.IsMessageTooLarge(fmt.Errorf("publish: %w", kafka.WriteErrors{nil, kafka.MessageSizeTooLarge})) {
		t.Fatal("a broker's per-message refusal is not recognised")
	}
	if kafkax.IsMessageTooLarge(errors.New("connection refused")) {
		t.Fatal("any error is too large")
	}
}

// A broker that drops the consumer's connections for a while (a reset
// connection, a restarting broker) is an outage the reader recovers from:
// the subscriber keeps fetching and handles what was published meanwhile.
func TestSubscriberOutlivesFetchErrors(t *testing.T) {
	cluster, brokers := testkit.KafkaCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafkax.EnsureTopics(ctx, brokers, kafkax.Security{}, events.Topics()); err != nil {
		t.Fatal(err)
	}
	w := kafkax.NewWriter(kafkax.WriterConfig{Brokers: brokers})
	defer w.Close()
	publish(t, brokers, events.TopicClicks, "before")
	got := newCollector()
	run(t, kafkax.SubscriberConfig{Brokers: brokers, GroupID: "test.fetch-errors", Topics: []string{events.TopicClicks},
		BatchSize: 100, BatchWait: 50 * time.Millisecond, DeadLetter: w, SessionTimeout: 2 * time.Second,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		kafkax.HandlerFunc(func(_ context.Context, msgs []kafka.Message) error {
			for _, m := range msgs {
				got.add(string(m.Value))
			}
			return nil
		}))
	got.wait(t, 1)

	// The outage: every fetch and offset lookup fails (kfake closes the
	// connection) for three seconds, long enough for the reader to give
	// up its own attempts and report the error.
	var failed atomic.Int32
	until := time.Now().Add(3 * time.Second)
	for _, key := range []int16{kmsg.Fetch.Int16(), kmsg.ListOffsets.Int16()} {
		cluster.ControlKey(key, func(kmsg.Request) (kmsg.Response, error, bool) {
			if time.Now().After(until) {
				return nil, nil, false // over: handled as usual from now on
			}
			cluster.KeepControl()
			failed.Add(1)
			return nil, errors.New("injected outage"), true
		})
	}
	testkit.WaitFor(t, 30*time.Second, func() error {
		if failed.Load() == 0 {
			return errors.New("no request failed yet")
		}
		return nil
	})
	publish(t, brokers, events.TopicClicks, "during", "after")
	if seen := got.wait(t, 2); len(seen) != 3 { // "before" was seen already
		t.Fatalf("handled %v", seen)
	}
}

// committed reports nil once group has committed an offset on any
// partition of topic.
func committed(brokers []string, group, topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	parts := make([]int, 12)
	for i := range parts {
		parts[i] = i
	}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return err
	}
	for _, p := range resp.Topics[topic] {
		if p.CommittedOffset > 0 {
			return nil
		}
	}
	return errors.New("nothing committed yet")
}

// Consumed.Wait returns once the group has committed every message the
// topics held when it was called, and says how many are left when its
// context ends first: what closing a month waits for, so that nothing
// recorded before the close is stored after it.
func TestConsumedWaitsForTheGroup(t *testing.T) {
	brokers := setup(t)
	topics := []string{events.TopicClicks, events.TopicConversions}
	c := kafkax.Consumed{Brokers: brokers, GroupID: "test.consumed", Topics: topics}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("empty topics: %v", err)
	}
	var values []string
	for i := range 40 {
		values = append(values, fmt.Sprintf("m%d", i))
	}
	publish(t, brokers, events.TopicClicks, values...)
	publish(t, brokers, events.TopicConversions, "c1", "c2")
	// Long enough for the group's first offset fetch on a loaded machine
	// (300 ms was not, once, in a fresh clone's make test).
	short, cancelShort := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancelShort()
	if err := c.Wait(short); !errors.Is(err, kafkax.ErrBehind) || !strings.Contains(err.Error(), "42 messages left") {
		t.Fatalf("nothing consumed: %v, want ErrBehind with 42 messages left", err)
	}
	got := newCollector()
	w := kafkax.NewWriter(kafkax.WriterConfig{Brokers: brokers})
	defer w.Close()
	stop := run(t, kafkax.SubscriberConfig{Brokers: brokers, GroupID: "test.consumed", Topics: topics, SessionTimeout: 2 * time.Second, DeadLetter: w},
		kafkax.HandlerFunc(func(_ context.Context, msgs []kafka.Message) error {
			for _, m := range msgs {
				got.add(string(m.Value))
			}
			return nil
		}))
	defer stop()
	got.wait(t, 42)
	long, cancelLong := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelLong()
	if err := c.Wait(long); err != nil {
		t.Fatalf("all consumed: %v", err)
	}
}

// TestOnePartitionAPublishSendsABatchToOnePartition: through the broker,
// the messages of one Publish land on one partition of clicks.v1, in
// order, and publishes after it spread over the others.
func TestOnePartitionAPublishSendsABatchToOnePartition(t *testing.T) {
	brokers := setup(t)
	w := kafkax.NewWriter(kafkax.WriterConfig{Brokers: brokers, BatchSize: 1000, Compression: "lz4", Balancer: kafkax.OnePartitionAPublish{}})
	defer w.Close()
	pub := kafkax.NewPublisher(w, nil, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const publishes, each = 24, 50
	for p := range publishes {
		msgs := make([]kafka.Message, each)
		for i := range msgs {
			msgs[i] = kafka.Message{Topic: events.TopicClicks, Key: []byte(fmt.Sprintf("c%d-%d", p, i)), Value: []byte(fmt.Sprintf("%d", i))}
		}
		if err := pub.Publish(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // a new instant
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: "test.one-partition", Topic: events.TopicClicks, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	partitionOf := map[int]int{} // publish -> partition
	next := map[int]int{}        // publish -> next message index expected
	partitions := map[int]bool{}
	for n := 0; n < publishes*each; n++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", n, err)
		}
		var p, i int
		if _, err := fmt.Sscanf(string(m.Key), "c%d-%d", &p, &i); err != nil {
			t.Fatal(err)
		}
		if q, ok := partitionOf[p]; ok && q != m.Partition {
			t.Fatalf("publish %d on partitions %d and %d", p, q, m.Partition)
		}
		partitionOf[p] = m.Partition
		partitions[m.Partition] = true
		if i != next[p] {
			t.Fatalf("publish %d: message %d came after %d", p, i, next[p]-1)
		}
		next[p]++
	}
	if len(partitions) < 6 {
		t.Fatalf("%d publishes used %d of 12 partitions", publishes, len(partitions))
	}
}
