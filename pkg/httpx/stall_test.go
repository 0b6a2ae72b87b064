package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// stallBound is short so the stalls are quick; the assertions are about
// answers, not speed (the client's ceiling is far above it).
const stallBound = 200 * time.Millisecond

// guarded serves h on GET and POST /x, behind the guard and Recover; the
// route each request was counted under is sent on routes.
func guarded(t *testing.T, logs io.Writer, h http.Handler) (*httptest.Server, chan string) {
	return guardedBy(t, logs, h, false)
}

// guardedBy is guarded with the guard around the router (Guard), or, with
// wrap, around the route's handler inside it (Wrap).
func guardedBy(t *testing.T, logs io.Writer, h http.Handler, wrap bool) (*httptest.Server, chan string) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(logs, nil))
	g := StallGuard{Read: stallBound, Write: 2 * stallBound, Logger: logger}
	rt := NewRouter()
	if wrap {
		h = g.Wrap(h)
	}
	rt.Handle("GET /x", h)
	rt.Handle("POST /x", h)
	var served http.Handler = rt
	if !wrap {
		served = g.Guard(rt)
	}
	routes := make(chan string, 10)
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { routes <- r.Pattern }() // as the telemetry middleware reads it
		Recover(logger, served).ServeHTTP(w, r)
	})
	srv := httptest.NewServer(outer)
	t.Cleanup(srv.Close)
	return srv, routes
}

func fetch(t *testing.T, method, url string, body io.Reader, header ...string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Timeout: 20 * stallBound}).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestStallGuardPassesAnswers(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*holdLimit/16) // past what is held
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		status     int
		body       string
		header     string // X-Test's value
		contentLen bool
	}{
		{"small JSON", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Test", "yes")
			WriteJSON(w, http.StatusCreated, map[string]string{"ok": "1"})
		}, 201, "{\"ok\":\"1\"}\n", "yes", true},
		{"nothing written", func(w http.ResponseWriter, r *http.Request) {}, 200, "", "", true},
		{"status only", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }, 204, "", "", false},
		{"larger than held", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Test", "big")
			_, _ = w.Write(big)
		}, 200, string(big), "big", false},
		{"streamed", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Test", "stream")
			for i := range 3 {
				_, _ = io.WriteString(w, strings.Repeat("x", i+1))
				if err := http.NewResponseController(w).Flush(); err != nil {
					t.Errorf("flush: %v", err)
				}
				if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
					t.Errorf("write deadline: %v", err)
				}
			}
		}, 200, "xxxxxx", "stream", false},
		{"slow but steady", func(w http.ResponseWriter, r *http.Request) {
			for range 4 { // four times the bound in all, never a bound without a byte
				time.Sleep(stallBound / 2)
				_, _ = io.WriteString(w, "tick ")
				http.NewResponseController(w).Flush()
			}
		}, 200, "tick tick tick tick ", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, routes := guarded(t, io.Discard, tt.handler)
			resp, body, err := fetch(t, "GET", srv.URL+"/x", nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || string(body) != tt.body || resp.Header.Get("X-Test") != tt.header {
				t.Errorf("got %d %q X-Test=%q, want %d %q %q", resp.StatusCode, trim(body), resp.Header.Get("X-Test"),
					tt.status, trim([]byte(tt.body)), tt.header)
			}
			if tt.contentLen && resp.ContentLength != int64(len(tt.body)) {
				t.Errorf("Content-Length %d, want %d", resp.ContentLength, len(tt.body))
			}
			if route := <-routes; route != "GET /x" {
				t.Errorf("counted under route %q, want GET /x", route)
			}
		})
	}
}

func trim(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// TestStallGuardAnswersAStall: a handler stuck before its answer (as on a
// frozen database) is answered 503 by the guard, its context is cancelled
// and what it writes once it wakes is dropped.
// TestStallGuardAnswersAStall, around a whole router (Guard, as
// reporting serves) and around one route inside it (Wrap, as the
// redirect's and conversions' admin routes).
func TestStallGuardAnswersAStall(t *testing.T) {
	t.Run("Guard", func(t *testing.T) { answersAStall(t, false) })
	t.Run("Wrap", func(t *testing.T) { answersAStall(t, true) })
}

func answersAStall(t *testing.T, wrap bool) {
	release := make(chan struct{})
	woke := make(chan error, 1)
	var logs testkit.SyncBuffer
	srv, routes := guardedBy(t, &logs, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // a query lib/pq cannot cancel
		if r.Context().Err() == nil {
			t.Error("the stalled handler's context was not cancelled")
		}
		_, err := io.WriteString(w, "late")
		woke <- err
	}), wrap)
	defer close(release)

	for _, tt := range []struct {
		accept, contentType string
	}{{"application/json", "application/json"}, {"text/html,application/xhtml+xml", "text/html; charset=utf-8"}} {
		start := time.Now()
		resp, body, err := fetch(t, "GET", srv.URL+"/x", nil, "Accept", tt.accept)
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != tt.contentType {
			t.Errorf("Accept %s: %d Retry-After=%q Content-Type=%q %s", tt.accept, resp.StatusCode,
				resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), body)
		}
		if took < stallBound {
			t.Errorf("answered after %v, before the bound %v", took, stallBound)
		}
		if route := <-routes; route != "GET /x" {
			t.Errorf("counted under route %q, want GET /x", route)
		}
		if tt.contentType == "application/json" {
			var e ErrorBody
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "unavailable" {
				t.Errorf("body %s: want the contract's unavailable error (%v)", body, err)
			}
		}
	}
	release <- struct{}{}
	if err := <-woke; !errors.Is(err, errAbandoned) {
		t.Errorf("a write after the 503: %v, want errAbandoned", err)
	}
	waitForLog(t, &logs, "request stalled")
}

// TestStallGuardAbortsAStalledStream: an answer already begun cannot
// become a 503; the connection is cut, so the caller sees it broken, not
// complete.
func TestStallGuardAbortsAStalledStream(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv, _ := guarded(t, io.Discard, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "date,clicks\r\n")
		http.NewResponseController(w).Flush()
		<-release
	}))
	resp, body, err := fetch(t, "GET", srv.URL+"/x", nil)
	if err == nil {
		t.Fatalf("a stalled stream read as complete: %d %q", resp.StatusCode, body)
	}
	if resp == nil || resp.StatusCode != 200 || string(body) != "date,clicks\r\n" {
		t.Logf("partial answer: %v %q", resp, body)
	}
}

// TestStallGuardBodyIsProgress: a body that arrives slowly, a piece within
// each bound, is read to its end and answered; the write methods get the
// longer bound.
func TestStallGuardBodyIsProgress(t *testing.T) {
	srv, _ := guarded(t, io.Discard, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		time.Sleep(3 * stallBound / 2) // past the read bound, within the write one
		WriteJSON(w, http.StatusOK, map[string]int{"bytes": len(b)})
	}))
	pr, pw := io.Pipe()
	go func() {
		for range 5 {
			time.Sleep(stallBound / 2)
			_, _ = pw.Write([]byte("row\n"))
		}
		pw.Close()
	}()
	resp, body, err := fetch(t, "POST", srv.URL+"/x", pr)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(body) != "{\"bytes\":20}\n" {
		t.Errorf("got %d %s", resp.StatusCode, body)
	}
}

// TestStallGuardPanics: a panic in the guarded handler is the request's,
// answered and logged as any handler's, with the stack where it happened;
// once its answer has begun, the connection is cut instead (a 500 cannot
// follow a 200, and appended to it would make it read as complete).
func TestStallGuardPanics(t *testing.T) {
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
		begun   bool
	}{
		{"before the answer", func(w http.ResponseWriter, r *http.Request) { panicInHandler() }, false},
		{"an invalid status", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(42) }, false},
		{"after the answer began", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "date,clicks\r\n")
			http.NewResponseController(w).Flush()
			panicInHandler()
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs testkit.SyncBuffer
			srv, _ := guarded(t, &logs, tt.handler)
			resp, body, err := fetch(t, "GET", srv.URL+"/x", nil)
			if tt.begun {
				if err == nil {
					t.Errorf("a stream that panicked read as complete: %d %q", resp.StatusCode, body)
				}
				waitForLog(t, &logs, "handler panicked")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 500 || !strings.Contains(string(body), `"internal"`) {
				t.Errorf("got %d %s", resp.StatusCode, body)
			}
			if tt.name == "before the answer" {
				waitForLog(t, &logs, "panicInHandler") // the handler's stack
			}
		})
	}
}

// TestStallGuardTrailers: trailers set after a streamed answer began still
// reach the caller.
func TestStallGuardTrailers(t *testing.T) {
	srv, _ := guarded(t, io.Discard, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		_, _ = io.WriteString(w, "a")
		http.NewResponseController(w).Flush()
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
	}))
	req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.ReadAll(resp.Body)
	if resp.Trailer.Get("X-Sum") != "42" || resp.Trailer.Get("X-Late") != "yes" {
		t.Errorf("trailers %v", resp.Trailer)
	}
}

func panicInHandler() { panic("boom") }

// waitForLog waits until the log holds want: a handler's goroutine may log
// after its caller has its answer.
func waitForLog(t *testing.T, logs *testkit.SyncBuffer, want string) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), want) {
			return fmt.Errorf("the log lacks %q: %s", want, logs.String())
		}
		return nil
	})
}

// TestStallGuardSlowRoute: a route in Slow gets its own bound in place of
// the method's; the others keep theirs.
func TestStallGuardSlowRoute(t *testing.T) {
	g := StallGuard{Read: stallBound, Write: stallBound, Slow: map[string]time.Duration{"POST /slow": 10 * stallBound}}
	rt := NewRouter()
	pause := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * stallBound): // past Write, within the slow bound
		case <-r.Context().Done():
			return
		}
		WriteJSON(w, http.StatusOK, map[string]string{"route": r.Pattern})
	})
	rt.Handle("POST /slow", pause)
	rt.Handle("POST /x", pause)
	srv := httptest.NewServer(g.Guard(rt))
	t.Cleanup(srv.Close)
	for path, want := range map[string]int{"/slow": 200, "/x": 503} {
		resp, body, err := fetch(t, "POST", srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want {
			t.Errorf("POST %s: %d %s, want %d", path, resp.StatusCode, body, want)
		}
	}
}
