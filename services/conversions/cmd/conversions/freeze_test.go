package main

import (
	"bytes"
	"fmt"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
	"github.com/linkcredit/linkcredit/services/conversions/internal/webhook"
)

// TestFrozenPostgresAnswers503: with every process of PostgreSQL stopped
// (SIGSTOP: connections are accepted, nothing answers, as with a hung disk
// or a partition), /readyz, webhooks, postbacks and the admin API answer
// 503 within their bounds instead of hanging; once it resumes, readiness returns and a
// retry of the same deliveries is accepted once.
func TestFrozenPostgresAnswers503(t *testing.T) {
	t.Parallel()
	cluster := testkit.OwnPostgres(t) // the test binary's shared cluster is not ours to freeze
	s := setup(t, cluster.URL("postgres"), testkit.Now(t))
	if r := s.send(t, "coursera", "warm-up", s.conversionBody("F-0", "pending", "1.00"), s.key, s.at); r.status != 202 {
		t.Fatalf("before the freeze: %d %s", r.status, r.body)
	}
	// Postbacks go to a partner no request has looked up yet: its lookup
	// meets the frozen database too, where coursera's is cached.
	s.putPartner(t, "udemy", fmt.Sprintf(`{"name":"Udemy","postback_token":%q,"currency":"USD"}`, postbackToken), 201)

	testkit.Freeze(t, cluster)

	// Generous ceilings (3x each bound): an answer, not a speed, is asserted.
	const probeCeiling = 3 * 2 * time.Second
	acceptCeiling := 3 * conversion.DefaultAcceptTimeout
	body := s.conversionBody("F-1", "pending", "1.00")
	ts := strconv.FormatInt(s.at.Unix(), 10)
	hook := func() testkit.Timed {
		return testkit.TimedDo("POST", s.p.Base+"/v1/webhooks/coursera", body, acceptCeiling, "webhook-id", "frozen-1",
			"webhook-timestamp", ts, "webhook-signature", webhook.Sign(s.key, "frozen-1", ts, body), "Content-Type", "application/json")
	}
	postbackURL := s.p.Base + "/v1/postback/udemy?token=" + postbackToken +
		"&order_id=F-2&click_id=c&status=pending&sale_amount=10.00&commission=1.50&currency=USD&event_id=frozen-2"
	postback := func() testkit.Timed { return testkit.TimedDo("GET", postbackURL, nil, acceptCeiling) }
	ready := func() testkit.Timed { return testkit.TimedDo("GET", s.p.Base+"/readyz", nil, probeCeiling) }
	// The admin API answers 503 after httpx.AdminStalls' bounds (10 s a
	// read, 30 s a write); before, it waited as long as the database.
	const adminCeiling = 3 * 30 * time.Second
	auth := []string{"Authorization", "Bearer " + adminToken}
	admin := map[string]func() testkit.Timed{
		"get partner": func() testkit.Timed {
			return testkit.TimedDo("GET", s.p.Base+"/v1/partners/udemy", nil, adminCeiling, auth...)
		},
		"partner health": func() testkit.Timed {
			return testkit.TimedDo("GET", s.p.Base+"/v1/partners/coursera/health", nil, adminCeiling, auth...)
		},
		"put partner": func() testkit.Timed {
			return testkit.TimedDo("PUT", s.p.Base+"/v1/partners/frozen", []byte(`{"name":"Frozen","currency":"USD"}`), adminCeiling,
				append(auth, "Content-Type", "application/json")...)
		},
	}
	calls := map[string]func() testkit.Timed{"webhook": hook, "postback": postback, "readyz": ready}
	maps.Copy(calls, admin)

	// Concurrently, as a partner's deliveries, the probes and an operator come.
	answers := testkit.TimedAll(t, calls)
	for name, r := range answers {
		if name == "readyz" {
			if r.Err != nil || r.Status != 503 {
				t.Errorf("frozen: readyz = %d %s (%v) after %v, want 503", r.Status, r.Body, r.Err, r.Took)
			}
			continue
		}
		code := "" // each delivery's own
		if _, ok := admin[name]; ok {
			code = "unavailable"
		}
		if err := testkit.Unavailable(r, code); err != nil {
			t.Errorf("frozen: %s: %v", name, err)
		}
	}
	if r := answers["readyz"]; !bytes.Contains([]byte(r.Body), []byte(`"postgres":"failing"`)) {
		t.Errorf("frozen: readyz %s does not name postgres failing", r.Body)
	}
	// The probe whose check is still stuck answers at once, failing.
	if r := ready(); r.Status != 503 {
		t.Errorf("frozen, second probe: %d %s (%v)", r.Status, r.Body, r.Err)
	}
	// The metrics say what they can: the outbox gauges give up on the
	// database after their 2 s.
	if r := testkit.TimedDo("GET", s.p.Base+"/metrics", nil, probeCeiling); r.Status != 200 {
		t.Errorf("frozen: /metrics = %d (%v) after %v, want 200", r.Status, r.Err, r.Took)
	}

	if err := cluster.Thaw(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 60*time.Second, func() error {
		if r := ready(); r.Status != 200 {
			return fmt.Errorf("readyz after the thaw = %d %s (%v)", r.Status, r.Body, r.Err)
		}
		return nil
	})
	if r := admin["get partner"](); r.Status != 200 {
		t.Errorf("after the thaw: get partner = %d %s (%v)", r.Status, r.Body, r.Err)
	}
	// A retry is accepted: 202 if the abandoned attempt did not commit,
	// 200 (a duplicate) if it committed after its 503.
	for name, call := range map[string]func() testkit.Timed{"webhook": hook, "postback": postback} {
		if r := call(); r.Status != 202 && r.Status != 200 {
			t.Errorf("after the thaw: %s retry = %d %s (%v)", name, r.Status, r.Body, r.Err)
		}
		if r := call(); r.Status != 200 {
			t.Errorf("after the thaw: %s second retry = %d %s, want 200 duplicate", name, r.Status, r.Body)
		}
	}
	db, err := sqlOpen(s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM conversions.inbox WHERE idempotency_key IN ('frozen-1', 'frozen-2')`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("stored after the retries: %d (%v), want each delivery once", n, err)
	}
}
