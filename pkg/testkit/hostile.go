package testkit

import (
	"bufio"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// What the hostile-input suites of the services share.

// HostileValues makes the values the suites send. Every value that is not
// small ends with Marker, so a check can tell an answer that quotes the
// start of a value (fine) from one that echoes the whole of it (a leak).
type HostileValues struct {
	Marker string
	rng    *rand.Rand
}

// NewHostileValues returns values ending with marker, their random bytes
// drawn from seed (the same each run).
func NewHostileValues(marker string, seed uint64) *HostileValues {
	return &HostileValues{Marker: marker, rng: rand.New(rand.NewPCG(seed, seed))}
}

// Big is n bytes: 'A's, then the marker.
func (v *HostileValues) Big(n int) string { return strings.Repeat("A", n-len(v.Marker)) + v.Marker }

// Binary is n bytes: random bytes, then the marker.
func (v *HostileValues) Binary(n int) string {
	b := make([]byte, 0, n)
	for len(b) < n-len(v.Marker) {
		b = append(b, byte(v.rng.UintN(256)))
	}
	return string(b) + v.Marker
}

// Nested is JSON arrays nested depth deep.
func (v *HostileValues) Nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

// UTF16LE is s in UTF-16, little-endian, after a byte-order mark: text a
// service must refuse as not UTF-8.
func (v *HostileValues) UTF16LE(s string) string {
	out := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u), byte(u>>8))
	}
	return string(out)
}

// hostileClient bounds every hostile request (a hang fails the test
// instead of stalling it) and never follows redirects.
var hostileClient = &http.Client{Timeout: 30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// SendHostile sends req (an EndlessBody declares its length, so the
// server sees a large Content-Length) and returns the answer with at most
// 1 MiB of its body. No answer, or a hang, fails the test.
func SendHostile(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	if e, ok := req.Body.(*EndlessBody); ok {
		req.ContentLength = e.Len()
	}
	resp, err := hostileClient.Do(req)
	if err != nil {
		t.Fatalf("%s %.80s: %v (a hang or a dropped connection)", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body
}

// ErrorShape fails the test unless body is the contract's error shape,
// {"error":{"code":…,"message":…}} served as JSON, with a non-empty
// message and, when code is not empty, that code.
func ErrorShape(t testing.TB, h http.Header, body []byte, code string) {
	t.Helper()
	var e struct {
		Error *struct {
			Code    *string `json:"code"`
			Message *string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil || e.Error.Code == nil || e.Error.Message == nil ||
		*e.Error.Message == "" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("not the contract's error shape (%v): %s %.300s", err, h.Get("Content-Type"), body)
	}
	if code != "" && *e.Error.Code != code {
		t.Errorf("error code %q, want %q: %s", *e.Error.Code, code, *e.Error.Message)
	}
}

// Endless is a body of n bytes ('x') made as it is read, for requests
// far above a cap that a test should not hold in memory.
func Endless(n int64) *EndlessBody { return &EndlessBody{n: n} }

// EndlessBody is Endless's reader; Len is its whole length, for a
// request's ContentLength.
type EndlessBody struct{ n, read int64 }

// Len is the body's length.
func (e *EndlessBody) Len() int64 { return e.n }

// Close does nothing; it makes an EndlessBody the request's own Body
// (http.NewRequest wraps a body without Close), for SendHostile to find.
func (e *EndlessBody) Close() error { return nil }

func (e *EndlessBody) Read(p []byte) (int, error) {
	if e.read >= e.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), e.n-e.read)
	for i := range p[:k] {
		p[i] = 'x'
	}
	e.read += k
	return int(k), nil
}

// RawHTTP writes request as is to addr (what no HTTP client would send:
// binary request lines, bad escapes, truncated headers), closing the
// write side after it when halfClose is set, and reads the answer. The
// server's ReadHeaderTimeout ends a request whose headers never finish;
// the 30 s deadline only bounds a hang.
func RawHTTP(t testing.TB, addr, request string, halfClose bool) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	if c, ok := conn.(*net.TCPConn); ok && halfClose {
		c.CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body
}
