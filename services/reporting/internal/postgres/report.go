package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// dimColumns are the rollup_keys columns of report.GroupKeys; the time
// keys are computed from the hour in the report's time zone ($3).
var dimColumns = map[string]string{"partner": "k.partner", "course": "k.course_id", "link": "k.code", "placement": "k.placement"}

// timeColumns are the time keys over hourly rows (bucket, an hour in UTC)
// and over daily rows (day, a date in the report's zone).
var timeColumns = map[bool]map[string]string{
	false: {"day": "(bucket AT TIME ZONE $3)::date", "month": "date_trunc('month', bucket AT TIME ZONE $3)::date"},
	true:  {"day": "day", "month": "date_trunc('month', day)::date"},
}

// fxDayColumn is the date whose rate converts a rollup row's money: its
// purchase's day in the report's zone ($3), which is the row's own day
// (a.fx_day) except for an adjustment, whose key names its purchase.
const fxDayColumn = `coalesce((nullif(k.fx_at, '-infinity') AT TIME ZONE $3)::date, a.fx_day)`

// rollupQuery aggregates a rollup table's rows, each joined to its key, by
// the report's keys. It reads the daily rollups of the report's zone when
// daily, else the hourly ones; the deltas not yet compacted in both cases.
//
// In one step, not first by key number and then by the report's keys: the
// planner cannot estimate how many key numbers the first step gives (a
// union's groups: it assumed 200 where there were 64,499), so it looked
// each one up by index and sorted both steps' rows, spilling to disk. A
// report by partner over 64,499 keys took 230-330 ms that way and 56-69
// ms in one step (a hash join and a hash aggregate), on the same rows.
func rollupQuery(table string, groupBy []string, measures []string, withCurrency, fxDay, daily bool) string {
	times := timeColumns[daily]
	var inner, outer, outerGroup []string
	inner = append(inner, "key_id")
	for i, k := range groupBy {
		col := fmt.Sprintf("k%d", i)
		if expr, ok := times[k]; ok {
			inner = append(inner, expr+" AS t_"+k)
			outer = append(outer, "a.t_"+k+" AS "+col)
			outerGroup = append(outerGroup, "a.t_"+k)
		} else {
			outer = append(outer, dimColumns[k]+" AS "+col)
			outerGroup = append(outerGroup, dimColumns[k])
		}
	}
	if withCurrency {
		outer = append(outer, "k.currency AS currency")
		outerGroup = append(outerGroup, "k.currency")
		if fxDay {
			// An adjustment's money converts at its purchase's date
			// (rollup_keys.fx_at), every other row's at its own day.
			inner = append(inner, times["day"]+" AS fx_day")
			outer = append(outer, fxDayColumn+" AS d")
			outerGroup = append(outerGroup, fxDayColumn)
		} else {
			outer = append(outer, "NULL::date AS d")
		}
	}
	for _, m := range measures {
		inner = append(inner, m)
		outer = append(outer, "sum(a."+m+") AS "+m)
	}
	cols := strings.Join(measures, ", ")
	source := `(SELECT * FROM ` + table + `s UNION ALL SELECT * FROM ` + table + `_deltas) r
			WHERE bucket >= $1 AND bucket < $2 AND $3::text <> ''`
	if daily {
		source = `(SELECT day, key_id, ` + cols + ` FROM ` + table + `s_daily
				WHERE tz = $3 AND day >= ($1 AT TIME ZONE $3)::date AND day < ($2 AT TIME ZONE $3)::date
			UNION ALL
			SELECT (bucket AT TIME ZONE $3)::date, key_id, ` + cols + ` FROM ` + table + `_deltas
				WHERE bucket >= $1 AND bucket < $2) r`
	}
	q := `SELECT ` + strings.Join(outer, ", ") + ` FROM (
			SELECT ` + strings.Join(inner, ", ") + ` FROM ` + source + `
		) a JOIN rollup_keys k ON k.id = a.key_id`
	if len(outerGroup) > 0 {
		q += ` GROUP BY ` + strings.Join(outerGroup, ", ")
	}
	return q
}

// Commissions answers a report from the hourly rollups, streaming its rows
// to emit in key order. With a currency, each purchase day's money is
// converted at that day's rate; a missing rate fails the whole report
// before a row is emitted, so nothing mislabelled is ever sent.
func (s *Store) Commissions(ctx context.Context, q report.Query, emit func(report.Row) error) error {
	if q.OffTheHour() {
		// Rollups written before migration 0006 are whole hours, which a
		// day starting on the half or quarter hour cuts through.
		var fine time.Time
		if err := s.db.QueryRowContext(ctx, `SELECT greatest(fine_since, '1900-01-01') FROM rollup_granularity`).Scan(&fine); err != nil {
			return database.Classify(fmt.Errorf("report: %w", err))
		}
		if q.From.Before(fine) {
			return errs.Newf(errs.Unprocessable, "invalid_query",
				"figures before %s are kept by the hour, which cannot cut days in %s: ask from that date on, or rebuild them with `reporting replay`",
				fine.UTC().Format(time.RFC3339), q.TZ)
		}
	}
	var conv *report.Converter
	if q.Currency != "" {
		var err error
		if conv, err = s.converter(ctx, q); err != nil {
			return err
		}
	}
	query, err := s.commissionsQuery(ctx, q, conv != nil)
	if err != nil {
		return err
	}
	n := len(q.GroupBy)
	order := make([]string, 0, n+2)
	for i := 1; i <= n+2; i++ {
		order = append(order, fmt.Sprint(i))
	}
	query += ` ORDER BY ` + strings.Join(order, ", ")

	rows, err := s.db.QueryContext(ctx, query, q.From.UTC(), q.To.UTC(), q.TZ.String())
	if err != nil {
		return database.Classify(fmt.Errorf("report: %w", err))
	}
	defer rows.Close()

	var pending *report.Row // FX mode: the key group being summed
	flush := func() error {
		if pending == nil {
			return nil
		}
		r := *pending
		pending = nil
		return emit(r)
	}
	keys := make([]string, n)
	dest := make([]any, 0, n+13)
	for i := range keys {
		dest = append(dest, &keys[i])
	}
	var r report.Row
	var date string
	dest = append(dest, &r.Currency, &date, &r.Clicks, &r.UniqueClicks, &r.BotClicks, &r.Conversions, &r.Direct,
		&r.CrossSell, &r.Sale, &r.Pending, &r.Approved, &r.Reversed, &r.Paid)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		row := r
		row.Keys = append([]string(nil), keys...)
		if conv == nil {
			if err := emit(row); err != nil {
				return err
			}
			continue
		}
		converted, err := conv.Convert(row, date)
		if err != nil {
			return err // checkRates makes this unreachable but for a rate deleted since
		}
		if pending != nil && sameKeys(pending.Keys, converted.Keys) {
			pending.AddMoney(converted)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		pending = &converted
	}
	if err := rows.Err(); err != nil {
		return database.Classify(fmt.Errorf("report: %w", err))
	}
	return flush()
}

func sameKeys(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// commissionsQuery is the report's SQL, unordered: the group keys (g0..),
// currency, purchase day (with fx), then the figures.
func (s *Store) commissionsQuery(ctx context.Context, q report.Query, fx bool) (string, error) {
	var sel, join []string
	for i, k := range q.GroupBy {
		col := fmt.Sprintf("k%d", i)
		switch k {
		case "day", "month": // grouped as dates, formatted once per row of the answer
			layout := map[string]string{"day": "YYYY-MM-DD", "month": "YYYY-MM"}[k]
			sel = append(sel, fmt.Sprintf("to_char(coalesce(c.%s, v.%s), '%s') AS g%d", col, col, layout, i))
		default:
			sel = append(sel, fmt.Sprintf("coalesce(c.%s, v.%s) AS g%d", col, col, i))
		}
		join = append(join, fmt.Sprintf("c.%s = v.%s", col, col))
	}
	zones, err := s.Zones(ctx)
	if err != nil {
		return "", err
	}
	daily := zones[q.TZ.String()]
	if !daily {
		s.learnZone(q.TZ.String(), len(zones))
	}
	clicks := rollupQuery("click_rollup", q.GroupBy, clickMeasures, false, false, daily)
	// A group whose figures cancel out (a conversion attributed after it
	// was counted unattributed leaves zeros behind) is not a row.
	money := rollupQuery("conversion_rollup", q.GroupBy, conversionMeasures, true, fx, daily) +
		` HAVING sum(a.conversions) <> 0 OR sum(a.sale_minor) <> 0 OR sum(a.pending_minor) <> 0
		OR sum(a.approved_minor) <> 0 OR sum(a.reversed_minor) <> 0 OR sum(a.paid_minor) <> 0
		OR sum(a.direct_conversions) <> 0 OR sum(a.cross_sell_conversions) <> 0`
	on := "true"
	if len(join) > 0 {
		on = strings.Join(join, " AND ")
	}
	return `WITH c AS (` + clicks + `), v AS (` + money + `)
		SELECT ` + strings.Join(append(sel, `coalesce(v.currency, '') AS currency, coalesce(to_char(v.d, 'YYYY-MM-DD'), '') AS d,
			coalesce(c.clicks, 0), coalesce(c.unique_clicks, 0), coalesce(c.bot_clicks, 0), coalesce(v.conversions, 0),
			coalesce(v.direct_conversions, 0), coalesce(v.cross_sell_conversions, 0), coalesce(v.sale_minor, 0),
			coalesce(v.pending_minor, 0), coalesce(v.approved_minor, 0), coalesce(v.reversed_minor, 0),
			coalesce(v.paid_minor, 0)`), ", ") + `
		FROM c FULL JOIN v ON ` + on + `
		WHERE coalesce(c.clicks, 0) + coalesce(c.bot_clicks, 0) > 0 OR v.conversions IS NOT NULL`, nil
}

// CountCommissions is how many rows Commissions will emit for q, for a
// progress bar. It runs the report's query once more.
func (s *Store) CountCommissions(ctx context.Context, q report.Query) (int64, error) {
	query, err := s.commissionsQuery(ctx, q, q.Currency != "")
	if err != nil {
		return 0, err
	}
	keys := []string{"1"} // with a currency, rows merge per key group
	for i := range q.GroupBy {
		keys = append(keys, fmt.Sprintf("g%d", i))
	}
	if q.Currency == "" {
		keys = append(keys, "currency")
	}
	var n int64
	err = s.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT DISTINCT `+strings.Join(keys, ", ")+` FROM (`+query+`) r) x`,
		q.From.UTC(), q.To.UTC(), q.TZ.String()).Scan(&n)
	return n, database.Classify(err)
}

// converter returns a converter into the report's currency holding the
// rates its period needs, and no others: the rates dated within the
// period's days (a day more at each end) and the days of the purchases its
// adjustments convert at, and, per pair, the last one before them (a rate
// holds until the next). What it reads is bounded by the report's period,
// not by how many rates are stored (a converted report once read every
// rate into or out of its currency, years of them, on each request). The
// first purchase day and currency without a rate fails the report (422)
// before a row is sent; the rows read after this check may include
// events ingested since, whose days the rates read cover too.
func (s *Store) converter(ctx context.Context, q report.Query) (*report.Converter, error) {
	type need struct{ currency, date string }
	var needs []need
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT k.currency, to_char(`+fxDayColumn+`, 'YYYY-MM-DD') FROM (
			SELECT DISTINCT key_id, (bucket AT TIME ZONE $3)::date AS fx_day
			FROM (SELECT bucket, key_id FROM conversion_rollups UNION ALL SELECT bucket, key_id FROM conversion_rollup_deltas) r
			WHERE bucket >= $1 AND bucket < $2) a
		JOIN rollup_keys k ON k.id = a.key_id WHERE k.currency <> $4 ORDER BY 2, 1`,
		q.From.UTC(), q.To.UTC(), q.TZ.String(), q.Currency)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("report: rates: %w", err))
	}
	for rows.Next() {
		var n need
		if err := rows.Scan(&n.currency, &n.date); err != nil {
			rows.Close()
			return nil, database.Classify(fmt.Errorf("report: rates: %w", err))
		}
		needs = append(needs, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, database.Classify(fmt.Errorf("report: rates: %w", err))
	}
	first := q.From.In(q.TZ).AddDate(0, 0, -1).Format(time.DateOnly)
	last := q.To.In(q.TZ).AddDate(0, 0, 1).Format(time.DateOnly)
	if len(needs) > 0 { // ordered by date
		first, last = min(first, needs[0].date), max(last, needs[len(needs)-1].date)
	}
	rates, err := s.ratesFor(ctx, q.Currency, first, last)
	if err != nil {
		return nil, err
	}
	conv, err := report.NewConverter(q.Currency, rates)
	if err != nil {
		return nil, err
	}
	for _, n := range needs {
		if _, err := conv.Convert(report.Row{Currency: n.currency}, n.date); err != nil {
			return nil, err
		}
	}
	return conv, nil
}

// ratesFor returns the rates into or out of currency dated from first to
// last (YYYY-MM-DD, both included), and for each pair the last one dated
// before first.
func (s *Store) ratesFor(ctx context.Context, currency, first, last string) ([]report.Rate, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT to_char(date, 'YYYY-MM-DD'), base, quote, rate::text FROM fx_rates
			WHERE (base = $1 OR quote = $1) AND date BETWEEN $2 AND $3
		UNION ALL
		SELECT * FROM (SELECT DISTINCT ON (base, quote) to_char(date, 'YYYY-MM-DD'), base, quote, rate::text FROM fx_rates
			WHERE (base = $1 OR quote = $1) AND date < $2 ORDER BY base, quote, date DESC) before`,
		currency, first, last)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("report: rates: %w", err))
	}
	return scanRates(rows)
}

// FXRates returns the rates r picks (report.RateFilter): into or
// out of its currency, dated within its dates; its empty fields pick all.
func (s *Store) FXRates(ctx context.Context, r report.RateFilter) ([]report.Rate, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT to_char(date, 'YYYY-MM-DD'), base, quote, rate::text FROM fx_rates
		WHERE ($1 = '' OR base = $1 OR quote = $1) AND ($2 = '' OR date >= NULLIF($2, '')::date) AND ($3 = '' OR date <= NULLIF($3, '')::date)
		ORDER BY base, quote, date`, r.Currency, r.From, r.To)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("fx rates: %w", err))
	}
	return scanRates(rows)
}

// scanRates reads rows of date, base, quote, rate, and closes them.
func scanRates(rows *sql.Rows) ([]report.Rate, error) {
	defer rows.Close()
	var out []report.Rate
	for rows.Next() {
		var r report.Rate
		if err := rows.Scan(&r.Date, &r.Base, &r.Quote, &r.Rate); err != nil {
			return nil, database.Classify(fmt.Errorf("fx rates: %w", err))
		}
		out = append(out, r)
	}
	return out, database.Classify(rows.Err())
}

// PutFXRates stores rates, replacing any of the same date and pair, as
// of the store's clock, and journals them (by actor). A rate that would
// change a closed month's figures is refused (ErrPeriodClosed): none is
// stored.
func (s *Store) PutFXRates(ctx context.Context, rates []report.Rate, actor string) error {
	at := s.now()
	return database.Classify(database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		return putFXRates(ctx, tx, rates, at, actor, true)
	}))
}

func putFXRates(ctx context.Context, tx *sql.Tx, rates []report.Rate, at time.Time, actor string, checkClosed bool) error {
	if checkClosed {
		// The periods' lock: a month cannot close between the check and
		// the commit.
		if err := lockPeriods(ctx, tx); err != nil {
			return err
		}
		if err := checkRatesOpen(ctx, tx, rates); err != nil {
			return err
		}
	}
	// One statement a chunk rather than one a rate. A pair and date given
	// twice: the later one is stored, as one statement a rate did.
	type key struct{ base, quote, date string }
	last := make(map[key]int, len(rates))
	for i, r := range rates {
		last[key{r.Base, r.Quote, r.Date}] = i
	}
	var dates, bases, quotes, values []string
	flush := func() error {
		if len(dates) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO fx_rates (date, base, quote, rate, updated_at)
			SELECT d::date, b, q, r::numeric, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(d, b, q, r)
			ON CONFLICT (base, quote, date) DO UPDATE SET rate = excluded.rate, updated_at = excluded.updated_at`,
			pq.Array(dates), pq.Array(bases), pq.Array(quotes), pq.Array(values), at.UTC())
		dates, bases, quotes, values = dates[:0], bases[:0], quotes[:0], values[:0]
		if err != nil {
			return fmt.Errorf("store fx rates: %w", err)
		}
		return nil
	}
	for i, r := range rates {
		if last[key{r.Base, r.Quote, r.Date}] != i {
			continue
		}
		dates, bases, quotes, values = append(dates, r.Date), append(bases, r.Base), append(quotes, r.Quote), append(values, r.Rate)
		if len(dates) == 10_000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return journal(ctx, tx, KindFXRates, at, actor, fxPayload{Rates: rates})
}

// MaxZones bounds how many time zones get daily rollups by being asked
// for (REPORT_TIME_ZONES are added regardless).
const MaxZones = 16

// learnZone starts keeping daily rollups for a zone that reports are
// asked in, in the background: this report is cut from the hourly rows,
// the next ones read one row per day.
func (s *Store) learnZone(tz string, have int) {
	if have >= MaxZones {
		return
	}
	s.mu.Lock()
	if s.noLearning {
		s.mu.Unlock()
		return
	}
	if s.learning == nil {
		s.learning = map[string]bool{}
	}
	if s.learning[tz] {
		s.mu.Unlock()
		return
	}
	s.learning[tz] = true
	s.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := s.EnsureZones(ctx, []string{tz}); err != nil && !errors.Is(err, errs.Invalid) {
			s.mu.Lock()
			delete(s.learning, tz) // try again on a later report; a zone PostgreSQL refused stays refused
			s.mu.Unlock()
		}
	}()
}

// LearnZones turns learning zones from reports on or off (on by default).
func (s *Store) LearnZones(on bool) {
	s.mu.Lock()
	s.noLearning = !on
	s.mu.Unlock()
}
