package testkit

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/linkcredit/linkcredit/pkg/devkafka"
)

// Kafka starts an in-process broker for the test and returns its address
// list. Topics are created on first use; group sessions may be 1 s short.
func Kafka(t testing.TB) []string {
	t.Helper()
	_, brokers := KafkaCluster(t)
	return brokers
}

// KafkaCluster is Kafka, also returning the broker for tests that inject
// faults or inspect groups.
func KafkaCluster(t testing.TB) (*kfake.Cluster, []string) {
	t.Helper()
	c, err := devkafka.Start(devkafka.Options{AutoCreateTopics: true, MinSessionTimeout: time.Second})
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}

// ReadTopic reads every partition of topic from its first offset, one
// reader per partition, and hands each message to visit (one call at a
// time, so visit needs no lock). It returns when visit returns true or
// ctx ends; a test then checks what visit gathered.
func ReadTopic(ctx context.Context, t testing.TB, brokers []string, topic string, visit func(kafka.Message) (done bool)) {
	t.Helper()
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		t.Fatalf("testkit: dial %s: %v", brokers[0], err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("testkit: partitions of %s: %v", topic, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				done := visit(m)
				mu.Unlock()
				if done {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
}
