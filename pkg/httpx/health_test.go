package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// hangCeiling is how long a probe may take before the test calls it hung:
// far above any probe timeout here, so it asserts an answer, not a speed.
const hangCeiling = 30 * time.Second

// probeReady serves one GET /readyz on rt, failing the test if no answer
// comes at all.
func probeReady(t *testing.T, rt *Router) (int, map[string]string) {
	t.Helper()
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		rt.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	}()
	select {
	case <-done:
	case <-time.After(hangCeiling):
		t.Fatal("/readyz did not answer")
	}
	var body readiness
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("readyz body %q: %v", rec.Body, err)
	}
	return rec.Code, body.Checks
}

// A check that never returns, even when its context ends (lib/pq reading
// from a frozen PostgreSQL), makes /readyz answer 503 naming it, not hang.
func TestReadyzAnswersWhateverACheckDoes(t *testing.T) {
	forever := make(chan struct{})
	t.Cleanup(func() { close(forever) }) // lets the stuck goroutines end
	ok := func(context.Context) error { return nil }
	tests := []struct {
		name   string
		checks map[string]Check
		status int
		want   map[string]string
	}{
		{"all answer", map[string]Check{"postgres": ok, "kafka": ok}, 200,
			map[string]string{"postgres": "ok", "kafka": "ok"}},
		{"one fails", map[string]Check{"postgres": ok, "kafka": func(context.Context) error { return errors.New("refused") }}, 503,
			map[string]string{"postgres": "ok", "kafka": "failing"}},
		{"one waits for its context", map[string]Check{"postgres": func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, "kafka": ok}, 503,
			map[string]string{"postgres": "failing", "kafka": "ok"}},
		{"one ignores its context", map[string]Check{"postgres": func(context.Context) error { <-forever; return nil }, "kafka": ok}, 503,
			map[string]string{"postgres": "failing", "kafka": "ok"}},
		{"all ignore their context", map[string]Check{"postgres": func(context.Context) error { <-forever; return nil },
			"kafka": func(context.Context) error { <-forever; return nil }}, 503,
			map[string]string{"postgres": "failing", "kafka": "failing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := NewRouter()
			Health{Timeout: 20 * time.Millisecond, Checks: tc.checks}.Register(rt)
			status, checks := probeReady(t, rt)
			if status != tc.status || len(checks) != len(tc.want) {
				t.Fatalf("readyz = %d %v, want %d %v", status, checks, tc.status, tc.want)
			}
			for n, v := range tc.want {
				if checks[n] != v {
					t.Errorf("check %s = %q, want %q", n, checks[n], v)
				}
			}
		})
	}
}

// While a check is stuck, later probes report it failing without starting
// it again; once it returns, the next probe runs it afresh.
func TestReadyzDoesNotStackStuckChecks(t *testing.T) {
	var starts atomic.Int32
	release := make(chan struct{})
	var stuck atomic.Bool // read by the check's goroutine
	stuck.Store(true)
	rt := NewRouter()
	Health{Timeout: 20 * time.Millisecond, Checks: map[string]Check{
		"postgres": func(context.Context) error {
			starts.Add(1)
			if stuck.Load() {
				<-release // ignores its context, as lib/pq does on a frozen server
			}
			return nil
		},
	}}.Register(rt)

	for i := range 5 {
		if status, checks := probeReady(t, rt); status != 503 || checks["postgres"] != "failing" {
			t.Fatalf("probe %d while stuck = %d %v, want 503 postgres failing", i, status, checks)
		}
	}
	if n := starts.Load(); n != 1 {
		t.Fatalf("the stuck check was started %d times, want once", n)
	}

	stuck.Store(false) // for the next start, after release below
	close(release)
	// The stuck goroutine clears its mark once it returns: wait for that,
	// not for a time.
	deadline := time.Now().Add(hangCeiling)
	for {
		status, _ := probeReady(t, rt)
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("readyz stays 503 after the check returned")
		}
	}
	if n := starts.Load(); n < 2 {
		t.Fatalf("the check was started %d times after it returned, want a fresh start", n)
	}
}

// TestReadyzExcludes: ?exclude= leaves a check out (not even run), as
// Kubernetes' /readyz does, for a probe of a service that serves without
// that dependency; a name that is no check is a 422.
func TestReadyzExcludes(t *testing.T) {
	var kafkaRuns atomic.Int32
	rt := NewRouter()
	Health{Timeout: 20 * time.Millisecond, Checks: map[string]Check{
		"postgres": func(context.Context) error { return nil },
		"kafka":    func(context.Context) error { kafkaRuns.Add(1); return errors.New("refused") },
	}}.Register(rt)
	for _, tc := range []struct {
		query  string
		status int
		want   map[string]string
	}{
		{"", 503, map[string]string{"postgres": "ok", "kafka": "failing"}},
		{"?exclude=kafka", 200, map[string]string{"postgres": "ok", "kafka": "excluded"}},
		{"?exclude=kafka&exclude=postgres", 200, map[string]string{"postgres": "excluded", "kafka": "excluded"}},
		{"?exclude=redis", 422, nil},
	} {
		before := kafkaRuns.Load()
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz"+tc.query, nil))
		var body readiness
		if rec.Code != tc.status || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
			t.Fatalf("readyz%s = %d %s", tc.query, rec.Code, rec.Body)
		}
		for n, v := range tc.want {
			if body.Checks[n] != v {
				t.Errorf("readyz%s: check %s = %q, want %q", tc.query, n, body.Checks[n], v)
			}
		}
		if tc.want != nil && tc.want["kafka"] == "excluded" && kafkaRuns.Load() != before {
			t.Errorf("readyz%s ran the excluded check", tc.query)
		}
	}
}
