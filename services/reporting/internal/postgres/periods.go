package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// Quarter is the width of a rollup bucket: every offset a time zone has
// had since 2000 is a multiple of it, so a day in any zone is a whole
// number of buckets (contract v1.1, "Time zones").
const Quarter = 15 * time.Minute

// period is one row of the periods history: a month of its zone, closed
// from closedAt until reopenedAt (zero: still closed).
type period struct {
	id                   int64
	month                time.Time // the first day, as a date (UTC midnight)
	zone                 *time.Location
	start, end           time.Time // the month's first instant and the next month's, in zone
	closedAt, reopenedAt time.Time
	closedBy, reopenedBy string
}

func (p period) closedAtInstant(t time.Time) bool {
	return !t.Before(p.closedAt) && (p.reopenedAt.IsZero() || t.Before(p.reopenedAt))
}

// periods are every month ever closed, with their history.
type periods []period

func loadPeriods(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (periods, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, month, time_zone, closed_at, reopened_at, closed_by, coalesce(reopened_by, '')
		FROM periods ORDER BY month, id`)
	if err != nil {
		return nil, fmt.Errorf("load periods: %w", err)
	}
	defer rows.Close()
	var out periods
	for rows.Next() {
		var p period
		var tz string
		var reopened sql.NullTime
		if err := rows.Scan(&p.id, &p.month, &tz, &p.closedAt, &reopened, &p.closedBy, &p.reopenedBy); err != nil {
			return nil, err
		}
		if p.zone, err = time.LoadLocation(tz); err != nil {
			return nil, fmt.Errorf("period %s: time zone %q: %w", p.month.Format("2006-01"), tz, err)
		}
		p.start, p.end = report.MonthBounds(p.month, p.zone)
		p.closedAt = p.closedAt.UTC()
		if reopened.Valid {
			p.reopenedAt = reopened.Time.UTC()
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// effective is when a change at time t takes effect when it is recorded
// at recordedAt: at t, unless t's month was closed at recordedAt (by the
// periods' history, so the answer never depends on when it is asked), in
// which case the change is an adjustment in the open period, at the
// instant it was recorded. Rollups and the ledger both place changes by
// it, so a closed month's report and its payout statements stay as they
// were closed.
func (ps periods) effective(t, recordedAt time.Time) time.Time {
	if _, closed := ps.closedAt(t, recordedAt); closed {
		return recordedAt
	}
	return t
}

// bucket is the rollup quarter-hour of effective(t, recordedAt).
func (ps periods) bucket(t, recordedAt time.Time) time.Time {
	return ps.effective(t, recordedAt).UTC().Truncate(Quarter)
}

// periodsLock is the advisory lock of the periods: closing, reopening,
// a rate or a remittance hold it alone (a month cannot close between
// their check and their commit); every transaction that reads the
// periods to place a change holds it shared, taken first, before any
// other lock (lockPeriodsShared). So no change is placed by periods that
// a close or a reopen committed meanwhile: a batch that read November
// closed, written after a reopening had moved November's adjustments
// back, stayed in December while November was open (a re-check), and
// live and a replay differed there.
const periodsLock = `hashtext(current_schema() || '.periods')`

// lockPeriods takes periodsLock alone for the rest of tx: a close, a
// reopening, a rate or a remittance, each as its first lock.
func lockPeriods(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(`+periodsLock+`)`); err != nil {
		return fmt.Errorf("periods lock: %w", err)
	}
	return nil
}

// lockPeriodsShared takes periodsLock shared for the rest of tx. It must
// be tx's first lock: a transaction holding it shared never waits for
// one holding it alone, which never holds a lock such a transaction has.
func lockPeriodsShared(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock_shared(`+periodsLock+`)`); err != nil {
		return fmt.Errorf("periods lock: %w", err)
	}
	return nil
}

// conversionBucket is the rollup quarter-hour of a change to a conversion
// purchased at t, recorded at recordedAt: bucket's, except that a month
// reopened since its change was recorded, and open now, has taken its
// adjustments back (restoreAdjustments), so the change counts in the
// purchase's quarter-hour, as it would had it been applied before the
// reopening moved it there. Clicks keep bucket: they never change, so nothing
// takes their old figures out of a cell, and their rows name no purchase
// time a reopening could move them back to.
func (ps periods) conversionBucket(t, recordedAt time.Time) time.Time {
	if _, closed := ps.closedAt(t, recordedAt); closed && ps.closedNow(t) {
		return recordedAt.UTC().Truncate(Quarter)
	}
	return t.UTC().Truncate(Quarter)
}

// closedNow reports whether t is in a month closed now: closed again
// after a reopening, a change recorded while it was first closed counts
// as an adjustment, its month's figures frozen as they closed.
func (ps periods) closedNow(t time.Time) bool {
	for _, p := range ps.current() {
		if !t.Before(p.start) && t.Before(p.end) {
			return true
		}
	}
	return false
}

// closedAt returns the period that holds t and was closed at instant at,
// if any.
func (ps periods) closedAt(t, at time.Time) (period, bool) {
	for _, p := range ps {
		if !t.Before(p.start) && t.Before(p.end) && p.closedAtInstant(at) {
			return p, true
		}
	}
	return period{}, false
}

// current are the periods closed now.
func (ps periods) current() periods {
	var out periods
	for _, p := range ps {
		if p.reopenedAt.IsZero() {
			out = append(out, p)
		}
	}
	return out
}

// final reports whether every instant of [from, to) is in a month closed now.
func (ps periods) final(from, to time.Time) bool {
	for t := from; t.Before(to); {
		covered := false
		for _, p := range ps {
			if p.reopenedAt.IsZero() && !t.Before(p.start) && t.Before(p.end) {
				t, covered = p.end, true
				break
			}
		}
		if !covered {
			return false
		}
	}
	return true
}

// ErrPeriodClosed is a change a closed month's figures would show.
var ErrPeriodClosed = errs.New(errs.Conflict, "period_closed", "the month is closed")

// FinanceZone is the zone months are closed in (FINANCE_TIME_ZONE).
func (s *Store) FinanceZone() *time.Location {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finance == nil {
		return time.UTC
	}
	return s.finance
}

// SetFinanceZone sets the zone months are closed in from now on. It is
// refused while a month closed in another zone is still closed: its
// figures were frozen as that zone cut them.
func (s *Store) SetFinanceZone(ctx context.Context, zone *time.Location) error {
	ps, err := loadPeriods(ctx, s.db)
	if err != nil {
		return database.Classify(err)
	}
	for _, p := range ps.current() {
		if p.zone.String() != zone.String() {
			return fmt.Errorf("month %s was closed in %s, not %s: reopen it (PUT /v1/periods/%s {\"status\":\"open\"}) or keep %s",
				p.month.Format("2006-01"), p.zone, zone, p.month.Format("2006-01"), p.zone)
		}
	}
	s.mu.Lock()
	s.finance = zone
	s.mu.Unlock()
	return nil
}

// ClosedPeriods lists the months (YYYY-MM) closed now that overlap [from, to).
func (s *Store) ClosedPeriods(ctx context.Context, from, to time.Time) ([]string, error) {
	ps, err := loadPeriods(ctx, s.db)
	if err != nil {
		return nil, database.Classify(err)
	}
	out := []string{}
	for _, p := range ps.current() {
		if p.end.After(from) && p.start.Before(to) {
			out = append(out, p.month.Format("2006-01"))
		}
	}
	return out, nil
}

// FinalDays are the days of [from, to), cut in zone, that lie wholly in
// months closed now: their figures will not change. Consecutive days are
// one range (From inclusive, To exclusive, as a report's from and to).
func (s *Store) FinalDays(ctx context.Context, from, to time.Time, zone *time.Location) ([]report.DayRange, error) {
	ps, err := loadPeriods(ctx, s.db)
	if err != nil {
		return nil, database.Classify(err)
	}
	ps = ps.current()
	out := []report.DayRange{}
	if len(ps) == 0 {
		return out, nil
	}
	for d := from.In(zone); d.Before(to); {
		next := report.DayStart(d.Year(), d.Month(), d.Day()+1, zone)
		if ps.final(d, next) {
			day, nextDay := d.Format(time.DateOnly), next.Format(time.DateOnly)
			if n := len(out); n > 0 && out[n-1].To == day {
				out[n-1].To = nextDay
			} else {
				out = append(out, report.DayRange{From: day, To: nextDay})
			}
		}
		d = next
	}
	return out, nil
}

// ClosePeriod closes month (its first day, as a date) in the finance time
// zone as of now, records its figures (for `reporting verify`) and the
// action in the journal. Closing a closed month again changes nothing.
func (s *Store) ClosePeriod(ctx context.Context, month time.Time, now time.Time, actor string) (report.Period, error) {
	zone := s.FinanceZone()
	_, end := report.MonthBounds(month, zone)
	if now.Before(end) {
		return report.Period{}, report.ErrOpenMonth
	}
	var out report.Period
	err := database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		var err error
		out, err = closePeriod(ctx, tx, month, zone, now, actor)
		return err
	})
	return out, database.Classify(err)
}

func closePeriod(ctx context.Context, tx *sql.Tx, month time.Time, zone *time.Location, now time.Time, actor string) (report.Period, error) {
	name := month.Format("2006-01")
	// One closer at a time: the partial unique index would refuse the
	// second, but the first's figures must be read once.
	if err := lockPeriods(ctx, tx); err != nil {
		return report.Period{}, err
	}
	var closed time.Time
	var tz string
	err := tx.QueryRowContext(ctx, `SELECT closed_at, time_zone FROM periods WHERE month = $1::date AND reopened_at IS NULL`,
		month.Format(time.DateOnly)).Scan(&closed, &tz)
	if err == nil {
		return report.Period{Month: name, Status: "closed", ClosedAt: &closed, TimeZone: tz}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return report.Period{}, err
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO periods (month, closed_at, time_zone, closed_by) VALUES ($1::date, $2, $3, $4)
		RETURNING id, closed_at`, month.Format(time.DateOnly), now.UTC(), zone.String(), actor).Scan(&id, &closed); err != nil {
		return report.Period{}, fmt.Errorf("close period: %w", err)
	}
	if err := insertPeriodFigures(ctx, tx, id, month, zone); err != nil {
		return report.Period{}, err
	}
	if err := journal(ctx, tx, KindPeriodClosed, now, actor, periodPayload{Month: name, TimeZone: zone.String(),
		From: "open", To: "closed"}); err != nil {
		return report.Period{}, err
	}
	return report.Period{Month: name, Status: "closed", ClosedAt: &closed, TimeZone: zone.String()}, nil
}

// RefreshClosedFigures records again the figures month closed with, for
// its close made at closedAt, if that close is still in force: once the
// events recorded before the close are stored (reporting.Service.ClosePeriod
// waits for them), these are the figures it closed with.
func (s *Store) RefreshClosedFigures(ctx context.Context, month, closedAt time.Time) error {
	return database.Classify(database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		if err := lockPeriods(ctx, tx); err != nil {
			return err
		}
		var id int64
		var tz string
		err := tx.QueryRowContext(ctx, `SELECT id, time_zone FROM periods WHERE month = $1::date AND reopened_at IS NULL AND closed_at = $2`,
			month.Format(time.DateOnly), closedAt.UTC()).Scan(&id, &tz)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // reopened meanwhile, or another close
		}
		if err != nil {
			return fmt.Errorf("refresh closed figures: %w", err)
		}
		zone, err := time.LoadLocation(tz)
		if err != nil {
			return fmt.Errorf("refresh closed figures: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM period_figures WHERE period_id = $1`, id); err != nil {
			return fmt.Errorf("refresh closed figures: %w", err)
		}
		return insertPeriodFigures(ctx, tx, id, month, zone)
	}))
}

// insertPeriodFigures records month's figures (in zone) for period id.
func insertPeriodFigures(ctx context.Context, tx *sql.Tx, id int64, month time.Time, zone *time.Location) error {
	start, end := report.MonthBounds(month, zone)
	if _, err := tx.ExecContext(ctx, `INSERT INTO period_figures (period_id, key_id, clicks, bot_clicks, conversions,
			sale_minor, pending_minor, approved_minor, reversed_minor, paid_minor)
		SELECT $1, key_id, sum(clicks), sum(bot_clicks), sum(conversions), sum(sale), sum(pending), sum(approved),
			sum(reversed), sum(paid)
		FROM `+periodFiguresSource+` GROUP BY key_id`, id, start.UTC(), end.UTC()); err != nil {
		return fmt.Errorf("close period: figures: %w", err)
	}
	return nil
}

// periodFiguresSource is a month's rollup figures ($2 <= bucket < $3) per
// key, compacted or not.
const periodFiguresSource = `(
	SELECT key_id, clicks, bot_clicks, 0 AS conversions, 0 AS sale, 0 AS pending, 0 AS approved, 0 AS reversed, 0 AS paid
		FROM click_rollups WHERE bucket >= $2 AND bucket < $3
	UNION ALL SELECT key_id, clicks, bot_clicks, 0, 0, 0, 0, 0, 0
		FROM click_rollup_deltas WHERE bucket >= $2 AND bucket < $3
	UNION ALL SELECT key_id, 0, 0, conversions, sale_minor, pending_minor, approved_minor, reversed_minor, paid_minor
		FROM conversion_rollups WHERE bucket >= $2 AND bucket < $3
	UNION ALL SELECT key_id, 0, 0, conversions, sale_minor, pending_minor, approved_minor, reversed_minor, paid_minor
		FROM conversion_rollup_deltas WHERE bucket >= $2 AND bucket < $3) f`

type periodPayload struct {
	Month    string `json:"month"`
	TimeZone string `json:"time_zone,omitempty"`
	From     string `json:"from"`
	To       string `json:"to"`
}

// ReopenPeriod reopens month (closed in any zone) as of now: changes to
// it count in it again. The row closing it is kept, with when and by whom
// it was reopened, and the journal records the action. Reopening an open
// month changes nothing.
func (s *Store) ReopenPeriod(ctx context.Context, month time.Time, now time.Time, actor string) (report.Period, error) {
	var out report.Period
	err := database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		var err error
		out, err = s.reopenPeriod(ctx, tx, month, now, actor)
		return err
	})
	return out, database.Classify(err)
}

func (s *Store) reopenPeriod(ctx context.Context, tx *sql.Tx, month time.Time, now time.Time, actor string) (report.Period, error) {
	name := month.Format("2006-01")
	// One closer or reopener at a time: the adjustments to move back are
	// read once, with no close in between.
	if err := lockPeriods(ctx, tx); err != nil {
		return report.Period{}, err
	}
	var tz string
	err := tx.QueryRowContext(ctx, `UPDATE periods SET reopened_at = greatest($2, closed_at), reopened_by = $3
		WHERE month = $1::date AND reopened_at IS NULL RETURNING time_zone`, month.Format(time.DateOnly), now.UTC(), actor).Scan(&tz)
	if errors.Is(err, sql.ErrNoRows) {
		return report.Period{Month: name, Status: "open"}, nil
	}
	if err != nil {
		return report.Period{}, fmt.Errorf("reopen period: %w", err)
	}
	if err := restoreAdjustments(ctx, tx); err != nil {
		return report.Period{}, err
	}
	if err := journal(ctx, tx, KindPeriodReopened, now, actor, periodPayload{Month: name, TimeZone: tz, From: "closed", To: "open"}); err != nil {
		return report.Period{}, err
	}
	return report.Period{Month: name, Status: "open", TimeZone: tz}, nil
}

// restoreAdjustments moves the conversion rollups of changes made to
// purchases while their month was closed (adjustments: rows whose key
// names their purchase's quarter-hour, fx_at, counted in a later open
// month) back to their purchase's quarter-hour, for every purchase whose
// month is open now, once a month is reopened. Its report then holds its
// purchases whole, as the contract has it (a conversion counts in its
// purchase's period), and a later change of one of them takes its old
// figures out of the month that holds them: left in the later month, a
// purchase approved after the reopening showed there as still pending,
// and the reopened month as pending less than nothing (a finance
// review). Every open month's, not only the reopened one's: an
// adjustment held by a month that was closed when its purchase's month
// reopened moves back once it reopens too. Rows in a month closed now
// stay (it is frozen), as do the adjustments of purchases in one. Ledger
// entries do not move: statements show money in the month it moved.
//
// The rows are read once, into a table of the transaction's own: read
// twice (their keys, then the move), an adjustment committed in between
// would be taken out of its cell with no key to put it back under.
func restoreAdjustments(ctx context.Context, tx *sql.Tx) error {
	ps, err := loadPeriods(ctx, tx)
	if err != nil {
		return err
	}
	var frozenFrom, frozenTo []string
	for _, p := range ps.current() {
		frozenFrom = append(frozenFrom, p.start.UTC().Format(time.RFC3339Nano))
		frozenTo = append(frozenTo, p.end.UTC().Format(time.RFC3339Nano))
	}
	sums := make([]string, len(conversionMeasures))
	for i, m := range conversionMeasures {
		sums[i] = "sum(b." + m + ") AS " + m
	}
	frozen := func(col string) string {
		return `EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) AS f(s, e)
			WHERE ` + col + ` >= f.s::timestamptz AND ` + col + ` < f.e::timestamptz)`
	}
	if _, err := tx.ExecContext(ctx, `
		CREATE TEMPORARY TABLE restored_adjustments ON COMMIT DROP AS
		SELECT b.bucket, b.key_id, k.fx_at, k.partner, k.course_id, k.code, k.placement, k.currency, `+strings.Join(sums, ", ")+`
		FROM (SELECT bucket, key_id, `+strings.Join(conversionMeasures, ", ")+` FROM conversion_rollups
			UNION ALL SELECT bucket, key_id, `+strings.Join(conversionMeasures, ", ")+` FROM conversion_rollup_deltas) b
		JOIN rollup_keys k ON k.id = b.key_id
		WHERE k.fx_at > '-infinity' AND NOT `+frozen("k.fx_at")+` AND NOT `+frozen("b.bucket")+`
		GROUP BY b.bucket, b.key_id, k.fx_at, k.partner, k.course_id, k.code, k.placement, k.currency`,
		database.TextArray(frozenFrom), database.TextArray(frozenTo)); err != nil {
		return fmt.Errorf("reopen period: read the adjustments to move back: %w", err)
	}
	// Their keys without the purchase time, for the purchase's own cell.
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO rollup_keys (partner, course_id, code, placement, currency, fx_at)
		SELECT DISTINCT partner, course_id, code, placement, currency, '-infinity'::timestamptz
		FROM restored_adjustments ORDER BY 1, 2, 3, 4, 5
		ON CONFLICT DO NOTHING`); err != nil {
		return fmt.Errorf("reopen period: keys of the adjustments: %w", err)
	}
	neg := make([]string, len(conversionMeasures))
	pos := make([]string, len(conversionMeasures))
	for i, m := range conversionMeasures {
		neg[i], pos[i] = "-a."+m, "a."+m
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO conversion_rollup_deltas (bucket, key_id, `+strings.Join(conversionMeasures, ", ")+`)
		SELECT a.bucket, a.key_id, `+strings.Join(neg, ", ")+` FROM restored_adjustments a
		UNION ALL
		SELECT a.fx_at, base.id, `+strings.Join(pos, ", ")+`
		FROM restored_adjustments a
		JOIN rollup_keys base ON base.partner = a.partner AND base.course_id = a.course_id AND base.code = a.code
			AND base.placement = a.placement AND base.currency = a.currency AND base.fx_at = '-infinity'`); err != nil {
		return fmt.Errorf("reopen period: move the adjustments back: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE restored_adjustments`); err != nil {
		return fmt.Errorf("reopen period: %w", err)
	}
	return nil
}

// Periods lists the months closed now, oldest first, and every change of
// a month's status (the audit), in the order they happened.
func (s *Store) Periods(ctx context.Context) ([]report.Period, []report.PeriodChange, error) {
	ps, err := loadPeriods(ctx, s.db)
	if err != nil {
		return nil, nil, database.Classify(err)
	}
	out := []report.Period{}
	for _, p := range ps.current() {
		closed := p.closedAt
		out = append(out, report.Period{Month: p.month.Format("2006-01"), Status: "closed", ClosedAt: &closed, TimeZone: p.zone.String()})
	}
	audit := []report.PeriodChange{}
	err = s.Journal(ctx, func(e JournalEntry) error {
		if e.Kind != KindPeriodClosed && e.Kind != KindPeriodReopened {
			return nil
		}
		var p periodPayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return fmt.Errorf("journal %d: %w", e.ID, err)
		}
		audit = append(audit, report.PeriodChange{Month: p.Month, From: p.From, To: p.To, At: e.RecordedAt, By: e.Actor,
			TimeZone: p.TimeZone})
		return nil
	})
	return out, audit, err
}

// checkRatesOpen refuses rates that would change a closed month's
// figures: one dated inside a month closed now, or one that would hold
// (until its pair's next rate) over a day of such a month. Dates are
// calendar days, as reports look rates up.
func checkRatesOpen(ctx context.Context, tx *sql.Tx, rates []report.Rate) error {
	ps, err := loadPeriods(ctx, tx)
	if err != nil {
		return err
	}
	ps = ps.current()
	if len(ps) == 0 {
		return nil
	}
	next, dates, err := nextRates(ctx, tx, rates)
	if err != nil {
		return err
	}
	for i, r := range rates {
		d := dates[i]
		for _, p := range ps {
			first := p.month
			last := first.AddDate(0, 1, -1)
			if d.After(last) || (next[i].Valid && !next[i].Time.After(first)) {
				continue
			}
			month := first.Format("2006-01")
			if !d.Before(first) {
				return errs.Newf(errs.Conflict, "period_closed",
					"the %s/%s rate dated %s is inside %s, which is closed: its figures are final. Reopen the month (PUT /v1/periods/%s {\"status\":\"open\"}, admin) to change it",
					r.Base, r.Quote, r.Date, month, month)
			}
			return errs.Newf(errs.Conflict, "period_closed",
				"the %s/%s rate dated %s would hold into %s, which is closed: its figures are final. Date it after the month, or reopen the month (PUT /v1/periods/%s {\"status\":\"open\"}, admin)",
				r.Base, r.Quote, r.Date, month, month)
		}
	}
	return nil
}

// nextRates finds, for each rate, the date of its pair's next rate (the
// day it stops holding), among the stored rates and the others being put,
// and returns each rate's date parsed. One query and one sort per pair,
// however many rates: a rates file may hold a hundred thousand.
func nextRates(ctx context.Context, tx *sql.Tx, rates []report.Rate) (next []sql.NullTime, dates []time.Time, err error) {
	type pair struct{ base, quote string }
	next = make([]sql.NullTime, len(rates))
	dates = make([]time.Time, len(rates))
	byPair := map[pair][]int{}
	bases, quotes, days := make([]string, len(rates)), make([]string, len(rates)), make([]string, len(rates))
	for i, r := range rates {
		if dates[i], err = time.Parse(time.DateOnly, r.Date); err != nil {
			return nil, nil, err // validated before: unreachable
		}
		k := pair{r.Base, r.Quote}
		byPair[k] = append(byPair[k], i)
		bases[i], quotes[i], days[i] = r.Base, r.Quote, r.Date
	}
	// Within the batch: the least later date of the same pair.
	for _, idx := range byPair {
		slices.SortStableFunc(idx, func(a, b int) int { return dates[a].Compare(dates[b]) })
		var later sql.NullTime
		for j := len(idx) - 1; j >= 0; {
			k := j
			for k >= 0 && dates[idx[k]].Equal(dates[idx[j]]) {
				next[idx[k]] = later
				k--
			}
			later = sql.NullTime{Time: dates[idx[j]], Valid: true}
			j = k
		}
	}
	// Among the stored rates: one index probe each.
	rows, err := tx.QueryContext(ctx, `SELECT u.n, (SELECT min(f.date) FROM fx_rates f
			WHERE f.base = u.base AND f.quote = u.quote AND f.date > u.day)
		FROM unnest($1::text[], $2::text[], $3::date[]) WITH ORDINALITY AS u(base, quote, day, n)`,
		pq.Array(bases), pq.Array(quotes), pq.Array(days))
	if err != nil {
		return nil, nil, fmt.Errorf("next stored rates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n int
		var stored sql.NullTime
		if err := rows.Scan(&n, &stored); err != nil {
			return nil, nil, err
		}
		if i := n - 1; stored.Valid && (!next[i].Valid || stored.Time.Before(next[i].Time)) {
			next[i] = stored
		}
	}
	return next, dates, rows.Err()
}
