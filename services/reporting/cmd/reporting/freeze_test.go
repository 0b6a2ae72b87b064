package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// TestFrozenPostgresAnswers503: with every process of PostgreSQL stopped
// (SIGSTOP: connections are accepted, nothing answers, and lib/pq's
// cancel request is not answered either), finance's reads answer 503
// after readStall instead of hanging, /readyz after its 2 s, and /metrics
// at once; once it resumes, the same requests answer 200.
func TestFrozenPostgresAnswers503(t *testing.T) {
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
	get := func(path string) (int, string, http.Header, time.Duration, error) {
		req, _ := http.NewRequest("GET", s.p.Base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		// A generous ceiling (3x the bound): an answer, not a speed, is asserted.
		r, err := (&http.Client{Timeout: 3 * readStall}).Do(req)
		if err != nil {
			return 0, "", nil, time.Since(start), err
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b), r.Header, time.Since(start), nil
	}
	for name, path := range paths {
		if status, body, _, _, err := get(path); status != 200 {
			t.Fatalf("before the freeze: %s = %d %s (%v)", name, status, body, err)
		}
	}

	if err := cluster.Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Thaw() }) // never leave it frozen, whatever fails below

	var wg sync.WaitGroup
	var mu sync.Mutex
	for name, path := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body, header, took, err := get(path)
			mu.Lock()
			defer mu.Unlock()
			t.Logf("frozen: %s = %d in %v %s", name, status, took.Round(time.Millisecond), body)
			if err != nil || status != 503 {
				t.Errorf("frozen: %s = %d %s (%v) after %v, want 503", name, status, body, err, took)
				return
			}
			if name == "readyz" {
				return
			}
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != "unavailable" {
				t.Errorf("frozen: %s body %q is not the contract's unavailable error", name, body)
			}
			if header.Get("Retry-After") == "" {
				t.Errorf("frozen: %s 503 without Retry-After", name)
			}
		}()
	}
	wg.Wait()
	if status, _, _, took, err := get("/metrics"); status != 200 {
		t.Errorf("frozen: /metrics = %d (%v) after %v, want 200", status, err, took)
	}

	if err := cluster.Thaw(); err != nil {
		t.Fatal(err)
	}
	for name, path := range paths {
		testkit.WaitFor(t, 60*time.Second, func() error {
			if status, body, _, _, err := get(path); status != 200 {
				return fmt.Errorf("after the thaw: %s = %d %s (%v)", name, status, body, err)
			}
			return nil
		})
	}
	if logs := s.p.Logs(); !strings.Contains(logs, "request stalled") {
		t.Errorf("the stalls were not logged:\n%s", logs)
	}
}
