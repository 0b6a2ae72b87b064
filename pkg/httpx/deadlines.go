package httpx

import (
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineTick is how often a coarse listener looks for connections past
// their deadline: a deadline in the future fires up to this much late.
const deadlineTick = 250 * time.Millisecond

// coarseListener hands out connections whose deadlines in the future are
// kept in memory and enforced by one sweeper a tick, rather than by a
// runtime timer set and cleared on every request.
//
// net/http sets four deadlines a keep-alive request when the server has
// its timeouts (the header, the whole request, the write, the idle wait)
// and clears them again; each is a timer in the runtime's heap, about
// 100 ns to set or clear. On a bare server pinned to one core, the
// timeouts cost 5-9 % of its requests a busy core-second, and this
// listener won back about 2 % of it (issue 15, docs/performance.md:
// the rest is not the timers). Here a deadline in
// the future is a field written under the connection's own lock. A
// deadline in the past (net/http's way of interrupting its background
// read), and clearing one the connection really holds, go through at
// once, as before. The timeouts keep their meaning; each fires within
// deadlineTick of when it is due.
type coarseListener struct {
	net.Listener
	tick time.Duration
	// Times are kept as durations since base on the monotonic clock, as
	// the runtime's own deadlines are: a step of the wall clock (NTP, a
	// VM resumed) neither fires deadlines early nor holds them late.
	base time.Time

	mu    sync.Mutex
	conns map[*coarseConn]struct{}

	stop     chan struct{}
	stopOnce sync.Once

	// maxHeaderBytes is the server's limit, named when net/http's own
	// plain-text 431 is rewritten as JSON (plainerrors.go); 0 leaves
	// net/http's own answers as they are.
	maxHeaderBytes int

	// lastWoken is when (since base) a read of one of the connections
	// last came back after waiting in the poller (readYielding).
	lastWoken atomic.Int64
}

// newCoarseListener wraps ln and starts its sweeper, which stopSweeping
// stops. Closing the listener does not: the connections it accepted keep
// their deadlines while their server shuts down.
func newCoarseListener(ln net.Listener, tick time.Duration) *coarseListener {
	l := &coarseListener{Listener: ln, tick: tick, base: time.Now(), conns: map[*coarseConn]struct{}{}, stop: make(chan struct{})}
	go l.sweep()
	return l
}

func (l *coarseListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &coarseConn{Conn: c, ln: l, release: make(chan bool, 1)}
	l.mu.Lock()
	l.conns[cc] = struct{}{}
	l.mu.Unlock()
	return cc, nil
}

func (l *coarseListener) stopSweeping() { l.stopOnce.Do(func() { close(l.stop) }) }

// sweep fires the deadlines that have passed, every tick until
// stopSweeping.
func (l *coarseListener) sweep() {
	t := time.NewTicker(l.tick)
	defer t.Stop()
	var batch []*coarseConn
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			n := l.since()
			l.mu.Lock()
			for c := range l.conns {
				batch = append(batch, c)
			}
			l.mu.Unlock()
			for _, c := range batch {
				c.expire(n)
			}
			clear(batch)
			batch = batch[:0]
		}
	}
}

// since is the time now, as a duration since base.
func (l *coarseListener) since() int64 { return int64(time.Since(l.base)) }

// coarseConn is a connection of a coarseListener.
type coarseConn struct {
	net.Conn
	ln *coarseListener

	// read and write are the deadlines wanted and not yet applied, as
	// durations since the listener's base, 0 for none: written under mu,
	// read by the sweeper without it first.
	read, write atomic.Int64
	mu          sync.Mutex
	// The real connection holds a read (write) deadline.
	readSet, writeSet bool
	closeOnce         sync.Once

	// net/http's background read, held off the socket while a request
	// is served (parkBackgroundRead). Under mu: serving says net/http is
	// serving a request of this connection (trackState), cleared that
	// the read deadline was just cleared (net/http does so right before
	// starting the read), closed that Close was called. parkedAt is
	// when the read was parked (since base), 0 while none is: written
	// under mu, read by the sweeper without it first.
	serving, cleared, closed bool
	parkedAt                 atomic.Int64
	// release hands a parked read its end: true to time out (net/http
	// aborting it), false to read the socket after all.
	release chan bool
	// socketWasEmpty says the last read got fewer bytes than it asked
	// for: the socket had nothing more; yieldBackoff counts the requests
	// still read without yielding (readYielding). Only the goroutine
	// reading the connection uses them; net/http reads one at a time.
	socketWasEmpty bool
	yieldBackoff   int
	// betweenRequests says net/http is waiting for the connection's
	// next request (trackState: http.StateIdle).
	betweenRequests atomic.Bool
}

func (c *coarseConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *coarseConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cleared = t.IsZero()
	if c.parked() && !t.IsZero() && !time.Now().Before(t) {
		// net/http aborting its background read: end the parked read
		// with the timeout it waits for, and leave the socket alone.
		c.unpark(true)
		return nil
	}
	return c.set(t, &c.read, &c.readSet, c.Conn.SetReadDeadline)
}

func (c *coarseConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set(t, &c.write, &c.writeSet, c.Conn.SetWriteDeadline)
}

// set keeps a deadline in the future for the sweeper (clearing one the
// real connection holds), and applies any other at once. Called with mu
// held.
func (c *coarseConn) set(t time.Time, wanted *atomic.Int64, real *bool, apply func(time.Time) error) error {
	if !t.IsZero() {
		// One clock read, not a timer. A time without a monotonic
		// reading (net/http's aLongTimeAgo) compares by the wall clock.
		if at := int64(t.Sub(c.ln.base)); at > c.ln.since() {
			wanted.Store(at)
			if *real {
				*real = false
				return apply(time.Time{})
			}
			return nil
		}
	}
	wanted.Store(0)
	if t.IsZero() && !*real {
		return nil // nothing to clear
	}
	*real = !t.IsZero()
	return apply(t)
}

// expire applies the deadlines that were due by now, and sends a
// background read parked for a tick or more to the socket.
func (c *coarseConn) expire(now int64) {
	if at := c.parkedAt.Load(); at != 0 && now-at >= int64(c.ln.tick) {
		c.mu.Lock()
		if c.parked() {
			c.unpark(false)
		}
		c.mu.Unlock()
	}
	if at := c.read.Load(); at != 0 && at <= now {
		c.fire(at, &c.read, &c.readSet, c.Conn.SetReadDeadline)
	}
	if at := c.write.Load(); at != 0 && at <= now {
		c.fire(at, &c.write, &c.writeSet, c.Conn.SetWriteDeadline)
	}
}

// fire applies the deadline at, due, unless it was moved meanwhile.
func (c *coarseConn) fire(at int64, wanted *atomic.Int64, real *bool, apply func(time.Time) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if wanted.Load() == at {
		wanted.Store(0)
		*real = true
		_ = apply(c.ln.base.Add(time.Duration(at))) // in the past: a blocked Read or Write returns a timeout
	}
}

func (c *coarseConn) Close() error {
	c.closeOnce.Do(func() {
		c.ln.mu.Lock()
		delete(c.ln.conns, c)
		c.ln.mu.Unlock()
	})
	err := c.Conn.Close()
	c.mu.Lock()
	c.closed = true
	if c.parked() {
		c.unpark(false) // its read of the closed socket fails at once
	}
	c.mu.Unlock()
	return err
}

// Read parks net/http's background read while a handler runs
// (parkBackgroundRead) and passes every other read through.
func (c *coarseConn) Read(p []byte) (int, error) {
	if len(p) == 1 {
		c.mu.Lock()
		if c.serving && c.cleared && !c.closed && !c.parked() {
			c.cleared = false
			return c.parkBackgroundRead(p)
		}
		c.mu.Unlock()
	}
	return c.readYielding(p)
}

// readYielding reads p from the socket, first letting the other
// runnable goroutines go ahead when the read is for the connection's
// next request, the socket was empty at the last read, and the poller
// has woken a read lately.
//
// A keep-alive connection's next request is read right after its answer
// is written, before the client can have sent it: the read finds nothing
// (EAGAIN), the goroutine waits in the poller, and the poller wakes it to
// read again. Under load that failed read is one of three system calls a
// request (issue 15, docs/performance.md). Yielding first (Gosched) lets
// the requests already waiting be served meanwhile, and the client's next
// request has usually arrived by the time the read runs. A request's
// body is read without yielding.
//
// A yielding goroutine goes to the back of the global run queue, and the
// runtime polls the network only when its run queues are empty (or from
// sysmon, up to 10 ms apart): goroutines that keep yielding and finding
// requests would hold off the poll, and the connections waiting in it,
// for those 10 ms. So yielding stops when no read has come back from the
// poller with data for yieldWindow; the run queues then drain, the poll
// runs, and the reads it wakes start the yielding again. (A read counts
// as woken when it took wokenAfter or more: one whose thread the system
// held up that long counts too, and keeps the yielding on a little
// longer.)
//
// A yield that comes straight back found nothing else to run: the
// process is not loaded, or another processor took the goroutine (and
// waking that processor may have cost a system call). The connection
// then reads without yielding for its next idleYieldBackoff requests.
func (c *coarseConn) readYielding(p []byte) (int, error) {
	start := c.ln.since()
	if c.socketWasEmpty && c.betweenRequests.Load() && start-c.ln.lastWoken.Load() < int64(yieldWindow) {
		if c.yieldBackoff > 0 {
			c.yieldBackoff--
		} else {
			runtime.Gosched()
			before := start
			start = c.ln.since()
			if start-before < int64(idleYield) {
				c.yieldBackoff = idleYieldBackoff
			}
		}
	}
	n, err := c.Conn.Read(p)
	if n > 0 && err == nil {
		if end := c.ln.since(); end-start >= int64(wokenAfter) {
			c.ln.lastWoken.Store(end)
		}
	}
	c.socketWasEmpty = n > 0 && n < len(p)
	return n, err
}

// yieldWindow is how long after the poller last woke a read with data
// the reads still yield first (readYielding).
const yieldWindow = time.Millisecond

// wokenAfter is how long a read takes at least when it waited in the
// poller rather than finding its data: a read of data already there
// takes a system call, a few microseconds.
const wokenAfter = 50 * time.Microsecond

// idleYield is how long a yield takes at most when nothing else ran
// meanwhile (serving a request takes tens of microseconds), and
// idleYieldBackoff how many requests a connection then reads without
// yielding.
const (
	idleYield        = 5 * time.Microsecond
	idleYieldBackoff = 16
)

// parkBackgroundRead holds net/http's background read off the socket
// until net/http aborts it, which it does as soon as the handler is done.
//
// Once a request is read, net/http clears the read deadline and starts a
// one-byte read of the connection in a goroutine of its own, to notice a
// client that goes away while the handler runs. When the handler waits
// (the redirect's for its click log, a webhook's for PostgreSQL), that
// read runs, finds nothing, waits in the poller, and is then interrupted
// by a read deadline in the past: a system call and two deadline changes
// a request, 4-7 % of the pinned redirect's CPU (issue 15,
// docs/performance.md). Parked, it costs a lock and a channel.
//
// What it would notice it still notices, later: a read parked for a tick
// or more (the sweeper's, 250-500 ms) goes to the socket, so a handler
// that runs long still learns of a client gone (its context ends) within
// half a second. A pipelined request is read after the answer, as
// net/http would. Only a one-byte read right after the read deadline was
// cleared, while net/http serves a request of the connection, is parked:
// net/http's own. Called with mu held; it unlocks it.
func (c *coarseConn) parkBackgroundRead(p []byte) (int, error) {
	c.parkedAt.Store(max(c.ln.since(), 1))
	c.mu.Unlock()
	if timeout := <-c.release; timeout {
		return 0, os.ErrDeadlineExceeded
	}
	return c.Conn.Read(p)
}

// parked says whether a background read is parked.
func (c *coarseConn) parked() bool { return c.parkedAt.Load() != 0 }

// unpark ends a parked read: with a timeout, or by reading the socket.
// Called with mu held.
func (c *coarseConn) unpark(timeout bool) {
	c.parkedAt.Store(0)
	c.release <- timeout // buffered: one park, one release
}

// trackState is http.Server's ConnState: a connection is active from
// when net/http has read a request's first bytes until it has answered,
// which covers its background read from the start (net/http reports the
// state before starting the read, in the connection's own goroutine).
func trackState(c net.Conn, state http.ConnState) {
	if cc, ok := c.(*coarseConn); ok {
		cc.mu.Lock()
		cc.serving = state == http.StateActive
		cc.mu.Unlock()
		cc.betweenRequests.Store(state == http.StateIdle)
	}
}

// ReadFrom lets net/http copy a file to the connection with sendfile,
// as it would without the wrapper.
func (c *coarseConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// Write passes net/http's writes through, but for the plain-text answers
// net/http writes itself before any handler runs, which go out in the
// contract's JSON error shape instead (rewritePlainError). Every other
// write costs one length and one prefix comparison more.
func (c *coarseConn) Write(b []byte) (int, error) {
	if c.ln.maxHeaderBytes > 0 {
		if j, ok := rewritePlainError(b, c.ln.maxHeaderBytes); ok {
			if _, err := c.Conn.Write(j); err != nil {
				return 0, err
			}
			return len(b), nil
		}
	}
	return c.Conn.Write(b)
}

// CloseWrite half-closes a TCP connection, as net/http does before closing
// one whose request body it did not read.
func (c *coarseConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
