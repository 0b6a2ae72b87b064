package conversion

import (
	"context"
	"time"

	"github.com/linkcredit/linkcredit/pkg/events"
)

// OutboxMessage is an event waiting to be published.
type OutboxMessage struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers map[string]string
	// InboxID is the stored request the event was decoded from, set by
	// replays (Store.Accept links the row it stores itself). While the
	// event waits, retention keeps that request.
	InboxID int64
}

// Message is the outbox form of an event.
func Message(ctx context.Context, ev events.ConversionReceived, inject TraceInjector) (OutboxMessage, error) {
	if err := ev.Validate(); err != nil {
		return OutboxMessage{}, err
	}
	value, err := ev.AppendJSON(nil)
	if err != nil {
		return OutboxMessage{}, err
	}
	headers := map[string]string{}
	if inject != nil {
		inject(ctx, headers)
	}
	return OutboxMessage{Topic: events.TopicConversions, Key: ev.Key(), Value: value, Headers: headers}, nil
}

// QueuedMessage is an outbox event with its place in the queue.
type QueuedMessage struct {
	ID int64 // its outbox id: the queue's order
	OutboxMessage
	CreatedAt time.Time
}

// Outbox is the queue of accepted events that the relay publishes
// (postgres.Store).
type Outbox interface {
	// LeaseOutbox tries to become the one relay: ok is false while another
	// replica holds the lease. The lease lasts until Close, or until its
	// connection to the store breaks (then a method returns an error).
	LeaseOutbox(ctx context.Context) (lease OutboxLease, ok bool, err error)
}

// OutboxLease is the outbox as its one relay sees it. Errors mean the
// store is unreachable: the relay gives the lease up and tries again.
type OutboxLease interface {
	// Next returns up to n waiting events, oldest first.
	Next(ctx context.Context, n int) ([]QueuedMessage, error)
	// Published removes events that Kafka acknowledged.
	Published(ctx context.Context, ids []int64) error
	// Park sets an event aside that Kafka will never accept (too large),
	// with the reason and the time it was set aside: it leaves the queue
	// but is kept, with its stored request, for an operator.
	Park(ctx context.Context, id int64, reason string, at time.Time) error
	// Reclaim makes the space of the events removed so far reusable, so
	// the queue reuses it rather than growing; with shrink, it also gives
	// back what a drained backlog left free at the end. It may run while
	// the lease's other methods do.
	Reclaim(ctx context.Context, shrink bool) error
	// Close gives the lease up.
	Close() error
}
