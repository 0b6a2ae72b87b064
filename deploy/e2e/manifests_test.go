package e2e

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/events"
)

// TestKafkaTopicManifestsMatchTheCode keeps the Strimzi KafkaTopics (which
// own the topics in Kubernetes) equal to events.Topics() (which creates them
// everywhere else).
func TestKafkaTopicManifestsMatchTheCode(t *testing.T) {
	b, err := os.ReadFile("../../k8s/components/platform/topics.yaml")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?s)name: (\S+)\n.*?partitions: (\d+)\n.*?retention\.ms: (\d+)`)
	manifest := map[string][2]string{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		manifest[m[1]] = [2]string{m[2], m[3]}
	}
	for _, spec := range events.Topics() {
		got, ok := manifest[spec.Name]
		if !ok {
			t.Errorf("topics.yaml has no KafkaTopic %s", spec.Name)
			continue
		}
		if got[0] != strconv.Itoa(spec.Partitions) || got[1] != spec.Configs["retention.ms"] {
			t.Errorf("%s: manifest partitions %s retention %s, code %d %s", spec.Name, got[0], got[1], spec.Partitions, spec.Configs["retention.ms"])
		}
		delete(manifest, spec.Name)
	}
	for name := range manifest {
		t.Errorf("topics.yaml has %s, which events.Topics() does not know", name)
	}
}
