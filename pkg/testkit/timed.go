package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// Timed is an answer and how long it took. Status 0, with Err: none came
// within the ceiling.
type Timed struct {
	Status int
	Body   string
	Header http.Header
	Took   time.Duration
	Err    error
}

// TimedDo sends a request (headers as name, value pairs) with a client
// that gives up after ceiling, so that a hung handler fails the test
// instead of hanging it, and that never follows redirects.
func TimedDo(method, url string, body []byte, ceiling time.Duration, headers ...string) Timed {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return Timed{Err: err}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{Timeout: ceiling,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	start := time.Now()
	r, err := client.Do(req)
	if err != nil {
		return Timed{Took: time.Since(start), Err: err}
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return Timed{Status: r.StatusCode, Body: string(b), Header: r.Header, Took: time.Since(start)}
}

// Unavailable says what keeps r from being the contract's answer to a
// request whose dependency does not answer: 503, the error JSON with code
// (any code when code is ""), and Retry-After. It returns nil when r is
// that answer; an error, not a failure, for tests that gather answers
// from several goroutines.
func Unavailable(r Timed, code string) error {
	if r.Err != nil || r.Status != http.StatusServiceUnavailable {
		return fmt.Errorf("%d %s (%v) after %v, want 503", r.Status, r.Body, r.Err, r.Took)
	}
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil || e.Error.Code == "" || (code != "" && e.Error.Code != code) {
		return fmt.Errorf("body %q is not the contract's error JSON with code %q", r.Body, code)
	}
	if r.Header.Get("Retry-After") == "" {
		return fmt.Errorf("503 without Retry-After")
	}
	return nil
}

// TimedAll makes every call at once, as concurrent clients would, and
// returns each answer by name once all have come, logging each.
func TimedAll(t testing.TB, calls map[string]func() Timed) map[string]Timed {
	t.Helper()
	answers := make(map[string]Timed, len(calls))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, call := range calls {
		wg.Go(func() {
			r := call()
			mu.Lock()
			answers[name] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, name := range slices.Sorted(maps.Keys(answers)) {
		r := answers[name]
		t.Logf("%s = %d in %v %s", name, r.Status, r.Took.Round(time.Millisecond), r.Body)
	}
	return answers
}
