package testkit

import (
	"testing"
	"time"

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
