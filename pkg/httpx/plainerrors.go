package httpx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// net/http answers a few requests itself, before any handler runs, and in
// plain text: a request line or header it cannot parse (400), headers over
// MaxHeaderBytes (431), an HTTP version it does not speak (505) and a
// transfer coding it does not know (501) (and an Expect it cannot meet,
// 417, below). Each such answer is one write
// straight to the connection, of the form
//
//	HTTP/1.1 <status line>\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n<text>
//
// and the connection is closed after it, the text being the status line
// again (or, for 501, one sentence). A response of a handler does not
// start so (net/http writes its headers sorted, Connection before
// Content-Type), and a piece of a body that starts so must also end so,
// with nothing after the text. rewritePlainError turns such an answer into the contract's
// JSON error with the same status, so that every error a client gets is
// in one shape.

const (
	plainStatusPrefix = "HTTP/1.1 "
	plainErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	expectationFailed = "HTTP/1.1 417 Expectation Failed\r\n"
	// maxPlainError bounds the writes worth looking at: net/http's own
	// answers are under 200 bytes (the longest status line and text it
	// writes are constants of its source).
	maxPlainError = 512
)

// rewritePlainError returns the JSON answer for one of net/http's own
// plain-text answers, and false for any other write. maxHeaderBytes is the
// server's limit, named in the 431's message.
func rewritePlainError(b []byte, maxHeaderBytes int) ([]byte, bool) {
	if len(b) > maxPlainError || !bytes.HasPrefix(b, []byte(plainStatusPrefix)) {
		return nil, false
	}
	if isExpectationFailed(b) {
		return jsonError(http.StatusExpectationFailed, "expectation_failed",
			"the request's Expect header cannot be met: send none, or Expect: 100-continue"), true
	}
	line, rest, ok := bytes.Cut(b[len(plainStatusPrefix):], []byte("\r\n"))
	if !ok || !bytes.HasPrefix(rest, []byte(plainErrorHeaders[2:])) || len(line) < 3 {
		return nil, false
	}
	status, err := strconv.Atoi(string(line[:3]))
	if err != nil || status < 400 || status > 599 || (len(line) > 3 && line[3] != ' ') {
		return nil, false
	}
	// The whole write is net/http's: its text after the headers is the
	// status line again, or for 501 its one sentence, and nothing more.
	// (A body flushed in 4 KiB pieces could start a piece with the
	// status line and headers above; it would not end so.)
	if text := rest[len(plainErrorHeaders)-2:]; !bytes.Equal(text, line) &&
		!(status == http.StatusNotImplemented && string(text) == "Unsupported transfer encoding") {
		return nil, false
	}
	code, message := plainErrorText(status, string(line), maxHeaderBytes)
	return jsonError(status, code, message), true
}

// jsonError is a whole response in the contract's error shape, after which
// the connection closes.
func jsonError(status int, code, message string) []byte {
	body, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Code: code, Message: message}}) // strings only: cannot fail
	body = append(body, '\n')
	var out bytes.Buffer
	fmt.Fprintf(&out, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n"+
		"Content-Length: %d\r\nConnection: close\r\n\r\n", status, http.StatusText(status), len(body))
	out.Write(body)
	return out.Bytes()
}

// isExpectationFailed reports whether b is net/http's answer to an Expect
// other than 100-continue, written through the response writer: exactly
// the status line, Connection: close, a Date, Content-Length: 0, and no
// body (as go1.26 writes it). No handler here answers 417.
func isExpectationFailed(b []byte) bool {
	if !bytes.HasPrefix(b, []byte(expectationFailed)) {
		return false // every other write, a 302 among them, stops here
	}
	lines := bytes.Split(b, []byte("\r\n"))
	return len(lines) == 6 && string(lines[0])+"\r\n" == expectationFailed && string(lines[1]) == "Connection: close" &&
		bytes.HasPrefix(lines[2], []byte("Date: ")) && len(lines[2]) == len("Date: ")+29 && string(lines[3]) == "Content-Length: 0" &&
		len(lines[4]) == 0 && len(lines[5]) == 0
}

// plainErrorText is the code and sentence for net/http's answer whose
// status line is line ("400 Bad Request: malformed Host header"). The
// detail after the colon is one of net/http's constants, never what the
// client sent.
func plainErrorText(status int, line string, maxHeaderBytes int) (code, message string) {
	_, detail, _ := strings.Cut(line, ": ")
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		return "headers_too_large", fmt.Sprintf("the request line and headers are larger than %d bytes", maxHeaderBytes)
	case http.StatusHTTPVersionNotSupported:
		return "http_version_not_supported", "the request's HTTP version is not supported: send HTTP/1.1"
	case http.StatusNotImplemented:
		return "unsupported_transfer_encoding", "the request's transfer encoding is not supported: send chunked or a Content-Length"
	case http.StatusBadRequest:
		if detail != "" {
			return "malformed_request", "the request is not valid HTTP/1.1: " + detail
		}
		return "malformed_request", "the request is not valid HTTP/1.1: check the request line (its path's escapes) and the headers"
	}
	return "malformed_request", "the request was refused: " + http.StatusText(status)
}
