package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
)

// cause describes why conversions are recomputed.
type cause struct {
	recordedAt  time.Time
	kind        string // ledger transaction kind; "conversion" when empty
	description string
	// batch holds the events applied so far of those this transaction
	// stored, by conversion, when it stored any; later holds the ids of
	// the ones it stored that later rounds apply (IngestConversions).
	batch map[convKey][]ledger.Event
	later map[string]bool
	// recorded is when each conversion's change was recorded, where it
	// differs from recordedAt (the Kafka time of its own event).
	recorded map[convKey]time.Time
	// unraced: the transaction held the attribution lock from its start
	// (IngestConversions), so no click's transaction can have missed the
	// conversions it changes, nor they the click. Every other change is
	// stored as raced, for the attribution sweep to probe.
	unraced bool
}

// recordedFor is when k's change was recorded.
func (c cause) recordedFor(k convKey) time.Time {
	if t, ok := c.recorded[k]; ok {
		return t
	}
	return c.recordedAt
}

// row is a conversion as stored.
type row struct {
	state   ledger.State
	attr    ledger.Attribution
	lastTxn sql.NullInt64
}

type change struct {
	key      convKey
	old, new row
	eventID  string
	at       time.Time // the transaction's effective time
	// steps, when set, are what to post (ledger.Moves), each at its own
	// time; otherwise one transaction of ledger.Diff(old, new) at at.
	steps []ledger.Step
}

const conversionColumns = `partner, order_id, status, sale_minor, commission_minor, paid_minor, currency,
	purchased_at, click_id, bought_course_id, attributed, code, course_id, placement, utm_source, utm_medium,
	utm_campaign, bot, events, last_txn`

// loadConversionsSQL locks and reads the conversions of $1 (partners) and
// $2 (their orders): a lateral probe of the primary key per key, locking
// in (partner, order_id) order, the order every ledger transaction locks
// conversions in. With IN (...) the planner hashed the whole table while
// it was small (measured in make bench: 8 ms a batch of 100 new
// conversions in 20,000, most of reporting's share of PostgreSQL under
// webhook load). Run it through probe: planned while conversions is
// empty or small (a new deployment, the first batch after a pause), a
// scan of the table, or another index that leads with partner, costs no
// more than the probe, and then each of a batch's keys walks every
// conversion stored meanwhile. So planned, one batch of 20,000 keys ran
// for minutes while the other consumers stored 250,000 conversions of
// the same partner (make bench, issue 15). With sequential scans off,
// the primary key is the one plan left as long as every other index on
// conversions that leads with partner is partial on a condition the
// probe does not state (migration 0021; TestKeyProbeReadsThePrimaryKey
// fails otherwise).
const loadConversionsSQL = `SELECT c.* FROM
		(SELECT DISTINCT p COLLATE "C" AS p, o COLLATE "C" AS o FROM unnest($1::text[], $2::text[]) AS t(p, o) ORDER BY 1, 2) k
		CROSS JOIN LATERAL (SELECT ` + conversionColumns + ` FROM conversions
			WHERE partner = k.p AND order_id = k.o FOR UPDATE) c`

// probe runs query, a lateral index probe per key (loadConversionsSQL,
// loadClicksSQL, storedClicksSQL, the attribution sweeps' searches, or a
// test's EXPLAIN of one), in tx with sequential scans off
// (database.WithoutSeqScans), and hands each of its rows to scan.
func probe(ctx context.Context, tx *sql.Tx, scan func(*sql.Rows) error, query string, args ...any) error {
	return database.WithoutSeqScans(ctx, tx, func() error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

func loadConversions(ctx context.Context, tx *sql.Tx, keys []convKey) (map[convKey]row, error) {
	partners, orders := splitKeys(keys)
	out := make(map[convKey]row, len(keys))
	err := probe(ctx, tx, func(rows *sql.Rows) error {
		var k convKey
		var r row
		s, a := &r.state, &r.attr
		if err := rows.Scan(&k.partner, &k.orderID, &s.Status, &s.Sale, &s.Commission, &s.Paid, &s.Currency,
			&s.PurchasedAt, &s.ClickID, &s.BoughtCourseID, &a.Attributed, &a.Code, &a.CourseID, &a.Placement,
			&a.UTMSource, &a.UTMMedium, &a.UTMCamp, &a.Bot, &s.Events, &r.lastTxn); err != nil {
			return err
		}
		s.PurchasedAt = s.PurchasedAt.UTC()
		out[k] = r
		return nil
	}, loadConversionsSQL, database.TextArray(partners), database.TextArray(orders))
	if err != nil {
		return nil, fmt.Errorf("load conversions: %w", err)
	}
	return out, nil
}

func splitKeys(keys []convKey) (partners, orders []string) {
	for _, k := range keys {
		partners = append(partners, k.partner)
		orders = append(orders, k.orderID)
	}
	return partners, orders
}

func loadEvents(ctx context.Context, tx *sql.Tx, keys []convKey) (map[convKey][]ledger.Event, error) {
	out := make(map[convKey][]ledger.Event, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	partners, orders := splitKeys(keys)
	rows, err := tx.QueryContext(ctx, `SELECT partner, order_id, id, click_id, course_id, status, sale_minor,
			commission_minor, currency, occurred_at, replay_of, accepted_seq
		FROM conversion_events WHERE (partner, order_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
		database.TextArray(partners), database.TextArray(orders))
	if err != nil {
		return nil, fmt.Errorf("load conversion events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k convKey
		var e ledger.Event
		if err := rows.Scan(&k.partner, &k.orderID, &e.ID, &e.ClickID, &e.CourseID, &e.Status, &e.Sale,
			&e.Commission, &e.Currency, &e.OccurredAt, &e.ReplayOf, &e.AcceptedSeq); err != nil {
			return nil, err
		}
		e.OccurredAt = e.OccurredAt.UTC()
		out[k] = append(out[k], e)
	}
	return out, rows.Err()
}

type clickRef struct {
	partner string
	attr    ledger.Attribution
}

// loadClicksSQL reads the clicks of $1 (ids), a lateral probe of the
// primary key per id: with a plain join or id = ANY(...) the planner
// hashes a whole month of clicks (measured: 102 ms against 10 ms for
// 2,000 ids in 300,000 clicks). Run it through probe: planned while a
// partition of clicks (any month's: the probe does not prune by month)
// was analyzed while empty, each probe scans that partition.
const loadClicksSQL = `SELECT k.id, k.partner, k.code, k.course_id, k.placement, k.utm_source,
		k.utm_medium, k.utm_campaign, k.bot FROM unnest($1::text[]) AS u(id)
		CROSS JOIN LATERAL (SELECT * FROM clicks c WHERE c.id = u.id LIMIT 1) k`

func loadClicks(ctx context.Context, tx *sql.Tx, ids []string) (map[string]clickRef, error) {
	out := map[string]clickRef{}
	if len(ids) == 0 {
		return out, nil
	}
	err := probe(ctx, tx, func(rows *sql.Rows) error {
		var id string
		var c clickRef
		a := &c.attr
		if err := rows.Scan(&id, &c.partner, &a.Code, &a.CourseID, &a.Placement, &a.UTMSource, &a.UTMMedium,
			&a.UTMCamp, &a.Bot); err != nil {
			return err
		}
		a.Attributed = true
		out[id] = c
		return nil
	}, loadClicksSQL, database.TextArray(ids))
	if err != nil {
		return nil, fmt.Errorf("load clicks: %w", err)
	}
	return out, nil
}

// recompute folds the conversions' events again, attributes them to their
// clicks, applies what changed and then reallocates remittances for the
// partners and currencies involved.
func (s *Store) recompute(ctx context.Context, tx *sql.Tx, p periods, keys []convKey, c cause) error {
	current, err := loadConversions(ctx, tx, keys)
	if err != nil {
		return err
	}
	// A conversion with no row yet has no events but this batch's: only
	// the others' events are read back.
	var stored []convKey
	for _, k := range keys {
		if _, ok := current[k]; ok || c.batch[k] == nil {
			stored = append(stored, k)
		}
	}
	evs, err := loadEvents(ctx, tx, stored)
	if err != nil {
		return err
	}
	for k, list := range evs {
		if len(c.later) > 0 {
			evs[k] = slices.DeleteFunc(list, func(e ledger.Event) bool { return c.later[e.ID] })
		}
	}
	for k, list := range c.batch {
		if _, ok := current[k]; !ok {
			evs[k] = list
		}
	}
	var clickIDs []string
	folded := make(map[convKey]ledger.State, len(keys))
	for _, k := range keys {
		paid := current[k].state.Paid
		if cur := current[k].state; cur.Paid != 0 && ledger.Fold(evs[k], 0).Currency != cur.Currency {
			// Money paid in one currency does not pay another: the
			// allocation of both currencies below decides it again.
			paid = 0
		}
		st := ledger.Fold(evs[k], paid)
		folded[k] = st
		if st.ClickID != "" {
			clickIDs = append(clickIDs, st.ClickID)
		}
	}
	clicks, err := loadClicks(ctx, tx, clickIDs)
	if err != nil {
		return err
	}
	var changes []change
	for _, k := range keys {
		old := current[k]
		next := row{state: folded[k], lastTxn: old.lastTxn}
		if ref, ok := clicks[next.state.ClickID]; ok && ref.partner == k.partner {
			next.attr = ref.attr
		}
		if next.state == old.state && next.attr == old.attr {
			continue
		}
		ch := change{key: k, old: old, new: next}
		// What is not a step of the timeline (what remittances paid)
		// takes effect when its last event (in the order Fold applies
		// them) happened.
		var last ledger.Event
		for _, e := range evs[k] {
			if ch.eventID == "" || ledger.Compare(e, last) > 0 {
				last, ch.at, ch.eventID = e, e.OccurredAt, e.ID
			}
		}
		// The event this round applies, if any, is the batch's last of
		// the conversion: the old state is the fold of the others.
		before := evs[k]
		if b := c.batch[k]; len(b) > 0 {
			newest := b[len(b)-1].ID
			before = slices.DeleteFunc(slices.Clone(before), func(e ledger.Event) bool { return e.ID == newest })
		}
		ch.steps = ledger.Moves(before, evs[k], old.state, next.state, ch.at)
		changes = append(changes, ch)
	}
	if err := s.apply(ctx, tx, p, changes, c); err != nil {
		return err
	}
	pairs := map[[2]string]bool{}
	for _, ch := range changes {
		for _, st := range []ledger.State{ch.old.state, ch.new.state} {
			if st.Exists() {
				pairs[[2]string{ch.key.partner, st.Currency}] = true
			}
		}
	}
	return s.allocate(ctx, tx, p, pairs, c.recordedAt)
}

// allocate applies each partner's remittances in a currency to its
// approved commission, the orders remittances name first and then oldest
// purchase first (allocationTargets): the part of each conversion
// the remitted total covers is its paid amount. It is a function of the
// remittances and the conversions alone, so any order of arrival gives the
// same allocation.
func (s *Store) allocate(ctx context.Context, tx *sql.Tx, p periods, pairs map[[2]string]bool, recordedAt time.Time) error {
	sorted := make([][2]string, 0, len(pairs))
	for pair := range pairs {
		sorted = append(sorted, pair)
	}
	sort.Slice(sorted, func(i, j int) bool {
		return sorted[i][0] < sorted[j][0] || sorted[i][0] == sorted[j][0] && sorted[i][1] < sorted[j][1]
	})
	for _, pair := range sorted {
		var remitted, applied int64
		err := tx.QueryRowContext(ctx, `SELECT remitted_minor, applied_minor FROM payout_balances
			WHERE partner = $1 AND currency = $2 FOR UPDATE`, pair[0], pair[1]).Scan(&remitted, &applied)
		if errors.Is(err, sql.ErrNoRows) {
			continue // never remitted, so nothing is or was paid
		}
		if err != nil {
			return fmt.Errorf("allocate %s %s: %w", pair[0], pair[1], err)
		}
		keys, targets, err := allocationTargets(ctx, tx, pair[0], pair[1], remitted)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			continue
		}
		// The targets were read without locks, in a snapshot that a
		// concurrent ingest may have changed since (a conversion moved to
		// another currency, say). Lock the rows, read the targets again
		// (a new statement sees what committed meanwhile), until the two
		// agree: then every row allocated to is locked and current.
		var current map[convKey]row
		for settled := false; !settled; {
			if current, err = loadConversions(ctx, tx, keys); err != nil {
				return err
			}
			again, againTargets, err := allocationTargets(ctx, tx, pair[0], pair[1], remitted)
			if err != nil {
				return err
			}
			settled = slices.Equal(again, keys) && slices.Equal(againTargets, targets)
			keys, targets = again, againTargets
		}
		changes := make([]change, 0, len(keys))
		for i, k := range keys {
			old := current[k]
			if old.state.Currency != pair[1] || old.state.Status != ledger.StatusApproved {
				return fmt.Errorf("allocate %s %s: conversion %s changed under the allocation", pair[0], pair[1], k.orderID)
			}
			next := old
			next.state = old.state.WithPaid(targets[i])
			if next.state == old.state {
				continue
			}
			changes = append(changes, change{key: k, old: old, new: next, at: recordedAt})
		}
		if err := s.apply(ctx, tx, p, changes, cause{recordedAt: recordedAt, kind: "allocation",
			description: "remittances applied oldest purchase first"}); err != nil {
			return err
		}
	}
	return nil
}

func allocationTargets(ctx context.Context, tx *sql.Tx, partner, currency string, remitted int64) ([]convKey, []int64, error) {
	// Orders remittances name (remittance_orders) are paid their named
	// amount first, at most their commission; what else was remitted pays
	// the rest of every approved commission, oldest purchase first. With
	// no named orders, that is oldest-first alone.
	rows, err := tx.QueryContext(ctx, `
		WITH named AS (
			SELECT order_id, sum(amount_minor) AS amount FROM remittance_orders
			WHERE partner = $1 AND currency = $2 GROUP BY order_id
		), c AS (
			SELECT c.order_id, c.purchased_at, c.paid_minor, c.commission_minor,
				least(c.commission_minor, coalesce(n.amount, 0)) AS named
			FROM conversions c LEFT JOIN named n USING (order_id)
			WHERE c.partner = $1 AND c.currency = $2 AND c.status = 'approved'
		), pool AS (SELECT $3 - coalesce(sum(named), 0) AS free FROM c)
		SELECT order_id, target FROM (
			SELECT order_id, paid_minor, named + greatest(0, least(commission_minor - named,
				(SELECT free FROM pool) - (sum(commission_minor - named) OVER w - (commission_minor - named)))) AS target
			FROM c
			WINDOW w AS (ORDER BY purchased_at, order_id ROWS UNBOUNDED PRECEDING)
		) t WHERE target <> paid_minor ORDER BY order_id`, partner, currency, remitted)
	if err != nil {
		return nil, nil, fmt.Errorf("allocate %s %s: %w", partner, currency, err)
	}
	defer rows.Close()
	var keys []convKey
	var targets []int64
	for rows.Next() {
		var order string
		var target int64
		if err := rows.Scan(&order, &target); err != nil {
			return nil, nil, err
		}
		keys = append(keys, convKey{partner, order})
		targets = append(targets, target)
	}
	return keys, targets, rows.Err()
}

type rollupCell struct {
	bucket time.Time
	key    ledger.RollupKey
}

// cell is where a contribution purchased at at and recorded at recorded
// counts: its purchase's quarter-hour, or, when that month was closed at
// recorded (and is not reopened since: conversionBucket), the
// recording's in the open month, its key then naming the purchase's
// quarter-hour, at whose date reports convert its money.
func (ps periods) cell(key ledger.RollupKey, at, recorded time.Time) rollupCell {
	bucket := ps.conversionBucket(at, recorded)
	if purchased := at.UTC().Truncate(Quarter); !bucket.Equal(purchased) {
		key.FXAt = purchased.Unix()
	}
	return rollupCell{bucket, key}
}

// apply writes changes: a ledger transaction for each change of balances
// (pointing at the conversion's previous one), the conversions' new rows,
// and the rollup deltas: the old contribution out, the new one in.
func (s *Store) apply(ctx context.Context, tx *sql.Tx, p periods, changes []change, c cause) error {
	if len(changes) == 0 {
		return nil
	}
	kind := c.kind
	if kind == "" {
		kind = "conversion"
	}
	type posted struct {
		i        int
		eff      time.Time
		postings []ledger.Posting
	}
	var txns []posted
	for i, ch := range changes {
		steps := ch.steps
		if steps == nil {
			steps = []ledger.Step{{At: ch.at, Postings: ledger.Diff(ch.old.state, ch.new.state)}}
		}
		for _, st := range steps {
			if len(st.Postings) == 0 {
				continue
			}
			eff := st.At
			if eff.IsZero() {
				eff = c.recordedFor(ch.key)
			}
			// A change to a month closed when it was recorded takes
			// effect in the open period, as its rollups do: the closed
			// month's statements stay as they were closed.
			eff = p.effective(eff, c.recordedFor(ch.key))
			if n := len(txns); n > 0 && txns[n-1].i == i && txns[n-1].eff.Equal(eff) {
				// Steps in months closed when the change was recorded
				// all take effect at that instant: one transaction.
				txns[n-1].postings = ledger.Sum(txns[n-1].postings, st.Postings)
				continue
			}
			txns = append(txns, posted{i, eff, st.Postings})
		}
	}
	txns = slices.DeleteFunc(txns, func(tp posted) bool { return len(tp.postings) == 0 })
	if len(txns) > 0 {
		ids, err := nextTxnIDs(ctx, tx, len(txns))
		if err != nil {
			return err
		}
		var t struct {
			id, corrects                            []sql.NullInt64
			partner, order, event, effective, descr []string
		}
		var e struct {
			txn                                      []int64
			account, partner, order, currency, effAt []string
			amount                                   []int64
		}
		for j, tp := range txns {
			ch := &changes[tp.i]
			id := ids[j]
			effS := tp.eff.UTC().Format(time.RFC3339Nano)
			descr := c.description
			if descr == "" {
				descr = describe(ch.old.state, ch.new.state)
			}
			t.id = append(t.id, sql.NullInt64{Int64: id, Valid: true})
			t.corrects = append(t.corrects, ch.new.lastTxn) // the conversion's previous transaction
			t.partner = append(t.partner, ch.key.partner)
			t.order = append(t.order, ch.key.orderID)
			t.event = append(t.event, ch.eventID)
			t.effective = append(t.effective, effS)
			t.descr = append(t.descr, descr)
			for _, ps := range tp.postings {
				e.txn = append(e.txn, id)
				e.account = append(e.account, ps.Account)
				e.partner = append(e.partner, ch.key.partner)
				e.order = append(e.order, ch.key.orderID)
				e.currency = append(e.currency, ps.Currency)
				e.amount = append(e.amount, ps.Amount)
				e.effAt = append(e.effAt, effS)
			}
			ch.new.lastTxn = sql.NullInt64{Int64: id, Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO ledger_transactions (id, kind, partner, order_id, event_id, corrects, effective_at, description)
			SELECT id, $1, partner, order_id, nullif(event_id, ''), corrects, effective::timestamptz, descr
			FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[])
				AS t(id, partner, order_id, event_id, corrects, effective, descr)`,
			kind, pq.Array(t.id), database.TextArray(t.partner), database.TextArray(t.order), database.TextArray(t.event), pq.Array(t.corrects),
			database.TextArray(t.effective), database.TextArray(t.descr)); err != nil {
			return fmt.Errorf("post ledger transactions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO ledger_entries (txn_id, account, partner, order_id, currency, amount_minor, effective_at)
			SELECT txn, account, partner, order_id, currency, amount, eff::timestamptz
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[])
				AS e(txn, account, partner, order_id, currency, amount, eff)`,
			database.Int8Array(e.txn), database.TextArray(e.account), database.TextArray(e.partner), database.TextArray(e.order), database.TextArray(e.currency),
			database.Int8Array(e.amount), database.TextArray(e.effAt)); err != nil {
			return fmt.Errorf("post ledger entries: %w", err)
		}
	}
	if err := upsertConversions(ctx, tx, changes, !c.unraced); err != nil {
		return err
	}
	if err := addApplied(ctx, tx, changes); err != nil {
		return err
	}
	var deltas rollupDeltas
	for _, ch := range changes {
		recorded := c.recordedFor(ch.key)
		if key, at, old := ledger.Contribute(ch.key.partner, ch.old.state, ch.old.attr); ch.old.state.Exists() {
			deltas.add(p.cell(key, at, recorded), old.Neg())
		}
		if key, at, next := ledger.Contribute(ch.key.partner, ch.new.state, ch.new.attr); ch.new.state.Exists() {
			deltas.add(p.cell(key, at, recorded), next)
		}
	}
	return s.addConversionRollups(ctx, tx, deltas.rows())
}

// rollupDeltas sums contributions per rollup cell. A cell whose sum would
// not fit in an int64 gets another delta row instead (the delta table
// takes several rows per cell, and its money columns are numeric), so a
// transaction touching any number of conversions never wraps a sum.
type rollupDeltas struct {
	sums  map[rollupCell]ledger.Contribution
	spilt []cellDelta
}

type cellDelta struct {
	cell rollupCell
	d    ledger.Contribution
}

func (r *rollupDeltas) add(cell rollupCell, d ledger.Contribution) {
	if r.sums == nil {
		r.sums = map[rollupCell]ledger.Contribution{}
	}
	sum, ok := r.sums[cell].Add(d)
	if !ok {
		r.spilt = append(r.spilt, cellDelta{cell, r.sums[cell]})
		sum = d
	}
	r.sums[cell] = sum
}

// rows are the delta rows to write, without those that change nothing.
func (r *rollupDeltas) rows() []cellDelta {
	out := make([]cellDelta, 0, len(r.sums)+len(r.spilt))
	for cell, d := range r.sums {
		out = append(out, cellDelta{cell, d})
	}
	out = append(out, r.spilt...)
	return slices.DeleteFunc(out, func(c cellDelta) bool { return c.d.IsZero() })
}

func describe(old, new ledger.State) string {
	switch {
	case !old.Exists():
		return "new " + new.Status + " conversion"
	case old.Status != new.Status:
		return old.Status + " -> " + new.Status
	case old.Currency != new.Currency:
		return "currency " + old.Currency + " -> " + new.Currency
	default:
		return "amount adjusted"
	}
}

func nextTxnIDs(ctx context.Context, tx *sql.Tx, n int) ([]int64, error) {
	// The sequence named once, as a constant: pg_get_serial_sequence in
	// the select list ran its catalog lookup for every id, ten times the
	// nextval itself (74 ms against 7 ms for 20,000 ids).
	rows, err := tx.QueryContext(ctx, `SELECT nextval('ledger_transactions_id_seq') FROM generate_series(1, $1)`, n)
	if err != nil {
		return nil, fmt.Errorf("ledger ids: %w", err)
	}
	defer rows.Close()
	ids := make([]int64, 0, n)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// upsertConversions stores changes; raced is whether their transaction
// may have raced a click's (cause.unraced).
func upsertConversions(ctx context.Context, tx *sql.Tx, changes []change, raced bool) error {
	var c struct {
		partner, order, status, currency, purchased, click, bought, code, course, placement, src, med, camp []string
		sale, commission, paid                                                                              []int64
		lastTxn                                                                                             []sql.NullInt64
		attributed, bot                                                                                     []bool
		events                                                                                              []int64
	}
	for _, ch := range changes {
		s, a := ch.new.state, ch.new.attr
		c.partner = append(c.partner, ch.key.partner)
		c.order = append(c.order, ch.key.orderID)
		c.status = append(c.status, s.Status)
		c.currency = append(c.currency, s.Currency)
		c.purchased = append(c.purchased, s.PurchasedAt.UTC().Format(time.RFC3339Nano))
		c.click = append(c.click, s.ClickID)
		c.bought = append(c.bought, s.BoughtCourseID)
		c.code = append(c.code, a.Code)
		c.course = append(c.course, a.CourseID)
		c.placement = append(c.placement, a.Placement)
		c.src = append(c.src, a.UTMSource)
		c.med = append(c.med, a.UTMMedium)
		c.camp = append(c.camp, a.UTMCamp)
		c.sale = append(c.sale, s.Sale)
		c.commission = append(c.commission, s.Commission)
		c.paid = append(c.paid, s.Paid)
		c.lastTxn = append(c.lastTxn, ch.new.lastTxn)
		c.attributed = append(c.attributed, a.Attributed)
		c.bot = append(c.bot, a.Bot)
		c.events = append(c.events, int64(s.Events))
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO conversions AS c (partner, order_id, status, sale_minor, commission_minor, paid_minor, currency,
			purchased_at, click_id, bought_course_id, attributed, code, course_id, placement, utm_source, utm_medium,
			utm_campaign, bot, events, last_txn, raced)
		SELECT partner, order_id, status, sale, commission, paid, currency, purchased::timestamptz, click, bought,
			attributed, code, course, placement, src, med, camp, bot, events, last_txn, $21::bool
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[],
			$8::text[], $9::text[], $10::text[], $11::bool[], $12::text[], $13::text[], $14::text[], $15::text[],
			$16::text[], $17::text[], $18::bool[], $19::int[], $20::bigint[])
			AS t(partner, order_id, status, sale, commission, paid, currency, purchased, click, bought, attributed,
			code, course, placement, src, med, camp, bot, events, last_txn)
		ON CONFLICT (partner, order_id) DO UPDATE SET
			status = excluded.status, sale_minor = excluded.sale_minor, commission_minor = excluded.commission_minor,
			paid_minor = excluded.paid_minor, currency = excluded.currency, purchased_at = excluded.purchased_at,
			click_id = excluded.click_id, bought_course_id = excluded.bought_course_id,
			attributed = excluded.attributed, code = excluded.code, course_id = excluded.course_id,
			placement = excluded.placement, utm_source = excluded.utm_source, utm_medium = excluded.utm_medium,
			utm_campaign = excluded.utm_campaign, bot = excluded.bot, events = excluded.events,
			last_txn = excluded.last_txn, raced = excluded.raced, updated_at = now()`,
		database.TextArray(c.partner), database.TextArray(c.order), database.TextArray(c.status), database.Int8Array(c.sale), database.Int8Array(c.commission),
		database.Int8Array(c.paid), database.TextArray(c.currency), database.TextArray(c.purchased), database.TextArray(c.click), database.TextArray(c.bought),
		pq.Array(c.attributed), database.TextArray(c.code), database.TextArray(c.course), database.TextArray(c.placement), database.TextArray(c.src),
		database.TextArray(c.med), database.TextArray(c.camp), pq.Array(c.bot), pq.Array(c.events), pq.Array(c.lastTxn), raced)
	if err != nil {
		return fmt.Errorf("update conversions: %w", err)
	}
	return nil
}

func (s *Store) addConversionRollups(ctx context.Context, tx *sql.Tx, deltas []cellDelta) error {
	if len(deltas) == 0 {
		return nil
	}
	dims := make([]ledger.RollupKey, len(deltas))
	for i, cd := range deltas {
		dims[i] = cd.cell.key
	}
	ids, err := s.keyIDs(ctx, tx, dims)
	if err != nil {
		return err
	}
	var c struct {
		bucket                                                    []string
		key                                                       []int32
		n, direct, cross, sale, pending, approved, reversed, paid []int64
	}
	for i, cd := range deltas {
		cell, d := cd.cell, cd.d
		c.bucket = append(c.bucket, cell.bucket.Format(time.RFC3339))
		c.key = append(c.key, ids[i])
		c.n = append(c.n, d.Conversions)
		c.direct = append(c.direct, d.Direct)
		c.cross = append(c.cross, d.CrossSell)
		c.sale = append(c.sale, d.Sale)
		c.pending = append(c.pending, d.Pending)
		c.approved = append(c.approved, d.Approved)
		c.reversed = append(c.reversed, d.Reversed)
		c.paid = append(c.paid, d.Paid)
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO conversion_rollup_deltas (bucket, key_id, conversions, direct_conversions, cross_sell_conversions,
			sale_minor, pending_minor, approved_minor, reversed_minor, paid_minor)
		SELECT bucket::timestamptz, key, n, direct, cross_sell, sale, pending, approved, reversed, paid
		FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
			$8::bigint[], $9::bigint[], $10::bigint[])
			AS t(bucket, key, n, direct, cross_sell, sale, pending, approved, reversed, paid)`,
		database.TextArray(c.bucket), pq.Array(c.key), database.Int8Array(c.n), database.Int8Array(c.direct), database.Int8Array(c.cross), database.Int8Array(c.sale),
		database.Int8Array(c.pending), database.Int8Array(c.approved), database.Int8Array(c.reversed), database.Int8Array(c.paid))
	if err != nil {
		return fmt.Errorf("update conversion rollups: %w", err)
	}
	return nil
}

// addApplied keeps payout_balances.applied_minor equal to the paid amounts
// of the partner's conversions. The changes' paid amounts are summed with
// checked arithmetic; a sum that would not fit is applied in parts,
// decreases first, so no statement takes applied_minor past what it ends
// at (at most what was remitted, a bigint).
func addApplied(ctx context.Context, tx *sql.Tx, changes []change) error {
	type part struct {
		key [2]string
		d   int64
	}
	delta := map[[2]string]int64{}
	var parts []part
	add := func(k [2]string, d int64) {
		sum, ok := money.AddMinor(delta[k], d)
		if !ok {
			parts = append(parts, part{k, delta[k]})
			sum = d
		}
		delta[k] = sum
	}
	for _, ch := range changes {
		if ch.old.state.Paid != 0 {
			add([2]string{ch.key.partner, ch.old.state.Currency}, -ch.old.state.Paid)
		}
		if ch.new.state.Paid != 0 {
			add([2]string{ch.key.partner, ch.new.state.Currency}, ch.new.state.Paid)
		}
	}
	for k, d := range delta {
		parts = append(parts, part{k, d})
	}
	// In key order, so concurrent transactions lock balances in one order.
	slices.SortFunc(parts, func(a, b part) int {
		if c := cmp.Compare(a.key[0]+"\x00"+a.key[1], b.key[0]+"\x00"+b.key[1]); c != 0 {
			return c
		}
		return cmp.Compare(a.d, b.d)
	})
	for _, p := range parts {
		if p.d == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE payout_balances SET applied_minor = applied_minor + $3
			WHERE partner = $1 AND currency = $2`, p.key[0], p.key[1], p.d); err != nil {
			return fmt.Errorf("update applied remittances: %w", err)
		}
	}
	return nil
}
