package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// The KafkaConsumerRetrying and KafkaConsumerStuck alerts
// (k8s/components/telemetry/pipeline.rules.yaml) read
// kafkax_consumer_retry_attempts by group: reporting's /metrics exports it
// under that name for reporting.ledger, as every kafkax_ metric the rules
// name.
func TestConsumerRetryMetricForTheAlerts(t *testing.T) {
	t.Parallel()
	s := setup(t, testkit.Now(t))
	rules, err := os.ReadFile("../../../../k8s/components/telemetry/pipeline.rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gauge := regexp.MustCompile(`(?m)^kafkax_consumer_retry_attempts\{[^}]*group="reporting\.ledger"[^}]*\} 0$`)
	testkit.WaitFor(t, 30*time.Second, func() error {
		m := s.do(t, "GET", "/metrics", "").body
		if !gauge.MatchString(m) {
			return fmt.Errorf("no kafkax_consumer_retry_attempts{group=\"reporting.ledger\"} 0 in /metrics: %q",
				regexp.MustCompile(`(?m)^kafkax_consumer_retry.*$`).FindAllString(m, -1))
		}
		for _, name := range regexp.MustCompile(`kafkax_[a-z_]+`).FindAllString(string(rules), -1) {
			if !strings.Contains(m, name) {
				return fmt.Errorf("the pipeline rules name %s, which /metrics lacks", name)
			}
		}
		return nil
	})
}
