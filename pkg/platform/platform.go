package platform

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/config"
	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
	"github.com/linkcredit/linkcredit/pkg/otelx"
)

// Config holds the settings every service shares.
type Config struct {
	Service      string
	Addr         string
	DatabaseURL  string
	DBMaxConns   int
	DBWait       time.Duration
	KafkaBrokers []string
	Kafka        kafkax.Security
	Compression  string
	CreateTopics bool
	AdminToken   string
	APITokens    string
	OTLPEndpoint string
	SampleRatio  float64
	PprofAddr    string
	MetricsAddr  string
	LogLevel     slog.Level
	Version      string
}

// ReadConfig reads the shared settings; addrVar is the service's own
// address variable (REDIRECT_ADDR, ...).
func ReadConfig(r *config.Reader, service, addrVar, defaultAddr string) Config {
	c := Config{
		Service:      service,
		Addr:         r.Addr(addrVar, defaultAddr),
		DatabaseURL:  r.URL("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/linkcredit?sslmode=disable", "postgres", "postgresql"),
		DBMaxConns:   r.Int("DB_MAX_CONNS", 20, 1, 1000),
		DBWait:       r.Duration("DB_WAIT", 60*time.Second, 0, time.Hour),
		KafkaBrokers: r.Brokers("KAFKA_BROKERS", []string{"127.0.0.1:9092"}),
		// Compressed batches halved the broker's CPU a click and raised
		// reporting's catch-up from 55-69k to 81-82k clicks/s against none
		// (lz4, make bench, issue 15): the broker keeps and serves batches
		// as they come, so fewer bytes is less copying on both sides, for
		// the producers compressing. snappy (s2's fastest encoder,
		// kafkax.yieldingSnappy) costs the redirect about half of lz4's
		// CPU a click (3.1 % of its profile against 5.8 %) for about a
		// tenth more bytes (a batch of clicks to 23 % of its size, lz4 21 %).
		Compression:  r.OneOf("KAFKA_COMPRESSION", "snappy", "none", "gzip", "snappy", "lz4", "zstd"),
		Kafka:        ReadKafkaSecurity(r),
		CreateTopics: r.Bool("KAFKA_CREATE_TOPICS", true),
		AdminToken:   r.String("ADMIN_TOKEN", ""),
		APITokens:    r.String("API_TOKENS", ""),
		OTLPEndpoint: r.String("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
		SampleRatio:  r.Ratio("OTEL_TRACES_SAMPLER_ARG", 1),
		PprofAddr:    r.String("PPROF_ADDR", ""),
		MetricsAddr:  r.String("METRICS_ADDR", ""),
	}
	levels := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
	c.LogLevel = levels[r.OneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error")]
	if c.AdminToken == "" && c.APITokens == "" {
		r.Required("ADMIN_TOKEN")
	}
	return c
}

// SampleUnlessSet samples ratio of new traces, in place of ReadConfig's
// default of every one, when OTEL_TRACES_SAMPLER_ARG is unset: for a
// service whose requests are a hot path. A request not sampled still
// carries a trace id into its events.
func (c *Config) SampleUnlessSet(getenv func(string) string, ratio float64) {
	if getenv("OTEL_TRACES_SAMPLER_ARG") == "" {
		c.SampleRatio = ratio
	}
}

// ReadKafkaSecurity reads TLS and SASL towards the brokers:
// KAFKA_TLS (bool), KAFKA_TLS_CA_FILE, KAFKA_SASL_MECHANISM
// (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN), KAFKA_SASL_USERNAME and
// KAFKA_SASL_PASSWORD. Unset: plaintext, as the local stack runs.
func ReadKafkaSecurity(r *config.Reader) kafkax.Security {
	s := kafkax.Security{
		TLS:       r.Bool("KAFKA_TLS", false),
		CAFile:    r.String("KAFKA_TLS_CA_FILE", ""),
		Mechanism: r.OneOf("KAFKA_SASL_MECHANISM", "", "SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"),
		Username:  r.String("KAFKA_SASL_USERNAME", ""),
		Password:  r.String("KAFKA_SASL_PASSWORD", ""),
	}
	if err := s.Validate(); err != nil {
		r.Fail("KAFKA_SASL_MECHANISM", s.Mechanism, err.Error())
	}
	return s
}

// Platform is a started service's shared machinery.
type Platform struct {
	Config    Config
	Logger    *slog.Logger
	Telemetry *otelx.Telemetry
	DB        *sql.DB
	Tokens    *httpx.Tokens
	Listener  net.Listener
	Router    *httpx.Router
	// Internal serves /metrics on METRICS_ADDR, away from the
	// public listener; nil when METRICS_ADDR is unset (then /metrics is on
	// Router, for the local stack).
	Internal *httpx.Router
	internal net.Listener
	// handoff answers Listener while the service starts (httpx.Starting)
	// and hands it to Serve.
	handoff *httpx.Handoff
}

// Start binds the listen address, sets up logging and telemetry, opens the
// database (waiting up to DBWait for it), applies the service's migrations
// to its schema, and starts creating topics in the background (a broker
// that is down must not stop a service that can work without it).
// On error, whatever was started is closed again.
func Start(ctx context.Context, cfg Config, schema string, migrations fs.FS, stderr io.Writer) (p *Platform, err error) {
	p = &Platform{Config: cfg, Logger: otelx.NewLogger(stderr, cfg.Service, cfg.LogLevel)}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.Close(context.WithoutCancel(ctx)))
		}
	}()
	if p.Tokens, err = httpx.ParseTokens(cfg.AdminToken, cfg.APITokens); err != nil {
		return p, err
	}
	if p.Listener, err = httpx.Listen(cfg.Addr); err != nil {
		return p, err
	}
	// From here the address answers: /healthz 200, the rest 503 "starting",
	// however long the database takes, until Serve.
	p.handoff = httpx.NewHandoff(ctx, p.Listener, httpx.Starting(), p.Logger)
	if p.Telemetry, err = otelx.Setup(ctx, otelx.Config{ServiceName: cfg.Service, Version: cfg.Version,
		OTLPEndpoint: cfg.OTLPEndpoint, SampleRatio: cfg.SampleRatio}); err != nil {
		return p, err
	}
	if p.DB, err = database.Open(cfg.DatabaseURL, database.Pool{MaxOpen: cfg.DBMaxConns}); err != nil {
		return p, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, cfg.DBWait)
	defer cancel()
	if err = database.Ping(waitCtx, p.DB); err != nil {
		return p, err
	}
	if err = database.Migrate(ctx, p.DB, schema, migrations); err != nil {
		return p, err
	}
	if cfg.CreateTopics {
		go p.ensureTopics(ctx)
	}
	if cfg.PprofAddr != "" {
		go p.servePprof(ctx)
	}

	p.Router = httpx.NewRouter()
	httpx.Health{Logger: p.Logger, Checks: map[string]httpx.Check{
		"postgres": func(ctx context.Context) error { return p.DB.PingContext(ctx) },
		"kafka":    func(ctx context.Context) error { return kafkax.Ping(ctx, cfg.KafkaBrokers, cfg.Kafka) },
	}}.Register(p.Router)
	if cfg.MetricsAddr == "" {
		p.Router.Handle("GET /metrics", p.Telemetry.MetricsHandler())
		return p, nil
	}
	if p.internal, err = httpx.Listen(cfg.MetricsAddr); err != nil {
		return p, fmt.Errorf("config: METRICS_ADDR: %w", err)
	}
	p.Internal = httpx.NewRouter() // unknown paths answer the contract's JSON 404, as on the public listener
	// Not pprof: every neighbour that may scrape /metrics (the collector,
	// the monitoring namespace) could then run CPU profiles and traces at
	// will. Profiles are served on PPROF_ADDR alone, when an operator asks.
	p.Internal.Handle("GET /metrics", p.Telemetry.MetricsHandler())
	return p, nil
}

// InternalAddr is the internal listener's address ("" without one).
func (p *Platform) InternalAddr() string {
	if p.internal == nil {
		return ""
	}
	return p.internal.Addr().String()
}

// PublicPrefixes are the routes anyone on the internet calls (clicks,
// partner webhooks and postbacks): their inbound trace context is ignored.
func PublicPrefixes() []string { return []string{"/c/", "/v1/webhooks/", "/v1/postback/"} }

func (p *Platform) ensureTopics(ctx context.Context) {
	delay := time.Second
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := kafkax.EnsureTopics(attemptCtx, p.Config.KafkaBrokers, p.Config.Kafka, events.Topics())
		cancel()
		if err == nil || ctx.Err() != nil {
			return
		}
		p.Logger.Warn("topics not created yet; will retry", "error", err.Error(), "delay", delay.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// Handler wraps h (usually p.Router with the service's routes added) in
// the HTTP telemetry middleware, with panics answered as the contract's
// 500 and logged without the client's address.
func (p *Platform) Handler(h http.Handler) http.Handler {
	return tracedHandler{otelx.HTTPMiddleware(p.Telemetry, httpx.Recover(p.Logger, h), PublicPrefixes()...)}
}

// tracedHandler is a handler made by Handler: its middleware decides
// whether each request's new trace is sampled.
type tracedHandler struct{ http.Handler }

// Serve serves h on the bound listener, and the internal listener when
// METRICS_ADDR set one, until ctx ends. When h was made by p.Handler, a
// request's new trace is sampled as its middleware decides, once
// (otelx.DecidedPerRequest); any other handler's spans are sampled by
// the ratio.
func (p *Platform) Serve(ctx context.Context, h http.Handler, cfg httpx.ServerConfig) error {
	public := ctx
	if _, ok := h.(tracedHandler); ok {
		public = otelx.DecidedPerRequest(ctx)
	}
	ln := p.handoff.Listener()
	if p.internal == nil {
		return httpx.Serve(public, ln, h, cfg, p.Logger)
	}
	internal := make(chan error, 1)
	go func() {
		internal <- httpx.Serve(ctx, p.internal, p.Internal, httpx.ServerConfig{WriteTimeout: 2 * time.Minute}, p.Logger)
	}()
	err := httpx.Serve(public, ln, h, cfg, p.Logger)
	return errors.Join(err, <-internal)
}

// Close releases what Start acquired; telemetry goes last so the shutdown
// of everything else is still traced.
func (p *Platform) Close(ctx context.Context) error {
	var errs []error
	if p.handoff != nil {
		_ = p.handoff.Close() // already closed when Serve ran; harmless
	} else if p.Listener != nil {
		_ = p.Listener.Close()
	}
	if p.internal != nil {
		_ = p.internal.Close()
	}
	if p.DB != nil {
		errs = append(errs, p.DB.Close())
	}
	if p.Telemetry != nil {
		shutdownCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		errs = append(errs, p.Telemetry.Shutdown(shutdownCtx))
	}
	return errors.Join(errs...)
}

// servePprof serves net/http/pprof on its own listener (PPROF_ADDR), never
// on the public one.
func (p *Platform) servePprof(ctx context.Context) {
	mux := http.NewServeMux()
	registerPprof(mux)
	ln, err := httpx.Listen(p.Config.PprofAddr)
	if err != nil {
		p.Logger.Warn("pprof not served", "error", err.Error())
		return
	}
	_ = httpx.Serve(ctx, ln, mux, httpx.ServerConfig{WriteTimeout: 2 * time.Minute}, p.Logger)
}

func registerPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
}

// NewWriter returns a Kafka writer with the configured brokers and codec.
func (p *Platform) NewWriter() *kafka.Writer {
	return kafkax.NewWriter(kafkax.WriterConfig{Brokers: p.Config.KafkaBrokers, Compression: p.Config.Compression, Security: p.Config.Kafka})
}

// TuneGC lets the heap grow to percent% of the live heap between
// collections, within a soft memory limit, unless the operator set GOGC or
// GOMEMLIMIT. Services whose live heap is small and whose requests make
// short-lived garbage trade a little memory for much less GC work, and for
// tail latency: fewer collections means fewer requests paying assists.
func TuneGC(getenv func(string) string, percent int, limit int64) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(percent)
	debug.SetMemoryLimit(limit)
}

// Migrate is a service's `migrate` command, run before a rollout (a
// Kubernetes init container or Job): it needs only DATABASE_URL (and
// DB_WAIT), waits for the database, applies the service's migrations to
// its schema under the advisory lock, and returns. Serving replicas then
// start with nothing left to apply.
func Migrate(ctx context.Context, getenv func(string) string, schema string, migrations fs.FS, stdout io.Writer) error {
	r := config.New(getenv)
	url := r.URL("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/linkcredit?sslmode=disable", "postgres", "postgresql")
	wait := r.Duration("DB_WAIT", 60*time.Second, 0, time.Hour)
	if err := r.Err(); err != nil {
		return err
	}
	db, err := database.Open(url, database.Pool{MaxOpen: 2})
	if err != nil {
		return err
	}
	defer db.Close()
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := database.Ping(waitCtx, db); err != nil {
		return err
	}
	if err := database.Migrate(ctx, db, schema, migrations); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrations of schema %s applied\n", schema)
	return nil
}
