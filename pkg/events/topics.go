package events

// Topic names. Each data topic has a dead-letter twin that receives messages
// a consumer could not handle, with the reason in the headers.
const (
	TopicClicks         = "clicks.v1"
	TopicConversions    = "conversions.v1"
	TopicClicksDLQ      = "clicks.v1.dlq"
	TopicConversionsDLQ = "conversions.v1.dlq"
)

// DeadLetterTopic names the dead-letter twin of a topic.
func DeadLetterTopic(topic string) string { return topic + ".dlq" }

// TopicSpec describes how a topic is created.
type TopicSpec struct {
	Name       string
	Partitions int
	// Configs are Kafka topic configs (cleanup.policy, retention.ms, ...).
	Configs map[string]string
}

// Topics returns every topic linkcredit uses, for bootstrap and for the
// Kafka topic manifests. Data topics keep events for 30 days: reporting can
// be rebuilt from them within that window, and longer with tiered storage.
// Dead-letter topics keep theirs for 90 days so nobody loses a poison
// message over a long weekend.
func Topics() []TopicSpec {
	const (
		thirtyDays = "2592000000"
		ninetyDays = "7776000000"
	)
	return []TopicSpec{
		{Name: TopicClicks, Partitions: 12, Configs: map[string]string{"retention.ms": thirtyDays}},
		{Name: TopicConversions, Partitions: 6, Configs: map[string]string{"retention.ms": thirtyDays}},
		{Name: TopicClicksDLQ, Partitions: 1, Configs: map[string]string{"retention.ms": ninetyDays}},
		{Name: TopicConversionsDLQ, Partitions: 1, Configs: map[string]string{"retention.ms": ninetyDays}},
	}
}
