package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// StallGuard bounds how long a request may wait on something that has
// stopped answering. A PostgreSQL that hangs (a frozen host, a stuck
// disk, a partition that drops nothing) accepts connections and never
// answers, and lib/pq's cancellation is itself a request to that server:
// a handler waiting on it waits for ever, and so would its caller.
//
// A guarded handler runs in a goroutine of its own, its answer held back
// until it returns, flushes or has written more than holdLimit bytes.
// When it has made no progress (read a byte of the body, written a byte
// of the answer) for the method's bound, its context is cancelled and:
//
//   - if its answer has not begun, the caller gets 503 unavailable with
//     Retry-After, in JSON (HTML for a browser), and whatever the handler
//     writes afterwards is dropped;
//   - if its answer has begun (a streamed export stalled half-way), the
//     connection is aborted, so the caller sees a broken answer rather
//     than one that looks complete.
//
// The handler's goroutine ends when what it waits on does; a panic in it
// is raised again on the request's goroutine, with its stack.
type StallGuard struct {
	Read  time.Duration // GET and HEAD
	Write time.Duration // every other method
	// Slow holds the bounds of the routes (by pattern, "POST /v1/x") that
	// may rightly make no progress for longer, in place of Read or Write:
	// applying a large upload once it is read.
	Slow   map[string]time.Duration
	Logger *slog.Logger
}

// AdminStalls is the StallGuard of an admin API whose requests are small
// (links, partners): a read answers 503 after 10 s without progress, a
// write after 30 s (a large feed being read makes progress all along).
func AdminStalls(logger *slog.Logger) StallGuard {
	return StallGuard{Read: 10 * time.Second, Write: 30 * time.Second, Logger: logger}
}

// holdLimit is how much of an answer is held back before it is sent on
// (and the 503 is no longer possible): a JSON report or a page fits.
const holdLimit = 64 << 10

// Guard wraps rt. The request's route is found before the handler's
// goroutine starts, so the layers outside (telemetry, Recover, the stall
// log) see it whatever the handler does.
func (g StallGuard) Guard(rt *Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, r.Pattern = rt.Handler(r)
		g.guard(rt, w, r)
	})
}

// Wrap guards one route's handler, for a service whose other routes must
// not pay for a goroutine a request (the redirect's clicks): inside a
// Router, whose mux has found the route by then.
func (g StallGuard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.guard(next, w, r) })
}

// guard serves r with next under the bound of r's method.
func (g StallGuard) guard(next http.Handler, w http.ResponseWriter, r *http.Request) {
	bound := g.Write
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		bound = g.Read
	}
	if slow, ok := g.Slow[r.Pattern]; ok {
		bound = slow
	}
	if bound <= 0 {
		next.ServeHTTP(w, r)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	hw := &heldWriter{w: w, header: w.Header().Clone()}
	hw.touch()
	inner := r.WithContext(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		inner.Body = &progressBody{ReadCloser: r.Body, hw: hw}
	}
	done := make(chan any, 1)
	go func() {
		p := g.serve(next, hw, inner)
		if p != nil && p != http.ErrAbortHandler {
			// A panic once the answer has begun cannot become Recover's
			// 500 (it would be appended to a 200 that then reads as
			// complete), and one after the 503 reaches no one: logged
			// here, and the first cuts the connection.
			begun, abandoned := hw.abandon()
			if begun || abandoned {
				if g.Logger != nil {
					g.Logger.ErrorContext(r.Context(), "handler panicked", "method", r.Method, "route", r.Pattern,
						"panic", fmt.Sprint(p), "answer_begun", begun, "already_answered", abandoned)
				}
				p = http.ErrAbortHandler
			}
		}
		done <- p
	}()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	for {
		select {
		case p := <-done:
			if p != nil {
				panic(p)
			}
			return
		case <-timer.C:
		}
		// A write blocked on a slow reader is the server's WriteTimeout's
		// to end, not a stall.
		if hw.writing.Load() {
			timer.Reset(bound)
			continue
		}
		if idle := time.Since(hw.lastProgress()); idle < bound {
			timer.Reset(bound - idle)
			continue
		}
		begun, _ := hw.abandon()
		cancel()
		if g.Logger != nil {
			g.Logger.WarnContext(r.Context(), "request stalled: answered without its handler",
				"method", r.Method, "route", r.Pattern, "bound", bound.String(), "answer_begun", begun)
		}
		if begun {
			panic(http.ErrAbortHandler)
		}
		answerStalled(w, r, bound)
		return
	}
}

// serve runs next and, if it returns, sends its answer; it returns what
// either panicked with (a handlerPanic, with the stack where it happened).
func (g StallGuard) serve(next http.Handler, hw *heldWriter, r *http.Request) (p any) {
	defer func() {
		if p = recover(); p != nil && p != http.ErrAbortHandler {
			p = handlerPanic{value: p, stack: debug.Stack()}
		}
	}()
	next.ServeHTTP(hw, r)
	hw.finish()
	return nil
}

// answerStalled is the 503 of a request whose handler stalled.
func answerStalled(w http.ResponseWriter, r *http.Request, bound time.Duration) {
	w.Header().Set("Cache-Control", "no-store")
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Temporarily unavailable</title></head>`+
			`<body><main><h1>Temporarily unavailable</h1><p>The database is not answering. Please try again in a few seconds.</p></main></body></html>`+"\n")
		return
	}
	writeError(w, errs.Newf(errs.Unavailable, "unavailable",
		"no progress for %s: a dependency (the database) is not answering; retry shortly", bound))
}

// handlerPanic is a guarded handler's panic, carried to the request's
// goroutine with the stack where it happened.
type handlerPanic struct {
	value any
	stack []byte
}

func (p handlerPanic) String() string {
	return fmt.Sprintf("%v\n\nhandler goroutine:\n%s", p.value, p.stack)
}

// errAbandoned is what a guarded handler's writes return once its request
// has been answered without it.
var errAbandoned = errors.New("httpx: the request was answered without this handler (it stalled)")

// heldWriter is a guarded handler's ResponseWriter: it holds the answer
// back until the handler returns, flushes or writes past holdLimit, then
// passes it through; once abandoned, it drops everything.
type heldWriter struct {
	w        http.ResponseWriter
	progress atomic.Int64 // unix nanoseconds of the last progress
	writing  atomic.Bool  // in a write or flush to w

	mu        sync.Mutex
	header    http.Header // the handler's, copied to w's when the answer begins
	status    int
	buf       bytes.Buffer
	begun     bool // the answer went to w
	abandoned bool
}

func (hw *heldWriter) touch()                  { hw.progress.Store(time.Now().UnixNano()) }
func (hw *heldWriter) lastProgress() time.Time { return time.Unix(0, hw.progress.Load()) }

func (hw *heldWriter) Header() http.Header { return hw.header }

func (hw *heldWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code)) // as net/http does, in the handler
	}
	hw.mu.Lock()
	defer hw.mu.Unlock()
	if hw.abandoned || hw.begun || hw.status != 0 {
		return
	}
	if code >= 100 && code < 200 { // informational: not held
		return
	}
	hw.status = code
}

func (hw *heldWriter) Write(p []byte) (int, error) {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	if hw.abandoned {
		return 0, errAbandoned
	}
	hw.touch()
	if hw.begun {
		return hw.write(p)
	}
	if hw.status == 0 {
		hw.status = http.StatusOK
	}
	hw.buf.Write(p)
	if hw.buf.Len() > holdLimit {
		if err := hw.beginLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// FlushError sends what is held and flushes: the handler is streaming.
func (hw *heldWriter) FlushError() error {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	if hw.abandoned {
		return errAbandoned
	}
	hw.touch()
	if err := hw.beginLocked(); err != nil {
		return err
	}
	hw.writing.Store(true)
	defer hw.endWrite()
	return http.NewResponseController(hw.w).Flush()
}

// write passes p to w, marked as writing while it may block.
func (hw *heldWriter) write(p []byte) (int, error) {
	hw.writing.Store(true)
	defer hw.endWrite()
	return hw.w.Write(p)
}

func (hw *heldWriter) endWrite() {
	hw.touch()
	hw.writing.Store(false)
}

func (hw *heldWriter) Flush() { _ = hw.FlushError() }

// SetWriteDeadline and SetReadDeadline reach the connection while the
// request is the handler's (http.ResponseController).
func (hw *heldWriter) SetWriteDeadline(t time.Time) error {
	return hw.onConn(func(rc *http.ResponseController) error { return rc.SetWriteDeadline(t) })
}

func (hw *heldWriter) SetReadDeadline(t time.Time) error {
	return hw.onConn(func(rc *http.ResponseController) error { return rc.SetReadDeadline(t) })
}

// onConn calls f on w's controller unless the request was abandoned.
func (hw *heldWriter) onConn(f func(*http.ResponseController) error) error {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	if hw.abandoned {
		return errAbandoned
	}
	return f(http.NewResponseController(hw.w))
}

// beginLocked sends the held header and bytes to w.
func (hw *heldWriter) beginLocked() error {
	if hw.begun {
		return nil
	}
	hw.begun = true
	dst := hw.w.Header()
	for k, v := range hw.header {
		dst[k] = v
	}
	if hw.status == 0 {
		hw.status = http.StatusOK
	}
	hw.w.WriteHeader(hw.status)
	if hw.buf.Len() == 0 {
		return nil
	}
	_, err := hw.write(hw.buf.Bytes())
	hw.buf = bytes.Buffer{}
	return err
}

// finish sends the answer of a handler that returned, unless abandoned;
// of an answer already begun, the trailers.
func (hw *heldWriter) finish() {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	if hw.abandoned {
		return
	}
	if hw.begun {
		dst := hw.w.Header()
		declared := map[string]bool{}
		for _, v := range hw.header["Trailer"] {
			for _, k := range strings.Split(v, ",") {
				declared[http.CanonicalHeaderKey(strings.TrimSpace(k))] = true
			}
		}
		for k, v := range hw.header {
			if declared[k] || strings.HasPrefix(k, http.TrailerPrefix) {
				dst[k] = v
			}
		}
		return
	}
	if hw.status == 0 && hw.buf.Len() == 0 {
		// The handler wrote nothing: net/http's own answer (200, empty).
		hw.status = http.StatusOK
	}
	_ = hw.beginLocked()
}

// abandon stops the handler's writes reaching w; it reports whether its
// answer had begun, and whether it was abandoned already.
func (hw *heldWriter) abandon() (begun, already bool) {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	already, hw.abandoned = hw.abandoned, true
	return hw.begun, already
}

// progressBody counts reading the request's body as progress.
type progressBody struct {
	io.ReadCloser
	hw *heldWriter
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.hw.touch()
	}
	return n, err
}
