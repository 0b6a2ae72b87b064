package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestClickConnAgainstNetHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/c/found":
			if r.UserAgent() != "UA 1" || r.Referer() != "https://ref.example/" || r.URL.Query().Get("placement") != "hero" {
				t.Errorf("request %s %q %q", r.URL, r.UserAgent(), r.Referer())
			}
			w.Header().Set("X-Click-Id", "01ABC")
			http.Redirect(w, r, "https://example.com/x", http.StatusFound)
		case "/c/chunked":
			w.Header().Set("X-Click-Id", "02DEF")
			w.WriteHeader(http.StatusFound)
			for range 3 {
				fmt.Fprint(w, strings.Repeat("x", 5000))
				w.(http.Flusher).Flush()
			}
		case "/c/close":
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusNotFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := &rawConn{addr: srv.Listener.Addr().String(), dialer: &net.Dialer{}, timeout: 5 * time.Second}
	defer c.close()
	// Turning receive times on is deferred in the kernel (a static key
	// switched by a work item, and off again when the last socket that
	// asked for them closes): a segment that arrives before the switch
	// carries no time. A second connection, open for the whole test, keeps
	// them on across c's own reconnection below; requests on it until an
	// answer has a time (or none will: some kernels never send it), and
	// only then c's answers are counted.
	keeper := &rawConn{addr: c.addr, dialer: &net.Dialer{}, timeout: 5 * time.Second}
	defer keeper.close()
	kernelStamps := false
	for range 50 {
		a, err := keeper.do("GET", "/c/missing", keeper.addr, "UA 1", "")
		if err != nil {
			t.Fatalf("warm-up: %v", err)
		}
		if kernelStamps = a.arrived != 0; kernelStamps {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var stamped, answers int
	for i, tc := range []struct {
		method, target, referer string
		status                  int
		id                      string
		open                    bool
	}{
		{"GET", "/c/found?placement=hero", "https://ref.example/", 302, "01ABC", true},
		{"HEAD", "/c/found?placement=hero", "https://ref.example/", 302, "01ABC", true},
		{"GET", "/c/chunked", "", 302, "02DEF", true},
		{"GET", "/c/missing", "", 404, "", true},
		{"GET", "/c/close", "", 404, "", false},
		{"GET", "/c/found?placement=hero", "https://ref.example/", 302, "01ABC", true}, // a new connection
	} {
		a, err := c.do(tc.method, tc.target, c.addr, "UA 1", tc.referer)
		if err != nil || a.status != tc.status || a.clickID != tc.id || (c.conn != nil) != tc.open {
			t.Errorf("%d %s %s: %+v %v, open %v", i, tc.method, tc.target, a, err, c.conn != nil)
		}
		// The kernel's receive time of the answer, when it gives one: after
		// the request was written, before do returned.
		if a.arrived != 0 {
			stamped++
			if a.arrived < a.sent.UnixNano() || a.arrived > time.Now().UnixNano() {
				t.Errorf("%d: answer received at %d, sent at %d, now %d", i, a.arrived, a.sent.UnixNano(), time.Now().UnixNano())
			}
		}
		answers++
	}
	// Some kernels accept SO_TIMESTAMPNS and never send the time (the CI
	// machine's did so); loadgen then leaves the socket row out. A kernel
	// that sends it, once switched on, sends it with every answer.
	switch {
	case !kernelStamps:
		t.Logf("this kernel gives no receive timestamps (%d of %d answers had one); the socket figures are left out", stamped, answers)
	case stamped != answers:
		t.Errorf("%d of %d answers carry a receive time", stamped, answers)
	}
}

func TestClickConnBrokenAnswers(t *testing.T) {
	for name, resp := range map[string]string{
		"cut in the headers": "HTTP/1.1 302 Found\r\nX-Click-Id: 1",
		"cut in the body":    "HTTP/1.1 302 Found\r\nContent-Length: 10\r\n\r\nabc",
		"not HTTP":           "SSH-2.0-OpenSSH\r\n\r\n",
		"bad length":         "HTTP/1.1 302 Found\r\nContent-Length: -1\r\n\r\n",
		"bad chunk":          "HTTP/1.1 302 Found\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	} {
		c := &rawConn{r: bufio.NewReader(strings.NewReader(resp))}
		if _, _, err := c.read(false); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzClickResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 302 Found\r\nX-Click-Id: 01\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("HTTP/1.1 302 Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 404 Not Found\r\n\r\nbody to the end"))
	f.Fuzz(func(t *testing.T, resp []byte) {
		c := &rawConn{r: bufio.NewReader(bytes.NewReader(resp))}
		a, _, err := c.read(false)
		if err == nil && (a.status < 0 || a.status > 999) {
			t.Errorf("status %d", a.status)
		}
	})
}

// The webhook load's raw requests, checked by net/http's server: every
// delivery signed as Sign signs it, answers counted by status, and a
// connection the server closes replaced by a new one.
func TestWebhookLoadAgainstNetHTTP(t *testing.T) {
	secret := NewSecret()
	var served, refused, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get("Webhook-Timestamp"), 10, 64)
		want, _ := Sign(secret, r.Header.Get("Webhook-Id"), ts, body)
		var fields map[string]string
		if err != nil || r.Method != http.MethodPost || r.URL.Path != "/v1/webhooks/p" || r.Header.Get("Content-Type") != "application/json" ||
			r.Header.Get("Webhook-Signature") != want || json.Unmarshal(body, &fields) != nil || fields["order_id"] == "" {
			bad.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		n := served.Add(1)
		if n%5 == 0 {
			w.Header().Set("Connection", "close")
		}
		if n%7 == 0 {
			refused.Add(1)
			w.WriteHeader(http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"id":"x"}`)
	}))
	defer srv.Close()
	res, err := WebhookLoad{Stack: &Stack{}, Partner: Partner{ID: "p", Secret: secret, Currency: "USD"}, URL: srv.URL + "/v1/webhooks/p",
		RunID: "t", Concurrency: 4, Duration: 300 * time.Millisecond}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if bad.Load() != 0 || res.NoAnswer != 0 || res.Sent == 0 || res.Sent != served.Load() ||
		res.Acked != served.Load()-refused.Load() || res.Statuses[http.StatusConflict] != refused.Load() {
		t.Errorf("served %d (refused %d, bad %d); result %+v", served.Load(), refused.Load(), bad.Load(), res)
	}
	if _, err := (WebhookLoad{Stack: &Stack{}, Partner: Partner{ID: "p", Secret: "nope"}, URL: srv.URL + "/v1/webhooks/p",
		Duration: time.Millisecond}).Run(context.Background()); err == nil {
		t.Error("a secret without whsec_ was accepted")
	}
}

// A server that refuses connections: nothing was sent, so nothing is in
// doubt, and the workers pause after each failure instead of spinning (a
// closed loop once filled a test's ledger with events in doubt until the
// kernel killed it). A server that takes the request and hangs up has it
// maybe: in doubt.
func TestWebhookLoadRefusedAndDropped(t *testing.T) {
	secret := NewSecret()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + ln.Addr().String() + "/v1/webhooks/p"
	ln.Close() // nothing listens there now
	dropped := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
	}))
	defer dropped.Close()
	for _, tt := range []struct {
		name    string
		url     string
		inDoubt bool
	}{
		{"refused", refusedURL, false},
		{"dropped after the request", dropped.URL + "/v1/webhooks/p", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ledger := NewLedger()
			res, err := WebhookLoad{Stack: &Stack{}, Partner: Partner{ID: "p", Secret: secret, Currency: "USD"}, URL: tt.url,
				RunID: "t", Concurrency: 4, Duration: 200 * time.Millisecond, Ledger: ledger}.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			_, acked, _, inDoubt := ledger.Counts()
			if res.Acked != 0 || acked != 0 || res.NoAnswer == 0 || res.NoAnswer != res.Sent {
				t.Errorf("result %+v, %d acknowledged in the ledger", res, acked)
			}
			if tt.inDoubt && int64(inDoubt) != res.NoAnswer || !tt.inDoubt && inDoubt != 0 {
				t.Errorf("%d events in doubt after %d deliveries without an answer", inDoubt, res.NoAnswer)
			}
			// Not a timing assertion: 4 workers pausing 10 ms after each
			// failure make at most a few hundred attempts in 200 ms, where
			// spinning made hundreds of thousands.
			if res.Sent > 20000 {
				t.Errorf("%d attempts in 200 ms: the workers do not pause after a failure", res.Sent)
			}
		})
	}
}

func TestWasSent(t *testing.T) {
	c := &rawConn{addr: "127.0.0.1:1", dialer: &net.Dialer{Timeout: time.Second}, timeout: time.Second}
	_, err := c.roundTrip([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false)
	if err == nil || wasSent(err) {
		t.Fatalf("a refused dial: err %v, wasSent %v", err, wasSent(err))
	}
	if !wasSent(io.ErrUnexpectedEOF) {
		t.Fatal("a lost answer counted as not sent")
	}
}
