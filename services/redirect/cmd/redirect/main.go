// Command redirect serves linkcredit's redirect service: course links and
// the click on /c/{code}, recorded to a local click log before the 302 and
// shipped from there to Kafka.
//
// Configuration comes from the environment; see README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/go-kit/kit/endpoint"
	"golang.org/x/sync/errgroup"

	"github.com/linkcredit/linkcredit/pkg/cli"
	"github.com/linkcredit/linkcredit/pkg/clickid"
	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/config"
	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
	"github.com/linkcredit/linkcredit/pkg/otelx"
	"github.com/linkcredit/linkcredit/pkg/platform"
	"github.com/linkcredit/linkcredit/services/redirect/internal/clicklog"
	"github.com/linkcredit/linkcredit/services/redirect/internal/httptransport"
	"github.com/linkcredit/linkcredit/services/redirect/internal/kafkatransport"
	"github.com/linkcredit/linkcredit/services/redirect/internal/linktable"
	"github.com/linkcredit/linkcredit/services/redirect/internal/postgres"
	"github.com/linkcredit/linkcredit/services/redirect/internal/redirect"
	"github.com/linkcredit/linkcredit/services/redirect/internal/visitor"
)

var version = "dev" // set with -ldflags "-X main.version=..."

func main() { os.Exit(realMain(clock.System())) }

// realMain runs the service on now until SIGINT or SIGTERM and returns the
// exit code. Tests that re-execute the binary call it with a frozen clock.
func realMain(now clock.Clock) int { return cli.Main("redirect", now, run) }

type settings struct {
	platform           platform.Config
	clickIDKeys        [][]byte
	clickLog           clicklog.Options
	uniqueWindow       time.Duration
	rateLimitPerMinute int
	rateLimitPerIP     int
	internalNets       []netip.Prefix
	trustedProxies     []netip.Prefix
	drainTimeout       time.Duration
	shipBatch          int
	shipLinger         time.Duration
}

func readSettings(getenv func(string) string) (settings, error) {
	env := config.New(getenv)
	s := settings{platform: platform.ReadConfig(env, "redirect", "REDIRECT_ADDR", "127.0.0.1:8080")}
	s.platform.SampleUnlessSet(getenv, 0.01) // the hot path: trace one click in a hundred
	for _, k := range env.List("CLICK_ID_KEYS", nil) {
		s.clickIDKeys = append(s.clickIDKeys, []byte(k))
	}
	if len(s.clickIDKeys) == 0 {
		env.Required("CLICK_ID_KEYS")
	}
	dataDir := env.String("DATA_DIR", ".")
	s.clickLog = clicklog.Options{
		Dir:          env.String("CLICKLOG_DIR", filepath.Join(dataDir, "clicklog")),
		MaxBytes:     env.Bytes("CLICKLOG_MAX_BYTES", 2<<30),
		SegmentBytes: env.Bytes("CLICKLOG_SEGMENT_BYTES", 64<<20),
		Sync:         env.String("CLICKLOG_SYNC", clicklog.SyncInterval),
	}
	s.uniqueWindow = env.Duration("UNIQUE_CLICK_WINDOW", 30*time.Minute, time.Second, 24*time.Hour)
	s.rateLimitPerMinute = env.Int("RATE_LIMIT_PER_MINUTE", 600, 1, 1_000_000)
	s.rateLimitPerIP = env.Int("RATE_LIMIT_PER_IP_PER_MINUTE", redirect.DefaultRateLimitPerIPPerMinute, 1, 100_000_000)
	s.internalNets = prefixes(env, "INTERNAL_CIDRS")
	s.trustedProxies = prefixes(env, "TRUSTED_PROXIES")
	s.drainTimeout = env.Duration("SHUTDOWN_DRAIN_TIMEOUT", 5*time.Second, 0, time.Minute)
	// 1,000: smaller batches shorten the shipper's bursts of CPU (a
	// better p99 for a pinned redirect: 1.76-2.24x its yardstick's with
	// 250, against 2.29-2.49x), but cost ingest a quarter of its clicks a
	// second, in more and smaller record batches (issue 15,
	// docs/performance.md).
	s.shipBatch = env.Int("CLICKLOG_SHIP_BATCH", 1000, 1, 100000)
	s.shipLinger = env.Duration("CLICKLOG_SHIP_LINGER", kafkatransport.DefaultLinger, time.Microsecond, time.Second)
	return s, env.Err()
}

func prefixes(env *config.Reader, name string) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range env.CIDRs(name, nil) {
		p, err := netip.ParsePrefix(n.String())
		if err == nil {
			out = append(out, p)
		}
	}
	return out
}

const usage = `usage: redirect            serve course links and clicks on REDIRECT_ADDR
       redirect migrate    apply the schema's migrations and exit

Configuration comes from the environment (ADMIN_TOKEN or API_TOKENS,
CLICK_ID_KEYS, DATABASE_URL, KAFKA_BROKERS, ...): see README.md,
"Configuration".
`

// run serves until ctx ends. now is the business clock: the click's time,
// its unique-click window and rate limit, the day of the visitor salt, the
// Kafka timestamp. Durations (start-up, shutdown, click log lag) are
// measured on the system clock.
func run(ctx context.Context, now clock.Clock, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	if cli.Help(args, stdout, usage, "migrate") {
		return nil
	}
	if len(args) > 0 && args[0] == "migrate" {
		return platform.Migrate(ctx, getenv, postgres.Schema, postgres.Migrations(), stdout)
	}
	s, err := readSettings(getenv)
	if err != nil {
		return err
	}
	// The link table lives off the Go heap and every click makes
	// short-lived garbage. The live heap is mostly the click caches
	// (redirect.New bounds them: typically tens of MB, at most about
	// 350 MB under a flood of distinct visitors); the soft limit sits
	// above that bound, so a full unique-click window does not make the
	// collector run back to back, and below the container's 768 MiB.
	platform.TuneGC(getenv, 400, 512<<20)
	s.platform.Version = version
	ids, err := clickid.NewSigner(s.clickIDKeys...)
	if err != nil {
		return fmt.Errorf("config: CLICK_ID_KEYS: %w", err)
	}

	p, err := platform.Start(ctx, s.platform, postgres.Schema, postgres.Migrations(), stderr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Close(context.WithoutCancel(ctx))) }()
	logger, tel := p.Logger, p.Telemetry

	// The click log first: clicks left by a previous run ship before new ones.
	clickLog, err := clicklog.Open(s.clickLog)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, clickLog.Close()) }()
	// The shipper's writer. Clicks need no order among themselves, so a
	// shipper batch goes to one partition of clicks.v1 as one produce
	// request (OnePartitionAPublish), where a hash of each click's id made
	// twelve of about 83 clicks each. kafka-go preallocates BatchSize
	// messages for a partition batch; its 1 MB cap on a request's bytes
	// splits a batch of more than about 2,000 clicks anyway.
	writer := kafkax.NewWriter(kafkax.WriterConfig{Brokers: s.platform.KafkaBrokers, Compression: s.platform.Compression,
		Security: s.platform.Kafka, BatchSize: min(s.shipBatch, 4096), Balancer: kafkax.OnePartitionAPublish{}})
	defer func() { err = errors.Join(err, writer.Close()) }()
	shipper := &kafkatransport.Shipper{Log: clickLog, Logger: logger, BatchSize: s.shipBatch, Linger: s.shipLinger,
		Publisher: kafkax.NewPublisher(writer, now, tel.TracerProvider, tel.Propagator)}
	if err := shipper.Instrument(tel.Meter("redirect")); err != nil {
		return err
	}

	// Stores, then the in-memory table loaded from them.
	links := postgres.NewLinks(p.DB)
	visitors := visitor.NewHasher(postgres.NewSalts(p.DB), logger)
	if err := visitors.Refresh(ctx, now()); err != nil {
		logger.Warn("visitor salts not loaded yet", "error", err.Error())
	}
	table := linktable.New(0)
	cache := &redirect.Cache{Store: links, Table: table, Logger: logger}
	start := time.Now()
	n, err := cache.Load(ctx)
	if err != nil {
		return err
	}
	logger.Info("links loaded", "links", n, "took", time.Since(start).String())

	// The onion, inside out: service -> instrumenting -> endpoints (+ spans,
	// metrics, logs) -> HTTP transport.
	svc := redirect.New(redirect.Config{
		UniqueWindow: s.uniqueWindow, RateLimitPerMinute: s.rateLimitPerMinute, RateLimitPerIPPerMinute: s.rateLimitPerIP,
		InternalNets: s.internalNets, Now: now,
	}, redirect.Deps{Store: links, Table: table, IDs: ids, Visitors: visitors, Logger: logger,
		Recorder: kafkatransport.NewRecorder(clickLog, tel.Propagator)})
	if svc, err = redirect.Instrument(svc, tel.Meter("redirect")); err != nil {
		return err
	}
	endpoints := redirect.MakeEndpoints(svc, func(name string) endpoint.Middleware {
		if name == "click" {
			// The hot path: the HTTP middleware already gives every click a
			// span and a duration; a second layer would only cost time.
			return func(e endpoint.Endpoint) endpoint.Endpoint { return e }
		}
		return otelx.EndpointMiddleware(tel, logger, name)
	})
	httptransport.Register(p.Router, endpoints, httptransport.Options{Tokens: p.Tokens, TrustedProxies: s.trustedProxies, Logger: logger,
		Stall: httpx.AdminStalls(logger)})

	// The actors. The shipper outlives the HTTP server by the drain timeout,
	// so clicks answered last get a chance to reach Kafka before exit.
	shipCtx, stopShipping := context.WithCancel(context.WithoutCancel(ctx))
	defer stopShipping()
	drain := make(chan struct{})
	shipper.Drain = drain
	changed := make(chan struct{}, 1)
	listenURL, err := database.ConnString(s.platform.DatabaseURL)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		err := p.Serve(gctx, p.Handler(p.Router), httpx.ServerConfig{WriteTimeout: 5 * time.Minute})
		close(drain) // ship what is left, then stop; give up after the drain timeout
		time.AfterFunc(s.drainTimeout, stopShipping)
		return err
	})
	g.Go(func() error { return shipper.Run(shipCtx) })
	g.Go(func() error { return cache.Run(gctx, changed) })
	g.Go(func() error {
		return postgres.Listen(gctx, listenURL, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	})
	g.Go(func() error { visitors.Run(gctx, now); return nil })
	logger.Info("redirect ready", "addr", p.Listener.Addr().String(), "links", table.Len(),
		"clicklog", s.clickLog.Dir, "unshipped_bytes", clickLog.Stats(time.Now()).Unacked)
	return g.Wait()
}
