package kafkatransport

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
)

// HeaderDLQValueBytes is set on a dead-lettered click whose value was too
// large for clicks.v1.dlq too: the message then holds the click's id (its
// key), this size and the reason, but not the click.
const HeaderDLQValueBytes = "dlq-value-bytes"

// shipperGroup names the shipper in the dlq-group header, where a
// consumer's dead letters name their consumer group.
const shipperGroup = "redirect.shipper"

// publish publishes msgs to clicks.v1 until each one is acknowledged or
// set aside, and returns how many were acknowledged; ok is false when ctx
// ended first. Transient failures are retried with backoff, forever: the
// clicks wait in the click log. A message Kafka refuses as too large
// (MESSAGE_TOO_LARGE, from the writer or the broker) would fail every
// retry and block the log behind it, so it is set aside instead
// (setAside); the others of its batch ship.
//
// kafka-go reports a refusal either before sending anything (one message
// above the writer's batch limit: kafka.MessageTooLargeError names it and
// the rest) or per message after sending (kafka.WriteErrors, where every
// message of a refused partition batch carries the broker's error, so a
// refused message is only known to be too large once it fails alone).
func (s *Shipper) publish(ctx context.Context, msgs []kafka.Message) (shipped int, ok bool) {
	backoff := 100 * time.Millisecond
	pending := msgs
	for len(pending) > 0 {
		err := s.Publisher.Publish(ctx, pending...)
		if err == nil {
			return shipped + len(pending), true
		}
		if ctx.Err() != nil {
			return shipped, false
		}
		var retry, tooLarge []kafka.Message
		transient := false // a failure that a retry may fix: back off
		var mtl kafka.MessageTooLargeError
		var werrs kafka.WriteErrors // one error per message, or nil
		if !errors.As(err, &werrs) || len(werrs) != len(pending) {
			werrs = nil
		}
		switch {
		case errors.As(err, &mtl): // nothing was sent
			tooLarge, retry = []kafka.Message{mtl.Message}, mtl.Remaining
		case werrs != nil || isTooLarge(err):
			var suspects []kafka.Message
			for i, m := range pending {
				e := err // a refusal of the whole call: each is a suspect
				if werrs != nil {
					e = werrs[i]
				}
				switch {
				case e == nil:
					shipped++
				case isTooLarge(e):
					suspects = append(suspects, m)
				default:
					retry, transient = append(retry, m), true
				}
			}
			if len(suspects) == 1 {
				tooLarge = suspects
				break
			}
			for _, m := range suspects { // alone, to tell the too large from their batch mates
				switch err := s.Publisher.Publish(ctx, m); {
				case err == nil:
					shipped++
				case ctx.Err() != nil:
					return shipped, false
				case isTooLarge(err):
					tooLarge = append(tooLarge, m)
				default:
					retry, transient = append(retry, m), true
				}
			}
		default:
			retry, transient = pending, true
		}
		for _, m := range tooLarge {
			if !s.setAside(ctx, m, err) {
				return shipped, false
			}
		}
		if transient {
			s.count(ctx, s.failures, 1)
			s.Logger.Warn("publish clicks failed; they stay in the click log", "clicks", len(retry), "retry_in", backoff.String(), "error", kafkax.ErrorText(err))
			if !sleep(ctx, backoff+rand.N(backoff/2)) {
				return shipped, false
			}
			backoff = min(2*backoff, 10*time.Second)
		}
		pending = retry
	}
	return shipped, true
}

// isTooLarge reports whether err refuses a message for its size alone:
// kafkax.IsMessageTooLarge, or kafka-go's per-message errors when every
// one of them is that.
func isTooLarge(err error) bool {
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || werrs.Count() == 0 {
		return kafkax.IsMessageTooLarge(err)
	}
	// Per message: too large only when every refused one is (another
	// refusal, such as no leader, is worth a retry).
	for _, e := range werrs {
		if e != nil && !kafkax.IsMessageTooLarge(e) {
			return false
		}
	}
	return true
}

// setAsideAttempts bounds the writes of one click to clicks.v1.dlq. Kafka
// was just reachable (it refused the click), so failing that many times
// means the dead-letter topic is unusable (no ACL to write it, say): the
// click is then dropped rather than block every click behind it.
const setAsideAttempts = 8

// setAside writes a click Kafka refused as too large to clicks.v1.dlq
// with the reason in the dead-letter headers (kafkax.HeaderDLQ*), so it
// is kept and can be replayed once the topic takes it. When the
// dead-letter topic refuses it as too large as well, it writes the
// headers alone, with the click's id as the key and its size in
// HeaderDLQValueBytes. When the dead-letter topic cannot be written at
// all, after setAsideAttempts, the click is dropped. Either way an error
// log names the click (its id and size, never its content) and the
// redirect.clicklog.set_aside counter counts it, by outcome: dead_letter
// (the click is on clicks.v1.dlq) or dropped (it is not). It returns
// false when ctx ended first.
func (s *Shipper) setAside(ctx context.Context, m kafka.Message, cause error) bool {
	headers := append([]kafka.Header(nil), m.Headers...)
	headers = append(headers,
		kafka.Header{Key: kafkax.HeaderDLQReason, Value: []byte(cause.Error())},
		kafka.Header{Key: kafkax.HeaderDLQCode, Value: []byte("message_too_large")},
		kafka.Header{Key: kafkax.HeaderDLQTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: kafkax.HeaderDLQGroup, Value: []byte(shipperGroup)},
		kafka.Header{Key: kafkax.HeaderDLQFailedAt, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
	)
	dlq := kafka.Message{Topic: events.TopicClicksDLQ, Key: m.Key, Value: m.Value, Headers: headers}
	outcome := "dead_letter"
	var dlqErr error
	backoff := s.setAsideBackoff
	if backoff <= 0 {
		backoff = 100 * time.Millisecond
	}
	for attempt := 1; ; attempt++ {
		err := s.Publisher.Publish(ctx, dlq)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		if isTooLarge(err) && dlq.Value != nil {
			outcome = "dropped"
			dlq.Value = nil
			dlq.Headers = append(dlq.Headers, kafka.Header{Key: HeaderDLQValueBytes, Value: []byte(strconv.Itoa(len(m.Value)))})
			continue
		}
		if isTooLarge(err) || attempt >= setAsideAttempts {
			outcome, dlqErr = "dropped", err // only the log line below keeps the id
			break
		}
		s.Logger.Warn("set a click aside failed; will retry", "click_id", string(m.Key), "retry_in", backoff.String(), "error", err.Error())
		if !sleep(ctx, backoff+rand.N(backoff/2)) {
			return false
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	attrs := []any{"click_id", string(m.Key), "bytes", len(m.Value), "topic", m.Topic, "dlq", events.TopicClicksDLQ,
		"outcome", outcome, "error", cause.Error()}
	if dlqErr != nil {
		attrs = append(attrs, "dlq_error", dlqErr.Error())
	}
	s.Logger.Error("Kafka refused a click as too large; set aside instead of retried", attrs...)
	if s.aside != nil {
		s.aside.Add(ctx, 1, metric.WithAttributes(attribute.String("topic", m.Topic), attribute.String("outcome", outcome)))
	}
	return true
}
