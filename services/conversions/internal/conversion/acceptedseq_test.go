package conversion

import (
	"context"
	"net/url"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/events"
)

// Contract v1.1, "Status order": each accepted request's event carries
// the acceptance number the store gave it, and a replay of the stored
// request carries the very same number (so the ledger orders it where its
// original was).
func TestEventsCarryTheirAcceptanceNumber(t *testing.T) {
	f := newFixture(t, "")
	for i, status := range []string{"pending", "approved", "reversed"} {
		params := url.Values{"order_id": {"IMP-1"}, "status": {status}, "sale_amount": {"10.00"}, "commission": {"1.00"},
			"occurred_at": {"2026-11-20T10:00:00Z"}}
		if _, err := f.postback(params); err != nil {
			t.Fatal(err)
		}
		ev, err := events.DecodeConversion(f.store.outbox[i].Value)
		if err != nil {
			t.Fatal(err)
		}
		if ev.AcceptedSeq != int64(i+1) || ev.Status != status {
			t.Fatalf("event %d: %s with accepted_seq %d, want %s with %d", i, ev.Status, ev.AcceptedSeq, status, i+1)
		}
	}
	var stored InboxEntry
	for _, e := range f.store.inbox {
		if e.OrderID != "IMP-1" {
			t.Fatalf("the store was not told the order: %+v", e)
		}
		if q, _ := url.ParseQuery(e.Query); q.Get("status") == "approved" {
			stored = e
		}
	}
	rp := &Replayer{s: f.svc.(*service)}
	msg, err := rp.Event(context.Background(), StoredRequest{Partner: "p", IdempotencyKey: stored.IdempotencyKey,
		EventID: stored.EventID, Source: stored.Source, Query: stored.Query, ReceivedAt: stored.ReceivedAt, AcceptedSeq: 2}, "run1")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.DecodeConversion(msg.Value)
	if err != nil || ev.AcceptedSeq != 2 || ev.ReplayOf != stored.EventID {
		t.Fatalf("replayed %+v, %v", ev, err)
	}
}
