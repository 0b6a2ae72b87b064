package kafkatransport

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
)

// GroupID is the reporting consumer group.
const GroupID = "reporting.ledger"

// Topics are the topics reporting consumes.
var Topics = []string{events.TopicClicks, events.TopicConversions}

// Store is where decoded events go.
type Store interface {
	IngestClicks(ctx context.Context, clicks []postgres.Click) error
	IngestConversions(ctx context.Context, evs []postgres.ConversionEvent) error
}

// Ingestor is the subscriber's batch handler.
type Ingestor struct {
	Store Store
	// Observe, if set, is told how long each event took from its Kafka
	// timestamp to being stored.
	Observe func(ctx context.Context, topic string, age time.Duration)

	// clickSlots holds batches' click slices for reuse (*[]postgres.Click):
	// a fresh one for 20,000 clicks, faulted in and zeroed by the runtime
	// each batch, was a twentieth of reporting's CPU catching up (make
	// bench, issue 15). The store keeps no click of a batch it was handed.
	clickSlots sync.Pool
}

// Handle implements kafkax.Handler.
func (in *Ingestor) Handle(ctx context.Context, msgs []kafka.Message) error {
	// A batch is usually one topic's: room for all of it, so that a batch
	// of 20,000 clicks is not copied while it grows.
	slots, _ := in.clickSlots.Get().(*[]postgres.Click)
	if slots == nil || cap(*slots) < len(msgs) {
		// Rounded up, so that the next batch, a little bigger, fits too:
		// a slice made for each slightly bigger batch was fresh memory,
		// and page faults were a fifth of reporting's CPU catching up.
		s := make([]postgres.Click, 0, (len(msgs)+slotRounding-1)/slotRounding*slotRounding)
		slots = &s
	}
	defer func() {
		clear((*slots)[:len(msgs)]) // every slot used (at most one a message): no message's memory kept alive
		in.clickSlots.Put(slots)
	}()
	clicks := (*slots)[:0]
	var convs []postgres.ConversionEvent
	poison := map[int]error{}
	for i, msg := range msgs {
		var err error
		switch msg.Topic {
		case events.TopicClicks:
			clicks = append(clicks, postgres.Click{})
			if err = decodeClick(msg, &clicks[len(clicks)-1]); err != nil {
				clicks = clicks[:len(clicks)-1]
			}
		case events.TopicConversions:
			var c postgres.ConversionEvent
			if c, err = DecodeConversion(msg); err == nil {
				convs = append(convs, c)
			}
		default:
			err = errs.Newf(errs.Invalid, "unknown_topic", "reporting does not consume %q", msg.Topic)
		}
		if err != nil {
			poison[i] = err
		}
	}
	// Clicks first: a conversion in the same batch then finds its click.
	if err := in.Store.IngestClicks(ctx, clicks); err != nil {
		return fmt.Errorf("ingest %d clicks: %w", len(clicks), err)
	}
	if err := in.Store.IngestConversions(ctx, convs); err != nil {
		return fmt.Errorf("ingest %d conversion events: %w", len(convs), err)
	}
	if in.Observe != nil {
		now := time.Now()
		for i, msg := range msgs {
			if _, bad := poison[i]; !bad {
				in.Observe(ctx, msg.Topic, now.Sub(msg.Time))
			}
		}
	}
	if len(poison) > 0 {
		return &kafkax.Poisoned{Reasons: poison}
	}
	return nil
}

// slotRounding is what the capacity of a batch's click slice is rounded
// up to: about one 2 MB fetch of clicks.
const slotRounding = 4096

// checkTime refuses an event outside events.InYears: the bound the
// services that publish events apply when they accept them.
func checkTime(field string, t time.Time) error {
	if !events.InYears(t) {
		return errs.Newf(errs.Invalid, "implausible_time", "%s %s is outside 2000..2099", field, t.Format(time.RFC3339))
	}
	return nil
}

// DecodeClick decodes and checks a clicks.v1 message. The click's strings
// share msg.Value's memory (events.DecodeClickInPlace): the store clones
// what it keeps beyond the batch.
func DecodeClick(msg kafka.Message) (postgres.Click, error) {
	var c postgres.Click
	err := decodeClick(msg, &c)
	return c, err
}

// decodeClick is DecodeClick into c, a batch's own slot.
func decodeClick(msg kafka.Message, c *postgres.Click) error {
	if err := events.DecodeClickInPlace(msg.Value, &c.ClickRecorded); err != nil {
		return err
	}
	if err := checkTime("occurred_at", c.OccurredAt); err != nil {
		return err
	}
	c.OccurredAt = c.OccurredAt.UTC().Truncate(time.Microsecond) // as PostgreSQL keeps it, never rounded into the next day
	c.RecordedAt = recorded(msg)
	return nil
}

// DecodeConversion decodes and checks a conversions.v1 message; amounts
// become minor units, and a negative one is poison. occurred_at is cut to
// the microsecond, as PostgreSQL stores it: an event decoded in a batch
// then orders (ledger.Compare) as it does read back, two events within
// one microsecond being the same instant, in acceptance order. Events
// published with nanoseconds before conversions cut them (or replayed
// from then) are cut here.
func DecodeConversion(msg kafka.Message) (postgres.ConversionEvent, error) {
	c, err := events.DecodeConversion(msg.Value)
	if err != nil {
		return postgres.ConversionEvent{}, err
	}
	if err := checkTime("occurred_at", c.OccurredAt); err != nil {
		return postgres.ConversionEvent{}, err
	}
	sale, err := money.Parse(c.SaleAmount, c.Currency)
	if err != nil {
		return postgres.ConversionEvent{}, errs.Wrap(errs.Invalid, "invalid_money", "sale_amount", err)
	}
	commission, err := money.Parse(c.Commission, c.Currency)
	if err != nil {
		return postgres.ConversionEvent{}, errs.Wrap(errs.Invalid, "invalid_money", "commission", err)
	}
	if sale.IsNegative() || commission.IsNegative() {
		return postgres.ConversionEvent{}, errs.New(errs.Invalid, "negative_money", "sale_amount and commission must not be negative")
	}
	return postgres.ConversionEvent{
		Event: ledger.Event{ID: c.ID, ClickID: c.ClickID, CourseID: c.CourseID, Status: c.Status,
			Sale: sale.Minor, Commission: commission.Minor, Currency: c.Currency, OccurredAt: c.OccurredAt.UTC().Truncate(time.Microsecond),
			ReplayOf: c.ReplayOf, AcceptedSeq: c.AcceptedSeq},
		Partner: c.Partner, OrderID: c.OrderID, Source: c.Source, ReceivedAt: c.ReceivedAt, RecordedAt: recorded(msg),
	}, nil
}

// recorded is when Kafka took the message: replaying the topic gives the
// same time, so period cuts replay identically.
func recorded(msg kafka.Message) time.Time {
	if msg.Time.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return msg.Time.UTC()
}
