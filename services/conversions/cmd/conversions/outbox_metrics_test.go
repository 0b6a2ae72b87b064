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

// The ConversionsOutboxParked alert (k8s/components/telemetry/
// pipeline.rules.yaml) reads conversions_outbox_parked_waiting: /metrics
// exports it under that name, counting the rows in outbox_parked, and
// every conversions_ metric the pipeline rules name is exported.
func TestParkedOutboxMetricForTheAlert(t *testing.T) {
	t.Parallel()
	s := setup(t, migratedDatabaseURL(t), testkit.Now(t))
	db := openDB(t, s)
	for i := range 2 {
		if _, err := db.Exec(`INSERT INTO conversions.outbox_parked (id, topic, key, value, created_at, parked_at, reason)
			VALUES ($1, 'conversions.v1', 'k', 'v', now(), now(), 'MESSAGE_TOO_LARGE')`, 900000+i); err != nil {
			t.Fatal(err)
		}
	}
	rules, err := os.ReadFile("../../../../k8s/components/telemetry/pipeline.rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^conversions_outbox_parked_waiting(\{[^}]*\})? 2$`)
	testkit.WaitFor(t, 30*time.Second, func() error {
		m := do(t, "GET", s.p.Base+"/metrics", nil).body
		if !line.MatchString(m) {
			return fmt.Errorf("no conversions_outbox_parked_waiting 2 in /metrics:\n%s", regexp.MustCompile(`(?m)^conversions_outbox_parked.*$`).FindString(m))
		}
		for _, name := range regexp.MustCompile(`conversions_[a-z_]+`).FindAllString(string(rules), -1) {
			if !strings.Contains(m, name) {
				return fmt.Errorf("the pipeline rules name %s, which /metrics lacks", name)
			}
		}
		return nil
	})
}
