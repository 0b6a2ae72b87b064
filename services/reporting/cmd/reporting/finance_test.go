package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// Issue 11 tests: a ledger finance can sign.

func (s *stack) db(t *testing.T) *sql.DB {
	t.Helper()
	db, err := database.Open(s.env["DATABASE_URL"], database.Pool{MaxOpen: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// getenv is the environment the commands run with: where the data is.
func (s *stack) getenv(k string) string {
	switch k {
	case "DATABASE_URL", "KAFKA_BROKERS", "FINANCE_TIME_ZONE":
		return s.env[k]
	}
	return ""
}

func (s *stack) replay(t *testing.T, schema string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(t.Context(), clock.Fixed(s.at), []string{"replay", "-schema", schema}, s.getenv, &out, io.Discard); err != nil {
		t.Fatalf("replay: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "identical to the live schema: true") {
		t.Fatalf("replay: %s", out.String())
	}
	return out.String()
}

func statuses(t *testing.T, db *sql.DB, schema string) map[string]string {
	t.Helper()
	rows, err := db.Query(`SELECT order_id, status FROM "` + schema + `".conversions ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var o, st string
		if err := rows.Scan(&o, &st); err != nil {
			t.Fatal(err)
		}
		out[o] = st
	}
	return out
}

// The probe of issue 11 item 1, through Kafka into reporting: six Impact
// actions each sent status changes that share their EventDate (the
// purchase date, so the same occurred_at). Each event carries the number
// conversions accepted it with; they reach Kafka in another order than
// they were accepted (the last first), in two batches, with ids that sort
// against the sending order. Every action ends exactly as sent, live and
// after `reporting replay`.
func TestStatusOrderOnEqualTimesAtInstant(t *testing.T) {
	t.Parallel()
	s := setup(t, testkit.Now(t))
	sent := []struct {
		order    string
		statuses []string
	}{
		{"IMP-1", []string{"pending", "approved", "reversed"}},
		{"IMP-2", []string{"pending", "approved"}},
		{"IMP-3", []string{"pending"}},
		{"IMP-4", []string{"pending", "reversed"}},
		{"IMP-5", []string{"approved", "pending"}},  // sent back to pending: rank alone says approved
		{"IMP-6", []string{"reversed", "approved"}}, // a reversal undone: rank alone says reversed
	}
	var last, rest []any
	want := map[string]string{}
	seq := int64(1000)
	for _, a := range sent {
		var evs []events.ConversionReceived
		for i, st := range a.statuses {
			seq++
			e := s.conv(fmt.Sprintf("cv_%s_%d", a.order, 9-i), a.order, "", "", st, "10.00", "1.00", 10*time.Hour)
			e.AcceptedSeq = seq
			evs = append(evs, e)
		}
		want[a.order] = a.statuses[len(a.statuses)-1]
		last = append(last, evs[len(evs)-1])
		for i := len(evs) - 2; i >= 0; i-- {
			rest = append(rest, evs[i])
		}
	}
	s.publish(t, events.TopicConversions, last...)
	s.publish(t, events.TopicConversions, rest...)
	s.waitFor(t, s.month()+"&group_by=partner", oneRow(map[string]any{"conversions": 6, "commission_pending": "2.00",
		"commission_approved": "2.00", "commission_reversed": "2.00"}))
	db := s.db(t)
	if got := statuses(t, db, "reporting"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("live: %v\nwant  %v", got, want)
	}
	s.replay(t, "reporting_rebuild")
	if got := statuses(t, db, "reporting_rebuild"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after replay: %v\nwant         %v", got, want)
	}
}

// convIn is a conversion of partner purchased at occurred, in currency.
func (s *stack) convIn(id, partner, order, clickID, status, sale, commission, currency string, occurred time.Time) events.ConversionReceived {
	c := s.conv(id, order, clickID, "", status, sale, commission, 0)
	c.Partner, c.Currency, c.OccurredAt, c.ReceivedAt = partner, currency, occurred, occurred.Add(time.Second)
	return c
}

// fetch is the body of a GET, which must answer 200.
func (s *stack) fetch(t *testing.T, path string) string {
	t.Helper()
	r := s.do(t, "GET", path, "")
	if r.status != 200 {
		t.Fatalf("GET %s = %d %s", path, r.status, r.body)
	}
	return r.body
}

// Issue 11 item 3: live ingest across three months, the first closed,
// late events after the close, a remittance and FX changes; then
// `reporting replay` into an empty schema, which is switched in for the
// live one (as docs/reporting.md says to). Every report (every group_by
// alone and all together; UTC, Europe/Berlin and Asia/Kolkata; in the
// original currencies, USD and EUR; JSON and CSV), every statement and
// reconciliation, and the periods with their audit are byte-identical.
func TestReplayRebuildsAllHistoryAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t).Truncate(time.Millisecond) // what Kafka keeps of a time
	s := setup(t, at)
	running := monthOf(at)
	months := []time.Time{running.AddDate(0, -3, 0), running.AddDate(0, -2, 0), running.AddDate(0, -1, 0)}
	var clicks, convs []any
	n := 0
	for mi, m := range months {
		for _, day := range []int{2, 14, 27} {
			for h, hour := range []time.Duration{30 * time.Minute, 13*time.Hour + 45*time.Minute, 23*time.Hour + 40*time.Minute} {
				n++
				when := m.AddDate(0, 0, day-1).Add(hour)
				id := fmt.Sprintf("k%03d", n)
				c := s.click(id, []string{"ml-101", "py-201"}[n%2], []string{"ml-101", "py-201"}[n%2], 0, n%7 == 0, n%3 != 0)
				c.OccurredAt, c.Placement = when, []string{"hero", "list"}[h%2]
				if n%4 == 0 {
					c.Partner = "udemy"
				}
				clicks = append(clicks, c)
				status := []string{"pending", "approved", "reversed", "approved"}[n%4]
				currency := []string{"USD", "EUR"}[(n/2)%2]
				conv := s.convIn(fmt.Sprintf("e%03d", n), c.Partner, fmt.Sprintf("O-%d-%d", mi, n), id, status,
					fmt.Sprintf("%d.00", 10+n), fmt.Sprintf("%d.%02d", 1+n%5, n), currency, when.Add(10*time.Minute))
				convs = append(convs, conv)
				if status == "approved" { // its pending event came first, and lands as sent
					p := conv
					p.ID, p.Status, p.OccurredAt = p.ID+"p", "pending", when.Add(5*time.Minute)
					convs = append(convs, p)
				}
			}
		}
	}
	// Kafka recorded each month's events as they happened: before the
	// close, before the instant.
	for i, v := range clicks {
		s.publishAt(t, v.(events.ClickRecorded).OccurredAt.Add(time.Minute), events.TopicClicks, clicks[i])
	}
	all := span(months[0], running.AddDate(0, 2, 0))
	// The clicks are in before their conversions come, as minutes apart
	// they would be. (A click and its conversion stored at the same
	// moment by two consumers are joined by the sweep a second later,
	// dated then; a replay joins them at once: the same figures, unless
	// the month closed in between. docs/reporting.md, "Replay".)
	s.waitFor(t, all+"&group_by=partner", func(r reportJSON) error {
		total := 0
		for _, row := range r.Rows {
			var c, b int
			fmt.Sscan(fmt.Sprint(row["clicks"]), &c)
			fmt.Sscan(fmt.Sprint(row["bot_clicks"]), &b)
			total += c + b
		}
		if total != n {
			return fmt.Errorf("%d clicks, want %d", total, n)
		}
		return nil
	})
	for _, v := range convs {
		s.publishAt(t, v.(events.ConversionReceived).OccurredAt.Add(time.Minute), events.TopicConversions, v)
	}
	s.waitFor(t, all+"&group_by=month", func(r reportJSON) error {
		total := 0
		for _, row := range r.Rows {
			var c int
			fmt.Sscan(fmt.Sprint(row["conversions"]), &c)
			total += c
		}
		if total != n {
			return fmt.Errorf("%d conversions, want %d", total, n)
		}
		return nil
	})

	// Rates, then the first month closes; a rate inside it is refused,
	// a change in an open month is taken.
	first := months[0].Format(time.DateOnly)
	if r := s.do(t, "PUT", "/v1/fx-rates", `[{"date":"`+first+`","base":"EUR","quote":"USD","rate":"1.0832"}]`); r.status != 200 {
		t.Fatalf("rates = %d %s", r.status, r.body)
	}
	if r := s.do(t, "PUT", "/v1/periods/"+months[0].Format("2006-01"), `{"status":"closed"}`); r.status != 200 {
		t.Fatalf("close = %d %s", r.status, r.body)
	}
	inside := months[0].AddDate(0, 0, 10).Format(time.DateOnly)
	if r := s.do(t, "PUT", "/v1/fx-rates", `[{"date":"`+inside+`","base":"EUR","quote":"USD","rate":"2"}]`); r.status != 409 ||
		!strings.Contains(r.body, `"code":"period_closed"`) {
		t.Fatalf("a rate inside the closed month = %d %s", r.status, r.body)
	}
	change := months[2].AddDate(0, 0, 9).Format(time.DateOnly)
	if r := s.do(t, "PUT", "/v1/fx-rates", "date,base,quote,rate\n"+change+",EUR,USD,1.1250\n", "Content-Type", "text/csv"); r.status != 200 {
		t.Fatalf("a rate in an open month = %d %s", r.status, r.body)
	}
	// The same rate twice in one request is one rate; two different
	// ones for a pair and date are refused (TestHostileRoutes).
	twice := `{"date":"` + change + `","base":"EUR","quote":"USD","rate":"1.1250"},{"date":"` + change + `","base":"EUR","quote":"USD","rate":"1.125"}`
	if r := s.do(t, "PUT", "/v1/fx-rates", "["+twice+"]"); r.status != 200 {
		t.Fatalf("the same rate twice = %d %s", r.status, r.body)
	}
	// After the close, Kafka records: an approval and a new conversion
	// of the closed month (adjustments in the running one) and a change
	// in an open month; then a remittance pays the oldest approved first.
	late := []any{
		s.convIn("late-1", "coursera", "O-0-1", "k001", "approved", "11.00", "1.01", "EUR", months[0].AddDate(0, 0, 1).Add(40*time.Minute)),
		s.convIn("late-2", "coursera", "L-0", "", "approved", "50.00", "5.00", "USD", months[0].AddDate(0, 0, 20)),
		s.convIn("late-3", "coursera", "O-1-10", "k010", "reversed", "20.00", "1.10", "EUR", months[1].AddDate(0, 0, 13).Add(13*time.Hour+55*time.Minute)),
	}
	// Every late event is in before anything else happens: late-2 adds a
	// conversion, and late-1 moves O-0-1 from USD to EUR (the events sit
	// on different partitions, so one being in says nothing of another).
	eurBefore := conversionsIn(t, s, all, "EUR")
	s.publishAt(t, at, events.TopicConversions, late...)
	s.waitFor(t, all+"&group_by=month", func(r reportJSON) error {
		total := 0
		for _, row := range r.Rows {
			var c int
			fmt.Sscan(fmt.Sprint(row["conversions"]), &c)
			total += c
		}
		if total != n+1 {
			return fmt.Errorf("%d conversions, want %d", total, n+1)
		}
		if eur := conversionsIn(t, s, all, "EUR"); eur != eurBefore+1 {
			return fmt.Errorf("%d conversions in EUR, want %d", eur, eurBefore+1)
		}
		return nil
	})
	if r := s.do(t, "POST", "/v1/payouts/remittances", `{"partner":"coursera","amount":"7.50","currency":"USD","reference":"wire 1"}`); r.status != 201 {
		t.Fatalf("remittance = %d %s", r.status, r.body)
	}
	// A retry with other values is refused, and leaves a gap in the ids.
	if r := s.do(t, "POST", "/v1/payouts/remittances", `{"partner":"coursera","amount":"7.51","currency":"USD","reference":"wire 1"}`); r.status != 409 {
		t.Fatalf("a conflicting retry = %d %s", r.status, r.body)
	}
	wire2 := `{"partner":"udemy","amount":"3.00","currency":"EUR","reference":"wire 2"}`
	r := s.do(t, "POST", "/v1/payouts/remittances", wire2)
	if r.status != 201 {
		t.Fatalf("remittance = %d %s", r.status, r.body)
	}
	var remitted struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(r.body), &remitted); err != nil || remitted.ID == "" {
		t.Fatalf("remittance answer %s (%v)", r.body, err)
	}
	// A partner id the ledger has nothing for is a typo: refused, and it
	// does not become known (no statement of its own).
	if r := s.do(t, "POST", "/v1/payouts/remittances", `{"partner":"courserra","amount":"1.00","currency":"USD","reference":"wire 3"}`); r.status != 404 || !strings.Contains(r.body, "unknown_partner") {
		t.Fatalf("remittance for an unknown partner = %d %s, want 404 unknown_partner", r.status, r.body)
	}
	if r := s.do(t, "GET", "/v1/payouts/statements/courserra?month="+running.Format("2006-01"), ""); r.status != 404 {
		t.Fatalf("statement of an unknown partner = %d %s, want 404", r.status, r.body)
	}
	s.waitFor(t, all+"&group_by=partner", func(r reportJSON) error {
		for _, row := range r.Rows {
			if row["partner"] == "coursera" && row["currency"] == "USD" && row["commission_paid"] == "7.50" {
				return nil
			}
		}
		return fmt.Errorf("the remittance is not applied yet")
	})

	var paths []string
	for _, tz := range []string{"UTC", "Europe/Berlin", "Asia/Kolkata"} {
		for _, cur := range []string{"", "&currency=USD", "&currency=EUR"} {
			for _, g := range []string{"", "partner", "course", "link", "placement", "day", "month", "partner,course,link,placement,day,month"} {
				for _, f := range []string{"json", "csv"} {
					paths = append(paths, "/v1/reports/commissions?"+all+"&tz="+tz+cur+"&group_by="+g+"&format="+f)
				}
			}
		}
	}
	for m := months[0]; !m.After(running); m = m.AddDate(0, 1, 0) {
		name := m.Format("2006-01")
		for _, p := range []string{"coursera", "udemy"} {
			paths = append(paths, "/v1/payouts/statements/"+p+"?month="+name, "/v1/payouts/statements/"+p+"?month="+name+"&format=csv")
		}
		paths = append(paths, "/v1/payouts/reconciliation?month="+name, "/v1/payouts/reconciliation?month="+name+"&format=csv")
	}
	paths = append(paths, "/v1/periods", "/v1/fx-rates")
	live := map[string]string{}
	for _, p := range paths {
		live[p] = s.fetch(t, p)
	}
	if !strings.Contains(live["/v1/periods"], `"to":"closed"`) {
		t.Fatalf("periods: %s", live["/v1/periods"])
	}
	var out bytes.Buffer
	if err := run(t.Context(), clock.Fixed(at), []string{"verify"}, s.getenv, &out, &out); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}

	s.replay(t, "reporting_rebuild")
	// Switch over: stop the service, swap the schemas, start it again.
	s.p.Term(t)
	db := s.db(t)
	for _, q := range []string{`ALTER SCHEMA reporting RENAME TO reporting_live`, `ALTER SCHEMA reporting_rebuild RENAME TO reporting`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s.start(t)
	for _, p := range paths {
		if got := s.fetch(t, p); got != live[p] {
			t.Errorf("GET %s after the replay differs:\n%s\nlive:\n%s", p, got, live[p])
		}
	}
	// The rebuilt remittances keep their ids, the gap included: a retry
	// is answered with the id finance was given.
	if r := s.do(t, "POST", "/v1/payouts/remittances", wire2); r.status != 200 || !strings.Contains(r.body, `"id":"`+remitted.ID+`"`) {
		t.Fatalf("the retry after the replay = %d %s, want 200 with id %s", r.status, r.body, remitted.ID)
	}
	out.Reset()
	if err := run(t.Context(), clock.Fixed(at), []string{"verify"}, s.getenv, &out, &out); err != nil {
		t.Fatalf("verify of the rebuilt schema: %v\n%s", err, out.String())
	}
}

const financeToken = "finance-only-token-0123456789abcdefgh"

// Issue 11 item 2 (contract v1.1, "Closed months are frozen"): months close
// in FINANCE_TIME_ZONE (here Europe/Berlin); a rate that would change a
// closed month is refused with 409 period_closed; only an admin reopens
// one, and GET /v1/periods shows who closed and reopened what, when; a
// report names the finance zone and, in another zone, which of its days
// are final. A zone nobody knows stops start-up, and so does a new
// FINANCE_TIME_ZONE while a month is closed in the old one.
func TestClosedMonthsFrozenAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t).Truncate(time.Millisecond)
	s := setup(t, at)
	s.p.Term(t)
	s.env["FINANCE_TIME_ZONE"] = "Europe/Berlin"
	s.env["API_TOKENS"] = financeToken + ":finance"
	s.start(t)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	local := at.In(berlin)
	running := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, berlin)
	prev := running.AddDate(0, -1, 0)
	name := prev.Format("2006-01")
	purchase := prev.AddDate(0, 0, 9).Add(12 * time.Hour)
	s.publishAt(t, at.Add(-time.Second), events.TopicConversions,
		s.convIn("f1", "coursera", "F-1", "", "approved", "100.00", "10.00", "EUR", purchase))
	monthQuery := "from=" + prev.Format(time.DateOnly) + "&to=" + running.Format(time.DateOnly) + "&tz=Europe/Berlin&group_by=month"
	s.waitFor(t, monthQuery, oneRow(map[string]any{"commission_approved": "10.00"}))
	if r := s.do(t, "PUT", "/v1/fx-rates", `[{"date":"`+prev.Format(time.DateOnly)+`","base":"EUR","quote":"USD","rate":"1.10"}]`); r.status != 200 {
		t.Fatalf("rates = %d %s", r.status, r.body)
	}
	as := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	r := s.do(t, "PUT", "/v1/periods/"+name, `{"status":"closed"}`, as(financeToken)...)
	if r.status != 200 || !strings.Contains(r.body, `"time_zone":"Europe/Berlin"`) {
		t.Fatalf("close %s = %d %s", name, r.status, r.body)
	}
	usd := monthQuery + "&currency=USD"
	before := s.fetch(t, "/v1/reports/commissions?"+usd)

	inside := prev.AddDate(0, 0, 14).Format(time.DateOnly)
	r = s.do(t, "PUT", "/v1/fx-rates", `[{"date":"`+inside+`","base":"EUR","quote":"USD","rate":"2.00"}]`, as(financeToken)...)
	if r.status != 409 || !strings.Contains(r.body, `"code":"period_closed"`) || !strings.Contains(r.body, name) {
		t.Fatalf("a rate inside the closed month = %d %s", r.status, r.body)
	}
	// A rate dated before the month with no later one for its pair would
	// hold over the month: refused too; one whose span ends before it, not.
	earlier := prev.AddDate(0, -1, 3).Format(time.DateOnly)
	if r := s.do(t, "PUT", "/v1/fx-rates", `[{"date":"`+earlier+`","base":"USD","quote":"JPY","rate":"150"}]`); r.status != 409 {
		t.Fatalf("a rate holding into the closed month = %d %s", r.status, r.body)
	}
	if r := s.do(t, "PUT", "/v1/fx-rates", `[{"date":"`+earlier+`","base":"EUR","quote":"USD","rate":"1.05"}]`); r.status != 200 {
		t.Fatalf("a rate ending before the closed month = %d %s", r.status, r.body)
	}
	// In one batch: a rate ends at the next one of its pair in the batch,
	// which ends at a stored one.
	twoEarlier := `[{"date":"` + prev.AddDate(0, -1, 1).Format(time.DateOnly) + `","base":"EUR","quote":"USD","rate":"1.01"},` +
		`{"date":"` + prev.AddDate(0, -1, 2).Format(time.DateOnly) + `","base":"EUR","quote":"USD","rate":"1.02"}]`
	if r := s.do(t, "PUT", "/v1/fx-rates", twoEarlier); r.status != 200 {
		t.Fatalf("two rates ending before the closed month = %d %s", r.status, r.body)
	}
	// A rates file of tens of thousands of rows (one a day for a pair,
	// after the closed month) is checked and stored as one; one row of it
	// that would hold into the month refuses it all.
	var many strings.Builder
	many.WriteString("date,base,quote,rate\n")
	for i := range 20_000 {
		fmt.Fprintf(&many, "%s,GBP,USD,1.%04d\n", running.AddDate(0, 0, i).Format(time.DateOnly), i%10_000)
	}
	r = s.do(t, "PUT", "/v1/fx-rates", many.String()+prev.AddDate(0, 0, -3).Format(time.DateOnly)+",GBP,JPY,190\n", "Content-Type", "text/csv")
	if r.status != 409 || !strings.Contains(r.body, "GBP/JPY") {
		t.Fatalf("20,000 rates and one holding into the closed month = %d %s", r.status, r.body)
	}
	if r := s.do(t, "PUT", "/v1/fx-rates", many.String(), "Content-Type", "text/csv"); r.status != 200 || !strings.Contains(r.body, `"stored":20000`) {
		t.Fatalf("20,000 rates = %d %s", r.status, r.body)
	}
	if got := s.fetch(t, "/v1/reports/commissions?"+usd); got != before {
		t.Fatalf("the closed month moved:\n%s\nwas\n%s", got, before)
	}

	// Only an admin reopens; then the rate may change, and the month closes again.
	if r := s.do(t, "PUT", "/v1/periods/"+name, `{"status":"open"}`, as(financeToken)...); r.status != 403 {
		t.Fatalf("reopen with a finance token = %d %s", r.status, r.body)
	}
	if r := s.do(t, "PUT", "/v1/periods/"+name, `{"status":"open"}`); r.status != 200 || !strings.Contains(r.body, `"status":"open"`) {
		t.Fatalf("reopen = %d %s", r.status, r.body)
	}
	if r := s.do(t, "PUT", "/v1/fx-rates", `[{"date":"`+inside+`","base":"EUR","quote":"USD","rate":"2.00"}]`); r.status != 200 {
		t.Fatalf("a rate in the reopened month = %d %s", r.status, r.body)
	}
	if r := s.do(t, "PUT", "/v1/periods/"+name, `{"status":"closed"}`, as(financeToken)...); r.status != 200 {
		t.Fatalf("close again = %d %s", r.status, r.body)
	}
	if r := s.do(t, "PUT", "/v1/periods/"+name, `{"status":"maybe"}`); r.status != 422 {
		t.Fatalf("status maybe = %d %s", r.status, r.body)
	}
	periods := s.fetch(t, "/v1/periods")
	var audit struct {
		Periods []struct{ Month, Status, TimeZone string } `json:"periods"`
		Zone    string                                     `json:"finance_time_zone"`
		Audit   []struct{ Month, From, To, By string }     `json:"audit"`
	}
	if err := json.Unmarshal([]byte(periods), &audit); err != nil {
		t.Fatal(err)
	}
	steps := ""
	for _, a := range audit.Audit {
		steps += fmt.Sprintf("%s %s->%s by %s; ", a.Month, a.From, a.To, strings.SplitN(a.By, ":", 2)[0])
	}
	if want := fmt.Sprintf("%[1]s open->closed by finance; %[1]s closed->open by admin; %[1]s open->closed by finance; ", name); steps != want ||
		audit.Zone != "Europe/Berlin" || len(audit.Periods) != 1 || strings.Contains(periods, financeToken) || strings.Contains(periods, token) {
		t.Fatalf("periods = %s\naudit %s, want %s", periods, steps, want)
	}

	// Final days: a UTC report of the month's days has those wholly inside
	// Berlin's month; a Berlin one, all of them.
	utcFrom, utcTo := time.Date(prev.Year(), prev.Month(), 1, 0, 0, 0, 0, time.UTC), time.Date(running.Year(), running.Month(), 1, 0, 0, 0, 0, time.UTC)
	var wantFinal []string
	for d := utcFrom; d.Before(utcTo); d = d.AddDate(0, 0, 1) {
		if !d.Before(prev) && !d.AddDate(0, 0, 1).After(running) {
			wantFinal = append(wantFinal, d.Format(time.DateOnly))
		}
	}
	var rep struct {
		Meta struct {
			Zone  string                      `json:"finance_time_zone"`
			Final []struct{ From, To string } `json:"final_days"`
		} `json:"meta"`
	}
	body := s.fetch(t, "/v1/reports/commissions?"+span(utcFrom, utcTo)+"&group_by=day")
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	wantRange := wantFinal[0] + "/" + wantFinal[len(wantFinal)-1]
	if len(rep.Meta.Final) != 1 || rep.Meta.Zone != "Europe/Berlin" || rep.Meta.Final[0].From != wantFinal[0] ||
		rep.Meta.Final[0].To != mustDate(t, wantFinal[len(wantFinal)-1]).AddDate(0, 0, 1).Format(time.DateOnly) {
		t.Fatalf("UTC report's final days = %+v (zone %s), want %s inclusive", rep.Meta.Final, rep.Meta.Zone, wantRange)
	}
	csv := s.do(t, "GET", "/v1/reports/commissions?"+monthQuery+"&format=csv", "")
	if got := csv.header.Get("X-Report-Final-Days"); got != prev.Format(time.DateOnly)+"/"+running.Format(time.DateOnly) ||
		csv.header.Get("X-Report-Finance-Time-Zone") != "Europe/Berlin" {
		t.Fatalf("Berlin csv headers: %v", csv.header)
	}

	// FINANCE_TIME_ZONE is checked at start.
	bad := func(k string) string {
		if k == "FINANCE_TIME_ZONE" {
			return "Mars/Olympus"
		}
		return s.env[k]
	}
	if err := run(t.Context(), clock.Fixed(at), nil, bad, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "FINANCE_TIME_ZONE") {
		t.Fatalf("an unknown FINANCE_TIME_ZONE: %v", err)
	}
	if err := run(t.Context(), clock.Fixed(at), []string{"verify"}, bad, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "FINANCE_TIME_ZONE") {
		t.Fatalf("verify with an unknown FINANCE_TIME_ZONE: %v", err)
	}
	other := func(k string) string {
		switch k {
		case "FINANCE_TIME_ZONE":
			return "UTC"
		case "REPORTING_ADDR":
			return "127.0.0.1:0"
		}
		return s.env[k]
	}
	if err := run(t.Context(), clock.Fixed(at), nil, other, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("another FINANCE_TIME_ZONE while %s is closed in Berlin: %v", name, err)
	}
}

func mustDate(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// conversionsIn counts the conversions whose original currency is cur in
// the report over span.
func conversionsIn(t *testing.T, s *stack, span, cur string) int {
	t.Helper()
	total := 0
	s.waitFor(t, span, func(r reportJSON) error {
		total = 0
		for _, row := range r.Rows {
			if row["currency"] == cur {
				var c int
				fmt.Sscan(fmt.Sprint(row["conversions"]), &c)
				total += c
			}
		}
		return nil
	})
	return total
}

// Contract v1.1, "Closed months are frozen", for payout statements too: a
// late event for a purchase in a closed month lands in the open month's
// statement (as in the report), and a remittance received inside a closed
// month is refused with 409 period_closed, while a retry of one recorded
// before the close is answered as it was.
func TestClosedMonthStatementsFrozenAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t).Truncate(time.Millisecond)
	s := setup(t, at)
	running := monthOf(at) // the UTC month: at may be written in another zone
	prev := running.AddDate(0, -1, 0)
	name, runningName := prev.Format("2006-01"), running.Format("2006-01")
	purchase := prev.AddDate(0, 0, 9).Add(12 * time.Hour)
	s.publishAt(t, at.Add(-time.Minute), events.TopicConversions,
		s.convIn("s1", "coursera", "S-1", "", "approved", "100.00", "10.00", "USD", purchase))
	monthQuery := "from=" + prev.Format(time.DateOnly) + "&to=" + running.Format(time.DateOnly) + "&group_by=month"
	s.waitFor(t, monthQuery, oneRow(map[string]any{"commission_approved": "10.00"}))
	remit := func(reference string, received time.Time) resp {
		return s.do(t, "POST", "/v1/payouts/remittances", fmt.Sprintf(
			`{"partner":"coursera","amount":"4.00","currency":"USD","received_at":%q,"reference":%q}`,
			received.Format(time.RFC3339), reference))
	}
	if r := remit("wire before close", purchase.AddDate(0, 0, 1)); r.status != 201 {
		t.Fatalf("remittance before the close = %d %s", r.status, r.body)
	}
	if r := s.do(t, "PUT", "/v1/periods/"+name, `{"status":"closed"}`); r.status != 200 {
		t.Fatalf("close %s = %d %s", name, r.status, r.body)
	}
	lines := func(month string) string {
		t.Helper()
		var st struct {
			Lines []map[string]string `json:"lines"`
		}
		if err := json.Unmarshal([]byte(s.fetch(t, "/v1/payouts/statements/coursera?month="+month)), &st); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(st.Lines)
	}
	closed := lines(name)
	if !strings.Contains(closed, "approved:10.00") || !strings.Contains(closed, "remitted:4.00") {
		t.Fatalf("%s's statement before the late events: %s", name, closed)
	}

	// A late approval of another purchase in the closed month, recorded
	// after the close: the open month's statement and report take it.
	s.publishAt(t, at, events.TopicConversions,
		s.convIn("s2", "coursera", "S-2", "", "approved", "50.00", "5.00", "USD", purchase.Add(time.Hour)))
	runningQuery := "from=" + running.Format(time.DateOnly) + "&to=" + running.AddDate(0, 1, 0).Format(time.DateOnly) + "&group_by=month"
	s.waitFor(t, runningQuery, oneRow(map[string]any{"commission_approved": "5.00"}))
	if got := lines(name); got != closed {
		t.Fatalf("the closed month's statement moved:\n%s\nwas\n%s", got, closed)
	}
	if got := lines(runningName); !strings.Contains(got, "approved:5.00") || !strings.Contains(got, "opening_balance:6.00") {
		t.Fatalf("%s's statement does not hold the late approval: %s", runningName, got)
	}

	// A remittance received inside the closed month: refused, nothing stored.
	r := remit("wire after close", purchase.AddDate(0, 0, 2))
	if r.status != 409 || !strings.Contains(r.body, `"code":"period_closed"`) || !strings.Contains(r.body, name) {
		t.Fatalf("a remittance inside the closed month = %d %s", r.status, r.body)
	}
	// The retry of one recorded before the close: answered as it was.
	if r := remit("wire before close", purchase.AddDate(0, 0, 1)); r.status != 200 {
		t.Fatalf("retry of the remittance recorded before the close = %d %s", r.status, r.body)
	}
	if got := lines(name); got != closed {
		t.Fatalf("the closed month's statement moved:\n%s\nwas\n%s", got, closed)
	}
	// One received in the open month is taken.
	if r := remit("wire in the open month", at); r.status != 201 {
		t.Fatalf("a remittance in the open month = %d %s", r.status, r.body)
	}
	if got := lines(runningName); !strings.Contains(got, "remitted:4.00") {
		t.Fatalf("%s's statement does not hold the remittance: %s", runningName, got)
	}
}

// A payout statement is a function of the events, ordered by occurred_at
// (then acceptance), not of the order they arrived in (found by an
// acceptance check: the same three events gave "approved 20.00,
// adjustments -20.00" in order and "approved 0.00" when the reversal came
// first). Two partners get the same pending, approval and reversal, one
// in order and one reversal first; a third has an approval that a
// pending event of the same instant, accepted after it, undoes (not
// approved) and one that ends approved after a brief reversal (approved).
func TestStatementFollowsOccurredAtAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t).Truncate(time.Millisecond)
	s := setup(t, at)
	prev := monthOf(at).AddDate(0, -1, 0)
	day := func(d int) time.Time { return prev.AddDate(0, 0, d-1).Add(10 * time.Hour) }
	life := func(partner string, status string, d int) events.ConversionReceived {
		return s.convIn(fmt.Sprintf("st_%s_%s", partner, status), partner, "Q-1", "", status, "200.00", "20.00", "EUR", day(d))
	}
	for _, e := range []events.ConversionReceived{life("inorder", "pending", 5), life("inorder", "approved", 10), life("inorder", "reversed", 15),
		life("backwards", "reversed", 15), life("backwards", "pending", 5), life("backwards", "approved", 10)} {
		s.publish(t, events.TopicConversions, e) // one at a time: each its own batch
	}
	seq := int64(5000)
	sameInstant := func(order string, commission string, statuses ...string) {
		for _, st := range statuses {
			seq++
			e := s.convIn(fmt.Sprintf("st_%s_%s", order, st), "sameinstant", order, "", st, "40.00", commission, "USD", day(18))
			e.AcceptedSeq = seq
			s.publish(t, events.TopicConversions, e)
		}
	}
	sameInstant("O-8", "4.00", "approved", "pending")
	sameInstant("O-9", "5.00", "pending", "reversed", "approved")

	query := "from=" + prev.Format(time.DateOnly) + "&to=" + monthOf(at).Format(time.DateOnly) + "&group_by=partner"
	s.waitFor(t, query, func(r reportJSON) error {
		wanted := map[string]map[string]any{
			"backwards":   {"conversions": 1, "commission_reversed": "20.00", "commission_approved": "0.00"},
			"inorder":     {"conversions": 1, "commission_reversed": "20.00", "commission_approved": "0.00"},
			"sameinstant": {"conversions": 2, "commission_pending": "4.00", "commission_approved": "5.00"},
		}
		if len(r.Rows) != len(wanted) {
			return fmt.Errorf("%d rows, want %d", len(r.Rows), len(wanted))
		}
		for _, row := range r.Rows {
			if err := want(row, wanted[fmt.Sprint(row["partner"])]); err != nil {
				return err
			}
		}
		return nil
	})
	lines := func(partner string) []map[string]string {
		t.Helper()
		var st struct {
			Lines []map[string]string `json:"lines"`
		}
		if err := json.Unmarshal([]byte(s.fetch(t, "/v1/payouts/statements/"+partner+"?month="+prev.Format("2006-01"))), &st); err != nil {
			t.Fatal(err)
		}
		return st.Lines
	}
	inOrder, backwards := lines("inorder"), lines("backwards")
	if fmt.Sprint(inOrder) != fmt.Sprint(backwards) {
		t.Fatalf("the same events, another arrival order:\nin order        %v\nreversal first  %v", inOrder, backwards)
	}
	if l := inOrder[0]; l["approved"] != "20.00" || l["reversed"] != "20.00" || l["balance_owed"] != "0.00" {
		t.Fatalf("approved on the 10th, reversed on the 15th: %v", l)
	}
	if l := lines("sameinstant")[0]; l["approved"] != "5.00" || l["balance_owed"] != "5.00" {
		t.Fatalf("an approval undone at its instant counted, or the other not: %v", l)
	}
}

// A late event for a purchase in a closed month counts in the open month
// (an adjustment), and a report in another currency converts its money at
// the purchase's date, as every other figure: across the two months the
// conversion's converted money is what it is, and a rate dated in the open
// month does not change what an earlier purchase was worth (found by an
// outside check: the adjustment was converted at the recording's date).
func TestAdjustmentConvertsAtThePurchaseDateAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t).Truncate(time.Millisecond)
	s := setup(t, at)
	running := monthOf(at)
	prev := running.AddDate(0, -1, 0)
	purchase := prev.AddDate(0, 0, 19).Add(12 * time.Hour)
	if r := s.do(t, "PUT", "/v1/fx-rates", `[{"date":"`+prev.Format(time.DateOnly)+`","base":"EUR","quote":"USD","rate":"1.10"}]`); r.status != 200 {
		t.Fatalf("rates = %d %s", r.status, r.body)
	}
	s.publishAt(t, purchase.Add(time.Second), events.TopicConversions,
		s.convIn("a1", "coursera", "ADJ-1", "", "pending", "19.90", "1.99", "EUR", purchase))
	both := span(prev, running.AddDate(0, 1, 0)) + "&group_by=partner&currency=USD"
	s.waitFor(t, both, oneRow(map[string]any{"commission_pending": "2.19"}))
	if r := s.do(t, "PUT", "/v1/periods/"+prev.Format("2006-01"), `{"status":"closed"}`); r.status != 200 {
		t.Fatalf("close = %d %s", r.status, r.body)
	}
	// Approved after the close: an adjustment in the running month.
	approved := s.convIn("a2", "coursera", "ADJ-1", "", "approved", "19.90", "1.99", "EUR", at.Add(-time.Second))
	s.publishAt(t, at, events.TopicConversions, approved)
	s.waitFor(t, both, oneRow(map[string]any{"commission_pending": "0.00", "commission_approved": "2.19"}))
	// A rate dated in the running month is not the purchase's.
	if r := s.do(t, "PUT", "/v1/fx-rates", `[{"date":"`+running.Format(time.DateOnly)+`","base":"EUR","quote":"USD","rate":"2.00"}]`); r.status != 200 {
		t.Fatalf("rates = %d %s", r.status, r.body)
	}
	s.waitFor(t, both, oneRow(map[string]any{"commission_pending": "0.00", "commission_approved": "2.19", "sale_amount": "21.89"}))
	s.waitFor(t, span(running, running.AddDate(0, 1, 0))+"&group_by=partner&currency=USD",
		oneRow(map[string]any{"commission_pending": "-2.19", "commission_approved": "2.19", "sale_amount": "0.00"}))
	s.waitFor(t, span(prev, running)+"&group_by=partner&currency=USD",
		oneRow(map[string]any{"commission_pending": "2.19", "commission_approved": "0.00", "sale_amount": "21.89"}))
}

// A converted report reads the rates its purchase days need: those in
// force on them, whether dated inside the period or before it, direct or
// the inverse of the reverse quote, and never one dated after a purchase
// (found by an outside check: every converted report read every stored
// rate of its currency, hundreds of thousands of them, per request).
func TestConvertedReportUsesTheRatesInForceAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t).Truncate(time.Millisecond)
	s := setup(t, at)
	running := monthOf(at)
	prev := running.AddDate(0, -1, 0)
	day := func(t time.Time) string { return t.Format(time.DateOnly) }
	rates := `[{"date":"2000-01-03","base":"EUR","quote":"USD","rate":"9"},` +
		`{"date":"` + day(prev.AddDate(0, 0, -10)) + `","base":"EUR","quote":"USD","rate":"1.10"},` +
		`{"date":"` + day(prev.AddDate(0, 0, 15)) + `","base":"EUR","quote":"USD","rate":"1.20"},` +
		`{"date":"` + day(running) + `","base":"EUR","quote":"USD","rate":"5"},` +
		`{"date":"` + day(prev.AddDate(0, 0, -40)) + `","base":"USD","quote":"GBP","rate":"0.5"},` +
		`{"date":"` + day(prev.AddDate(0, 0, 4)) + `","base":"USD","quote":"JPY","rate":"100"}]`
	if r := s.do(t, "PUT", "/v1/fx-rates", rates); r.status != 200 {
		t.Fatalf("rates = %d %s", r.status, r.body)
	}
	noon := 12 * time.Hour
	s.publishAt(t, at, events.TopicConversions,
		s.convIn("r1", "coursera", "FX-1", "", "pending", "10.00", "10.00", "EUR", prev.AddDate(0, 0, 5).Add(noon)),  // 1.10: 11.00
		s.convIn("r2", "coursera", "FX-2", "", "pending", "10.00", "10.00", "EUR", prev.AddDate(0, 0, 20).Add(noon)), // 1.20: 12.00
		s.convIn("r3", "coursera", "FX-3", "", "pending", "1.00", "1.00", "GBP", prev.AddDate(0, 0, 3).Add(noon)))    // 1 / 0.5: 2.00
	s.waitFor(t, span(prev, running)+"&group_by=partner&currency=USD", oneRow(map[string]any{"commission_pending": "25.00", "sale_amount": "25.00"}))
	// The list picks by currency and dates, both ends included.
	list := s.do(t, "GET", "/v1/fx-rates?currency=EUR&from="+day(prev.AddDate(0, 0, -10))+"&to="+day(prev.AddDate(0, 0, 15)), "")
	if list.status != 200 || strings.Count(list.body, `"date"`) != 2 || !strings.Contains(list.body, `"1.20"`) || strings.Contains(list.body, `"9"`) {
		t.Fatalf("rates of EUR from %s to %s = %d %s, want the two dated then", day(prev.AddDate(0, 0, -10)), day(prev.AddDate(0, 0, 15)), list.status, list.body)
	}
	// A purchase in JPY on a day before its first rate: 422, naming it.
	s.publishAt(t, at, events.TopicConversions,
		s.convIn("r4", "coursera", "FX-4", "", "pending", "100", "100", "JPY", prev.AddDate(0, 0, 2).Add(noon)))
	s.waitFor(t, span(prev, running)+"&group_by=partner", func(r reportJSON) error {
		if len(r.Rows) != 3 {
			return fmt.Errorf("%d rows, want one per currency: EUR, GBP, JPY", len(r.Rows))
		}
		return nil
	})
	r := s.do(t, "GET", "/v1/reports/commissions?"+span(prev, running)+"&group_by=partner&currency=USD", "")
	if r.status != 422 || !strings.Contains(r.body, "JPY") || !strings.Contains(r.body, day(prev.AddDate(0, 0, 2))) {
		t.Fatalf("report with a purchase before its currency's first rate = %d %s, want 422 naming JPY and its day", r.status, r.body)
	}
}

// A remittance's received_at is cut to the microsecond PostgreSQL keeps
// before it is checked and compared: a retry written with seven digits of
// fraction (as .NET writes times) is the same remittance, not a 409 (from
// a time check).
func TestRemittanceRetryWithNanosecondsAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t).Truncate(time.Millisecond)
	s := setup(t, at)
	s.publishAt(t, at, events.TopicConversions,
		s.convIn("n1", "coursera", "NS-1", "", "approved", "10.00", "1.00", "USD", at.Add(-time.Hour)))
	s.waitFor(t, span(monthOf(at).AddDate(0, -1, 0), monthOf(at).AddDate(0, 1, 0))+"&group_by=partner", oneRow(map[string]any{"commission_approved": "1.00"}))
	received := at.Add(-time.Minute).UTC().Format("2006-01-02T15:04:05") + ".1234567Z"
	body := `{"partner":"coursera","amount":"1.00","currency":"USD","reference":"ns wire","received_at":"` + received + `"}`
	if r := s.do(t, "POST", "/v1/payouts/remittances", body); r.status != 201 {
		t.Fatalf("remittance = %d %s", r.status, r.body)
	}
	r := s.do(t, "POST", "/v1/payouts/remittances", body)
	if r.status/100 != 2 {
		t.Fatalf("the same remittance again = %d %s, want a 2xx", r.status, r.body)
	}
	// The answer gives the time as stored, and sent back it is the same
	// remittance (a re-check: the answer dropped the fraction, a 409).
	var answer map[string]any
	if err := json.Unmarshal([]byte(r.body), &answer); err != nil {
		t.Fatal(err)
	}
	if answer["reference"] != "ns wire" || answer["received_at"] != strings.TrimSuffix(received, "7Z")+"Z" {
		t.Fatalf("answer %s: want the reference and the time as stored (to the microsecond)", r.body)
	}
	back := strings.Replace(body, received, fmt.Sprint(answer["received_at"]), 1)
	if r := s.do(t, "POST", "/v1/payouts/remittances", back); r.status != 200 {
		t.Fatalf("the remittance with the answered received_at %v = %d %s, want 200", answer["received_at"], r.status, r.body)
	}
}
