package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// rawConn is one client connection speaking just enough HTTP/1.1 for
// clicks and webhooks: a request written from bytes, the status and a few
// headers read back, the body skipped. net/http's client costs several
// times more CPU per request, and on a 2-core machine the load tool's CPU
// is taken from the stack it measures. It never sends a request twice: a
// connection that breaks before the answer leaves that click or delivery
// in doubt.
type rawConn struct {
	addr     string
	dialer   *net.Dialer
	conn     net.Conn
	r        *bufio.Reader
	noStamps bool         // leave the kernel's receive times off
	stamp    *stampReader // the answers' receive times; nil where there are none
	buf      []byte
	timeout  time.Duration
}

type rawAnswer struct {
	status  int
	clickID string
	// sent is just before the request's write; arrived (Unix ns) the
	// kernel's receive time of the answer, 0 when unknown.
	sent    time.Time
	arrived int64
}

var errMalformed = errors.New("malformed HTTP response")

func (c *rawConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// do sends one click (a GET or HEAD without a body) and reads its answer.
func (c *rawConn) do(method, target, host, ua, referer string) (rawAnswer, error) {
	b := c.buf[:0]
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUser-Agent: "...)
	b = append(b, ua...)
	if referer != "" {
		b = append(b, "\r\nReferer: "...)
		b = append(b, referer...)
	}
	b = append(b, "\r\nAccept: text/html,application/xhtml+xml\r\n\r\n"...)
	c.buf = b
	return c.roundTrip(b, method == "HEAD")
}

// roundTrip writes req, a whole request (its head and any body), and reads
// its answer. head: the answer has no body (a HEAD request's).
func (c *rawConn) roundTrip(req []byte, head bool) (rawAnswer, error) {
	if c.conn == nil {
		conn, err := c.dialer.Dial("tcp", c.addr)
		if err != nil {
			return rawAnswer{}, &notSentError{err}
		}
		c.conn, c.stamp = conn, nil
		if !c.noStamps {
			c.stamp = newStampReader(conn) // nil where the kernel has none
		}
		var src io.Reader = conn
		if c.stamp != nil {
			src = c.stamp
		}
		c.r = bufio.NewReaderSize(src, 4096)
	}
	_ = c.conn.SetDeadline(time.Now().Add(c.timeout))
	if c.stamp != nil {
		c.stamp.reset()
	}
	sent := time.Now()
	if _, err := c.conn.Write(req); err != nil {
		c.close()
		return rawAnswer{}, err
	}
	a, keep, err := c.read(head)
	a.sent = sent
	if c.stamp != nil {
		a.arrived = c.stamp.first
	}
	if err != nil || !keep {
		c.close()
	}
	return a, err
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func (c *rawConn) read(head bool) (a rawAnswer, keep bool, err error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return a, false, err
	}
	// HTTP/1.1 302 Found: the version, a space, three digits, then a
	// space or the line's end, CRLF or LF (RFC 9112); "HTTP/1.1 -12",
	// "3020" or "000\r0" is no status at all, never one the server did
	// not send.
	if len(line) < 13 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) ||
		(line[12] != ' ' && line[12] != '\n' && !(line[12] == '\r' && len(line) == 14)) {
		return a, false, errMalformed
	}
	a.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	length, chunked, keep := -1, false, line[7] == '1'
	for {
		line, err = c.r.ReadSlice('\n')
		if err != nil {
			return a, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return a, false, errMalformed
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("X-Click-Id")):
			a.clickID = string(value)
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return a, false, errMalformed
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case head || a.status == 204 || a.status == 304:
	case chunked:
		if err := skipChunked(c.r); err != nil {
			return a, false, err
		}
	case length >= 0:
		if _, err := c.r.Discard(length); err != nil {
			return a, false, err
		}
	default: // the body runs to the end of the connection
		_, _ = io.Copy(io.Discard, c.r)
		return a, false, nil
	}
	return a, keep, nil
}

func skipChunked(r *bufio.Reader) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("chunk size %q: %w", size, errMalformed)
		}
		if _, err := r.Discard(int(n) + 2); err != nil { // the chunk and its CRLF
			return err
		}
		if n == 0 {
			return nil // no trailers are sent to loadgen
		}
	}
}

// notSentError is a request never written: no connection could be made
// (refused, say), so the server cannot have it, unlike a request whose
// answer was lost, which it may have.
type notSentError struct{ err error }

func (e *notSentError) Error() string { return "not sent: " + e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// wasSent reports whether a round trip that failed with err may have
// reached the server.
func wasSent(err error) bool {
	var ns *notSentError
	return !errors.As(err, &ns)
}

// errorPause is how long a worker waits after a round trip that failed:
// a server that refuses connections fails them at once, and without it
// each worker would spin, and in a closed loop record millions of events
// in doubt a second (a test run's load tool once grew to 24 GB so).
const errorPause = 10 * time.Millisecond

// pause waits d or until ctx is done.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
