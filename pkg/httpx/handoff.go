package httpx

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Handoff answers a bound listener while its service starts (waiting for
// its database, migrating, loading), then hands the listener to the
// service's server. Without it, connections would wait unanswered in the
// listen backlog for as long as start-up takes: a client hangs instead of
// hearing that the service is alive but not ready, and /healthz, which
// must answer while the process lives, says nothing. While starting,
// /healthz is 200, /readyz and everything else 503 with Retry-After
// (Starting).
//
// One goroutine accepts for both phases, so no connection is refused or
// lost between them: a connection the stand-in accepted finishes its
// request there (its keep-alive is then ended), the next ones go to the
// service's server.
type Handoff struct {
	ln      net.Listener
	conns   chan net.Conn
	closing chan struct{} // Close was called: the acceptor drops what it holds
	stopped chan struct{} // the acceptor has returned
	err     error         // why it returned, once stopped

	early     *phaseListener
	stopEarly context.CancelFunc
	earlyDone chan struct{}
	once      sync.Once
	closeOnce sync.Once

	// The stand-in's connections: its shutdown waits until the last one
	// has ended (each ends after one answer, Connection: close), since
	// net/http closes unanswered a connection whose request it reads
	// after Shutdown began.
	mu         sync.Mutex
	earlyOpen  int
	handedOver bool
	handed     chan struct{}
}

// NewHandoff starts accepting on ln and serving each connection with
// starting (through Serve, with its timeouts and JSON refusals) until
// Listener is called. ctx bounds the stand-in server's life.
func NewHandoff(ctx context.Context, ln net.Listener, starting http.Handler, logger *slog.Logger) *Handoff {
	h := &Handoff{ln: ln, conns: make(chan net.Conn), closing: make(chan struct{}), stopped: make(chan struct{}),
		earlyDone: make(chan struct{}), handed: make(chan struct{})}
	go h.accept()
	h.early = h.phase(false)
	earlyCtx, stop := context.WithCancel(ctx)
	h.stopEarly = stop
	go func() {
		defer close(h.earlyDone)
		// Its shutdown waits at most for the requests it has begun.
		_ = Serve(earlyCtx, h.early, starting, ServerConfig{ShutdownTimeout: 10 * time.Second}, logger.With("phase", "starting"))
	}()
	return h
}

// accept hands every connection of ln to whichever phase takes it.
func (h *Handoff) accept() {
	defer close(h.stopped)
	backoff := 5 * time.Millisecond
	for {
		c, err := h.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				h.err = err
				return
			}
			// Out of descriptors and the like: as net/http does, wait and
			// try again rather than stop serving.
			select {
			case <-h.closing:
				h.err = net.ErrClosed
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		select {
		case h.conns <- c:
		case <-h.closing:
			c.Close()
			h.err = net.ErrClosed
			return
		}
	}
}

// Listener ends the starting phase and returns the listener the service's
// server is to serve: its Close closes the bound socket. The stand-in
// stops taking connections and finishes those it has in the background.
// Call it once.
func (h *Handoff) Listener() net.Listener {
	l := h.phase(true)
	// The stand-in takes no more connections, and shuts down once the
	// last of its own has ended (closing its listener first would end
	// its Serve with an error, which closes every connection at once).
	h.mu.Lock()
	h.handedOver = true
	close(h.handed)
	idle := h.earlyOpen == 0
	h.mu.Unlock()
	if idle {
		h.once.Do(h.stopEarly)
	}
	return l
}

// Close stops both phases and closes the bound socket, for a service that
// stops before it served (a failed start-up); it waits for the stand-in.
func (h *Handoff) Close() error {
	h.once.Do(func() { h.stopEarly() })
	h.closeOnce.Do(func() {
		close(h.closing)
		_ = h.ln.Close()
	})
	<-h.earlyDone
	return nil
}

func (h *Handoff) phase(last bool) *phaseListener {
	return &phaseListener{h: h, last: last, closed: make(chan struct{})}
}

// phaseListener is one phase's view of the handed-over listener.
type phaseListener struct {
	h      *Handoff
	last   bool // closing it closes the bound socket
	closed chan struct{}
	once   sync.Once
}

func (l *phaseListener) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	if !l.last {
		return l.acceptEarly()
	}
	select {
	case c := <-l.h.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.h.stopped:
		return nil, l.h.err
	}
}

// acceptEarly is the stand-in's Accept: it counts its connections, and
// takes none once the service's server has the listener.
func (l *phaseListener) acceptEarly() (net.Conn, error) {
	h := l.h
	for {
		select {
		case <-h.handed:
			select {
			case <-l.closed:
				return nil, net.ErrClosed
			case <-h.stopped:
				return nil, h.err
			}
		case c := <-h.conns:
			h.mu.Lock()
			if h.handedOver { // taken as the service's server took over: its
				h.mu.Unlock()
				select {
				case h.conns <- c:
				case <-h.closing:
					c.Close()
				}
				continue
			}
			h.earlyOpen++
			h.mu.Unlock()
			return &earlyConn{Conn: c, h: h}, nil
		case <-l.closed:
			return nil, net.ErrClosed
		case <-h.stopped:
			return nil, h.err
		}
	}
}

type earlyConn struct {
	net.Conn
	h    *Handoff
	once sync.Once
}

// CloseWrite lets net/http half-close a stand-in's connection as it does
// a TCP one, so an answer is not lost to a reset over an unread body.
func (c *earlyConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *earlyConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		h := c.h
		h.mu.Lock()
		h.earlyOpen--
		last := h.handedOver && h.earlyOpen == 0
		h.mu.Unlock()
		if last {
			h.once.Do(h.stopEarly)
		}
	})
	return err
}

func (l *phaseListener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		if l.last {
			l.h.closeOnce.Do(func() {
				close(l.h.closing)
				_ = l.h.ln.Close()
			})
		}
	})
	return nil
}

func (l *phaseListener) Addr() net.Addr { return l.h.ln.Addr() }

// Starting is the stand-in handler of a service that is starting: GET
// /healthz 200 (the process lives; its status says "starting"), GET
// /readyz 503 naming the check "startup", whatever it excludes, and every
// other request 503 with Retry-After, in HTML for a browser (text/html in
// Accept) and the contract's JSON otherwise.
func Starting() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		// The stand-in's connections end with the start-up: a client told
		// so opens its next request on a new one, to the service, instead
		// of finding a kept-alive one closed under it.
		w.Header().Set("Connection", "close")
		get := r.Method == http.MethodGet || r.Method == http.MethodHead
		switch {
		case get && r.URL.Path == "/healthz":
			WriteJSON(w, http.StatusOK, map[string]string{"status": "starting"})
		case get && r.URL.Path == "/readyz":
			w.Header().Set("Retry-After", "5")
			WriteJSON(w, http.StatusServiceUnavailable, readiness{Status: "starting", Checks: map[string]string{"startup": "starting"},
				Error: &ErrorDetail{Code: "not_ready", Message: "not ready: startup starting"}})
		case strings.Contains(r.Header.Get("Accept"), "text/html"):
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Temporarily unavailable</title></head>`+
				`<body><main><h1>Temporarily unavailable</h1><p>The service is starting. Please try again in a few seconds.</p></main></body></html>`+"\n")
		default:
			writeError(w, errs.New(errs.Unavailable, "starting",
				"the service is starting (it waits for its database, then loads); retry shortly"))
		}
	})
}
