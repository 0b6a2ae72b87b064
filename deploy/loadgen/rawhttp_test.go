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
	"regexp"
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

// statusUnchecked is true while rawConn.read takes any three bytes after
// "HTTP/1.x " that strconv.Atoi reads as the status: "HTTP/1.1 -12" is
// status -12, "HTTP/1.1 +12 x" 12 and "HTTP/1.1 3020 Found" 302, all of
// which net/http refuses as malformed (a defect found by
// FuzzClickResponse, reported, not fixed here: such an answer is counted
// under a status the server never sent). FuzzClickResponse lets exactly
// that pass while this is true; set it false once read checks for a
// status-code of three digits followed by a space or the line's end.
const statusUnchecked = false

// statusLine is the start of a status line as RFC 9112 writes it, in the
// HTTP/1.x versions loadgen speaks: the version, one space, three digits,
// then a space or the line's end.
var statusLine = regexp.MustCompile(`^HTTP/1\.[01] [0-9]{3}( |\r?\n)`)

// FuzzClickResponse holds rawConn.read to net/http's ReadResponse:
//   - any answer it takes has a status line of three digits (see
//     statusUnchecked) and a status of 0 to 999;
//   - an answer net/http reads whole, within what loadgen is documented to
//     meet (an RFC 9112 status line of HTTP/1.0 or 1.1, not 1xx; no
//     transfer coding but chunked, and none in HTTP/1.0; no trailers; no
//     folded header lines; at most one X-Click-Id; Connection absent,
//     "close" or "keep-alive"), is
//     taken with net/http's status and X-Click-Id, ends at the byte
//     net/http's body ends at (so the next answer on a kept connection is
//     read from its start), and is kept open exactly when net/http would
//     reuse the connection;
//   - two such answers back to back read as two, each as alone.
func FuzzClickResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 302 Found\r\nX-Click-Id: 01\r\nContent-Length: 3\r\n\r\nabc"), false)
	f.Add([]byte("HTTP/1.1 302 Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.0 404 Not Found\r\n\r\nbody to the end"), false)
	f.Add([]byte("HTTP/1.1 302 Found\r\nx-click-id:  02 \r\nConnection: close\r\nContent-Length: 5\r\n\r\nabcde"), true)
	f.Add([]byte("HTTP/1.0 204 No Content\nConnection: keep-alive\n\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n2;x=y\r\nab\r\n0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 -12\r\n\r\n"), false)        // statusUnchecked
	f.Add([]byte("HTTP/1.1 3020 Found\r\n\r\n"), false) // statusUnchecked
	f.Fuzz(func(t *testing.T, resp []byte, head bool) {
		a, keep, consumed, err := rawRead(resp, head)
		if err == nil {
			if !statusLine.Match(resp) && !statusUnchecked {
				t.Fatalf("took %q, whose status line is not HTTP/1.x, a space and three digits", resp)
			}
			if a.status < 0 || a.status > 999 {
				if !statusUnchecked {
					t.Fatalf("status %d", a.status)
				}
				return
			}
		}
		ref, ok := netHTTPRead(resp, head)
		if !ok {
			return
		}
		if err != nil || a.status != ref.status || a.clickID != ref.clickID || consumed != ref.consumed || ref.framed && keep != ref.keep {
			t.Fatalf("%q: status %d, click id %q, %d bytes, keep %v, %v; net/http: %+v", resp, a.status, a.clickID, consumed, keep, err, ref)
		}
		if !keep {
			return
		}
		// Back to back on one connection: each read as alone.
		two := append(append([]byte(nil), resp[:consumed]...), resp[:consumed]...)
		c := &rawConn{r: bufio.NewReader(bytes.NewReader(two))}
		for i := range 2 {
			b, _, err := c.read(head)
			if err != nil || b.status != a.status || b.clickID != a.clickID {
				t.Fatalf("%q twice: answer %d is %+v, %v", resp[:consumed], i+1, b, err)
			}
		}
	})
}

// rawRead is rawConn.read over resp, and how many of its bytes it used.
func rawRead(resp []byte, head bool) (rawAnswer, bool, int, error) {
	br := bytes.NewReader(resp)
	c := &rawConn{r: bufio.NewReader(br)}
	a, keep, err := c.read(head)
	return a, keep, len(resp) - br.Len() - c.r.Buffered(), err
}

type refAnswer struct {
	status   int
	clickID  string
	consumed int
	framed   bool // the body's end is known without the connection's close
	keep     bool
}

// netHTTPRead reads resp with net/http, the answer to a GET (or a HEAD),
// body and all; ok is false when net/http cannot, or the answer is not
// one FuzzClickResponse holds loadgen to.
func netHTTPRead(resp []byte, head bool) (refAnswer, bool) {
	if !statusLine.Match(resp) {
		return refAnswer{}, false
	}
	br := bytes.NewReader(resp)
	r := bufio.NewReader(br)
	method := map[bool]string{false: "GET", true: "HEAD"}[head]
	res, err := http.ReadResponse(r, &http.Request{Method: method})
	if err != nil {
		return refAnswer{}, false
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode < 200 || len(res.Trailer) > 0 || len(res.Header.Values("X-Click-Id")) > 1 {
		return refAnswer{}, false
	}
	if te := res.TransferEncoding; len(te) > 1 || len(te) == 1 && te[0] != "chunked" {
		return refAnswer{}, false
	}
	if conn := res.Header.Values("Connection"); len(conn) > 1 || len(conn) == 1 && !strings.EqualFold(conn[0], "close") && !strings.EqualFold(conn[0], "keep-alive") {
		return refAnswer{}, false
	}
	for _, line := range bytes.Split(resp[:len(resp)-br.Len()-r.Buffered()], []byte("\n"))[1:] {
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			return refAnswer{}, false // a folded header line (or a body's)
		}
		if name, _, _ := bytes.Cut(line, []byte(":")); res.ProtoMinor == 0 && bytes.EqualFold(bytes.TrimSpace(name), []byte("Transfer-Encoding")) {
			return refAnswer{}, false // HTTP/1.0 has no transfer codings: net/http ignores one
		}
		if len(bytes.TrimRight(line, "\r")) == 0 {
			break
		}
	}
	framed := head || res.StatusCode == 204 || res.StatusCode == 304 || res.ContentLength >= 0 || len(res.TransferEncoding) == 1
	return refAnswer{status: res.StatusCode, clickID: res.Header.Get("X-Click-Id"), consumed: len(resp) - br.Len() - r.Buffered(),
		framed: framed, keep: !res.Close}, true
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
