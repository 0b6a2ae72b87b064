package kafkax

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/events"
)

// EnsureTopics creates the topics that do not exist yet. The replication
// factor is three, or the number of brokers when there are fewer. Existing
// topics are left exactly as they are (their operators may have tuned them).
func EnsureTopics(ctx context.Context, brokers []string, sec Security, specs []events.TopicSpec) error {
	client, done, err := newClient(brokers, sec, 10*time.Second)
	if err != nil {
		return err
	}
	defer done()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return fmt.Errorf("kafkax: ensure topics: metadata: %w", err)
	}
	replicas := min(3, len(meta.Brokers))
	req := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: replicas}
		keys := make([]string, 0, len(s.Configs))
		for k := range s.Configs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: s.Configs[k]})
		}
		if replicas >= 3 {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "min.insync.replicas", ConfigValue: "2"})
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("kafkax: create topics: %w", err)
	}
	var errs []error
	for topic, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("kafkax: create topic %s: %w", topic, err))
		}
	}
	return errors.Join(errs...)
}

// Ping asks the cluster for its metadata: the readiness probe. It fails when
// no broker answers within the context's deadline.
func Ping(ctx context.Context, brokers []string, sec Security) error {
	client, done, err := newClient(brokers, sec, 5*time.Second)
	if err != nil {
		return err
	}
	defer done()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}})
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	if len(meta.Brokers) == 0 {
		return errors.New("kafka: cluster reports no brokers")
	}
	return nil
}

// newClient returns a client with a transport of its own. kafka-go's
// default transport is shared process-wide and caches metadata and
// connections, so a probe through it can report a broker that is gone.
func newClient(brokers []string, sec Security, timeout time.Duration) (*kafka.Client, func(), error) {
	tr, err := sec.transport(timeout)
	if err != nil {
		return nil, nil, err
	}
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: timeout, Transport: tr}, tr.CloseIdleConnections, nil
}
