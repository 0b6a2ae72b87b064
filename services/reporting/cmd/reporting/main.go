// Command reporting serves linkcredit's reporting service: attribution,
// the commission ledger, finance reports, payouts and the funding
// dashboard.
//
//	reporting          serve: consume clicks.v1 and conversions.v1, answer HTTP
//	reporting verify   check the ledger's invariants
//	reporting export   write a report to a file
//	reporting replay   rebuild every table from the topics into an empty schema
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
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // report time zones must not depend on the host's zoneinfo

	"github.com/go-kit/kit/endpoint"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/errgroup"

	"github.com/linkcredit/linkcredit/pkg/cli"
	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/config"
	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
	"github.com/linkcredit/linkcredit/pkg/otelx"
	"github.com/linkcredit/linkcredit/pkg/platform"
	"github.com/linkcredit/linkcredit/services/reporting/internal/dashboard"
	"github.com/linkcredit/linkcredit/services/reporting/internal/httptransport"
	"github.com/linkcredit/linkcredit/services/reporting/internal/kafkatransport"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
	"github.com/linkcredit/linkcredit/services/reporting/internal/reporting"
	sessionpkg "github.com/linkcredit/linkcredit/services/reporting/internal/session"
)

var version = "dev" // set with -ldflags "-X main.version=..."

// How long a request may go without progress before it is answered 503
// (httpx.StallGuard): a report takes well under a second, a remittance or
// a month's close a moment; applying a large settlement file after its
// upload can take longer (settlementStall).
const (
	readStall       = 10 * time.Second
	writeStall      = 30 * time.Second
	settlementStall = 2 * time.Minute
)

func main() { os.Exit(realMain(clock.System())) }

// realMain runs the service, or a command, on the clock now until it ends
// or SIGINT or SIGTERM, and returns the process's exit code.
func realMain(now clock.Clock) int { return cli.Main("reporting", now, run) }

const usage = `usage: reporting            consume clicks.v1 and conversions.v1, serve reports,
                            payouts and the dashboard on REPORTING_ADDR
       reporting migrate    apply the schema's migrations and exit
       reporting verify     check the ledger's invariants (needs DATABASE_URL)
       reporting export     write a report to a file (export -h: its flags)
       reporting replay     rebuild every table from the topics into an empty schema
                            (replay -h: its flags)

Configuration comes from the environment (ADMIN_TOKEN or API_TOKENS,
DATABASE_URL, KAFKA_BROKERS, FINANCE_TIME_ZONE, ...): see README.md,
"Configuration". The commands need only DATABASE_URL (and replay
KAFKA_BROKERS).
`

// run is the service, or the command args name. now is the clock every
// business date comes from: the running month, report periods and as-of
// times, the period a late change lands in.
func run(ctx context.Context, now clock.Clock, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	if cli.Help(args, stdout, usage, "migrate", "verify") {
		return nil
	}
	if len(args) > 0 && args[0] == "migrate" {
		return platform.Migrate(ctx, getenv, postgres.Schema, postgres.Migrations(), stdout)
	}
	if len(args) > 0 && (args[0] == "export" || args[0] == "replay") && cli.HelpAsked(args[1:]) {
		// Its flags, before the configuration it needs to run: each
		// command answers -h before it uses any of it.
		cmd := map[string]func(context.Context, clock.Clock, *time.Location, []string, platform.Config, io.Writer, io.Writer) error{
			"export": export, "replay": replay}[args[0]]
		return cmd(ctx, now, time.UTC, []string{"-h"}, platform.Config{}, stdout, stderr)
	}
	env := config.New(getenv)
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") { // flags: the test binary's own
		// The commands need the database (and replay the brokers), not the
		// server's tokens or address.
		cfg := platform.Config{
			DatabaseURL:  env.URL("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/linkcredit?sslmode=disable", "postgres", "postgresql"),
			KafkaBrokers: env.Brokers("KAFKA_BROKERS", []string{"127.0.0.1:9092"}),
			Kafka:        platform.ReadKafkaSecurity(env), // replay reads the topics as the service does
		}
		finance := financeZone(env)
		if err := env.Err(); err != nil {
			return err
		}
		if cfg.DatabaseURL, err = storeURL(cfg.DatabaseURL); err != nil {
			return err
		}
		switch args[0] {
		case "verify":
			return verify(ctx, now, cfg, stdout)
		case "export":
			return export(ctx, now, finance, args[1:], cfg, stdout, stderr)
		case "replay":
			return replay(ctx, now, finance, args[1:], cfg, stdout, stderr)
		default:
			return fmt.Errorf("unknown command %q (want verify, export or replay)", args[0])
		}
	}

	cfg := platform.ReadConfig(env, "reporting", "REPORTING_ADDR", "127.0.0.1:8082")
	cfg.Version = version
	batch := env.Int("INGEST_BATCH", 20000, 1, 100000)
	consumers := env.Int("INGEST_CONSUMERS", 3, 1, 64)
	// How long a batch waits to fill once its first message came. Every
	// batch costs reporting about 2 ms of CPU whatever its size (its
	// transaction and statements, the offset commit, the Go scheduler
	// waking the idle process). Measured with webhooks at 1,100/s: 500 ms
	// cut reporting's CPU a conversion event from 122-132 us to 71-87 us,
	// but moved click-to-report from 140 to 350 ms (p50) and slowed the
	// catch-up of a backlog in make bench, so 100 ms stays the default.
	batchWait := env.Duration("INGEST_BATCH_WAIT", 100*time.Millisecond, time.Millisecond, 10*time.Second)
	zones := env.List("REPORT_TIME_ZONES", []string{"UTC"})
	session := env.Duration("INGEST_SESSION_TIMEOUT", 10*time.Second, time.Second, 5*time.Minute)
	// A soft memory limit under the Kubernetes one (1 GiB): catching up on
	// a backlog, three consumers' 20,000-message batches made the heap
	// peak near 600 MiB with Go's default collection (make bench), most of
	// it garbage waiting for the next cycle; since each reader holds at
	// most one batch ahead (kafkax), full runs peak at 485-521 MiB. Near
	// the limit the collector runs sooner instead of the container being
	// killed, which would redeliver the batches and meet the same peak
	// again.
	platform.TuneGC(getenv, 100, 768<<20)
	finance := financeZone(env)
	signIn := readSignIn(env)
	if err := env.Err(); err != nil {
		return err
	}
	if cfg.DatabaseURL, err = storeURL(cfg.DatabaseURL); err != nil {
		return err
	}

	p, err := platform.Start(ctx, cfg, postgres.Schema, postgres.Migrations(), stderr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Close(context.WithoutCancel(ctx))) }()
	logger, tel := p.Logger, p.Telemetry
	meter := tel.Meter("reporting")

	// Store, then the onion: service -> endpoints (spans, metrics, logs)
	// -> HTTP transport (finance auth) and the dashboard.
	store := postgres.New(p.DB, now)
	if err := store.SetFinanceZone(ctx, finance); err != nil {
		return fmt.Errorf("config: FINANCE_TIME_ZONE: %w", err)
	}
	// The finance zone's daily rollups too: the dashboard's months and
	// the closed periods are cut there.
	if !slices.Contains(zones, finance.String()) {
		zones = append(zones, finance.String())
	}
	if err := store.EnsureZones(ctx, zones); err != nil {
		return fmt.Errorf("config: REPORT_TIME_ZONES: %w", err)
	}
	// Closing a month waits until what Kafka holds is stored: nothing
	// recorded before a close may change the month after it.
	svc := reporting.New(store, now).WaitForIngest(kafkax.Consumed{Brokers: cfg.KafkaBrokers, Security: cfg.Kafka,
		GroupID: kafkatransport.GroupID, Topics: kafkatransport.Topics})
	endpoints := reporting.MakeEndpoints(svc, func(name string) endpoint.Middleware {
		return otelx.EndpointMiddleware(tel, logger, name)
	})
	httptransport.Register(p.Router, endpoints, svc.Now, p.Tokens, logger)
	// Dashboard sign-in: finance-only sessions, stored as digests.
	sessions := sessionpkg.NewManager(postgres.NewSessions(p.DB), now, signIn.session)
	dashboard.Register(p.Router, svc, dashboard.Config{Tokens: p.Tokens, Sessions: sessions, Now: now, Logger: logger,
		SignInAttempts: signIn.attempts, SignInWindow: signIn.window, TrustedProxies: signIn.trusted})
	// Partner health (issue 14): what reached the ledger per partner, its
	// API and the dashboard's panel.
	partnerHealth := &reporting.PartnerHealth{Store: store, Now: now}
	httptransport.RegisterPartnerHealth(p.Router, partnerHealth, p.Tokens, logger)
	dashboard.RegisterPartnerHealth(p.Router, partnerHealth, 24*time.Hour, dashboard.Config{Tokens: p.Tokens, Sessions: sessions,
		Now: now, Logger: logger})

	// Ingest: one consumer group over both topics; a batch is committed
	// only after its transaction.
	lag, err := meter.Float64Histogram("reporting.ingest.delay",
		metric.WithDescription("From an event's Kafka timestamp to its being in the ledger and rollups, where reports read it."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60))
	if err != nil {
		return err
	}
	dlq := p.NewWriter()
	defer func() { err = errors.Join(err, dlq.Close()) }()
	ingestor := &kafkatransport.Ingestor{Store: store, Observe: func(ctx context.Context, topic string, age time.Duration) {
		lag.Record(ctx, age.Seconds())
	}}
	// Several consumers in the group: each gets its share of the
	// partitions, so one decodes while another waits on Postgres. A
	// conversion's events share a partition, so one consumer applies them.
	// Poison never blocks a partition: what decoding refuses is set aside
	// at once; a value Postgres refuses (database.Classify) makes the
	// subscriber halve the batch until the message is alone, then
	// dead-letter it; an error nobody foresaw does the same after
	// maxAttempts; a lost database is retried for as long as it takes.
	const maxAttempts = 10
	subs := make([]*kafkax.Subscriber, consumers)
	for i := range subs {
		if subs[i], err = kafkax.NewSubscriber(kafkax.SubscriberConfig{
			Brokers: cfg.KafkaBrokers, GroupID: kafkatransport.GroupID, Topics: kafkatransport.Topics,
			BatchSize: batch, BatchWait: batchWait, SessionTimeout: session, DeadLetter: dlq, Logger: logger,
			Classify: database.Classify, MaxAttempts: maxAttempts, Security: cfg.Kafka,
			TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
		}, ingestor); err != nil {
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// A hung PostgreSQL must not hang finance's requests (lib/pq cannot
		// cancel a query on a server that does not answer): 503 instead.
		guard := httpx.StallGuard{Read: readStall, Write: writeStall, Logger: logger,
			Slow: map[string]time.Duration{httptransport.SettlementRoute: settlementStall}}
		return p.Serve(gctx, p.Handler(guard.Guard(p.Router)), httpx.ServerConfig{WriteTimeout: 10 * time.Minute})
	})
	for _, sub := range subs {
		g.Go(func() error { return sub.Run(gctx) })
	}
	g.Go(func() error { return sweepAttribution(gctx, store, logger) })
	g.Go(func() error { return compactRollups(gctx, store, logger) })
	g.Go(func() error { return dashboard.SweepSessions(gctx, sessions, time.Minute, logger) })
	logger.Info("reporting ready", "addr", p.Listener.Addr().String())
	return g.Wait()
}

// storeURL is DATABASE_URL as the store connects with it: reporting's
// schema first on the search path, no JIT (postgres.WithoutJIT), and the
// application name the attribution lock's protocol knows its own
// sessions by (postgres.ApplicationName).
func storeURL(databaseURL string) (string, error) {
	u, err := postgres.WithSchema(databaseURL, postgres.Schema)
	if err != nil {
		return "", err
	}
	if u, err = postgres.WithApplicationName(u); err != nil {
		return "", err
	}
	return postgres.WithoutJIT(u)
}

// signInSettings configure the dashboard's sign-in (README, "Security").
type signInSettings struct {
	session  sessionpkg.Config
	attempts int
	window   time.Duration
	trusted  []netip.Prefix
}

// readSignIn reads SESSION_IDLE_TIMEOUT, SESSION_MAX_AGE,
// SIGNIN_MAX_ATTEMPTS, SIGNIN_WINDOW and TRUSTED_PROXIES.
func readSignIn(env *config.Reader) signInSettings {
	s := signInSettings{
		session: sessionpkg.Config{
			IdleTimeout: env.Duration("SESSION_IDLE_TIMEOUT", 30*time.Minute, time.Minute, 24*time.Hour),
			MaxAge:      env.Duration("SESSION_MAX_AGE", 12*time.Hour, time.Minute, 30*24*time.Hour),
		},
		attempts: env.Int("SIGNIN_MAX_ATTEMPTS", 10, 1, 10000),
		window:   env.Duration("SIGNIN_WINDOW", 15*time.Minute, time.Second, 24*time.Hour),
	}
	for _, n := range env.CIDRs("TRUSTED_PROXIES", nil) {
		if p, err := netip.ParsePrefix(n.String()); err == nil {
			s.trusted = append(s.trusted, p)
		}
	}
	return s
}
