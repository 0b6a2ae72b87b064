package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
	"github.com/linkcredit/linkcredit/services/conversions/internal/webhook"
)

// timedResp is an answer and how long it took; status 0: none came within
// the client's timeout.
type timedResp struct {
	resp
	took time.Duration
	err  error
}

// timedDo is do with a client that gives up after ceiling, so a hung
// handler fails the test instead of hanging it.
func timedDo(method, url string, body []byte, ceiling time.Duration, headers ...string) timedResp {
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	start := time.Now()
	r, err := (&http.Client{Timeout: ceiling}).Do(req)
	if err != nil {
		return timedResp{took: time.Since(start), err: err}
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return timedResp{resp: resp{r.StatusCode, string(b), r.Header}, took: time.Since(start)}
}

// TestFrozenPostgresAnswers503: with every process of PostgreSQL stopped
// (SIGSTOP: connections are accepted, nothing answers, as with a hung disk
// or a partition), /readyz, webhooks and postbacks answer 503 within their
// bounds instead of hanging; once it resumes, readiness returns and a
// retry of the same deliveries is accepted once.
func TestFrozenPostgresAnswers503(t *testing.T) {
	cluster := testkit.OwnPostgres(t) // the test binary's shared cluster is not ours to freeze
	s := setup(t, cluster.URL("postgres"), testkit.Now(t))
	if r := s.send(t, "coursera", "warm-up", s.conversionBody("F-0", "pending", "1.00"), s.key, s.at); r.status != 202 {
		t.Fatalf("before the freeze: %d %s", r.status, r.body)
	}
	// Postbacks go to a partner no request has looked up yet: its lookup
	// meets the frozen database too, where coursera's is cached.
	s.putPartner(t, "udemy", fmt.Sprintf(`{"name":"Udemy","postback_token":%q,"currency":"USD"}`, postbackToken), 201)

	if err := cluster.Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Thaw() }) // never leave it frozen, whatever fails below

	// Generous ceilings (3x each bound): an answer, not a speed, is asserted.
	const probeCeiling = 3 * 2 * time.Second
	acceptCeiling := 3 * conversion.DefaultAcceptTimeout
	body := s.conversionBody("F-1", "pending", "1.00")
	ts := strconv.FormatInt(s.at.Unix(), 10)
	hook := func() timedResp {
		return timedDo("POST", s.p.Base+"/v1/webhooks/coursera", body, acceptCeiling, "webhook-id", "frozen-1",
			"webhook-timestamp", ts, "webhook-signature", webhook.Sign(s.key, "frozen-1", ts, body), "Content-Type", "application/json")
	}
	postbackURL := s.p.Base + "/v1/postback/udemy?token=" + postbackToken +
		"&order_id=F-2&click_id=c&status=pending&sale_amount=10.00&commission=1.50&currency=USD&event_id=frozen-2"
	postback := func() timedResp { return timedDo("GET", postbackURL, nil, acceptCeiling) }
	ready := func() timedResp { return timedDo("GET", s.p.Base+"/readyz", nil, probeCeiling) }
	// The admin API answers 503 after httpx.AdminStalls' bounds (10 s a
	// read, 30 s a write); before, it waited as long as the database.
	const adminCeiling = 3 * 30 * time.Second
	auth := []string{"Authorization", "Bearer " + adminToken}
	admin := map[string]func() timedResp{
		"get partner": func() timedResp { return timedDo("GET", s.p.Base+"/v1/partners/udemy", nil, adminCeiling, auth...) },
		"partner health": func() timedResp {
			return timedDo("GET", s.p.Base+"/v1/partners/coursera/health", nil, adminCeiling, auth...)
		},
		"put partner": func() timedResp {
			return timedDo("PUT", s.p.Base+"/v1/partners/frozen", []byte(`{"name":"Frozen","currency":"USD"}`), adminCeiling,
				append(auth, "Content-Type", "application/json")...)
		},
	}
	calls := map[string]func() timedResp{"webhook": hook, "postback": postback, "readyz": ready}
	maps.Copy(calls, admin)

	// Concurrently, as a partner's deliveries, the probes and an operator come.
	var wg sync.WaitGroup
	answers := map[string]*timedResp{}
	var mu sync.Mutex
	for name, call := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := call()
			mu.Lock()
			answers[name] = &r
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, name := range slices.Sorted(maps.Keys(calls)) {
		r := answers[name]
		t.Logf("frozen: %s = %d in %v %s", name, r.status, r.took.Round(time.Millisecond), r.body)
		if r.err != nil || r.status != 503 {
			t.Errorf("frozen: %s = %d %s (%v) after %v, want 503", name, r.status, r.body, r.err, r.took)
		}
	}
	for _, name := range append([]string{"webhook", "postback"}, slices.Sorted(maps.Keys(admin))...) {
		r := answers[name]
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error.Code == "" {
			t.Errorf("frozen: %s body %q is not the contract's error JSON", name, r.body)
		}
		if r.header.Get("Retry-After") == "" {
			t.Errorf("frozen: %s 503 without Retry-After", name)
		}
	}
	if r := answers["readyz"]; !bytes.Contains([]byte(r.body), []byte(`"postgres":"failing"`)) {
		t.Errorf("frozen: readyz %s does not name postgres failing", r.body)
	}
	// The probe whose check is still stuck answers at once, failing.
	if r := ready(); r.status != 503 {
		t.Errorf("frozen, second probe: %d %s (%v)", r.status, r.body, r.err)
	}
	// The metrics say what they can: the outbox gauges give up on the
	// database after their 2 s.
	if r := timedDo("GET", s.p.Base+"/metrics", nil, probeCeiling); r.status != 200 {
		t.Errorf("frozen: /metrics = %d (%v) after %v, want 200", r.status, r.err, r.took)
	}

	if err := cluster.Thaw(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 60*time.Second, func() error {
		if r := ready(); r.status != 200 {
			return fmt.Errorf("readyz after the thaw = %d %s (%v)", r.status, r.body, r.err)
		}
		return nil
	})
	if r := admin["get partner"](); r.status != 200 {
		t.Errorf("after the thaw: get partner = %d %s (%v)", r.status, r.body, r.err)
	}
	// A retry is accepted: 202 if the abandoned attempt did not commit,
	// 200 (a duplicate) if it committed after its 503.
	for name, call := range map[string]func() timedResp{"webhook": hook, "postback": postback} {
		if r := call(); r.status != 202 && r.status != 200 {
			t.Errorf("after the thaw: %s retry = %d %s (%v)", name, r.status, r.body, r.err)
		}
		if r := call(); r.status != 200 {
			t.Errorf("after the thaw: %s second retry = %d %s, want 200 duplicate", name, r.status, r.body)
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
