package httpx

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// goPlain is an answer as net/http writes it before any handler runs
// (net/http/server.go, conn.serve), for the status line and text given.
func goPlain(statusLine, text string) []byte {
	return []byte("HTTP/1.1 " + statusLine + plainErrorHeaders + text)
}

// parseJSONError reads b as one HTTP response and its body as the
// contract's error shape.
func parseJSONError(t testing.TB, b []byte) (*http.Response, ErrorDetail) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		t.Fatalf("%q is not an HTTP response: %v", b, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%q: body: %v", b, err)
	}
	var e ErrorBody
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("%q is not the contract's error shape (%v)", body, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	if resp.ContentLength != int64(len(body)) || !resp.Close {
		t.Fatalf("Content-Length %d for %d bytes, Connection close %v", resp.ContentLength, len(body), resp.Close)
	}
	return resp, e.Error
}

func TestRewritePlainError(t *testing.T) {
	for _, tt := range []struct {
		name   string
		in     []byte
		status int
		code   string
		says   string // in the message
	}{
		{"headers too large", goPlain("431 Request Header Fields Too Large", "431 Request Header Fields Too Large"), 431, "headers_too_large", "32768 bytes"},
		{"unparsable request line", goPlain("400 Bad Request", "400 Bad Request"), 400, "malformed_request", "request line"},
		{"no Host header", goPlain("400 Bad Request: missing required Host header", "400 Bad Request: missing required Host header"),
			400, "malformed_request", "missing required Host header"},
		{"HTTP version", goPlain("505 HTTP Version Not Supported: unsupported protocol version", "505 HTTP Version Not Supported: unsupported protocol version"),
			505, "http_version_not_supported", "HTTP/1.1"},
		{"transfer coding", goPlain("501 Not Implemented", "Unsupported transfer encoding"), 501, "unsupported_transfer_encoding", "transfer encoding"},
		{"Expect", []byte("HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: Sat, 05 Dec 2026 22:00:00 GMT\r\nContent-Length: 0\r\n\r\n"),
			417, "expectation_failed", "Expect"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := rewritePlainError(tt.in, 32<<10)
			if !ok {
				t.Fatalf("%q not rewritten", tt.in)
			}
			resp, e := parseJSONError(t, out)
			if resp.StatusCode != tt.status || e.Code != tt.code || !strings.Contains(e.Message, tt.says) {
				t.Fatalf("%d %s %q, want %d %s saying %q", resp.StatusCode, e.Code, e.Message, tt.status, tt.code, tt.says)
			}
		})
	}
	// Everything else passes as written: a handler's answers (net/http
	// sorts their headers, Connection before Content-Type), parts of one,
	// anything long.
	for _, in := range []string{
		"",
		"HTTP/1.1 302 Found\r\nCache-Control: no-store\r\nLocation: https://x.test/\r\nDate: Sat, 05 Dec 2026 21:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nno",
		"HTTP/1.1 200 OK" + plainErrorHeaders + "ok",
		"HTTP/1.1 99 Odd" + plainErrorHeaders,
		"HTTP/1.1 4000 Bad Request" + plainErrorHeaders,
		"HTTP/1.1 431",
		"HTTP/1.0 431 Request Header Fields Too Large" + plainErrorHeaders,
		string(goPlain("400 Bad Request", strings.Repeat("x", maxPlainError))),
		`{"error":{"code":"x"}}`,
		"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 5\r\n\r\nbody.",
		"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n",
		"HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: Sat, 05 Dec 2026 22:00:00 GMT\r\nContent-Length: 0\r\n\r\nmore",
		// A piece of a body that starts like net/http's answer but does
		// not end as it does.
		"HTTP/1.1 400 Bad Request" + plainErrorHeaders + "x",
		"HTTP/1.1 400 Bad Request" + plainErrorHeaders + "400 Bad Request\r\n0\r\n\r\n",
	} {
		if out, ok := rewritePlainError([]byte(in), 32<<10); ok {
			t.Errorf("%.80q rewritten as %.80q", in, out)
		}
	}
}

// FuzzRewritePlainError: any write either passes as it is, or becomes one
// complete HTTP response in the contract's error shape with the status
// the write had.
func FuzzRewritePlainError(f *testing.F) {
	f.Add(goPlain("431 Request Header Fields Too Large", "431 Request Header Fields Too Large"))
	f.Add(goPlain("400 Bad Request: malformed Host header", "400 Bad Request: malformed Host header"))
	f.Add(goPlain("501 Not Implemented", "Unsupported transfer encoding"))
	f.Add([]byte("HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: Sat, 05 Dec 2026 22:00:00 GMT\r\nContent-Length: 0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, ok := rewritePlainError(in, 32<<10)
		if !ok {
			return
		}
		resp, _ := parseJSONError(t, out)
		if want := string(in[len(plainStatusPrefix) : len(plainStatusPrefix)+3]); fmt.Sprint(resp.StatusCode) != want {
			t.Fatalf("status %d for %q", resp.StatusCode, in)
		}
	})
}

// TestServeAnswersJSONForNetHTTPRefusals: through Serve, the requests that
// net/http refuses before any handler runs are answered in the contract's
// error shape, and a good request on the same server as before.
func TestServeAnswersJSONForNetHTTPRefusals(t *testing.T) {
	ln := serveOK(t, ServerConfig{})
	raw := func(t *testing.T, request string) []byte {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, request)
		c.(*net.TCPConn).CloseWrite()
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return b
	}
	for _, tt := range []struct {
		name, request string
		status        int
		code          string
	}{
		{"headers over 32 KiB", "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: " + strings.Repeat("a", 40<<10) + "\r\n\r\n", 431, "headers_too_large"},
		{"a query over 32 KiB", "GET /?q=" + strings.Repeat("a", 100_000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 431, "headers_too_large"},
		{"bad escape in the path", "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed_request"},
		{"no Host header", "GET / HTTP/1.1\r\n\r\n", 400, "malformed_request"},
		{"control character in a header", "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: a\x01b\r\n\r\n", 400, "malformed_request"},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "unsupported_transfer_encoding"},
		{"HTTP version", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "http_version_not_supported"},
		{"an Expect it cannot meet", "POST / HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 1\r\n\r\nx", 417, "expectation_failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, e := parseJSONError(t, raw(t, tt.request))
			if resp.StatusCode != tt.status || e.Code != tt.code {
				t.Fatalf("%d %s (%s), want %d %s", resp.StatusCode, e.Code, e.Message, tt.status, tt.code)
			}
		})
	}
	if got := string(raw(t, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")); !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(got, "\r\n\r\nok") {
		t.Fatalf("a good request: %q", got)
	}
}

// A handler's body that holds, where net/http flushes it in 4 KiB pieces,
// the start of one of net/http's own answers goes out as written (found
// in review: the tail of such a body was rewritten).
func TestServeNeverRewritesABody(t *testing.T) {
	payload := "HTTP/1.1 400 Bad Request" + plainErrorHeaders + "x"
	ln := serveTest(t, ServerConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pad, _ := strconv.Atoi(r.URL.Query().Get("pad"))
		io.WriteString(w, strings.Repeat("a", pad)+payload)
	}))
	client := &http.Client{Timeout: 10 * time.Second}
	for pad := 3900; pad < 4200; pad++ {
		resp, err := client.Get("http://" + ln.Addr().String() + "/?pad=" + strconv.Itoa(pad))
		if err != nil {
			t.Fatalf("pad %d: %v", pad, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !strings.HasSuffix(string(b), payload) {
			t.Fatalf("pad %d: body ends %q (%v), want the handler's bytes", pad, b[max(0, len(b)-200):], err)
		}
	}
}
