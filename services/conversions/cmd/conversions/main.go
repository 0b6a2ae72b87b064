// Command conversions serves linkcredit's conversions service: partners'
// signed webhooks and postbacks, stored raw with their events in one
// transaction, and relayed from the outbox to Kafka.
//
//	conversions                 serve
//	conversions replay [flags]  decode stored requests again through the
//	                            current adapters and publish the results
//
// Configuration comes from the environment; see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/go-kit/kit/endpoint"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"golang.org/x/sync/errgroup"

	"github.com/linkcredit/linkcredit/pkg/cli"
	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/config"
	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
	"github.com/linkcredit/linkcredit/pkg/otelx"
	"github.com/linkcredit/linkcredit/pkg/platform"
	"github.com/linkcredit/linkcredit/pkg/rfc3339"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
	"github.com/linkcredit/linkcredit/services/conversions/internal/httptransport"
	"github.com/linkcredit/linkcredit/services/conversions/internal/kafkatransport"
	"github.com/linkcredit/linkcredit/services/conversions/internal/postgres"
	"github.com/linkcredit/linkcredit/services/conversions/internal/secret"
)

var version = "dev" // set with -ldflags "-X main.version=..."

func main() { os.Exit(realMain(clock.System())) }

// realMain runs the command on the clock now until SIGINT or SIGTERM and
// returns the exit code. The test binary's TestMain calls it too, with a
// clock a test may have frozen.
func realMain(now clock.Clock) int { return cli.Main("conversions", now, run) }

const usage = `usage: conversions                  serve webhooks, postbacks and the partner API on CONVERSIONS_ADDR
       conversions migrate          apply the schema's migrations and exit
       conversions replay [flags]   decode stored requests again through the current
                                    adapters and publish the results (replay -h: its flags)

Configuration comes from the environment (ADMIN_TOKEN or API_TOKENS,
SECRETS_KEY, DATABASE_URL, KAFKA_BROKERS, ...): see README.md,
"Configuration".
`

// run serves (or replays) with business time read from now: webhook
// freshness, received_at, the default occurred_at, Kafka timestamps and
// replay run names. Besides the shared settings (platform.ReadConfig) it
// reads:
//
//	SECRETS_KEY        required: base64 of 32 bytes; seals webhook secrets
//	                   and keys the postback token digests
//	SECRETS_KEY_PREVIOUS  during a rotation, the key before SECRETS_KEY: it
//	                   still opens the secrets and matches the token
//	                   digests it made (docs/operations.md)
//	PARTNER_CACHE_TTL  how long a partner's opened secrets and resolved
//	                   mapping are reused (default 2s, at most 1h; 0 turns
//	                   the cache off): a partner changed through another
//	                   replica is seen within it
//	INBOX_RETENTION    how long stored requests are kept (default 90d; "0"
//	                   keeps them all; at least 7d): see parseRetention
//	PUBLIC_BASE_URL    where networks reach this service, the base of the
//	                   postback URLs it gives out (default
//	                   http://CONVERSIONS_ADDR): see publicBaseURL
//	SILENT_AFTER       how long a partner that sent in the week before may
//	                   stay quiet before partner health calls it silent
//	                   (default 24h, 1m to 30 days)
//	HEALTH_FLUSH_INTERVAL  how often delivery counts are written for
//	                   partner health (default 10s, 10ms to 5m)
func run(ctx context.Context, now clock.Clock, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	if cli.Help(args, stdout, usage, "migrate") {
		return nil
	}
	if len(args) > 0 && args[0] == "replay" && cli.HelpAsked(args[1:]) { // before the configuration it needs to run
		fs, _, _, _ := replayFlags()
		_ = fs.Parse([]string{"-h"}) // prints the flags as the flag package does, on stderr
		return nil
	}
	if len(args) > 0 && args[0] == "migrate" {
		return platform.Migrate(ctx, getenv, postgres.Schema, postgres.Migrations(), stdout)
	}
	now = clock.OrSystem(now)
	env := config.New(getenv)
	cfg := platform.ReadConfig(env, "conversions", "CONVERSIONS_ADDR", "127.0.0.1:8081")
	cfg.Version = version
	cfg.SampleUnlessSet(getenv, 0.1) // the webhook path is hot too: trace one request in ten
	secretsKey := env.Required("SECRETS_KEY")
	cacheTTL := env.Duration("PARTNER_CACHE_TTL", 2*time.Second, 0, time.Hour)
	retention := defaultRetention
	if v := getenv("INBOX_RETENTION"); v != "" {
		var perr error
		if retention, perr = parseRetention(v); perr != nil {
			env.Fail("INBOX_RETENTION", v, perr.Error())
		}
	}
	baseURL := publicBaseURL(env, cfg.Addr)
	silentAfter := env.Duration("SILENT_AFTER", 24*time.Hour, time.Minute, 30*24*time.Hour)
	healthFlush := env.Duration("HEALTH_FLUSH_INTERVAL", 10*time.Second, 10*time.Millisecond, 5*time.Minute)
	if err := env.Err(); err != nil {
		return err
	}
	var previousKeys []string
	if v := getenv("SECRETS_KEY_PREVIOUS"); v != "" {
		previousKeys = append(previousKeys, v)
		if _, err := secret.NewBox(v); err != nil {
			return fmt.Errorf("config: SECRETS_KEY_PREVIOUS: %w", err)
		}
		if v == secretsKey {
			return errors.New("config: SECRETS_KEY_PREVIOUS is SECRETS_KEY: during a rotation it is the old key; unset it otherwise")
		}
	}
	box, err := secret.NewBox(secretsKey, previousKeys...)
	if err != nil {
		return fmt.Errorf("config: SECRETS_KEY: %w", err)
	}
	deps := conversion.Deps{Box: box, Now: now, PartnerCacheTTL: cacheTTL, PublicBaseURL: baseURL}
	if len(args) > 0 && args[0] == "replay" {
		return replay(ctx, args[1:], cfg, deps, stdout)
	}
	platform.TuneGC(getenv, 400, 256<<20) // measured: p99 at 3,000 webhooks/s 95 ms -> 43 ms

	p, err := platform.Start(ctx, cfg, postgres.Schema, postgres.Migrations(), stderr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Close(context.WithoutCancel(ctx))) }()
	logger, tel := p.Logger, p.Telemetry
	meter := tel.Meter("conversions")
	if deps.PublicBaseURL == "" { // CONVERSIONS_ADDR named no port: fd:N, or port 0
		deps.PublicBaseURL = listenBaseURL(p.Listener.Addr().String())
	}

	// Store, then the onion: service -> instrumenting -> endpoints (spans,
	// metrics, logs) -> HTTP transport.
	store := postgres.New(p.DB)
	deps.Store, deps.Logger = store, logger
	if len(previousKeys) > 0 {
		reportSealedBefore(ctx, store, box, logger)
	}
	deps.Inject = func(ctx context.Context, h map[string]string) { tel.Propagator.Inject(ctx, propagation.MapCarrier(h)) }
	svc := conversion.New(deps)
	if svc, err = conversion.Instrument(svc, meter); err != nil {
		return err
	}
	endpoints := conversion.MakeEndpoints(svc, func(name string) endpoint.Middleware {
		return otelx.EndpointMiddleware(tel, logger, name)
	})
	health := &conversion.HealthRecorder{Store: store, Now: now, Interval: healthFlush, SilentAfter: silentAfter, Logger: logger}
	if err := health.Instrument(meter); err != nil {
		return err
	}
	httptransport.Register(p.Router, endpoints, p.Tokens, logger, health)
	httptransport.RegisterHealth(p.Router, &conversion.Health{Store: store, Now: now, SilentAfter: silentAfter}, p.Tokens, logger)
	if err := outboxGauges(meter, store); err != nil {
		return err
	}

	writer := p.NewWriter()
	defer func() { err = errors.Join(err, writer.Close()) }()
	relay := &kafkatransport.Relay{Outbox: store, Logger: logger, Now: now,
		Publisher: kafkax.NewPublisher(writer, now, tel.TracerProvider, tel.Propagator)}
	if err := relay.Instrument(meter); err != nil {
		return err
	}
	keeper := &conversion.Retention{Store: store, Keep: retention, Now: now, Logger: logger}
	if err := keeper.Instrument(meter); err != nil {
		return err
	}

	// The actors: HTTP, the relay, the inbox retention and the partner
	// health counts, each stopped by gctx and waited for.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.Serve(gctx, p.Handler(p.Router), httpx.ServerConfig{}) })
	g.Go(func() error { return relay.Run(gctx) })
	g.Go(func() error { return keeper.Run(gctx) })
	g.Go(func() error { return health.Run(gctx) })
	logger.Info("conversions ready", "addr", p.Listener.Addr().String())
	return g.Wait()
}

// reportSealedBefore logs the partners whose webhook secrets open only
// under SECRETS_KEY_PREVIOUS: each must be PUT again (which seals its
// secrets under SECRETS_KEY) before that key is dropped. Postback token
// digests cannot be told apart without the token: PUT the tokens again
// too.
func reportSealedBefore(ctx context.Context, store *postgres.Store, box *secret.Box, logger *slog.Logger) {
	partners, err := store.ListPartners(ctx)
	if err != nil {
		logger.Warn("cannot list the partners still sealed under SECRETS_KEY_PREVIOUS", "error", err.Error())
		return
	}
	var stale, unreadable []string
	for _, p := range partners {
		for _, sealed := range p.SealedSecrets {
			if box.SealedBefore(p.ID, sealed) {
				stale = append(stale, p.ID)
				break
			}
			if _, err := box.Open(p.ID, sealed); err != nil {
				unreadable = append(unreadable, p.ID)
				break
			}
		}
	}
	if len(unreadable) > 0 {
		logger.Warn("partners whose webhook secrets open under neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS: PUT them again",
			"partners", len(unreadable), "first", unreadable[:min(len(unreadable), 20)])
	}
	if len(stale) == 0 {
		logger.Info("SECRETS_KEY_PREVIOUS is set and no webhook secret needs it any more; PUT every postback token again, then drop it")
		return
	}
	logger.Warn("partners whose webhook secrets open only under SECRETS_KEY_PREVIOUS: PUT each again before dropping it",
		"partners", len(stale), "first", stale[:min(len(stale), 20)])
}

func outboxGauges(meter metric.Meter, store *postgres.Store) error {
	depth, err := meter.Int64ObservableGauge("conversions.outbox.depth",
		metric.WithDescription("Accepted events not yet acknowledged by Kafka."))
	if err != nil {
		return err
	}
	age, err := meter.Float64ObservableGauge("conversions.outbox.oldest_age",
		metric.WithDescription("Age of the oldest event in the outbox."), metric.WithUnit("s"))
	if err != nil {
		return err
	}
	parked, err := meter.Int64ObservableGauge("conversions.outbox.parked_waiting",
		metric.WithDescription("Events set aside as too large for Kafka, waiting in conversions.outbox_parked for an operator."))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		n, oldest, aside, err := store.OutboxStats(ctx)
		if err != nil {
			return nil // the database is down: readiness says so
		}
		o.ObserveInt64(depth, n)
		o.ObserveFloat64(age, oldest.Seconds())
		o.ObserveInt64(parked, aside)
		return nil
	}, depth, age, parked)
	return err
}

// replayFlags are replay's flags: the partner, since and dry-run.
func replayFlags() (fs *flag.FlagSet, partner, since *string, dryRun *bool) {
	fs = flag.NewFlagSet("replay", flag.ContinueOnError)
	partner = fs.String("partner", "", "only this partner's requests")
	since = fs.String("since", "", "only requests received at or after this RFC 3339 time")
	dryRun = fs.Bool("dry-run", false, "decode and count, queue nothing")
	return fs, partner, since, dryRun
}

// replay decodes stored requests again through the partners' current
// adapters and queues the resulting events, each naming the event it
// supersedes, for the relay of a running service to publish.
// deps holds the secrets box, the clock (which names the run) and the
// partner cache TTL.
func replay(ctx context.Context, args []string, cfg platform.Config, deps conversion.Deps, stdout io.Writer) error {
	fs, partner, since, dryRun := replayFlags()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	from := time.Time{}
	if *since != "" {
		t, err := rfc3339.Parse(*since)
		if err != nil {
			return fmt.Errorf("-since: %w", err)
		}
		from = t
	}
	db, err := database.Open(cfg.DatabaseURL, database.Pool{MaxOpen: 4})
	if err != nil {
		return err
	}
	defer db.Close()
	store := postgres.New(db)
	deps.Store = store
	replayer := conversion.NewReplayer(deps)
	run := deps.Now().UTC().Format("20060102T150405.000000000")
	var batch []conversion.OutboxMessage
	var queued, failed int
	flush := func() error {
		if *dryRun || len(batch) == 0 {
			batch = batch[:0]
			return nil
		}
		err := store.Enqueue(ctx, batch)
		batch = batch[:0]
		return err
	}
	err = store.Inbox(ctx, *partner, from, func(row postgres.InboxRow) error {
		msg, err := replayer.Event(ctx, conversion.StoredRequest{Partner: row.Partner, IdempotencyKey: row.IdempotencyKey,
			EventID: row.EventID, Source: row.Source, Query: row.Query, Body: row.Body, ReceivedAt: row.ReceivedAt,
			AcceptedSeq: row.AcceptedSeq}, run)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "inbox %d (%s %s): %v\n", row.ID, row.Partner, row.IdempotencyKey, err)
			return nil
		}
		queued++
		msg.InboxID = row.ID // retention keeps the request until the event is out
		batch = append(batch, msg)
		if len(batch) == 500 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	verb := "queued"
	if *dryRun {
		verb = "would queue"
	}
	fmt.Fprintf(stdout, "replay %s: %s %d events, %d requests still do not decode\n", run, verb, queued, failed)
	return err
}
