package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHandoffAnswersWhileStarting: a bound listener answers at once while
// its service starts (a service restarted while PostgreSQL hung left
// every request waiting in the listen backlog, /healthz too: an
// acceptance check), then the service's own handler answers, on the same
// kept-alive client, with nothing refused in between.
func TestHandoffAnswersWhileStarting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := NewHandoff(ctx, ln, Starting(), logger)
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string, header ...string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}

	if code, _, body := get("/healthz"); code != 200 || !strings.Contains(body, `"starting"`) {
		t.Fatalf("starting /healthz = %d %s", code, body)
	}
	code, hdr, body := get("/readyz?exclude=postgres")
	var ready struct {
		Status string
		Checks map[string]string
		Error  struct{ Code string }
	}
	if code != 503 || json.Unmarshal([]byte(body), &ready) != nil || ready.Checks["startup"] != "starting" || ready.Error.Code != "not_ready" || hdr.Get("Retry-After") == "" {
		t.Fatalf("starting /readyz = %d %v %s", code, hdr, body)
	}
	code, hdr, body = get("/v1/webhooks/p")
	var e ErrorBody
	if code != 503 || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != "starting" || hdr.Get("Retry-After") != "5" {
		t.Fatalf("starting API call = %d %v %s", code, hdr, body)
	}
	if code, hdr, body := get("/c/x", "Accept", "text/html"); code != 503 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(body, "starting") ||
		hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Content-Security-Policy") == "" {
		t.Fatalf("starting click from a browser = %d %v %s", code, hdr, body)
	}

	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, h.Listener(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "service "+r.URL.Path)
		}), ServerConfig{}, logger)
	}()
	// The stand-in closed each of its connections after its answer, so a
	// client with one kept alive never finds it closed under it (an
	// outside check saw every kept-alive client's next request fail at
	// the handoff): each request succeeds, first the stand-in's, then the
	// service's.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, body := get("/healthz") // get fails the test on a transport error
		if code == 200 && body == "service /healthz" {
			break
		}
		if code != 200 || time.Now().After(deadline) {
			t.Fatalf("after the handoff: %d %s", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("the socket still accepts after the service stopped")
	}
}

// TestHandoffCloseWithoutServing: a service that fails to start closes
// the socket and the stand-in.
func TestHandoffCloseWithoutServing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandoff(context.Background(), ln, Starting(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	done := make(chan struct{})
	go func() { h.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Close did not return")
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("the socket still accepts after Close")
	}
}

// TestStandInAnswersBodies: the stand-in answers a POST of any size its
// 503, with Connection: close, however much of the body it read.
func TestStandInAnswersBodies(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	h := NewHandoff(context.Background(), ln, Starting(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer h.Close()
	for _, n := range []int{0, 10 << 10, 300 << 10, 4 << 20} {
		for i := 0; i < 5; i++ {
			resp, err := http.Post("http://"+ln.Addr().String()+"/v1/webhooks/p", "application/json", bytes.NewReader(make([]byte, n)))
			if err != nil {
				t.Fatalf("body %d: %v", n, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 || !resp.Close {
				t.Fatalf("body %d: %d close=%v", n, resp.StatusCode, resp.Close)
			}
		}
	}
}

// TestHandoffUnderLoad: clients posting without pause across the handoff
// never see a connection closed unanswered (a review found 1-4 a handoff:
// net/http closes without an answer a connection whose request it reads
// after Shutdown began, so the stand-in now shuts down only once its last
// connection has ended).
func TestHandoffUnderLoad(t *testing.T) {
	for round := 0; round < 20; round++ {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		ctx, cancel := context.WithCancel(context.Background())
		h := NewHandoff(ctx, ln, Starting(), logger)
		var failed, starting, served atomic.Int64
		var handed atomic.Bool
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
				for {
					select {
					case <-stop:
						return
					default:
					}
					var reused bool
					var local string
					tr := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused; local = i.Conn.LocalAddr().String() }}
					req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), tr), "POST", "http://"+ln.Addr().String()+"/x", bytes.NewReader([]byte("hi")))
					resp, err := c.Do(req)
					if err != nil {
						failed.Add(1)
						t.Errorf("round %d: %v reused=%v local=%s handedOff=%v", round, err, reused, local, handed.Load())
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case 503:
						starting.Add(1)
					case 200:
						served.Add(1)
					}
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		done := make(chan error, 1)
		go func() {
			l := h.Listener()
			handed.Store(true)
			done <- Serve(ctx, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.ReadAll(r.Body) }), ServerConfig{}, logger)
		}()
		time.Sleep(30 * time.Millisecond)
		close(stop)
		wg.Wait()
		cancel()
		<-done
		h.Close()
		if failed.Load() > 0 || served.Load() == 0 {
			t.Fatalf("round %d: failed %d starting %d served %d", round, failed.Load(), starting.Load(), served.Load())
		}
	}
}
