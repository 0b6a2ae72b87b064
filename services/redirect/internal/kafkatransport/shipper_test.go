package kafkatransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// fakeWriter is a Kafka that refuses values above a per-topic limit, the
// ways kafka-go reports it: from the writer before sending anything
// (kafka.MessageTooLargeError, mode "writer"), from the broker for the
// whole partition batch that holds the message (kafka.WriteErrors, mode
// "broker"), or as one error for the whole call (mode "call").
type fakeWriter struct {
	mu       sync.Mutex
	limit    map[string]int // topic -> largest value taken; absent: any
	mode     string         // writer, broker or call
	failNext int            // transient failures before anything is taken
	denied   string         // a topic the writer may not write (no ACL)
	written  map[string][]kafka.Message
}

func (f *fakeWriter) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNext > 0 {
		f.failNext--
		return errors.New("dial tcp: connection refused")
	}
	for _, m := range msgs {
		if m.Topic == f.denied {
			return kafka.TopicAuthorizationFailed
		}
	}
	tooLarge := func(m kafka.Message) bool {
		limit, ok := f.limit[m.Topic]
		return ok && len(m.Value) > limit
	}
	if f.mode == "call" {
		for _, m := range msgs {
			if tooLarge(m) {
				return kafka.MessageSizeTooLarge
			}
		}
	}
	if f.mode != "broker" {
		for i, m := range msgs {
			if tooLarge(m) {
				return kafka.MessageTooLargeError{Message: m, Remaining: append(slices.Clone(msgs[:i]), msgs[i+1:]...)}
			}
		}
		for _, m := range msgs {
			f.written[m.Topic] = append(f.written[m.Topic], m)
		}
		return nil
	}
	// Two partitions by position; a partition batch with a message above
	// the limit is refused whole.
	refused := [2]bool{}
	for i, m := range msgs {
		refused[i%2] = refused[i%2] || tooLarge(m)
	}
	werrs := make(kafka.WriteErrors, len(msgs))
	failed := false
	for i, m := range msgs {
		if refused[i%2] {
			werrs[i], failed = kafka.MessageSizeTooLarge, true
			continue
		}
		f.written[m.Topic] = append(f.written[m.Topic], m)
	}
	if failed {
		return werrs
	}
	return nil
}

func (f *fakeWriter) ids(topic string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.written[topic] {
		out = append(out, string(m.Key))
	}
	return out
}

func header(m kafka.Message, key string) string { return kafkax.Header(m, key) }

// TestShipperSetsTooLargeClicksAside: a click Kafka refuses as too large
// (MESSAGE_TOO_LARGE) is not retried forever, blocking the click log: it
// goes to clicks.v1.dlq (or, too large for that as well, its id and size
// do; or, that topic not writable, nothing does), with an error log and a
// count, and every other click ships, once. A transient failure is still
// retried.
func TestShipperSetsTooLargeClicksAside(t *testing.T) {
	const secret = "SECRET-AGENT-MARKER"
	tests := []struct {
		name      string
		mode      string
		dlqLimit  int    // 0: the dead-letter topic takes any size
		dlqDenied bool   // the dead-letter topic cannot be written
		outcome   string // the set_aside count's outcome
	}{
		{"writer refuses, to the DLQ", "writer", 0, false, "dead_letter"},
		{"broker refuses, to the DLQ", "broker", 0, false, "dead_letter"},
		{"the call is refused, to the DLQ", "call", 0, false, "dead_letter"},
		{"writer refuses, too large for the DLQ", "writer", 100, false, "dropped"},
		{"broker refuses, too large for the DLQ", "broker", 100, false, "dropped"},
		{"the call is refused, too large for the DLQ", "call", 100, false, "dropped"},
		{"DLQ not writable", "broker", 0, true, "dropped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := openLog(t)
			const n, big = 9, 4
			var ids []string
			for i := range n {
				id := fmt.Sprintf("click-%d", i)
				value := fmt.Sprintf(`{"id":%q}`, id)
				if i == big {
					value = fmt.Sprintf(`{"id":%q,"user_agent":%q}`, id, secret+strings.Repeat("x", 3000))
				}
				frame := appendFrame(nil, []byte(id), []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), []byte(value))
				if err := log.Append(frame, time.Now()); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			w := &fakeWriter{limit: map[string]int{events.TopicClicks: 2000}, mode: tt.mode, failNext: 1, written: map[string][]kafka.Message{}}
			if tt.dlqLimit > 0 {
				w.limit[events.TopicClicksDLQ] = tt.dlqLimit
			}
			if tt.dlqDenied {
				w.denied = events.TopicClicksDLQ
			}
			var logs testkit.SyncBuffer
			reader := sdkmetric.NewManualReader()
			drain := make(chan struct{})
			close(drain) // ship what is in the log, then return
			s := &Shipper{Log: log, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Drain: drain,
				Publisher: kafkax.NewPublisher(w, nil, nil, nil), setAsideBackoff: time.Millisecond}
			if err := s.Instrument(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound on a hang
			defer cancel()
			if err := s.Run(ctx); err != nil || ctx.Err() != nil {
				t.Fatalf("Run = %v (%v): the click log is blocked", err, ctx.Err())
			}

			want := slices.Delete(slices.Clone(ids), big, big+1)
			got := w.ids(events.TopicClicks)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("clicks.v1 got %v, want every click but the large one, once: %v", got, want)
			}
			checkDeadLetter(t, w.written[events.TopicClicksDLQ], ids[big], secret, tt.outcome, tt.dlqDenied)
			if tt.dlqDenied && !strings.Contains(logs.String(), "dlq_error") {
				t.Errorf("the log does not say why the click was dropped:\n%s", logs.String())
			}
			if st := log.Stats(time.Now()); st.Unacked != 0 {
				t.Errorf("%d bytes of the click log are not committed", st.Unacked)
			}

			text := logs.String()
			if !strings.Contains(text, "level=ERROR") || !strings.Contains(text, "click_id="+ids[big]) || strings.Contains(text, secret) {
				t.Errorf("want an error log naming the click, without its content:\n%s", text)
			}
			counts := sums(t, reader)
			if counts["redirect.clicklog.set_aside/"+tt.outcome] != 1 || counts["redirect.clicklog.shipped/"] != n-1 ||
				counts["redirect.clicklog.ship_errors/"] != 1 {
				t.Errorf("counters %v, want set_aside %s 1, shipped %d, one ship error (the transient one)", counts, tt.outcome, n-1)
			}
		})
	}
}

// checkDeadLetter: the large click's dead letter, if the topic could be
// written: its id, the reason, its trace, and the click itself unless it
// was too large for the dead-letter topic too (then its size).
func checkDeadLetter(t *testing.T, dlq []kafka.Message, id, secret, outcome string, denied bool) {
	t.Helper()
	if denied {
		if len(dlq) != 0 {
			t.Errorf("clicks.v1.dlq, which cannot be written, got %d messages", len(dlq))
		}
		return
	}
	if len(dlq) != 1 || string(dlq[0].Key) != id {
		t.Fatalf("clicks.v1.dlq got %d messages, want the large click %s", len(dlq), id)
	}
	d := dlq[0]
	if header(d, kafkax.HeaderDLQCode) != "message_too_large" || header(d, kafkax.HeaderDLQTopic) != events.TopicClicks ||
		header(d, kafkax.HeaderDLQReason) == "" || len(header(d, "traceparent")) != 55 {
		t.Errorf("dead-letter headers %v", d.Headers)
	}
	if kept := strings.Contains(string(d.Value), secret); kept != (outcome == "dead_letter") {
		t.Errorf("the dead letter holds the click: %v, want %v", kept, outcome == "dead_letter")
	}
	if outcome == "dropped" && header(d, HeaderDLQValueBytes) == "" {
		t.Error("a dropped click's dead letter does not say its size")
	}
}

// TestShipperRetriesTransientFailures: a failure that is not about size
// keeps the clicks in the log and retries them, none set aside.
func TestShipperRetriesTransientFailures(t *testing.T) {
	log := openLog(t)
	for i := range 3 {
		if err := log.Append(appendFrame(nil, fmt.Appendf(nil, "c%d", i), nil, []byte("{}")), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	w := &fakeWriter{mode: "writer", failNext: 3, written: map[string][]kafka.Message{}}
	drain := make(chan struct{})
	close(drain)
	s := &Shipper{Log: log, Logger: slog.New(slog.DiscardHandler), Drain: drain, Publisher: kafkax.NewPublisher(w, nil, nil, nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Run(ctx); err != nil || ctx.Err() != nil {
		t.Fatalf("Run = %v (%v)", err, ctx.Err())
	}
	if got := w.ids(events.TopicClicks); len(got) != 3 || len(w.written[events.TopicClicksDLQ]) != 0 {
		t.Fatalf("clicks.v1 got %v, the DLQ %d: want the three clicks after the retries, none set aside", got, len(w.written[events.TopicClicksDLQ]))
	}
}

// TestIsTooLarge: what counts as a refusal for size.
func TestIsTooLarge(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"writer", kafka.MessageTooLargeError{}, true},
		{"broker", kafka.MessageSizeTooLarge, true},
		{"wrapped", fmt.Errorf("kafkax: publish: %w", kafka.MessageSizeTooLarge), true},
		{"per message, all", kafka.WriteErrors{kafka.MessageSizeTooLarge, nil}, true},
		{"per message, wrapped", fmt.Errorf("x: %w", kafka.WriteErrors{nil, kafka.MessageSizeTooLarge}), true},
		{"per message, mixed", kafka.WriteErrors{kafka.MessageSizeTooLarge, kafka.LeaderNotAvailable}, false},
		{"per message, none failed", kafka.WriteErrors{nil}, false},
		{"other", kafka.LeaderNotAvailable, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := isTooLarge(tt.err); got != tt.want {
			t.Errorf("%s: isTooLarge(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// sums reads every counter as "name/outcome" -> sum.
func sums(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for name, series := range testkit.Counters(t, r) {
		for attrs, n := range series {
			outcome := ""
			if _, rest, ok := strings.Cut(attrs, "outcome="); ok {
				outcome, _, _ = strings.Cut(rest, ";")
			}
			out[name+"/"+outcome] += n
		}
	}
	return out
}
