package kafkax

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Consumed tells when a consumer group has consumed its topics up to a
// moment: every message the brokers held then, on every partition, is
// behind the group's committed offsets. A consumer that commits only
// what it has stored (Subscriber) has then stored all of it.
type Consumed struct {
	Brokers  []string
	Security Security
	GroupID  string
	Topics   []string
	// Poll is how often the group's offsets are read while waiting
	// (default 50 ms).
	Poll time.Duration
}

// ErrBehind is Wait's error when ctx ends before the group has caught up.
var ErrBehind = errors.New("kafkax: the consumer group has not caught up")

// Wait returns once the group has committed, on every partition of the
// topics, an offset at or past the partition's end as it stands when Wait
// is called; it returns an error wrapping ErrBehind (with how many
// messages are left) when ctx ends first, or the brokers' error.
func (c Consumed) Wait(ctx context.Context) error {
	client, done, err := newClient(c.Brokers, c.Security, 5*time.Second)
	if err != nil {
		return err
	}
	defer done()
	ends, err := endOffsets(ctx, client, c.Topics)
	if err != nil {
		return err
	}
	poll := c.Poll
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	var read bool // whether a look at the group's offsets succeeded
	var last int64
	for {
		left, err := c.left(ctx, client, ends)
		if err == nil {
			if left == 0 {
				return nil
			}
			read, last = true, left
		}
		select {
		case <-ctx.Done():
			switch {
			case err == nil:
				return fmt.Errorf("%w: %d messages left", ErrBehind, left)
			case read: // the deadline cut the last look short: the one before stands
				return fmt.Errorf("%w: %d messages left at the last look (the next: %w)", ErrBehind, last, err)
			default:
				return fmt.Errorf("%w: %w", ErrBehind, err)
			}
		case <-time.After(poll):
		}
	}
}

// partitionKey names a partition of a topic.
type partitionKey struct {
	topic     string
	partition int
}

// partitionRange is a partition's first offset held and its end (the
// offset the next message will have).
type partitionRange struct{ first, end int64 }

// endOffsets reads every partition's range of the topics.
func endOffsets(ctx context.Context, client *kafka.Client, topics []string) (map[partitionKey]partitionRange, error) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("kafkax: consumed: metadata: %w", err)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("kafkax: consumed: topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			req.Topics[t.Name] = append(req.Topics[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("kafkax: consumed: list offsets: %w", err)
	}
	out := map[partitionKey]partitionRange{}
	for topic, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("kafkax: consumed: %s/%d: %w", topic, p.Partition, p.Error)
			}
			out[partitionKey{topic, p.Partition}] = partitionRange{p.FirstOffset, p.LastOffset}
		}
	}
	return out, nil
}

// left counts the messages before ends that the group has not committed.
// A partition the group never committed on counts from its first offset.
func (c Consumed) left(ctx context.Context, client *kafka.Client, ends map[partitionKey]partitionRange) (int64, error) {
	req := &kafka.OffsetFetchRequest{GroupID: c.GroupID, Topics: map[string][]int{}}
	for k := range ends {
		req.Topics[k.topic] = append(req.Topics[k.topic], k.partition)
	}
	resp, err := client.OffsetFetch(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("kafkax: consumed: offset fetch: %w", err)
	}
	if resp.Error != nil && !errors.Is(resp.Error, kafka.GroupIdNotFound) { // a group never joined has committed nothing
		return 0, fmt.Errorf("kafkax: consumed: offset fetch: %w", resp.Error)
	}
	committed := map[partitionKey]int64{}
	for topic, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return 0, fmt.Errorf("kafkax: consumed: %s/%d: %w", topic, p.Partition, p.Error)
			}
			committed[partitionKey{topic, p.Partition}] = p.CommittedOffset
		}
	}
	var left int64
	for k, r := range ends {
		at, ok := committed[k]
		if !ok || at < r.first {
			at = r.first // nothing committed (-1), or committed before what the brokers still hold
		}
		if at < r.end {
			left += r.end - at
		}
	}
	return left, nil
}
