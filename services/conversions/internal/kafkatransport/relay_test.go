package kafkatransport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// memOutbox is the outbox in memory; its lease is always free.
type memOutbox struct {
	mu         sync.Mutex
	queue      []conversion.QueuedMessage
	parked     map[int64]string // id -> reason
	at         map[int64]time.Time
	reclaims   []bool // each call to Reclaim: whether it shrinks
	reclaimErr error  // what Reclaim answers
}

func newOutbox(values ...string) *memOutbox {
	o := &memOutbox{parked: map[int64]string{}, at: map[int64]time.Time{}}
	for i, v := range values {
		o.queue = append(o.queue, conversion.QueuedMessage{ID: int64(i + 1),
			OutboxMessage: conversion.OutboxMessage{Topic: "conversions.v1", Key: []byte("p/" + v), Value: []byte(v), InboxID: int64(100 + i)}})
	}
	return o
}

func (o *memOutbox) LeaseOutbox(context.Context) (conversion.OutboxLease, bool, error) {
	return o, true, nil
}

func (o *memOutbox) Next(_ context.Context, n int) ([]conversion.QueuedMessage, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.queue[:min(n, len(o.queue))]), nil
}

func (o *memOutbox) Published(_ context.Context, ids []int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.queue = slices.DeleteFunc(o.queue, func(q conversion.QueuedMessage) bool { return slices.Contains(ids, q.ID) })
	return nil
}

func (o *memOutbox) Park(_ context.Context, id int64, reason string, at time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.queue = slices.DeleteFunc(o.queue, func(q conversion.QueuedMessage) bool { return q.ID == id })
	o.parked[id], o.at[id] = reason, at
	return nil
}

func (o *memOutbox) Reclaim(_ context.Context, shrink bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reclaims = append(o.reclaims, shrink)
	return o.reclaimErr
}

func (o *memOutbox) reclaimed() []bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.reclaims)
}

func (o *memOutbox) Close() error { return nil }

func (o *memOutbox) waiting() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queue)
}

// fakeWriter is a Kafka producer with a size limit, enforced the way
// kafka-go does (the whole call fails before anything is written) or the
// way a broker does (MESSAGE_TOO_LARGE for the messages of a refused
// request, kafka.WriteErrors, the others written); it can also fail the
// next calls with a transient error.
type fakeWriter struct {
	mu        sync.Mutex
	limit     int
	broker    bool   // enforce the limit as a broker would
	transient int    // fail this many of the next calls
	failOn    []byte // fail the first call holding this value transiently
	written   [][]byte
	calls     int
}

var errTransient = kafka.LeaderNotAvailable

func (w *fakeWriter) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	if w.transient > 0 {
		w.transient--
		return errTransient
	}
	if w.failOn != nil && slices.ContainsFunc(msgs, func(m kafka.Message) bool { return bytes.Equal(m.Value, w.failOn) }) {
		w.failOn = nil
		return errTransient
	}
	if !w.broker {
		for i, m := range msgs {
			if len(m.Value) > w.limit {
				return kafka.MessageTooLargeError{Message: msgs[i]}
			}
		}
	}
	werrs := make(kafka.WriteErrors, len(msgs))
	failed := false
	for i, m := range msgs {
		if len(m.Value) > w.limit {
			werrs[i], failed = kafka.MessageSizeTooLarge, true
			continue
		}
		w.written = append(w.written, m.Value)
	}
	if failed {
		return werrs
	}
	return nil
}

// firstSeen is the order values were first written in (a retried batch
// may write some twice: consumers dedupe by event id).
func (w *fakeWriter) firstSeen() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, v := range w.written {
		if !slices.Contains(out, string(v)) {
			out = append(out, string(v))
		}
	}
	return out
}

// countingMeter records its counters' totals by name.
type countingMeter struct {
	noop.Meter
	mu     sync.Mutex
	totals map[string]*atomic.Int64
}

type countingCounter struct {
	noop.Int64Counter
	n *atomic.Int64
}

func (c countingCounter) Add(_ context.Context, n int64, _ ...metric.AddOption) { c.n.Add(n) }

func (m *countingMeter) Int64Counter(name string, _ ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.totals == nil {
		m.totals = map[string]*atomic.Int64{}
	}
	m.totals[name] = &atomic.Int64{}
	return countingCounter{n: m.totals[name]}, nil
}

func (m *countingMeter) total(name string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.totals[name].Load()
}

var parkedAt = time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)

// runRelay runs a relay over o and w until the outbox is empty, and
// returns its counters and its log.
func runRelay(t *testing.T, o *memOutbox, w *fakeWriter) (*countingMeter, string) {
	t.Helper()
	meter := &countingMeter{}
	logs := &testkit.SyncBuffer{}
	r := &Relay{Outbox: o, Publisher: kafkax.NewPublisher(w, clock.Fixed(parkedAt), nil, nil), Now: clock.Fixed(parkedAt),
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Batch: 10, Poll: time.Millisecond}
	if err := r.Instrument(meter); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	testkit.WaitFor(t, 20*time.Second, func() error {
		if n := o.waiting(); n > 0 {
			return errors.New("events still wait in the outbox: the relay is blocked")
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return meter, logs.String()
}

func TestRelaySetsTooLargeEventsAside(t *testing.T) {
	big := strings.Repeat("x", 100)
	tests := []struct {
		name   string
		broker bool
	}{
		{"kafka-go's own size check", false},
		{"the broker's MESSAGE_TOO_LARGE", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOutbox("a", big, "b", big+"y", "c")
			w := &fakeWriter{limit: 50, broker: tt.broker}
			meter, logs := runRelay(t, o, w)
			if got := w.firstSeen(); !slices.Equal(got, []string{"a", "b", "c"}) {
				t.Errorf("published %v, want a, b, c in order", got)
			}
			if len(o.parked) != 2 || o.parked[2] == "" || o.parked[4] == "" {
				t.Fatalf("parked %v, want events 2 and 4", o.parked)
			}
			for id, reason := range o.parked {
				if !strings.Contains(strings.ToLower(reason), "too large") || !o.at[id].Equal(parkedAt) {
					t.Errorf("event %d parked at %s for %q, want the clock's instant and the broker's reason", id, o.at[id], reason)
				}
			}
			if n := meter.total("conversions.outbox.parked"); n != 2 {
				t.Errorf("parked counter = %d, want 2", n)
			}
			if n := meter.total("conversions.outbox.published"); n != 3 {
				t.Errorf("published counter = %d, want 3", n)
			}
			if strings.Count(logs, "level=ERROR") != 2 || !strings.Contains(logs, "outbox_id=2") || !strings.Contains(logs, "inbox_id=103") {
				t.Errorf("want one error line per event set aside, naming it:\n%s", logs)
			}
		})
	}
}

func TestRelayRetriesWhatARetryCanFix(t *testing.T) {
	tests := []struct {
		name string
		w    *fakeWriter
	}{
		{"a broker away for three attempts", &fakeWriter{limit: 50, transient: 3}},
		// After a too-large refusal the relay sends one at a time; a
		// transient failure then stops it, and nothing overtakes b.
		{"a transient failure while sending one at a time", &fakeWriter{limit: 50, failOn: []byte("b")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := []string{"a", "b", "c"}
			oneAtATime := tt.w.failOn != nil
			if oneAtATime {
				values = []string{"a", strings.Repeat("x", 60), "b", "c"}
			}
			o := newOutbox(values...)
			meter, _ := runRelay(t, o, tt.w)
			if got := tt.w.firstSeen(); !slices.Equal(got, []string{"a", "b", "c"}) {
				t.Errorf("published %v, want a, b, c in order", got)
			}
			if want := map[bool]int{false: 0, true: 1}[oneAtATime]; len(o.parked) != want {
				t.Errorf("set aside %v, want %d: a transient failure is retried, never parked", o.parked, want)
			}
			if n := meter.total("conversions.outbox.publish_errors"); n == 0 {
				t.Error("no publish error counted")
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"kafka-go's check", kafka.MessageTooLargeError{}, true},
		{"wrapped", errors.Join(errors.New("publish"), kafka.MessageTooLargeError{}), true},
		{"a broker's, in WriteErrors", kafka.WriteErrors{nil, kafka.MessageSizeTooLarge}, true},
		{"other WriteErrors", kafka.WriteErrors{kafka.LeaderNotAvailable, nil}, false},
		{"connection refused", errors.New("dial tcp: connection refused"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := tooLarge(tt.err); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestReclaimerDue(t *testing.T) {
	t0 := time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
	type step struct {
		removed int
		full    bool
		after   time.Duration // since t0
		due     bool
		shrink  bool
	}
	tests := []struct {
		name  string
		every time.Duration
		steps []step
	}{
		{"nothing removed: never, however long", 2 * time.Second, []step{{0, false, time.Second, false, false}, {0, false, time.Hour, false, false}}},
		{"removed, but too soon", 2 * time.Second, []step{{500, false, time.Second, false, false}, {500, false, 1999 * time.Millisecond, false, false}}},
		{"removed and due", 2 * time.Second, []step{{500, false, time.Second, false, false}, {0, false, 2 * time.Second, true, false}}},
		{"counts afresh after each", 2 * time.Second, []step{{500, false, 2 * time.Second, true, false}, {0, false, 5 * time.Second, false, false}, {1, false, 5 * time.Second, true, false}}},
		{"waits the interval again after each", 2 * time.Second, []step{{1, false, 2 * time.Second, true, false}, {1, false, 3 * time.Second, false, false}, {0, false, 4 * time.Second, true, false}}},
		{"never while a backlog drains; shrinks once it has", 2 * time.Second, []step{
			{500, true, 2 * time.Second, false, false}, {500, true, time.Minute, false, false},
			{20, false, time.Minute + time.Second, true, true}, {20, false, time.Minute + 3*time.Second, true, false}}},
		{"negative: never", -1, []step{{500, false, time.Hour, false, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := reclaimer{every: tt.every, last: t0}
			for i, s := range tt.steps {
				due, shrink := c.due(s.removed, s.full, t0.Add(s.after))
				if due != s.due || shrink != s.shrink {
					t.Fatalf("step %d (%d removed, full %v, at +%s): due %v shrink %v, want %v %v", i, s.removed, s.full, s.after, due, shrink, s.due, s.shrink)
				}
			}
		})
	}
}

// TestRelayReclaimsWhatItRemoved: once it has removed events, the relay
// has their space reclaimed every ReclaimEvery of its clock, and not
// while batches come back full; the first reclaim after such a backlog
// shrinks the table. A reclaim that fails is logged, and relaying goes on.
func TestRelayReclaimsWhatItRemoved(t *testing.T) {
	tests := []struct {
		name    string
		batch   int // 50 events wait
		fail    bool
		reclaim []bool // the reclaims, each true when it shrinks
	}{
		{"a batch holds them all", 100, false, []bool{false}},
		{"a backlog of five full batches", 10, false, []bool{true}},
		{"the reclaim fails", 100, true, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := make([]string, 50)
			for i := range values {
				values[i] = fmt.Sprintf("e%d", i)
			}
			o := newOutbox(values...)
			if tt.fail {
				o.reclaimErr = errors.New("permission denied")
			}
			// Each reading of the clock is a second later than the last:
			// the lease taken at 1 s, the first batch's check at 2 s, ...
			var ticks atomic.Int64
			logs := &testkit.SyncBuffer{}
			w := &fakeWriter{limit: 50}
			r := &Relay{Outbox: o, Publisher: kafkax.NewPublisher(w, clock.Fixed(parkedAt), nil, nil), Now: clock.Fixed(parkedAt),
				Logger: slog.New(slog.NewTextHandler(logs, nil)), Batch: tt.batch, Poll: time.Millisecond, ReclaimEvery: 2 * time.Second,
				tick: func() time.Time { return parkedAt.Add(time.Duration(ticks.Add(1)) * time.Second) }}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			testkit.WaitFor(t, 20*time.Second, func() error {
				if n := o.waiting(); n > 0 {
					return fmt.Errorf("%d events still wait", n)
				}
				if len(o.reclaimed()) == 0 {
					return errors.New("no reclaim yet")
				}
				return nil
			})
			// Idle polls after it remove nothing: no more reclaims.
			time.Sleep(50 * time.Millisecond)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := len(w.firstSeen()); got != len(values) {
				t.Errorf("published %d events, want %d", got, len(values))
			}
			if got := o.reclaimed(); !slices.Equal(got, tt.reclaim) {
				t.Errorf("reclaims (shrinking?) %v, want %v", got, tt.reclaim)
			}
			if warned := strings.Contains(logs.String(), "could not reclaim"); warned != tt.fail {
				t.Errorf("warning logged %v, want %v:\n%s", warned, tt.fail, logs.String())
			}
		})
	}
}
