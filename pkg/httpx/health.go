package httpx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Check reports whether a dependency is usable.
type Check func(ctx context.Context) error

// Health serves /healthz (the process lives) and /readyz (every dependency
// answers). /readyz names a failing check ("failing") but never its error,
// which can hold hosts and addresses; the error goes to Logger.
//
// /readyz answers within Timeout whatever a check does: a check that has
// not returned by then counts as failing. A check need not return when its
// context ends (lib/pq does not, reading from a PostgreSQL that accepts TCP
// but never answers: a frozen server, a partition), so each runs on its
// own goroutine that the probe stops waiting for; and while a check of an
// earlier probe is still running, later probes report it failing at once
// instead of starting another on top of it, so a stuck dependency holds
// one goroutine per check, not one per probe.
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
	rt.HandleFunc("GET /readyz", newProber(h).ready)
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
	// Error is the contract's error object on a 503, beside the checks, for
	// a client that reads every non-2xx answer that way.
	Error *ErrorDetail `json:"error,omitempty"`
}

// Why a check counts as failing without an error of its own.
var (
	errCheckTimeout = errors.New("no answer within the probe timeout")
	errCheckRunning = errors.New("still running since an earlier probe")
)

// prober runs the checks of /readyz, at most one of each at a time.
type prober struct {
	h       Health
	timeout time.Duration
	names   []string // sorted

	mu      sync.Mutex
	running map[string]bool // checks whose goroutine has not returned
}

func newProber(h Health) *prober {
	p := &prober{h: h, timeout: h.Timeout, running: map[string]bool{}}
	if p.timeout <= 0 {
		p.timeout = 2 * time.Second
	}
	for n := range h.Checks {
		p.names = append(p.names, n)
	}
	sort.Strings(p.names)
	return p
}

// claim marks check n running and reports whether it was not already.
func (p *prober) claim(n string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running[n] {
		return false
	}
	p.running[n] = true
	return true
}

func (p *prober) release(n string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.running, n)
}

type checkResult struct {
	name string
	err  error
}

// probe runs every check and returns the failing ones with their errors.
func (p *prober) probe(ctx context.Context, names []string) map[string]error {
	// The checks' context ends when the probe does, answered or not: a
	// check that honours it stops then.
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	failing := map[string]error{}
	// Buffered for every check: one that returns after the probe gave up
	// on it never blocks.
	results := make(chan checkResult, len(names))
	waiting := map[string]bool{}
	for _, n := range names {
		if !p.claim(n) {
			failing[n] = errCheckRunning
			continue
		}
		waiting[n] = true
		check := p.h.Checks[n]
		go func() {
			err := check(ctx)
			p.release(n)
			results <- checkResult{n, err}
		}()
	}
	record := func(r checkResult) {
		delete(waiting, r.name)
		if r.err != nil {
			failing[r.name] = r.err
		}
	}
	for len(waiting) > 0 {
		select {
		case r := <-results:
			record(r)
		case <-ctx.Done():
			// What has come in counts, even when it came in as time ran out.
			for drained := false; !drained; {
				select {
				case r := <-results:
					record(r)
				default:
					drained = true
				}
			}
			for n := range waiting {
				failing[n] = fmt.Errorf("%w (%s): %w", errCheckTimeout, p.timeout, ctx.Err())
			}
			return failing
		}
	}
	return failing
}

func (p *prober) ready(w http.ResponseWriter, r *http.Request) {
	// ?exclude=kafka&exclude=postgres leaves those checks out, as
	// Kubernetes' own /readyz does: a service that serves without a
	// dependency (redirect's clicks without Kafka) can be ready for its
	// traffic while it is down, and still not while it starts.
	excluded := map[string]bool{}
	for _, n := range r.URL.Query()["exclude"] {
		if _, ok := p.h.Checks[n]; !ok {
			writeError(w, errs.Fields{{Field: "exclude", Message: "names no check; the checks are " + strings.Join(p.names, ", ")}}.Err("invalid_query"))
			return
		}
		excluded[n] = true
	}
	var names []string
	for _, n := range p.names {
		if !excluded[n] {
			names = append(names, n)
		}
	}
	failing := p.probe(r.Context(), names)
	out := readiness{Status: "ready", Checks: map[string]string{}}
	status := http.StatusOK
	for _, n := range p.names {
		if excluded[n] {
			out.Checks[n] = "excluded"
			continue
		}
		err, bad := failing[n]
		if !bad {
			out.Checks[n] = "ok"
			continue
		}
		out.Checks[n] = "failing"
		if p.h.Logger != nil {
			p.h.Logger.WarnContext(r.Context(), "readiness check failing", "check", n, "error", err.Error())
		}
		out.Status, status = "unavailable", http.StatusServiceUnavailable
	}
	if status != http.StatusOK {
		var names []string
		for _, n := range p.names {
			if out.Checks[n] == "failing" {
				names = append(names, n)
			}
		}
		out.Error = &ErrorDetail{Code: "not_ready", Message: "not ready: " + strings.Join(names, ", ") + " failing"}
		// As every other 503: the caller should retry (contract), and
		// when is said, as while starting (handoff).
		w.Header().Set("Retry-After", "5")
	}
	WriteJSON(w, status, out)
}
