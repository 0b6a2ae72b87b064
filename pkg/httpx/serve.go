package httpx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// ServerConfig bounds how long a client may take. Zero fields take defaults.
type ServerConfig struct {
	ReadHeaderTimeout time.Duration // default 5s: slowloris
	ReadTimeout       time.Duration // default 30s
	WriteTimeout      time.Duration // default 60s; reporting sets 10 min for its exports
	IdleTimeout       time.Duration // default 120s
	MaxHeaderBytes    int           // default 32 KiB
	ShutdownTimeout   time.Duration // default 20s: in-flight requests get this long to finish
}

func (c *ServerConfig) setDefaults() {
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 5 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 60 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 32 << 10
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 20 * time.Second
	}
}

// Listen binds addr up front, so a busy port fails start-up at once and
// tests can pass ":0" and read the real address. An address "fd:N" serves
// on the already-bound socket inherited as file descriptor N (N >= 3), as
// a supervisor or a test harness hands it over: the port is never free
// between being chosen and being served.
func Listen(addr string) (net.Listener, error) {
	if fd, ok := strings.CutPrefix(addr, "fd:"); ok {
		n, err := strconv.Atoi(fd)
		if err != nil || n < 3 {
			return nil, fmt.Errorf("httpx: listen on %s: want fd:N with N >= 3", addr)
		}
		f := os.NewFile(uintptr(n), addr)
		defer f.Close() // FileListener holds its own duplicate
		ln, err := net.FileListener(f)
		if err != nil {
			return nil, fmt.Errorf("httpx: listen on %s: %w", addr, err)
		}
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("httpx: listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves h on ln until ctx ends, then stops accepting, lets in-flight
// requests finish within the shutdown timeout, and returns.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, cfg ServerConfig, logger *slog.Logger) error {
	cfg.setDefaults()
	srv := newServer(ctx, h, cfg, logger)
	coarse := newCoarseListener(ln, deadlineTick)
	coarse.maxHeaderBytes = cfg.MaxHeaderBytes
	defer coarse.stopSweeping()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(coarse) }()
	logger.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		// Close the connections still being served: the sweeper that
		// enforces their deadlines stops when Serve returns.
		_ = srv.Close()
		return fmt.Errorf("httpx: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("httpx: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newServer is the http.Server that Serve runs, for cfg with its defaults.
func newServer(ctx context.Context, h http.Handler, cfg ServerConfig, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           closeAfterChunked(h),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnState:         trackState,
	}
}

// closeAfterChunked closes the connection after answering a request with
// a Transfer-Encoding. net/http drops a Content-Length sent beside it (and
// reads the body as chunked), so the two cannot be told apart from one
// alone here; RFC 9112 (section 6.1) wants the connection closed after
// such a request: behind a proxy that framed it by its Content-Length,
// the bytes after the chunked body would otherwise be served as a request
// the proxy never saw. Partners' requests carry a Content-Length; the few
// chunked ones pay a new connection.
func closeAfterChunked(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// Recover answers a handler's panic with the contract's 500 JSON error
// and logs it with the method, the route pattern and the stack, never the
// client's address or the raw path (which a visitor chose).
func Recover(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil || p == http.ErrAbortHandler {
				if p != nil {
					panic(p) // net/http's own way to abort a response
				}
				return
			}
			logger.ErrorContext(r.Context(), "handler panicked", "method", r.Method, "route", r.Pattern,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			writeError(w, errs.New(errs.Internal, "internal", "something went wrong on our side; it has been logged"))
		}()
		next.ServeHTTP(w, r)
	})
}
