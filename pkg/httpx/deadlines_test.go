package httpx

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// coarsePair is a connection accepted by a coarse listener sweeping every
// tick, and the client's end of it.
func coarsePair(t *testing.T, tick time.Duration) (server net.Conn, client net.Conn, ln *coarseListener) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln = newCoarseListener(raw, tick)
	t.Cleanup(func() { ln.stopSweeping(); ln.Close() })
	client, err = net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if server, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return server, client, ln
}

// readErr reads one byte from c and returns the error, or fails the test
// if nothing happens within limit.
func readErr(t *testing.T, c net.Conn, limit time.Duration) (error, time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	select {
	case err := <-done:
		return err, time.Since(start)
	case <-time.After(limit):
		t.Fatalf("Read still blocked after %v", limit)
		return nil, 0
	}
}

func TestCoarseDeadlines(t *testing.T) {
	const tick = 20 * time.Millisecond
	t.Run("a deadline in the future fires within a tick of its time", func(t *testing.T) {
		server, _, _ := coarsePair(t, tick)
		set := time.Now()
		if err := server.SetReadDeadline(set.Add(100 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		err, _ := readErr(t, server, 5*time.Second)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want a deadline error", err)
		}
		if took := time.Since(set); took < 100*time.Millisecond {
			t.Fatalf("fired after %v, before its deadline", took)
		}
	})
	t.Run("a deadline in the past applies at once", func(t *testing.T) {
		server, client, _ := coarsePair(t, time.Hour) // the sweeper never looks
		if err := server.SetReadDeadline(time.Unix(1, 0)); err != nil {
			t.Fatal(err)
		}
		if err, _ := readErr(t, server, 5*time.Second); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want a deadline error", err)
		}
		// Cleared, the connection reads again.
		if err := server.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		client.Write([]byte("x"))
		if err, _ := readErr(t, server, 5*time.Second); err != nil {
			t.Fatalf("Read after clearing = %v", err)
		}
	})
	t.Run("cleared after the sweeper fired it, the connection reads again", func(t *testing.T) {
		server, client, _ := coarsePair(t, tick)
		server.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		if err, _ := readErr(t, server, 5*time.Second); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want a deadline error", err)
		}
		server.SetReadDeadline(time.Time{})
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if err, _ := readErr(t, server, 5*time.Second); err != nil {
			t.Fatalf("Read after clearing = %v", err)
		}
	})
	t.Run("a deadline moved later does not fire at its old time", func(t *testing.T) {
		server, client, _ := coarsePair(t, tick)
		server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		server.SetReadDeadline(time.Now().Add(time.Hour))
		go func() {
			time.Sleep(300 * time.Millisecond) // many ticks past the first deadline
			client.Write([]byte("x"))
		}()
		if err, _ := readErr(t, server, 5*time.Second); err != nil {
			t.Fatalf("Read = %v, want the byte", err)
		}
	})
	t.Run("a deadline moved later after firing is cleared from the connection", func(t *testing.T) {
		server, client, _ := coarsePair(t, tick)
		server.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		cc := server.(*coarseConn)
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(tick) {
			cc.mu.Lock()
			fired := cc.readSet
			cc.mu.Unlock()
			if fired {
				break // the real connection holds it
			}
			if time.Now().After(deadline) {
				t.Fatal("the sweeper never fired the deadline")
			}
		}
		server.SetReadDeadline(time.Now().Add(time.Hour))
		client.Write([]byte("x"))
		if err, _ := readErr(t, server, 5*time.Second); err != nil {
			t.Fatalf("Read = %v, want the byte", err)
		}
	})
	t.Run("write deadlines too", func(t *testing.T) {
		server, _, _ := coarsePair(t, tick)
		server.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		// The client never reads: the socket buffers fill, then Write blocks.
		done := make(chan error, 1)
		go func() {
			buf := make([]byte, 1<<20)
			for {
				if _, err := server.Write(buf); err != nil {
					done <- err
					return
				}
			}
		}()
		select {
		case err := <-done:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Write = %v, want a deadline error", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Write still blocked")
		}
	})
	t.Run("a closed connection leaves the sweep", func(t *testing.T) {
		server, _, ln := coarsePair(t, tick)
		server.Close()
		server.Close() // twice is harmless
		ln.mu.Lock()
		n := len(ln.conns)
		ln.mu.Unlock()
		if n != 0 {
			t.Fatalf("%d connections swept after close, want 0", n)
		}
	})
}

// TestCoarseDeadlinesRace moves a connection's deadlines from several
// goroutines while the sweeper fires them every millisecond (run with
// -race), then clears them: the connection must read again.
func TestCoarseDeadlinesRace(t *testing.T) {
	server, client, _ := coarsePair(t, time.Millisecond)
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 2000 {
				switch (i + g) % 4 {
				case 0:
					server.SetReadDeadline(time.Now().Add(time.Duration(i%3) * time.Millisecond))
				case 1:
					server.SetWriteDeadline(time.Now().Add(time.Hour))
				case 2:
					server.SetDeadline(time.Unix(1, 0))
				default:
					server.SetDeadline(time.Time{})
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	server.SetDeadline(time.Time{})
	client.Write([]byte("x"))
	if err, _ := readErr(t, server, 5*time.Second); err != nil {
		t.Fatalf("Read after clearing = %v", err)
	}
}

// TestServeTimeoutsStillHold: through Serve, a client that never finishes
// its headers is cut off after ReadHeaderTimeout (within a tick), and one
// that stays idle after a request after IdleTimeout, while keep-alive
// requests are answered as before.
func TestServeTimeoutsStillHold(t *testing.T) {
	ln := serveOK(t, ServerConfig{ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: 600 * time.Millisecond})
	addr := ln.Addr().String()

	t.Run("slow headers", func(t *testing.T) {
		start := time.Now() // before the server can set its deadline
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // and never the blank line
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadAll(c)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("read: %v (the server did not close the connection)", err)
		}
		// Not before its time; the upper bound only tells a timeout that
		// fired from none (a loaded CI machine may be slow to say so).
		if took < 300*time.Millisecond || took > 5*time.Second {
			t.Fatalf("closed after %v, want 300 ms plus about a tick", took)
		}
	})
	t.Run("keep-alive, then idle", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		var start time.Time
		for range 3 {
			start = time.Now() // the idle deadline is set after the last answer
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "ok" {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		rest, err := io.ReadAll(br)
		took := time.Since(start)
		if err != nil || strings.TrimSpace(string(rest)) != "" {
			t.Fatalf("read: %q %v (the server did not close the idle connection)", rest, err)
		}
		if took < 600*time.Millisecond || took > 5*time.Second {
			t.Fatalf("idle connection closed after %v, want 600 ms plus about a tick", took)
		}
	})
}

// serveOK serves "ok" to every request through Serve with cfg until the
// test ends, and checks that Serve then returns cleanly.
func serveOK(t *testing.T, cfg ServerConfig) net.Listener {
	t.Helper()
	return serveTest(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
}

// serveTest serves h through Serve with cfg until the test ends, and
// checks that Serve then returns cleanly.
func serveTest(t *testing.T, cfg ServerConfig, h http.Handler) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, ln, h, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln
}

// TestServeErrorClosesConnections: when Serve ends with an error (its
// listener closed from outside), the connections it was serving are
// closed, since the sweeper enforcing their deadlines stops with it.
func TestServeErrorClosesConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		served <- Serve(context.Background(), ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
			ServerConfig{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	ln.Close() // idle keep-alive connection left open
	select {
	case err := <-served:
		if err == nil {
			t.Fatal("Serve returned nil after its listener was closed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("read on the served connection = %v, want EOF (closed)", err)
	}
}

// TestServeClosesAfterAChunkedRequest: a request with a Transfer-Encoding
// (beside a Content-Length, which net/http drops) is answered and its
// connection closed, so what follows its chunked body is never served as
// a request (RFC 9112, section 6.1; a security review found the rest of
// the bytes answered as a second request). A request with a
// Content-Length alone keeps its connection.
func TestServeClosesAfterAChunkedRequest(t *testing.T) {
	ln := serveTest(t, ServerConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "path="+r.URL.Path+"\n")
	}))
	for _, tt := range []struct {
		name, request string
		served        []string
	}{
		{"Content-Length and Transfer-Encoding", "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", []string{"/first"}},
		{"Transfer-Encoding alone", "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"2\r\nab\r\n0\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n", []string{"/first"}},
		{"Content-Length alone", "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab" +
			"GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", []string{"/first", "/second"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tt.request)
			b, err := io.ReadAll(c) // ends when the server closes
			if err != nil {
				t.Fatalf("read: %v (the connection stayed open)", err)
			}
			var served []string
			for _, m := range regexp.MustCompile(`path=(\S+)`).FindAllStringSubmatch(string(b), -1) {
				served = append(served, m[1])
			}
			if !slices.Equal(served, tt.served) {
				t.Fatalf("served %q, want %q:\n%s", served, tt.served, b)
			}
		})
	}
}

// TestBackgroundReadParkedWhileAHandlerWaits: while a handler waits, the
// one-byte read net/http starts on its connection is parked, not a read
// of the socket; the connection then serves the next request, and two
// requests sent at once (pipelined) are both answered in order.
func TestBackgroundReadParkedWhileAHandlerWaits(t *testing.T) {
	parked := make(chan bool, 8)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newCoarseListener(raw, deadlineTick)
	cfg := ServerConfig{}
	cfg.setDefaults()
	srv := newServer(context.Background(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cc, _ := r.Context().Value(connKey{}).(*coarseConn)
		saw := false
		for deadline := time.Now().Add(2 * time.Second); cc != nil && !saw && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond) // waits, as a handler waiting for its click log does
			cc.mu.Lock()
			saw = cc.parked()
			cc.mu.Unlock()
		}
		parked <- saw
		io.WriteString(w, r.URL.Path)
	}), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) }
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); ln.stopSweeping() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	answer := func(want string) {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("answer %d %q, want 200 %q", resp.StatusCode, body, want)
		}
		if !<-parked {
			t.Fatalf("request %s: the background read was not parked while the handler waited", want)
		}
	}
	io.WriteString(c, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
	answer("/one")
	io.WriteString(c, "GET /two HTTP/1.1\r\nHost: x\r\n\r\n")
	answer("/two")
	io.WriteString(c, "GET /three HTTP/1.1\r\nHost: x\r\n\r\nGET /four HTTP/1.1\r\nHost: x\r\n\r\n")
	answer("/three")
	answer("/four")
}

// connKey is the test's context key of a request's connection.
type connKey struct{}

// TestBackgroundReadParkedStillSeesTheClientGo: a handler that runs long
// still learns that its client went away (its context ends), within two
// of the sweeper's ticks of the parked read.
func TestBackgroundReadParkedStillSeesTheClientGo(t *testing.T) {
	ended := make(chan time.Duration, 1)
	ln := serveTest(t, ServerConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		select {
		case <-r.Context().Done():
			ended <- time.Since(start)
		case <-time.After(10 * time.Second):
			ended <- -1
		}
	}))
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond) // the handler is waiting, its read parked
	c.Close()
	took := <-ended
	if took < 0 {
		t.Fatal("the handler's context did not end after its client went away")
	}
	if took > 2*deadlineTick+time.Second {
		t.Fatalf("the handler's context ended %v after its client went away, want within about two ticks (%v)", took, 2*deadlineTick)
	}
}

// TestReadYieldingTracksTheSocket: a read that gets fewer bytes than it
// asked for marks the socket empty (the next read yields first); one that
// fills its buffer does not; a read that waited in the poller marks the
// listener's poller as lately seen; and every byte arrives in order
// whichever way each read went.
func TestReadYieldingTracksTheSocket(t *testing.T) {
	server, client, ln := coarsePair(t, deadlineTick)
	cc := server.(*coarseConn)
	server.SetReadDeadline(time.Now().Add(10 * time.Second))
	want := strings.Repeat("0123456789", 1000) // 10,000 bytes
	if _, err := io.WriteString(client, want[:10]); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	got := make([]byte, 0, len(want))
	var n int
	var err error
	for len(got) < 10 {
		if n, err = server.Read(buf); err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if !cc.socketWasEmpty {
		t.Fatalf("a read of %d bytes into %d did not mark the socket empty", n, len(buf))
	}

	// The rest at once: the first read fills its buffer.
	if _, err := io.WriteString(client, want[10:]); err != nil {
		t.Fatal(err)
	}
	for {
		if n, err = server.Read(buf); err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
		if n == len(buf) {
			break
		}
	}
	if cc.socketWasEmpty {
		t.Fatal("a read that filled its buffer marked the socket empty")
	}
	for len(got) < len(want) {
		if n, err = server.Read(buf); err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != want {
		t.Fatalf("read %d bytes, not the %d sent in order", len(got), len(want))
	}

	// A read that waits for its data.
	before := ln.lastWoken.Load()
	go func() {
		time.Sleep(100 * time.Millisecond)
		io.WriteString(client, "x")
	}()
	if n, err = server.Read(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if after := ln.lastWoken.Load(); after <= before {
		t.Fatalf("a read that waited 100 ms left lastWoken at %d (was %d)", after, before)
	}
}
