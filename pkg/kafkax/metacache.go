package kafkax

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
)

// topicMetadataTTL is how long a topic's metadata answers a writer's
// partition count from the cache. kafka-go's transport caches metadata
// too (MetadataTTL, 6 s by default), so a topic given more partitions
// is seen at most this much later than without it.
const topicMetadataTTL = time.Second

// topicMetadataCache is a kafka.RoundTripper that answers a writer's
// single-topic metadata requests from a short-lived cache and passes
// everything else to next.
//
// kafka-go's Writer asks its transport for the topic's metadata once per
// message (Writer.partitions), and the transport, though it answers from
// its own cache, copies and filters the cluster's metadata for each ask:
// at a shipper batch of 1,000 clicks that was about four allocations and
// a lock a click, 1.3 % of the redirect's CPU (docs/performance.md).
// Only answers without an error are kept: a topic that does not exist yet
// is asked about again every time, as before.
type topicMetadataCache struct {
	next kafka.RoundTripper
	now  func() time.Time

	mu     sync.Mutex
	topics map[topicMetadataKey]cachedTopicMetadata
}

type topicMetadataKey struct {
	topic      string
	autoCreate bool
}

type cachedTopicMetadata struct {
	resp    *metadataAPI.Response
	expires time.Time
}

func newTopicMetadataCache(next kafka.RoundTripper) *topicMetadataCache {
	if next == nil {
		next = kafka.DefaultTransport
	}
	return &topicMetadataCache{next: next, now: time.Now, topics: map[topicMetadataKey]cachedTopicMetadata{}}
}

// RoundTrip implements kafka.RoundTripper.
func (c *topicMetadataCache) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	m, ok := req.(*metadataAPI.Request)
	if !ok || len(m.TopicNames) != 1 || m.IncludeClusterAuthorizedOperations || m.IncludeTopicAuthorizedOperations {
		return c.next.RoundTrip(ctx, addr, req)
	}
	key := topicMetadataKey{topic: m.TopicNames[0], autoCreate: m.AllowAutoTopicCreation}
	now := c.now()
	c.mu.Lock()
	hit, found := c.topics[key]
	c.mu.Unlock()
	if found && now.Before(hit.expires) {
		return hit.resp, nil
	}
	resp, err := c.next.RoundTrip(ctx, addr, req)
	if err != nil {
		return resp, err
	}
	if r, ok := resp.(*metadataAPI.Response); ok && topicFound(r, key.topic) {
		c.mu.Lock()
		c.topics[key] = cachedTopicMetadata{resp: r, expires: now.Add(topicMetadataTTL)}
		c.mu.Unlock()
	}
	return resp, nil
}

// topicFound says whether r describes topic without an error.
func topicFound(r *metadataAPI.Response, topic string) bool {
	for _, t := range r.Topics {
		if t.Name == topic {
			return t.ErrorCode == 0 && len(t.Partitions) > 0
		}
	}
	return false
}

// CloseIdleConnections closes next's idle connections, when it has any.
func (c *topicMetadataCache) CloseIdleConnections() {
	if t, ok := c.next.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}
