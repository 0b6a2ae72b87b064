package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/cli"
	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
	"github.com/linkcredit/linkcredit/pkg/platform"
	"github.com/linkcredit/linkcredit/services/reporting/internal/kafkatransport"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// every runs fn, then waits interval, until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) error {
	return repeat(ctx, interval, func() time.Duration { fn(); return interval })
}

// repeat waits wait, runs fn, then waits as long as fn returned, and so on
// until ctx ends.
func repeat(ctx context.Context, wait time.Duration, fn func() time.Duration) error {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			t.Reset(fn())
		}
	}
}

// sweepAttribution attributes conversions whose click landed in another
// consumer's transaction at the same moment, so neither saw the other.
func sweepAttribution(ctx context.Context, store *postgres.Store, logger *slog.Logger) error {
	sweep := store.NewAttributionSweep()
	return every(ctx, time.Second, func() {
		n, err := sweep.Run(ctx, 1000)
		if err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "attribution sweep failed; will retry", "error", err.Error())
		} else if n > 0 {
			logger.InfoContext(ctx, "attributed conversions to late clicks", "conversions", n)
		}
	})
}

// compactRollups folds ingest's rollup deltas into the rollups and then
// vacuums the delta tables (a DELETE that has to skip the previous
// rounds' dead rows costs more than the vacuum). See compactionPause for
// how long it waits between rounds, and deferFold for the rounds it
// skips while ingest catches up.
func compactRollups(ctx context.Context, store *postgres.Store, logger *slog.Logger) error {
	lastFold, checked, seen := time.Now(), time.Now(), store.ClicksStored()
	return repeat(ctx, time.Second, func() time.Duration {
		now, stored := time.Now(), store.ClicksStored()
		rate := float64(stored-seen) / max(now.Sub(checked).Seconds(), 0.001)
		checked, seen = now, stored
		if deferFold(rate, now.Sub(lastFold)) {
			return time.Second
		}
		if _, err := store.CompactRollups(ctx); err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "rollup compaction failed; will retry", "error", err.Error())
		}
		if err := store.VacuumDeltas(ctx); err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "vacuum of rollup deltas failed", "error", err.Error())
		}
		lastFold = time.Now()
		return compactionPause(lastFold.Sub(now))
	})
}

// compactionPause is the wait after a compaction round that took took: a
// second, or four times the round when that is longer, at most ten
// seconds. A round costs PostgreSQL about one upsert per quarter-hour
// and key its deltas touch, however many clicks each holds; catching up
// on a backlog, each round folds about 20,000 clicks of 10,000 links into
// 15,000 cells and took 0.3-0.7 s (make bench, issue 15), so rounds one
// second apart spent a third of PostgreSQL's statement time. Waiting
// longer after a long round lets each fold more clicks into the same
// cells. Reports read the rollups and the deltas, so the wait never
// delays a count; it only grows the deltas a report sums.
func compactionPause(took time.Duration) time.Duration {
	return min(max(time.Second, 4*took), maxFoldWait)
}

// maxFoldWait is the longest the deltas wait to be folded.
const maxFoldWait = 10 * time.Second

// catchUpRate is the rate of stored clicks (a second) above which ingest
// is catching up on a backlog rather than following live traffic: the
// redirect at its most in make bench sends reporting 10-15k clicks a
// second on this 2-core machine.
const catchUpRate = 20_000

// deferFold says whether to skip a compaction round: while this
// process stores more than catchUpRate clicks a second, it folds once in
// maxFoldWait instead of every few seconds. Each round re-upserts the
// cells the backlog's clicks share (10,000 links: the same 15,000 cells
// each round), and rounds during a catch-up took PostgreSQL CPU from the
// COPY of the clicks (make bench, issue 15: two rounds of 1.2 s of
// statement time in a 4.7 s catch-up of 300,000 clicks). Reports read
// the deltas too, so a skipped round delays no count. The rate is this
// process's own: with replicas, each decides by what it stores, and one
// that does not defer folds for all.
func deferFold(clicksPerSec float64, sinceFold time.Duration) bool {
	return clicksPerSec > catchUpRate && sinceFold < maxFoldWait
}

func openStore(cfg platform.Config, now clock.Clock) (*postgres.Store, error) {
	db, err := database.Open(cfg.DatabaseURL, database.Pool{MaxOpen: 4})
	if err != nil {
		return nil, err
	}
	return postgres.New(db, now), nil
}

// verify checks the ledger's invariants; any violation fails the command.
func verify(ctx context.Context, now clock.Clock, cfg platform.Config, stdout io.Writer) error {
	store, err := openStore(cfg, now)
	if err != nil {
		return err
	}
	defer store.DB().Close()
	problems := 0
	n, err := store.Verify(ctx, func(p string) {
		problems++
		fmt.Fprintln(stdout, "PROBLEM:", p)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "verify: %d conversions checked, %d problems\n", n, problems)
	if problems > 0 {
		return fmt.Errorf("the ledger has %d problems", problems)
	}
	return nil
}

// export writes a commission report to a file, with a progress line on a
// terminal. Its default period and as-of time come from now.
func export(ctx context.Context, now clock.Clock, finance *time.Location, args []string, cfg platform.Config, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "first day, YYYY-MM-DD (default: this month)")
	to := fs.String("to", "", "day after the last, YYYY-MM-DD")
	groupBy := fs.String("group-by", "", "partner,course,link,placement,day,month")
	tz := fs.String("tz", "", "IANA time zone that cuts days (default UTC)")
	currency := fs.String("currency", "", "convert into this currency")
	format := fs.String("format", "csv", "csv or json")
	out := fs.String("o", "", "output file (default stdout)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) { // -h: the flags were printed
			return nil
		}
		return err
	}
	v := url.Values{}
	for k, val := range map[string]string{"from": *from, "to": *to, "group_by": *groupBy, "tz": *tz,
		"currency": *currency, "format": *format} {
		if val != "" {
			v.Set(k, val)
		}
	}
	asOf := now()
	q, err := report.ParseQuery(v, "", asOf)
	if err != nil {
		return err
	}
	store, err := openStore(cfg, now)
	if err != nil {
		return err
	}
	defer store.DB().Close()
	closed, err := store.ClosedPeriods(ctx, q.From, q.To)
	if err != nil {
		return err
	}
	final, err := store.FinalDays(ctx, q.From, q.To, q.TZ)
	if err != nil {
		return err
	}
	meta := report.Meta{From: q.FromDate, To: q.ToDate, TZ: q.TZ.String(), GroupBy: q.GroupBy, Currency: q.Currency,
		AsOf: asOf.UTC().Truncate(time.Millisecond), ClosedPeriods: closed, FinanceTimeZone: finance.String(), FinalDays: final}

	w := stdout
	var file *os.File
	if *out != "" {
		if file, err = os.Create(*out); err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	counter := &countingWriter{w: bw}
	var enc report.Encoder
	if q.Format == "json" {
		enc, err = report.NewJSON(counter, meta)
	} else {
		enc, err = report.NewCSV(counter, meta)
	}
	if err != nil {
		return err
	}
	progress := newProgress(stderr, *out != "")
	if progress.on {
		// A second run of the query, for the bar's length: exports are
		// offline work, and a bar that knows its end is worth it.
		if progress.total, err = store.CountCommissions(ctx, q); err != nil {
			return err
		}
	}
	rows := 0
	if err := store.Commissions(ctx, q, func(r report.Row) error {
		rows++
		progress.update(rows, counter.n)
		return enc.Row(r)
	}); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	progress.done(rows, counter.n)
	if file != nil {
		if err := file.Sync(); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %d rows to %s (as of %s; closed periods: %v)\n", rows, *out, meta.AsOf.Format(time.RFC3339), closed)
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// progress draws a progress bar when stderr is a terminal.
type progress struct {
	w     io.Writer
	on    bool
	total int64
	last  time.Time
}

func newProgress(w io.Writer, toFile bool) *progress {
	return &progress{w: w, on: toFile && cli.IsTerminal(w)}
}

// bar renders done of total as a 30-character bar.
func (p *progress) bar(done int) string {
	const width = 30
	if p.total <= 0 {
		return ""
	}
	filled := int(int64(done) * width / p.total)
	filled = min(filled, width)
	return fmt.Sprintf("[%s%s] %3d%% ", strings.Repeat("#", filled), strings.Repeat("-", width-filled),
		int64(done)*100/p.total)
}

func (p *progress) update(rows int, bytes int64) {
	if !p.on || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\r\033[Kexporting %s%d/%d rows, %.1f MB", p.bar(rows), rows, p.total, float64(bytes)/1e6)
}

func (p *progress) done(rows int, bytes int64) {
	if p.on {
		fmt.Fprintf(p.w, "\r\033[Kexported %s%d rows, %.1f MB\n", p.bar(rows), rows, float64(bytes)/1e6)
	}
}

// replay rebuilds every table into an empty schema from the record of
// truth (docs/reporting.md, "Replay"): the archive of every click and
// conversion event the live schema ingested (Store.Archive) merged, in
// the order Kafka recorded them, with the finance journal (remittances,
// FX rates, months closed and reopened, settlement imports), each entry
// applied at its recorded instant; then, with -kafka, whatever the topics
// hold that the archive does not yet (ingest is idempotent, so the rest
// changes nothing). The placement slots are copied (see there). It then
// compares the two schemas' reports and statements.
func replay(ctx context.Context, now clock.Clock, finance *time.Location, args []string, cfg platform.Config, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("schema", "reporting_rebuild", "the empty schema to build into")
	topics := fs.Bool("kafka", true, "after the archive, also ingest what the topics hold beyond it")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) { // -h: the flags were printed
			return nil
		}
		return err
	}
	admin, err := database.Open(cfg.DatabaseURL, database.Pool{MaxOpen: 4})
	if err != nil {
		return err
	}
	defer admin.Close()
	// What a replay rebuilds from is the live schema: its archive of every
	// event ingested (the topics keep 30 days) and its journal of finance
	// actions (remittances, rates, closes), which no topic carries.
	if *target == postgres.Schema {
		return fmt.Errorf("-schema %s is the live schema, which replay rebuilds from: name an empty one beside it (the default, reporting_rebuild)", *target)
	}
	var hasLive bool
	if err := admin.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, postgres.Schema+".finance_journal").Scan(&hasLive); err != nil {
		return database.Classify(err)
	}
	if !hasLive {
		return fmt.Errorf("this database holds no schema %s to replay from: replay rebuilds the live schema's archive of events and journal of finance actions into an empty schema beside it; run it with the DATABASE_URL the service uses (to rebuild in another database, restore schema %s there first)",
			postgres.Schema, postgres.Schema)
	}
	// The rebuilt schema is switched in for the live one, so it must be
	// the live one's owner's: the service migrates as that role, and a
	// schema a superuser built (make run's postgres URL) is one it may not
	// touch. Replay then runs as the owner, whatever role signed in.
	dbURL, owner, err := asSchemaOwner(ctx, admin, cfg.DatabaseURL, postgres.Schema)
	if err != nil {
		return err
	}
	if dbURL != cfg.DatabaseURL {
		admin.Close()
		if admin, err = database.Open(dbURL, database.Pool{MaxOpen: 4}); err != nil {
			return err
		}
		defer admin.Close()
		var current string
		if err := admin.QueryRowContext(ctx, `SELECT current_user`).Scan(&current); err != nil {
			return fmt.Errorf("replay builds as %s, the owner of schema %s, so that the service can use the rebuilt schema; this role may not act as it: sign in as %s (or a role that may SET ROLE to it): %w",
				owner, postgres.Schema, owner, database.Classify(err))
		}
		fmt.Fprintf(stdout, "replay: building as %s, the owner of schema %s\n", owner, postgres.Schema)
	}
	var tables int
	if err := admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename <> 'schema_migrations'`,
		*target).Scan(&tables); err != nil {
		return database.Classify(err)
	}
	if tables > 0 {
		return fmt.Errorf("schema %s is not empty: drop it first (DROP SCHEMA %s CASCADE)", *target, *target)
	}
	if err := database.Migrate(ctx, admin, *target, postgres.Migrations()); err != nil {
		return err
	}
	targetURL, err := postgres.WithSchema(dbURL, *target)
	if err != nil {
		return err
	}
	db, err := database.Open(targetURL, database.Pool{MaxOpen: 4})
	if err != nil {
		return err
	}
	defer db.Close()
	// The rebuilt store's clock is the recorded instant of what it is
	// applying: a remittance allocates, a month closes, as they did live.
	var at time.Time
	rebuilt := postgres.New(db, func() time.Time {
		if at.IsZero() {
			return now()
		}
		return at
	})
	live := postgres.New(admin, now)
	if err := rebuilt.SetFinanceZone(ctx, finance); err != nil {
		return err
	}
	if err := copyPlacementSlots(ctx, admin, *target); err != nil {
		return err
	}
	zones, err := live.Zones(ctx)
	if err != nil {
		return err
	}
	var zoneList []string
	for tz := range zones {
		zoneList = append(zoneList, tz)
	}
	if err := rebuilt.EnsureZones(ctx, zoneList); err != nil {
		return err
	}

	var entries []postgres.JournalEntry
	if err := live.Journal(ctx, func(e postgres.JournalEntry) error { entries = append(entries, e); return nil }); err != nil {
		return err
	}
	var clicks []postgres.Click
	var convs []postgres.ConversionEvent
	flush := func() error {
		var err error
		if len(clicks) > 0 {
			err = rebuilt.IngestClicks(ctx, clicks)
		} else if len(convs) > 0 {
			err = rebuilt.IngestConversions(ctx, convs)
		}
		clicks, convs = clicks[:0], convs[:0]
		return err
	}
	// An action recorded at the same instant as an event came first: a
	// change recorded at a month's closing instant is already an
	// adjustment (periods.bucket).
	applyJournal := func(until time.Time, all bool) error {
		for len(entries) > 0 && (all || !entries[0].RecordedAt.After(until)) {
			if err := flush(); err != nil {
				return err
			}
			at = entries[0].RecordedAt
			if err := rebuilt.ApplyJournal(ctx, entries[0]); err != nil {
				return err
			}
			entries = entries[1:]
		}
		return nil
	}
	archived := 0
	err = live.Archive(ctx, func(item postgres.ArchiveItem) error {
		archived++
		if err := applyJournal(item.At, false); err != nil {
			return err
		}
		at = item.At
		switch {
		case item.Click != nil:
			if len(convs) > 0 {
				if err := flush(); err != nil {
					return err
				}
			}
			clicks = append(clicks, *item.Click)
		default:
			if len(clicks) > 0 {
				if err := flush(); err != nil {
					return err
				}
			}
			convs = append(convs, *item.Conversion)
		}
		if len(clicks)+len(convs) >= 5000 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = applyJournal(time.Time{}, true)
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	at = time.Time{}
	total := 0
	if *topics {
		ingestor := &kafkatransport.Ingestor{Store: rebuilt}
		// Clicks first, then conversions: every conversion finds its click.
		for _, topic := range []string{events.TopicClicks, events.TopicConversions} {
			n, err := replayTopic(ctx, cfg.KafkaBrokers, cfg.Kafka, topic, ingestor)
			total += n
			if err != nil {
				return err
			}
		}
	}
	if _, err := rebuilt.AttributeWaiting(ctx, 1<<30, 100*365*24*time.Hour); err != nil {
		return err
	}
	if _, err := rebuilt.CompactRollups(ctx); err != nil {
		return err
	}
	same, err := sameReports(ctx, now, live, rebuilt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "replay: %d archived events and finance actions, then %d messages from the topics, into schema %s; reports identical to the live schema: %v\n",
		archived, total, *target, same)
	if !same {
		return errors.New("the rebuilt reports differ from the live ones (events still arriving, or a bug)")
	}
	return nil
}

// copyPlacementSlots copies the placement slots, the live schema's record
// of which placements of a busy link-day kept their names (that depended
// on the order events arrived in, which a replay does not repeat).
func copyPlacementSlots(ctx context.Context, db *sql.DB, target string) error {
	t := `"` + target + `"`
	if _, err := db.ExecContext(ctx, `INSERT INTO `+t+`.placement_slots SELECT * FROM `+postgres.Schema+`.placement_slots`); err != nil {
		return fmt.Errorf("copy placement slots: %w", err)
	}
	return nil
}

// replayTopic feeds every message from the start of each partition up to
// its end now, in batches, to the ingestor. Poison is skipped, as the
// live consumer dead-lettered it (handleSkippingPoison).
// It dials with the service's TLS and SASL settings, like the consumers.
func replayTopic(ctx context.Context, brokers []string, sec kafkax.Security, topic string, in *kafkatransport.Ingestor) (int, error) {
	dialer, err := sec.Dialer()
	if err != nil {
		return 0, fmt.Errorf("replay %s: %w", topic, err)
	}
	conn, err := dialer.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return 0, fmt.Errorf("replay %s: %w", topic, err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return 0, fmt.Errorf("replay %s: %w", topic, err)
	}
	total := 0
	for _, p := range parts {
		leader, err := dialer.DialLeader(ctx, "tcp", brokers[0], topic, p.ID)
		if err != nil {
			return total, err
		}
		end, err := leader.ReadLastOffset()
		leader.Close()
		if err != nil {
			return total, err
		}
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Dialer: dialer, Topic: topic, Partition: p.ID, MinBytes: 1,
			MaxBytes: 16 << 20, MaxWait: 200 * time.Millisecond})
		var batch []kafka.Message
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			err := handleSkippingPoison(ctx, in, batch)
			total += len(batch)
			batch = batch[:0]
			return err
		}
		for {
			msg, err := r.FetchMessage(ctx)
			if err != nil {
				r.Close()
				return total, err
			}
			batch = append(batch, msg)
			if len(batch) == 5000 {
				if err := flush(); err != nil {
					r.Close()
					return total, err
				}
			}
			if msg.Offset >= end-1 {
				break
			}
		}
		err = flush()
		r.Close()
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// handleSkippingPoison hands batch to the ingestor and skips its poison
// as the live subscriber dead-letters it: what decoding refuses at once,
// and a message whose values Postgres refuses by halving the batch until
// it is alone. Any other error stops the replay.
func handleSkippingPoison(ctx context.Context, in *kafkatransport.Ingestor, batch []kafka.Message) error {
	err := in.Handle(ctx, batch)
	var poisoned *kafkax.Poisoned
	switch {
	case err == nil || errors.As(err, &poisoned):
		return nil
	case errs.Decide(database.Classify(err)) != errs.DeadLetter:
		return err
	case len(batch) == 1:
		return nil
	}
	half := len(batch) / 2
	if err := handleSkippingPoison(ctx, in, batch[:half]); err != nil {
		return err
	}
	return handleSkippingPoison(ctx, in, batch[half:])
}

func sameReports(ctx context.Context, now clock.Clock, a, b *postgres.Store) (bool, error) {
	q, err := report.ParseQuery(url.Values{"from": {"2000-01-01"}, "to": {"2099-12-31"},
		"group_by": {"partner,course,link,placement,day"}}, "", now())
	if err != nil {
		return false, err
	}
	collect := func(s *postgres.Store) ([]report.Row, error) {
		var rows []report.Row
		err := s.Commissions(ctx, q, func(r report.Row) error { rows = append(rows, r); return nil })
		return rows, err
	}
	ra, err := collect(a)
	if err != nil {
		return false, err
	}
	rb, err := collect(b)
	if err != nil {
		return false, err
	}
	if fmt.Sprint(ra) == fmt.Sprint(rb) {
		return true, nil
	}
	for i := 0; i < max(len(ra), len(rb)); i++ {
		var x, y any
		if i < len(ra) {
			x = ra[i]
		}
		if i < len(rb) {
			y = rb[i]
		}
		if fmt.Sprint(x) != fmt.Sprint(y) {
			return false, fmt.Errorf("first difference at row %d: live %v, rebuilt %v", i, x, y)
		}
	}
	return false, nil
}

// asSchemaOwner returns dbURL acting as the owner of schema
// (postgres.AsRole), with the owner's name; dbURL itself when its role
// already is the owner.
func asSchemaOwner(ctx context.Context, db *sql.DB, dbURL, schema string) (string, string, error) {
	var owner, current string
	if err := db.QueryRowContext(ctx, `SELECT pg_get_userbyid(nspowner), current_user FROM pg_namespace WHERE nspname = $1`,
		schema).Scan(&owner, &current); err != nil {
		return "", "", database.Classify(err)
	}
	if owner == current {
		return dbURL, owner, nil
	}
	asOwner, err := postgres.AsRole(dbURL, owner)
	return asOwner, owner, err
}
