package postgres

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// eventBuilder builds the outbox message of a conversion event the way the
// service does (conversion.Message), with free text in its fields.
func eventBuilder(orderID, clickID string) conversion.MessageBuilder {
	ev := events.ConversionReceived{
		Header:  events.Header{ID: "cv_0123456789abcdef0123456789abcdef", Type: events.TypeConversionReceived, SchemaVersion: events.SchemaVersion},
		Partner: "p", OrderID: orderID, ClickID: clickID, Status: "pending", SaleAmount: "49.00", Commission: "7.35", Currency: "USD",
		OccurredAt: at, ReceivedAt: at, Source: events.SourceWebhook, IdempotencyKey: "k",
	}
	return func(seq int64) (conversion.OutboxMessage, error) {
		ev := ev
		ev.AcceptedSeq = seq
		return conversion.Message(context.Background(), ev, func(_ context.Context, h map[string]string) { h["traceparent"] = "00-x-y-01" })
	}
}

// The one-statement accept puts the number into the value the database
// stores; that value must be, byte for byte, the message built with it.
func TestSplitValueRebuildsTheMessageWithAnyNumber(t *testing.T) {
	for _, tc := range []struct {
		name            string
		order, click    string
		wantSplit       bool
		constantBuilder bool
	}{
		{name: "event", order: "ORDER-1", click: "c1", wantSplit: true},
		{name: "the stand-in number as an order id", order: strconv.FormatInt(seqMarkA, 10), click: "c1", wantSplit: false},
		{name: "the stand-in after a key in a field", order: `"accepted_seq":` + strconv.FormatInt(seqMarkA, 10), click: "c", wantSplit: false},
		{name: "a builder that ignores the number", order: "o", click: "c", constantBuilder: true, wantSplit: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			build := eventBuilder(tc.order, tc.click)
			if tc.constantBuilder {
				fixed := build
				build = func(int64) (conversion.OutboxMessage, error) { return fixed(7) }
			}
			msg, prefix, suffix, ok, err := splitValue(build)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantSplit {
				t.Fatalf("split %v, want %v (value %s)", ok, tc.wantSplit, msg.Value)
			}
			if !ok {
				return
			}
			for _, seq := range []int64{1, 9, 10, 12345, 1 << 40} {
				want, _ := build(seq)
				got := append(append(append([]byte{}, prefix...), strconv.FormatInt(seq, 10)...), suffix...)
				if !bytes.Equal(got, want.Value) {
					t.Fatalf("seq %d: spliced %s, built %s", seq, got, want.Value)
				}
			}
		})
	}
}

// FuzzSplitValue: whatever the event's text holds, a message that splits
// is rebuilt exactly with another number, and one that does not is left
// to the transaction.
func FuzzSplitValue(f *testing.F) {
	f.Add("ORDER-1", "click", int64(1))
	f.Add(strconv.FormatInt(seqMarkA, 10), strconv.FormatInt(seqMarkB, 10), int64(42))
	f.Add(`"accepted_seq":9223372036854775807,`, "}", int64(1<<50))
	f.Fuzz(func(t *testing.T, order, click string, seq int64) {
		if seq <= 0 {
			seq = -seq + 1
		}
		if seq <= 0 {
			seq = 1
		}
		build := eventBuilder(order, click)
		if _, err := build(1); err != nil {
			return // not a valid event: the service refuses it before storing
		}
		_, prefix, suffix, ok, err := splitValue(build)
		if err != nil || !ok {
			return
		}
		want, err := build(seq)
		if err != nil {
			t.Fatal(err)
		}
		got := append(append(append([]byte{}, prefix...), strconv.FormatInt(seq, 10)...), suffix...)
		if !bytes.Equal(got, want.Value) {
			t.Fatalf("seq %d: spliced %s, built %s", seq, got, want.Value)
		}
	})
}

// TestAcceptStoresTheEventBuiltWithItsNumber: on the one-statement path
// the stored event is the message built with the number the request was
// stored with, and the relay reads it back in order through outbox_head.
func TestAcceptStoresTheEventBuiltWithItsNumber(t *testing.T) {
	s, db := migrated(t)
	ctx := context.Background()
	for i, order := range []string{"A", "B", "A"} {
		key := "k" + strconv.Itoa(i)
		build := eventBuilder(order, "c")
		if _, _, _, ok, err := splitValue(build); err != nil || !ok {
			t.Fatalf("the service's message does not split: %v", err)
		}
		in := conversion.InboxEntry{Partner: "p", OrderID: order, IdempotencyKey: key, EventID: "ev-" + key, Source: "webhook",
			Method: "POST", BodyHash: []byte(key), Body: []byte(`{}`), ReceivedAt: at}
		if _, err := s.Accept(ctx, in, build); err != nil {
			t.Fatal(err)
		}
		var seq int64
		var value []byte
		if err := db.QueryRow(`SELECT i.accepted_seq, o.value FROM conversions.inbox i JOIN conversions.outbox o ON o.inbox_id = i.id
			WHERE i.idempotency_key = $1`, key).Scan(&seq, &value); err != nil {
			t.Fatal(err)
		}
		want, _ := build(seq)
		if seq <= 0 || !bytes.Equal(value, want.Value) {
			t.Fatalf("stored number %d, event %s; want the event built with it, %s", seq, value, want.Value)
		}
	}
	lease, ok, err := s.LeaseOutbox(ctx)
	if err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	defer lease.Close()
	queued, err := lease.Next(ctx, 2)
	if err != nil || len(queued) != 2 || queued[0].ID >= queued[1].ID {
		t.Fatalf("next 2: %+v %v", queued, err)
	}
}
