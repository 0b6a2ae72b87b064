package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Check reports whether a dependency is usable.
type Check func(ctx context.Context) error

// Health serves /healthz (the process lives) and /readyz (every dependency
// answers). /readyz names a failing check ("failing") but never its error,
// which can hold hosts and addresses; the error goes to Logger.
type Health struct {
	Checks  map[string]Check // "postgres", "kafka"
	Timeout time.Duration    // per probe, default 2s
	Logger  *slog.Logger     // nil: errors are not logged
}

// Register adds GET /healthz and GET /readyz to rt.
func (h Health) Register(rt *Router) {
	rt.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	rt.HandleFunc("GET /readyz", h.ready)
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func (h Health) ready(w http.ResponseWriter, r *http.Request) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	names := make([]string, 0, len(h.Checks))
	for n := range h.Checks {
		names = append(names, n)
	}
	sort.Strings(names)
	results := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = h.Checks[n](ctx)
		}()
	}
	wg.Wait()
	out := readiness{Status: "ready", Checks: map[string]string{}}
	status := http.StatusOK
	for i, n := range names {
		if results[i] != nil {
			out.Checks[n] = "failing"
			if h.Logger != nil {
				h.Logger.WarnContext(r.Context(), "readiness check failing", "check", n, "error", results[i].Error())
			}
			out.Status, status = "unavailable", http.StatusServiceUnavailable
		} else {
			out.Checks[n] = "ok"
		}
	}
	WriteJSON(w, status, out)
}
