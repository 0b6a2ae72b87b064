package kafkax

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
)

// countingTransport answers metadata requests with one topic of three
// partitions (or errTopic's error code for errTopic) and counts calls.
type countingTransport struct {
	calls    int
	fail     error
	errTopic string
}

func (c *countingTransport) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (kafka.Response, error) {
	c.calls++
	if c.fail != nil {
		return nil, c.fail
	}
	m, ok := req.(*metadataAPI.Request)
	if !ok {
		return &produceAPI.Response{}, nil
	}
	resp := &metadataAPI.Response{}
	for _, name := range m.TopicNames {
		topic := metadataAPI.ResponseTopic{Name: name, Partitions: make([]metadataAPI.ResponsePartition, 3)}
		if name == c.errTopic {
			topic = metadataAPI.ResponseTopic{Name: name, ErrorCode: int16(kafka.UnknownTopicOrPartition)}
		}
		resp.Topics = append(resp.Topics, topic)
	}
	return resp, nil
}

func TestTopicMetadataCache(t *testing.T) {
	start := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	metadata := func(topics ...string) kafka.Request { return &metadataAPI.Request{TopicNames: topics} }
	tests := []struct {
		name      string
		errTopic  string
		fail      error
		requests  []kafka.Request
		advance   time.Duration // the clock moves this much before each request
		wantCalls int
	}{
		{"one topic asked again within the TTL is answered from the cache",
			"", nil, []kafka.Request{metadata("clicks.v1"), metadata("clicks.v1"), metadata("clicks.v1")}, 100 * time.Millisecond, 1},
		{"asked again once the TTL is over, the transport answers",
			"", nil, []kafka.Request{metadata("clicks.v1"), metadata("clicks.v1"), metadata("clicks.v1")}, topicMetadataTTL, 3},
		{"each topic has its own entry",
			"", nil, []kafka.Request{metadata("clicks.v1"), metadata("conversions.v1"), metadata("clicks.v1")}, 0, 2},
		{"a topic the cluster does not know is asked about every time",
			"missing.v1", nil, []kafka.Request{metadata("missing.v1"), metadata("missing.v1")}, 0, 2},
		{"a failed request is not kept",
			"", errors.New("connection refused"), []kafka.Request{metadata("clicks.v1"), metadata("clicks.v1")}, 0, 2},
		{"several topics at once pass through",
			"", nil, []kafka.Request{metadata("clicks.v1", "conversions.v1"), metadata("clicks.v1", "conversions.v1")}, 0, 2},
		{"the whole cluster's metadata passes through",
			"", nil, []kafka.Request{metadata(), metadata()}, 0, 2},
		{"produce requests pass through",
			"", nil, []kafka.Request{&produceAPI.Request{}, &produceAPI.Request{}}, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &countingTransport{fail: tt.fail, errTopic: tt.errTopic}
			c := newTopicMetadataCache(next)
			now := start
			c.now = func() time.Time { return now }
			for i, req := range tt.requests {
				now = now.Add(tt.advance)
				resp, err := c.RoundTrip(context.Background(), kafka.TCP("127.0.0.1:9092"), req)
				if (err != nil) != (tt.fail != nil) {
					t.Fatalf("request %d: error %v, want %v", i, err, tt.fail)
				}
				if m, ok := req.(*metadataAPI.Request); ok && err == nil {
					got := resp.(*metadataAPI.Response)
					if len(got.Topics) != len(m.TopicNames) {
						t.Fatalf("request %d: %d topics in the answer, want %d", i, len(got.Topics), len(m.TopicNames))
					}
				}
			}
			if next.calls != tt.wantCalls {
				t.Fatalf("the transport was asked %d times, want %d", next.calls, tt.wantCalls)
			}
		})
	}
}
