package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
)

// Store reads and writes the reporting schema. Its queries use unqualified
// names: the connection's search_path picks the schema (see WithSchema),
// which is how `reporting replay` builds into a fresh one.
type Store struct {
	db  *sql.DB
	now clock.Clock

	// mu guards the caches, each bounded; keys and slots are keyed by what
	// events carry, so they are two-generation caches.
	mu         sync.Mutex
	partitions map[time.Time]bool // months whose click partition exists: at most 1,200 (2000..2099)
	learning   map[string]bool    // zones getting daily rollups because reports asked: IANA names only
	noLearning bool
	finance    *time.Location                        // FINANCE_TIME_ZONE: months close in it (nil: UTC)
	keys       *generations[ledger.RollupKey, int32] // rollup_keys as committed: at most 2 x keyCacheSize
	slots      *generations[linkDay, slots]          // placement_slots: at most 2 x slotCacheSize

	clicksStored atomic.Int64 // clicks IngestClicks was handed and stored (or found stored), since New
	copies       *copyGate    // one click transaction's COPYs at a time
}

// keyCacheSize bounds the rollup key numbers the store remembers: two
// generations of it, each entry a key of at most about 400 bytes (the
// event limits), so at most about 100 MB, and about 200 bytes a key with
// normal traffic. A key not cached is looked up again. It holds 10,000
// links with a dozen placements each (32,768 made make bench's 10,000
// links with 8 placements miss on every batch: issue 15).
const keyCacheSize = 131072

// New returns a store over db. now dates the changes the store makes on
// its own rather than for an event (an attribution by the sweep, a
// remittance applied to commission): it decides which period they land in
// when the purchase's month is closed, so the service, its tests and a
// replay must hand it the same clock. nil is the system clock.
func New(db *sql.DB, now clock.Clock) *Store {
	return &Store{db: db, now: clock.OrSystem(now), partitions: map[time.Time]bool{},
		keys: newGenerations[ledger.RollupKey, int32](keyCacheSize, cloneKey), slots: newGenerations[linkDay, slots](slotCacheSize, cloneLinkDay),
		copies: newCopyGate(copyGateWait)}
}

// DB is the store's database handle.
func (s *Store) DB() *sql.DB { return s.db }

// Click is a clicks.v1 event and when Kafka recorded it.
type Click struct {
	events.ClickRecorded
	RecordedAt time.Time
}

// ConversionEvent is a conversions.v1 event with its money in minor units.
type ConversionEvent struct {
	ledger.Event
	Partner    string
	OrderID    string
	Source     string
	ReceivedAt time.Time
	RecordedAt time.Time
}

type convKey struct{ partner, orderID string }

// IngestClicks stores clicks not stored before, counts them into the
// rollups, and attributes conversions that were waiting for them, all in
// one transaction. A click seen before changes nothing. Any part of a
// batch is a batch: a consumer that splits one to find a poison message
// stores each part the same way. A placement beyond its link-day's
// MaxPlacements is stored and counted as OtherPlacement.
//
// The batch is COPYed straight into clicks; only when that hits a click
// already stored (a redelivery after a crash or rebalance, or the same
// click twice in the batch) does it go the slower way, through a staging
// table and ON CONFLICT DO NOTHING.
func (s *Store) IngestClicks(ctx context.Context, clicks []Click) error {
	if len(clicks) == 0 {
		return nil
	}
	ctx = database.Prepared(ctx) // the same statements batch after batch
	clicks, err := s.foldPlacements(ctx, clicks)
	if err != nil {
		return err
	}
	err = s.ingestClicks(ctx, clicks)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == codeNoPartition {
		// A month's partition was detached (archived) after this process
		// saw it: forget the months and go again, which creates it anew.
		// Not a poison message: the click is fine, the cache was stale.
		s.mu.Lock()
		s.partitions = map[time.Time]bool{}
		s.mu.Unlock()
		err = s.ingestClicks(ctx, clicks)
	}
	if err == nil {
		s.clicksStored.Add(int64(len(clicks)))
	}
	return err
}

// ClicksStored counts the clicks this store's IngestClicks stored since
// it was made (a redelivered click counts again): the compactor folds
// less often while ingest catches up.
func (s *Store) ClicksStored() int64 { return s.clicksStored.Load() }

// codeNoPartition is the SQLSTATE (check_violation) of a row that no
// partition of clicks takes.
const codeNoPartition = "23514"

func (s *Store) ingestClicks(ctx context.Context, clicks []Click) error {
	if err := s.ensurePartitions(ctx, clicks); err != nil {
		return err
	}
	dims := make([]ledger.RollupKey, len(clicks))
	for i, c := range clicks {
		dims[i] = clickKey(c)
	}
	keyNums, err := s.keyIDs(ctx, nil, dims)
	if err != nil {
		return err
	}
	// One connection for the transaction and its COPYs (database.CopyIn).
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return database.Classify(fmt.Errorf("ingest clicks: %w", err))
	}
	defer conn.Close()
	return database.TransactOn(ctx, conn, readCommitted, func(tx *sql.Tx) error {
		if err := lockPeriodsShared(ctx, tx); err != nil {
			return err
		}
		periods, err := loadPeriods(ctx, tx)
		if err != nil {
			return err
		}
		inserted, err := s.copyClicksAndRollups(ctx, conn, tx, periods, clicks, keyNums)
		if err != nil {
			return err
		}
		// Conversions that arrived before their click. Each attribution is
		// recorded when its click was (not when the batch's latest was),
		// so it lands where a replay puts it whatever the batching. Looked
		// for under the attribution lock, held to the commit: see
		// attributionLock.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(`+attributionLock+`)`); err != nil {
			return fmt.Errorf("attribution lock: %w", err)
		}
		found, err := waitingFor(ctx, tx, inserted, rangeProbeLimit)
		if err != nil {
			return fmt.Errorf("find waiting conversions: %w", err)
		}
		if len(found) == 0 {
			return nil // as nearly always: no conversion came before its click
		}
		keys := make([]convKey, len(found))
		recorded := make(map[convKey]time.Time, len(found))
		for i, w := range found {
			keys[i] = w.key
			recorded[w.key] = w.recordedAt
		}
		return s.recompute(ctx, tx, periods, keys, cause{recordedAt: latestRecorded(clicks), recorded: recorded,
			description: "attributed to a late click"})
	})
}

// copyClicksAndRollups stores the clicks not stored before and adds them
// to the rollup deltas, in the transaction open on conn, during one turn
// of the store's copy gate. It returns the clicks it stored. The batch's
// cells are counted before the turn, as nearly always every click is new.
func (s *Store) copyClicksAndRollups(ctx context.Context, conn *sql.Conn, tx *sql.Tx, p periods, clicks []Click, keyNums []int32) ([]Click, error) {
	cells := countClickCells(p, keyNums, clicks)
	leave, err := s.copies.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	if _, err := tx.ExecContext(ctx, `SAVEPOINT copy_clicks`); err != nil {
		return nil, err
	}
	inserted, insertedKeys := clicks, keyNums
	err = copyClicks(ctx, conn, "clicks", clicks)
	if database.IsUniqueViolation(err) {
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT copy_clicks`); err != nil {
			return nil, err
		}
		var at []int
		at, err = copyNewClicks(ctx, conn, tx, clicks)
		inserted, insertedKeys = make([]Click, len(at)), make([]int32, len(at))
		for i, n := range at {
			inserted[i], insertedKeys[i] = clicks[n], keyNums[n]
		}
		cells = countClickCells(p, insertedKeys, inserted)
	}
	if err != nil {
		return nil, fmt.Errorf("insert clicks: %w", err)
	}
	if err := addClickRollups(ctx, conn, cells); err != nil {
		return nil, err
	}
	return inserted, nil
}

// attributionLock is the advisory lock that tells the attribution sweep
// which conversions it need not probe. A click's transaction and a
// conversion's that commit at the same moment can each miss the other:
// the click's looks for waiting conversions before the conversion is
// committed, the conversion's looks for its click before the click is.
// So a click's transaction holds the lock exclusively from just before it
// looks for waiting conversions to its commit, and a conversion event's
// transaction (IngestConversions) tries for it shared as its first
// statement, without waiting. When it gets it, no click's transaction is
// between its look and its commit: those before have committed, and this
// transaction's reads, all later, see their clicks; those after wait for
// its commit, and their look sees its conversions. Such a conversion
// cannot have raced and is stored with raced = false. When it does not
// get it (a click's transaction holds or waits for the lock), its
// conversions are stored raced, and the sweep probes them (migration
// 0018). Both transactions are READ COMMITTED (readCommitted): every
// statement after the lock reads what committed before it.
//
// A reporting from before this protocol takes no lock around its clicks.
// So a conversion counts as unraced only when, besides, no session of the
// same role and database has an application_name other than this one's
// (foreignSessions, ApplicationName); and the sweep probes every waiting
// conversion, raced or not, while such a session is there and for its
// window after (AttributionSweep.Run): a rolling deploy, or a rollback,
// loses nothing.
//
// Conversion transactions hold it shared, so they never wait for each
// other; a click's transaction waits for those in flight, which wait for
// nothing a click's transaction holds (it takes the lock after its
// inserts, which no conversion transaction waits on, and before it locks
// any conversion). A conversion transaction that waits (for a conversion
// a settlement holds, or in a replica that stopped: until PostgreSQL ends
// its idle session, database.IdleInTransaction) holds up the clicks'
// transactions that long. Per schema, like the tables.
const attributionLock = `hashtext(current_schema() || '.attribution')`

// foreignSessions is true while a client session of this role and
// database has another application_name than this session's: a reporting
// that may not take the attribution lock (attributionLock).
// It is true as well when this session itself lacks ApplicationName (a
// store opened without WithApplicationName): then older sessions could
// not be told from this one.
var foreignSessions = `(current_setting('application_name') <> '` + ApplicationName + `'
	OR EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = current_database()
	AND a.usename = session_user AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
	AND a.application_name IS DISTINCT FROM current_setting('application_name')))`

// readCommitted is the isolation attributionLock's reasoning needs, set
// whatever the role's or database's default.
var readCommitted = &sql.TxOptions{Isolation: sql.LevelReadCommitted}

// waiting is a conversion that waits for the click click, which was
// recorded at recordedAt.
type waiting struct {
	key        convKey
	click      string
	recordedAt time.Time
}

// rangeProbeLimit bounds the waiting conversions waitingFor reads by the
// range of a batch's click ids before it probes click by click instead.
const rangeProbeLimit = 1000

// waitingFor returns the conversions waiting for one of clicks.
//
// Click ids are issued in time order (pkg/clickid: a ULID first), so a
// batch's ids span a narrow range: it first reads the waiting
// conversions whose click id is in that range, through the partial
// index of waiting conversions, and keeps those whose click is in clicks.
// Probing click by click took 15 ms of PostgreSQL a batch of 15,000
// clicks (make bench, issue 15); the range read finds the few waiting
// conversions (usually none) at once. When the range holds more than
// limit of them (many conversions waiting for clicks that never came
// with ids inside the batch's range, or ids not in time order), it
// probes each click instead.
func waitingFor(ctx context.Context, tx *sql.Tx, clicks []Click, limit int) ([]waiting, error) {
	if len(clicks) == 0 {
		return nil, nil
	}
	lo, hi := clicks[0].ID, clicks[0].ID
	for _, c := range clicks[1:] {
		lo, hi = min(lo, c.ID), max(hi, c.ID)
	}
	scan := func(rows *sql.Rows, w *waiting) error { return rows.Scan(&w.key.partner, &w.key.orderID, &w.click) }
	rows, err := tx.QueryContext(ctx, `SELECT partner, order_id, click_id FROM conversions
		WHERE NOT attributed AND click_id <> '' AND click_id BETWEEN $1 AND $2 LIMIT $3`, lo, hi, limit+1)
	if err != nil {
		return nil, err
	}
	candidates, err := collectRows(rows, scan)
	if err != nil {
		return nil, err
	}
	if len(candidates) > limit {
		ids := make([]string, len(clicks))
		for i, c := range clicks {
			ids[i] = c.ID
		}
		// OFFSET 0 keeps it an index probe a click: without it the
		// planner pulled the subquery up into a hash join over every
		// waiting conversion, 260 ms a batch of 12,000 clicks once
		// 190,000 conversions waited for clicks that never came (make
		// bench after its webhook part: more of PostgreSQL's time than
		// the COPY of the clicks), against 25-75 ms probing.
		rows, err := tx.QueryContext(ctx, `SELECT c.partner, c.order_id, u.id FROM unnest($1::text[]) AS u(id)
			JOIN LATERAL (SELECT partner, order_id FROM conversions
				WHERE NOT attributed AND click_id <> '' AND click_id = u.id OFFSET 0) c ON true`, pq.Array(ids))
		if err != nil {
			return nil, err
		}
		if candidates, err = collectRows(rows, scan); err != nil {
			return nil, err
		}
	}
	if len(candidates) == 0 {
		return nil, nil // as nearly always: no conversion came before its click
	}
	recorded := make(map[string]time.Time, len(clicks))
	for _, c := range clicks {
		recorded[c.ID] = c.RecordedAt
	}
	found := candidates[:0]
	for _, w := range candidates {
		if at, ok := recorded[w.click]; ok {
			w.recordedAt = at
			found = append(found, w)
		}
	}
	return found, nil
}

// collectRows reads every row of rows with scan, then closes them.
func collectRows[T any](rows *sql.Rows, scan func(*sql.Rows, *T) error) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := scan(rows, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

const clickColumns = `id, occurred_at, code, partner, course_id, placement, utm_source, utm_medium, utm_campaign,
	bot, bot_reason, is_unique, recorded_at`

func copyClicks(ctx context.Context, conn *sql.Conn, table string, clicks []Click) error {
	return copyRows(ctx, conn, `COPY `+table+` (`+clickColumns+`) FROM STDIN`, clicks, false)
}

// copyRows COPYs clicks with copy, in the transaction open on conn; with
// ordinal, each row also carries its position in clicks.
func copyRows(ctx context.Context, conn *sql.Conn, copy string, clicks []Click, ordinal bool) error {
	return database.CopyIn(ctx, conn, copy, len(clicks), func(b []byte, i int) []byte {
		c := &clicks[i]
		b = append(database.AppendCopyText(b, c.ID), '\t')
		b = append(database.AppendCopyTime(b, c.OccurredAt), '\t')
		for _, f := range [...]string{c.Code, c.Partner, c.CourseID, c.Placement, c.UTMSource, c.UTMMedium, c.UTMCampaign} {
			b = append(database.AppendCopyText(b, f), '\t')
		}
		b = append(database.AppendCopyBool(b, c.Bot), '\t')
		b = append(database.AppendCopyText(b, c.BotReason), '\t')
		b = append(database.AppendCopyBool(b, c.Unique), '\t')
		b = database.AppendCopyTime(b, c.RecordedAt) // NULL when there is none
		if ordinal {
			b = strconv.AppendInt(append(b, '\t'), int64(i), 10)
		}
		return b
	})
}

// storedClicksSQL finds which of the clicks $1 (ids) at $2 (their times)
// are stored, as their positions from 0. LATERAL ... LIMIT 1 keeps it an
// index probe per click: as EXISTS, the planner chose a hash join over
// every stored click (2.3 s with 450,000 stored, to find 2). Run it
// through probe, as loadClicksSQL.
const storedClicksSQL = `SELECT u.n - 1 FROM unnest($1::text[], $2::timestamptz[]) WITH ORDINALITY AS u(id, at, n)
		CROSS JOIN LATERAL (SELECT 1 FROM clicks c WHERE c.id = u.id AND c.occurred_at = u.at LIMIT 1) stored`

// copyNewClicks stores the clicks of a batch that was partly or wholly
// stored before (a redelivery after a rebalance or a crash): it asks which
// are stored, one index probe each, and COPYs the others. Only when that
// COPY still hits a stored click (the same click twice in the batch, or
// another replica storing it meanwhile) does it go back to the savepoint
// and the staging table (insertNewClicks). A redelivered batch of 13,000
// clicks cost PostgreSQL 0.4-0.7 s the staging way (make bench, issue 15).
//
// The probe sends each time as the COPY does (database.AppendCopyTime),
// so PostgreSQL rounds it to the microsecond the same way and the stored
// row matches.
//
// It returns the positions in clicks of the clicks it stored.
func copyNewClicks(ctx context.Context, conn *sql.Conn, tx *sql.Tx, clicks []Click) ([]int, error) {
	ids, times := make([]string, len(clicks)), make([]string, len(clicks))
	for i, c := range clicks {
		ids[i], times[i] = c.ID, string(database.AppendCopyTime(nil, c.OccurredAt))
	}
	var positions []int
	err := probe(ctx, tx, func(rows *sql.Rows) error {
		var n int
		err := rows.Scan(&n)
		positions = append(positions, n)
		return err
	}, storedClicksSQL, pq.Array(ids), pq.Array(times))
	if err != nil {
		return nil, fmt.Errorf("find stored clicks: %w", err)
	}
	stored := make([]bool, len(clicks))
	for _, n := range positions {
		stored[n] = true
	}
	fresh := make([]Click, 0, len(clicks)-len(positions))
	at := make([]int, 0, len(clicks)-len(positions))
	for i, c := range clicks {
		if !stored[i] {
			fresh, at = append(fresh, c), append(at, i)
		}
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	err = copyClicks(ctx, conn, "clicks", fresh)
	if !database.IsUniqueViolation(err) {
		return at, err
	}
	if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT copy_clicks`); err != nil {
		return nil, err
	}
	return insertNewClicks(ctx, conn, tx, clicks)
}

// insertNewClicks stores the clicks not stored yet and returns their
// positions in clicks, in batch order, each once. Which are new is decided by Postgres, with its
// own precision: a click's occurred_at is stored to the microsecond, so
// the batch is staged with each click's position and the new ones are
// found by joining what was inserted back to the stage, never by
// comparing times in Go (a time with nanoseconds would never match, and
// its click would be stored but not counted).
func insertNewClicks(ctx context.Context, conn *sql.Conn, tx *sql.Tx, clicks []Click) ([]int, error) {
	if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS click_batch (LIKE clicks, n integer NOT NULL)
		ON COMMIT DELETE ROWS`); err != nil {
		return nil, err
	}
	if err := copyRows(ctx, conn, `COPY click_batch (`+clickColumns+`, n) FROM STDIN`, clicks, true); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `WITH ins AS (
			INSERT INTO clicks (`+clickColumns+`) SELECT `+clickColumns+` FROM click_batch
			ON CONFLICT DO NOTHING RETURNING id, occurred_at)
		SELECT min(b.n) FROM click_batch b JOIN ins USING (id, occurred_at) GROUP BY b.id, b.occurred_at ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	return batchPositions(rows) // a click twice in the batch counts once
}

// batchPositions reads rows of one column, a position in the batch, and
// closes them.
func batchPositions(rows *sql.Rows) ([]int, error) {
	return collectRows(rows, func(rows *sql.Rows, n *int) error { return rows.Scan(n) })
}

type clickCell struct {
	bucket time.Time
	key    int32
}

func clickKey(c Click) ledger.RollupKey {
	return ledger.RollupKey{Partner: c.Partner, CourseID: c.CourseID, Code: c.Code, Placement: c.Placement}
}

// clickCellCounts is one quarter-hour and link's clicks in a batch.
type clickCellCounts struct {
	clickCell
	clicks, unique, bots int64
}

// countClickCells counts the clicks per quarter-hour and link (keyNums[i]
// is clicks[i]'s rollup key), in the order the batch first has each.
func countClickCells(p periods, keyNums []int32, clicks []Click) []clickCellCounts {
	index := make(map[clickCell]int, len(clicks))
	cells := make([]clickCellCounts, 0, len(clicks))
	for i := range clicks {
		c := &clicks[i]
		cell := clickCell{p.bucket(c.OccurredAt, c.RecordedAt), keyNums[i]}
		j, ok := index[cell]
		if !ok {
			j = len(cells)
			index[cell] = j
			cells = append(cells, clickCellCounts{clickCell: cell})
		}
		n := &cells[j]
		switch {
		case c.Bot:
			n.bots++
		case c.Unique:
			n.clicks++
			n.unique++
		default:
			n.clicks++
		}
	}
	return cells
}

// addClickRollups appends the counted cells to the rollup deltas, with a
// COPY in the transaction open on conn: an INSERT from five arrays took
// PostgreSQL 4.3 µs a row in make bench's ingest part, and encoding the
// arrays was reporting's biggest allocation a batch after the clicks
// themselves (issue 15).
func addClickRollups(ctx context.Context, conn *sql.Conn, cells []clickCellCounts) error {
	if len(cells) == 0 {
		return nil
	}
	err := database.CopyIn(ctx, conn, `COPY click_rollup_deltas (bucket, key_id, clicks, unique_clicks, bot_clicks) FROM STDIN`,
		len(cells), func(b []byte, i int) []byte {
			c := &cells[i]
			b = append(database.AppendCopyTime(b, c.bucket), '\t')
			b = append(strconv.AppendInt(b, int64(c.key), 10), '\t')
			b = append(strconv.AppendInt(b, c.clicks, 10), '\t')
			b = append(strconv.AppendInt(b, c.unique, 10), '\t')
			return strconv.AppendInt(b, c.bots, 10)
		})
	if err != nil {
		return fmt.Errorf("add click rollups: %w", err)
	}
	return nil
}

func latestRecorded(clicks []Click) time.Time {
	var t time.Time
	for _, c := range clicks {
		if c.RecordedAt.After(t) {
			t = c.RecordedAt
		}
	}
	return t
}

// ensurePartitions creates the click partitions of the batch's months.
func (s *Store) ensurePartitions(ctx context.Context, clicks []Click) error {
	s.mu.Lock()
	var missing []time.Time
	seen := map[time.Time]bool{}
	for _, c := range clicks {
		m := monthOf(c.OccurredAt)
		if !s.partitions[m] && !seen[m] {
			seen[m] = true
			missing = append(missing, m)
		}
	}
	s.mu.Unlock()
	for _, m := range missing {
		err := database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
			// Serialises replicas creating the same partition.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('reporting.click_partitions'))`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `SELECT ensure_click_partition($1::date)`, m.Format(time.DateOnly))
			return err
		})
		if err != nil {
			return fmt.Errorf("create click partition %s: %w", m.Format("2006-01"), err)
		}
		s.mu.Lock()
		s.partitions[m] = true
		s.mu.Unlock()
	}
	return nil
}

func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// IngestConversions stores events not stored before, folds every
// conversion they touch again in occurred_at order, posts the ledger
// transactions that move each one to its new state, and updates the
// rollups and remittance allocations, all in one transaction.
func (s *Store) IngestConversions(ctx context.Context, evs []ConversionEvent) error {
	if len(evs) == 0 {
		return nil
	}
	ctx = database.Prepared(ctx) // the same statements batch after batch
	cols := struct {
		id, partner, order, click, course, status, currency, occurred, received, recorded, source, replayOf []string
		sale, commission, seq                                                                               []int64
	}{}
	for _, e := range evs {
		cols.id = append(cols.id, e.ID)
		cols.partner = append(cols.partner, e.Partner)
		cols.order = append(cols.order, e.OrderID)
		cols.click = append(cols.click, e.ClickID)
		cols.course = append(cols.course, e.CourseID)
		cols.status = append(cols.status, e.Status)
		cols.currency = append(cols.currency, e.Currency)
		cols.occurred = append(cols.occurred, e.OccurredAt.UTC().Format(time.RFC3339Nano))
		received := ""
		if !e.ReceivedAt.IsZero() {
			received = e.ReceivedAt.UTC().Format(time.RFC3339Nano)
		}
		cols.received = append(cols.received, received)
		cols.recorded = append(cols.recorded, e.RecordedAt.UTC().Format(time.RFC3339Nano))
		cols.source = append(cols.source, e.Source)
		cols.replayOf = append(cols.replayOf, e.ReplayOf)
		cols.sale = append(cols.sale, e.Sale)
		cols.commission = append(cols.commission, e.Commission)
		cols.seq = append(cols.seq, e.AcceptedSeq)
	}
	return database.Transact(ctx, s.db, readCommitted, func(tx *sql.Tx) error {
		if err := lockPeriodsShared(ctx, tx); err != nil {
			return err
		}
		// Then, before any click is read: see attributionLock.
		var unraced bool
		if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock_shared(`+attributionLock+`)
			AND NOT `+foreignSessions).Scan(&unraced); err != nil {
			return fmt.Errorf("attribution lock: %w", err)
		}
		periods, err := loadPeriods(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `
			INSERT INTO conversion_events (id, partner, order_id, click_id, course_id, status, sale_minor,
				commission_minor, currency, occurred_at, received_at, recorded_at, source, replay_of, accepted_seq)
			SELECT id, partner, order_id, click_id, course_id, status, sale, commission, currency,
				occurred::timestamptz, nullif(received, '')::timestamptz, recorded::timestamptz, source, replay_of, seq
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
				$8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::bigint[])
				WITH ORDINALITY AS e(id, partner, order_id, click_id, course_id, status, sale, commission, currency, occurred,
				received, recorded, source, replay_of, seq, ord)
			ORDER BY ord -- ingest_seq in batch order
			ON CONFLICT (id) DO NOTHING
			RETURNING id`,
			database.TextArray(cols.id), database.TextArray(cols.partner), database.TextArray(cols.order), database.TextArray(cols.click), database.TextArray(cols.course),
			database.TextArray(cols.status), database.Int8Array(cols.sale), database.Int8Array(cols.commission), database.TextArray(cols.currency),
			database.TextArray(cols.occurred), database.TextArray(cols.received), database.TextArray(cols.recorded), database.TextArray(cols.source),
			database.TextArray(cols.replayOf), database.Int8Array(cols.seq))
		if err != nil {
			return fmt.Errorf("insert conversion events: %w", err)
		}
		stored := map[string]bool{}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			stored[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("insert conversion events: %w", err)
		}
		// The events this transaction stored (an event twice in the batch
		// is stored once), per conversion in batch order: each conversion's
		// order on its partition.
		var keys []convKey
		stored2 := map[convKey][]ConversionEvent{}
		for _, e := range evs {
			if !stored[e.ID] {
				continue
			}
			delete(stored, e.ID)
			k := convKey{e.Partner, e.OrderID}
			if stored2[k] == nil {
				keys = append(keys, k)
			}
			stored2[k] = append(stored2[k], e)
		}
		if len(keys) == 0 {
			return nil // every event was seen before
		}
		// Each event applies on its own, in rounds: round r applies the
		// r-th new event of every conversion. So a conversion's ledger
		// transactions and its adjustments to closed months (at its own
		// event's Kafka time) are the same however its events were
		// batched, live or in a replay.
		later := map[string]bool{}
		for _, list := range stored2 {
			for _, e := range list[1:] {
				later[e.ID] = true
			}
		}
		applied := map[convKey][]ledger.Event{}
		for round := 0; ; round++ {
			var roundKeys []convKey
			recorded := map[convKey]time.Time{}
			var latest time.Time
			for _, k := range keys {
				list := stored2[k]
				if round >= len(list) {
					continue
				}
				e := list[round]
				delete(later, e.ID)
				applied[k] = append(applied[k], e.Event)
				roundKeys = append(roundKeys, k)
				recorded[k] = e.RecordedAt
				if e.RecordedAt.After(latest) {
					latest = e.RecordedAt
				}
			}
			if len(roundKeys) == 0 {
				return nil
			}
			batch := make(map[convKey][]ledger.Event, len(roundKeys))
			for _, k := range roundKeys {
				batch[k] = applied[k]
			}
			if err := s.recompute(ctx, tx, periods, roundKeys, cause{recordedAt: latest, batch: batch, later: later,
				recorded: recorded, unraced: unraced}); err != nil {
				return err
			}
		}
	})
}

// AttributeWaiting attributes conversions changed within the last
// `within` whose click arrived in a transaction that could not see them
// (another consumer's, committing at the same moment), at most limit at a
// time. It returns how many it attributed. `reporting replay` uses it
// once over everything; the service sweeps with an AttributionSweep.
func (s *Store) AttributeWaiting(ctx context.Context, limit int, within time.Duration) (int, error) {
	// Only conversions that changed lately can have lost that race;
	// older ones (forged ids, clicks still to come) are attributed by
	// their click's own transaction when it arrives.
	return s.attributeFound(ctx, waitingAttributionSQL, nil, limit, within.String())
}

// waitingAttributionSQL finds at most $1 waiting conversions changed
// within $2 whose click is stored.
const waitingAttributionSQL = `SELECT c.partner, c.order_id FROM conversions c
		CROSS JOIN LATERAL (SELECT 1 FROM clicks k WHERE k.id = c.click_id AND k.partner = c.partner LIMIT 1) k
		WHERE NOT c.attributed AND c.click_id <> '' AND c.updated_at > now() - $2::interval
		ORDER BY c.partner, c.order_id LIMIT $1`

// findWaiting runs query, a search for waiting conversions that probes
// each one's click (waitingAttributionSQL, sweepSQL), through probe, and
// returns the keys it found.
func findWaiting(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]convKey, error) {
	var keys []convKey
	err := probe(ctx, tx, func(rows *sql.Rows) error {
		var k convKey
		err := rows.Scan(&k.partner, &k.orderID)
		keys = append(keys, k)
		return err
	}, query, args...)
	return keys, err
}

// attributeFound attributes the conversions (partner, order id) that
// query finds, in one transaction, and returns how many. When at is not
// nil, it receives the transaction's now(), the time query's now() is.
func (s *Store) attributeFound(ctx context.Context, query string, at *time.Time, args ...any) (int, error) {
	var n int
	err := database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		n = 0
		if err := lockPeriodsShared(ctx, tx); err != nil {
			return err
		}
		if at != nil {
			// The transaction's time, so the next sweep starts where
			// this one ended, on the database's clock.
			if err := tx.QueryRowContext(ctx, `SELECT now()`).Scan(at); err != nil {
				return err
			}
		}
		keys, err := findWaiting(ctx, tx, query, args...)
		if err != nil || len(keys) == 0 {
			return err
		}
		periods, err := loadPeriods(ctx, tx)
		if err != nil {
			return err
		}
		n = len(keys)
		return s.recompute(ctx, tx, periods, keys, cause{recordedAt: s.now(), description: "attributed to a late click"})
	})
	return n, err
}

// sweepSQL finds at most $1 waiting conversions whose age crossed one of
// $3 (seconds) since $2 (the previous sweep; when null, the last $4) and
// whose raced flag is one of $5, with their click stored: one index range
// of conversions_waiting_by_raced a probing age and raced value.
const sweepSQL = `SELECT c.partner, c.order_id FROM (
			SELECT DISTINCT c.partner, c.order_id, c.click_id FROM unnest($3::float8[]) AS a(s)
			JOIN conversions c ON c.updated_at > coalesce($2::timestamptz, now() - $4::interval) - make_interval(secs => a.s)
				AND c.updated_at <= now() - make_interval(secs => a.s)
			WHERE NOT c.attributed AND c.click_id <> '' AND c.raced = ANY($5::bool[])) c
		CROSS JOIN LATERAL (SELECT 1 FROM clicks k WHERE k.id = c.click_id AND k.partner = c.partner LIMIT 1) k
		ORDER BY c.partner, c.order_id LIMIT $1`

// attributionAges are the ages (since a conversion last changed) at which
// the sweep probes a waiting conversion's click again: on each sweep, the
// conversions that reached one of these ages since the previous sweep.
// A click committed at age t, in a transaction that could not see the
// conversion, is found at the next age after t, so within t again; after
// the last age the click's own transaction is what attributes it, as it
// was with the one-minute window every 2 s. Eight probes a waiting
// conversion, against the thirty of probing every one of the last minute
// on each sweep: with conversions whose clicks never come (1,800/s in
// make bench), that sweep took 327 ms of PostgreSQL every 2.5 s.
var attributionAges = []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
	16 * time.Second, 32 * time.Second, 64 * time.Second}

// AttributionSweep attributes conversions whose click landed in another
// consumer's transaction at the same moment, so that neither saw the
// other. It is the service's periodic sweep; one goroutine runs it.
type AttributionSweep struct {
	store *Store
	last  time.Time // the previous sweep's time on the database's clock; zero before the first
	// everyUntil: until then (on the database's clock) the sweep probes
	// every waiting conversion, raced or not, as it does on a process's
	// first sweep: the window after the last time it saw a session of a
	// reporting from before the attribution lock (attributionLock).
	everyUntil time.Time
}

// NewAttributionSweep returns a sweep over the store's conversions.
func (s *Store) NewAttributionSweep() *AttributionSweep { return &AttributionSweep{store: s} }

// Run attributes at most limit conversions whose age since they last
// changed reached one of attributionAges since the previous Run (the
// first Run: every one changed within the last of them) and whose click
// is stored, and returns how many it attributed. A Run that fails or
// attributes limit leaves the next one to cover its window again. A
// conversion whose transaction was still open when a Run passed one of
// its ages is probed at the next age.
func (w *AttributionSweep) Run(ctx context.Context, limit int) (int, error) {
	ages := make([]float64, len(attributionAges))
	for i, a := range attributionAges {
		ages[i] = a.Seconds()
	}
	var last any
	if w.last.IsZero() {
		ages = ages[:1] // the first: every conversion of the last window, once
	} else {
		last = w.last
	}
	var at time.Time
	var foreign bool
	if err := w.store.db.QueryRowContext(ctx, `SELECT now(), `+foreignSessions).Scan(&at, &foreign); err != nil {
		return 0, database.Classify(fmt.Errorf("attribution sweep: %w", err))
	}
	if foreign {
		w.everyUntil = at.Add(attributionAges[len(attributionAges)-1] + time.Second)
	}
	// Every one when the range to scan (from the previous sweep) starts
	// inside that window: a sweep that failed or stopped at its limit
	// leaves its range to the next.
	every := w.last.IsZero() || w.last.Before(w.everyUntil)
	raced := []bool{true}
	if every {
		raced = append(raced, false)
	}
	// One index range a probing age and raced value ($5) on
	// conversions_waiting_by_raced: the conversions whose age crossed it
	// since the previous sweep (on the first, one range: the last of
	// attributionAges up to now), the raced ones or every one.
	n, err := w.store.attributeFound(ctx, sweepSQL, &at,
		limit, last, pq.Array(ages), attributionAges[len(attributionAges)-1].String(), pq.Array(raced))
	if err == nil && n < limit {
		w.last = at
	}
	return n, err
}
