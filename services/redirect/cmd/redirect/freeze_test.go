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
// cancel request is not answered either), the link API answers the
// contract's 503 after httpx.AdminStalls' bounds (10 s a read, 30 s a
// write) instead of waiting as long as the database (it did, found by an
// acceptance check in issue 15), while clicks on a known link still get
// their 302; once it resumes, the same requests succeed.
func TestFrozenPostgresAnswers503(t *testing.T) {
	cluster := testkit.OwnPostgres(t) // the test binary's shared cluster is not ours to freeze
	b := testkit.RestartableKafka(t)
	p := start(t, testkit.Listen(t), baseEnv(t, cluster.URL("postgres"), b))
	putLink(t, p.Base, "ml-101", "https://www.coursera.org/learn/ml?clickid={click_id}")

	// Generous ceilings (3x each bound): an answer, not a speed, is asserted.
	const ceiling = 3 * 30 * time.Second
	call := func(method, path, body string) (int, string, http.Header, time.Duration, error) {
		req, _ := http.NewRequest(method, p.Base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		start := time.Now()
		r, err := (&http.Client{Timeout: ceiling, CheckRedirect: client.CheckRedirect}).Do(req)
		if err != nil {
			return 0, "", nil, time.Since(start), err
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b), r.Header, time.Since(start), nil
	}
	calls := map[string][3]string{
		"get link":  {"GET", "/v1/links/ml-101", ""},
		"list":      {"GET", "/v1/links?partner=coursera", ""},
		"put link":  {"PUT", "/v1/links/frozen", `{"partner":"coursera","course_id":"c","destination":"https://x.example/"}`},
		"the click": {"GET", "/c/ml-101", ""},
	}

	if err := cluster.Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Thaw() }) // never leave it frozen, whatever fails below

	var wg sync.WaitGroup
	var mu sync.Mutex
	for name, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body, header, took, err := call(c[0], c[1], c[2])
			mu.Lock()
			defer mu.Unlock()
			t.Logf("frozen: %s = %d in %v %s", name, status, took.Round(time.Millisecond), body)
			if name == "the click" {
				if status != 302 {
					t.Errorf("frozen: the click = %d %s (%v), want 302", status, body, err)
				}
				return
			}
			if err != nil || status != 503 {
				t.Errorf("frozen: %s = %d %s (%v) after %v, want 503", name, status, body, err, took)
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

	if err := cluster.Thaw(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 60*time.Second, func() error {
		if status, body, _, _, err := call("GET", "/v1/links/ml-101", ""); status != 200 {
			return fmt.Errorf("after the thaw: get link = %d %s (%v)", status, body, err)
		}
		return nil
	})
	if logs := p.Logs(); !strings.Contains(logs, "request stalled") {
		t.Errorf("the stalls were not logged:\n%s", logs)
	}
}
