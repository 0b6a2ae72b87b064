package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// TestFrozenPostgresAnswers503: with every process of PostgreSQL stopped
// (SIGSTOP: connections are accepted, nothing answers, and lib/pq's
// cancel request is not answered either), finance's reads answer 503
// after readStall and its writes after writeStall instead of hanging,
// /readyz after its 2 s, and /metrics at once; once it resumes, the same
// reads answer 200.
func TestFrozenPostgresAnswers503(t *testing.T) {
	t.Parallel()
	cluster := testkit.OwnPostgres(t) // the test binary's shared cluster is not ours to freeze
	s := setupOn(t, cluster.URL("postgres"), testkit.Now(t))
	// Something in the ledger, so the statement has a partner to answer for.
	s.waitFor(t, s.month()+"&group_by=partner", oneRow(s.seed(t)))
	month := monthOf(s.day).Format("2006-01")
	paths := map[string]string{
		"report":    "/v1/reports/commissions?" + s.month(),
		"statement": "/v1/payouts/statements/coursera?month=" + month,
		"periods":   "/v1/periods",
		"readyz":    "/readyz",
	}
	// A generous ceiling (3x the bound): an answer, not a speed, is asserted.
	get := func(path string) testkit.Timed {
		return testkit.TimedDo("GET", s.p.Base+path, nil, 3*readStall, "Authorization", "Bearer "+token)
	}
	for name, path := range paths {
		if r := get(path); r.Status != 200 {
			t.Fatalf("before the freeze: %s = %d %s (%v)", name, r.Status, r.Body, r.Err)
		}
	}

	testkit.Freeze(t, cluster)

	calls := map[string]func() testkit.Timed{
		// A write: its bound (writeStall) is longer than a read's; only a
		// settlement file's apply gets longer still.
		"remittance": func() testkit.Timed {
			return testkit.TimedDo("POST", s.p.Base+"/v1/payouts/remittances",
				[]byte(`{"partner":"coursera","amount":"7.50","currency":"USD","reference":"frozen"}`), 3*writeStall,
				"Authorization", "Bearer "+token, "Content-Type", "application/json")
		},
	}
	for name, path := range paths {
		calls[name] = func() testkit.Timed { return get(path) }
	}
	for name, r := range testkit.TimedAll(t, calls) {
		if name == "readyz" {
			if r.Err != nil || r.Status != 503 {
				t.Errorf("frozen: readyz = %d %s (%v) after %v, want 503", r.Status, r.Body, r.Err, r.Took)
			}
			continue
		}
		if err := testkit.Unavailable(r, "unavailable"); err != nil {
			t.Errorf("frozen: %s: %v", name, err)
		}
	}
	if r := get("/metrics"); r.Status != 200 {
		t.Errorf("frozen: /metrics = %d (%v) after %v, want 200", r.Status, r.Err, r.Took)
	}

	if err := cluster.Thaw(); err != nil {
		t.Fatal(err)
	}
	for name, path := range paths {
		testkit.WaitFor(t, 60*time.Second, func() error {
			if r := get(path); r.Status != 200 {
				return fmt.Errorf("after the thaw: %s = %d %s (%v)", name, r.Status, r.Body, r.Err)
			}
			return nil
		})
	}
	if logs := s.p.Logs(); !strings.Contains(logs, "request stalled") {
		t.Errorf("the stalls were not logged:\n%s", logs)
	}
}
