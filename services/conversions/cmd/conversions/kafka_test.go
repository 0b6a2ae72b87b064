package main

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// Reading conversions.v1 the way a consumer would.

// received is an event read from conversions.v1.
type received struct {
	events.ConversionReceived
	KafkaTime time.Time // the message's timestamp
}

// conversions reads conversions.v1 until n events arrived.
func conversions(t *testing.T, b *testkit.Broker, n int, timeout time.Duration) []received {
	t.Helper()
	return readUntil(t, b, timeout, func(got map[string]received) bool { return len(got) >= n })
}

func readUntil(t *testing.T, b *testkit.Broker, timeout time.Duration, done func(map[string]received) bool) []received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	got := map[string]received{}
	var order []string
	testkit.ReadTopic(ctx, t, []string{b.Addr}, events.TopicConversions, func(m kafka.Message) bool {
		c, err := events.DecodeConversion(m.Value)
		if err != nil {
			t.Errorf("bad event: %v: %s", err, m.Value)
			return false
		}
		if kafkaHeader(m, "traceparent") == "" {
			t.Errorf("event %s has no traceparent", c.ID)
		}
		if _, seen := got[c.ID]; !seen {
			order = append(order, c.ID)
		}
		got[c.ID] = received{c, m.Time}
		return done(got)
	})
	out := make([]received, 0, len(order))
	for _, id := range order {
		out = append(out, got[id])
	}
	return out
}

func kafkaHeader(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// partitionOf finds the partition kafka-go's Hash balancer picks for key.
func partitionOf(t *testing.T, b *testkit.Broker, key string) int {
	conn, err := kafka.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(events.TopicConversions)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int, len(parts))
	for i := range parts {
		ids[i] = i
	}
	return (&kafka.Hash{}).Balance(kafka.Message{Key: []byte(key)}, ids...)
}
