package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// TestMain doubles the test binary as the reporting service: testkit.Start
// re-executes it with LINKCREDIT_RUN_REPORTING=1, and it then runs
// realMain on the clock the test pinned (testkit.ChildClock). This hook is
// only in the test binary: the reporting binary has no such variable and
// always runs on the system clock.
func TestMain(m *testing.M) {
	if os.Getenv("LINKCREDIT_RUN_REPORTING") == "1" {
		os.Exit(realMain(testkit.ChildClock()))
	}
	os.Exit(m.Run())
}

const token = "test-finance-token-0123456789abcdefgh"

// stack is a reporting process with its own database and broker, its
// clock frozen at at.
type stack struct {
	p       *testkit.Process
	ln      *net.TCPListener
	at      time.Time // the process's now, and the Kafka time of what the test publishes
	day     time.Time // midnight UTC of the day the seeded events happen
	brokers []string
	kafka   *kfake.Cluster
	env     map[string]string
	writer  *kafka.Writer
}

// setup starts reporting at the instant at. The events it seeds happen on
// the 20th of the month before at's (UTC): a month that has ended, so
// every date in it is in the past, that no test closes, that the
// dashboard's last twelve months include, and whose days stay in it in
// Berlin and Chicago.
func setup(t *testing.T, at time.Time) *stack {
	t.Helper()
	return setupOn(t, migratedDatabaseURL(t), at)
}

// setupOn is setup on the database at databaseURL.
func setupOn(t *testing.T, databaseURL string, at time.Time) *stack {
	t.Helper()
	cluster, brokers := testkit.KafkaCluster(t)
	env := map[string]string{"DATABASE_URL": databaseURL, "KAFKA_BROKERS": strings.Join(brokers, ","),
		"ADMIN_TOKEN": token, "LOG_LEVEL": "warn",
		"REPORT_TIME_ZONES": "UTC,Europe/Berlin,America/Chicago", "INGEST_SESSION_TIMEOUT": "3s",
		"INGEST_BATCH": "2000"} // several batches per test, so a kill lands between them
	s := &stack{ln: testkit.Listen(t), at: at, day: monthOf(at).AddDate(0, -1, 19), brokers: brokers, kafka: cluster, env: env}
	s.start(t)
	s.writer = &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireAll}
	t.Cleanup(func() { s.writer.Close() })
	return s
}

// start starts the process, or starts it again after a kill, on the
// stack's socket and clock.
func (s *stack) start(t *testing.T) {
	t.Helper()
	p := testkit.Start(t, testkit.ProcessConfig{Flag: "LINKCREDIT_RUN_REPORTING", AddrVar: "REPORTING_ADDR",
		Listener: s.ln, Env: s.env, Now: s.at})
	s.p = p
	// Before Start's own cleanup kills it: a process still running when
	// the test failed writes its goroutines too (where it was stuck).
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("reporting's logs:\n%s", p.Stacks())
		}
	})
}

// monthOf is the first instant of t's month, UTC: reporting's periods.
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// span is a report's from and to parameters.
func span(from, to time.Time) string {
	return "from=" + from.Format(time.DateOnly) + "&to=" + to.Format(time.DateOnly)
}

// month is the seeded events' month, as report parameters.
func (s *stack) month() string { return span(monthOf(s.day), monthOf(s.day).AddDate(0, 1, 0)) }

// publish writes events to topic as Kafka takes them at the stack's now.
func (s *stack) publish(t *testing.T, topic string, values ...any) {
	t.Helper()
	s.publishAt(t, s.at, topic, values...)
}

// publishAt writes events to topic with the Kafka timestamp kafkaTime,
// which reporting books a change to a closed month by.
func (s *stack) publishAt(t *testing.T, kafkaTime time.Time, topic string, values ...any) {
	t.Helper()
	var msgs []kafka.Message
	for _, v := range values {
		var b []byte
		var key []byte
		switch e := v.(type) {
		case events.ClickRecorded:
			b, _ = events.Marshal(e)
			key = e.Key()
		case events.ConversionReceived:
			b, _ = events.Marshal(e)
			key = e.Key()
		case string:
			b, key = []byte(e), []byte("poison")
		}
		msgs = append(msgs, kafka.Message{Topic: topic, Key: key, Value: b, Time: kafkaTime})
	}
	// The first write to a topic waits for the broker to create it.
	testkit.WaitFor(t, 20*time.Second, func() error {
		if err := s.writer.WriteMessages(context.Background(), msgs...); err != nil {
			return fmt.Errorf("publish to %s: %w", topic, err)
		}
		return nil
	})
}

type resp struct {
	status int
	body   string
	header http.Header
}

func (s *stack) do(t *testing.T, method, path, body string, headers ...string) resp {
	t.Helper()
	req, _ := http.NewRequest(method, s.p.Base+path, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, string(b), r.Header}
}

func (s *stack) click(id, code, course string, at time.Duration, bot, unique bool) events.ClickRecorded {
	return events.ClickRecorded{Header: events.Header{ID: id, Type: events.TypeClickRecorded, SchemaVersion: 1},
		OccurredAt: s.day.Add(at), Code: code, Partner: "coursera", CourseID: course, Placement: "hero",
		Destination: "https://example.com/?c=" + id, VisitorHash: "v", Bot: bot, Unique: unique}
}

func (s *stack) conv(id, order, clickID, course, status, sale, commission string, at time.Duration) events.ConversionReceived {
	return events.ConversionReceived{Header: events.Header{ID: id, Type: events.TypeConversionReceived, SchemaVersion: 1},
		Partner: "coursera", OrderID: order, ClickID: clickID, CourseID: course, Status: status, SaleAmount: sale,
		Commission: commission, Currency: "USD", OccurredAt: s.day.Add(at), ReceivedAt: s.day.Add(at + time.Second),
		Source: events.SourceWebhook, IdempotencyKey: id}
}

type reportJSON struct {
	Meta struct {
		From          string   `json:"from"`
		To            string   `json:"to"`
		AsOf          string   `json:"as_of"`
		ClosedPeriods []string `json:"closed_periods"`
	} `json:"meta"`
	Rows []map[string]any `json:"rows"`
}

func (s *stack) report(t *testing.T, query string) reportJSON {
	t.Helper()
	r := s.do(t, "GET", "/v1/reports/commissions?"+query, "")
	if r.status != 200 {
		t.Fatalf("report %s = %d %s\nlogs:\n%s", query, r.status, r.body, s.p.Logs())
	}
	var out reportJSON
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Fatalf("report %s: %v in %s", query, err, r.body)
	}
	return out
}

// waitFor polls the report until check passes.
func (s *stack) waitFor(t *testing.T, query string, check func(reportJSON) error) reportJSON {
	t.Helper()
	var rep reportJSON
	// Generous: after a kill, the group waits out the dead members'
	// sessions before it hands their partitions over.
	testkit.WaitFor(t, 90*time.Second, func() error {
		rep = s.report(t, query)
		if err := check(rep); err != nil {
			return fmt.Errorf("report %s: %w\n%+v", query, err, rep.Rows)
		}
		return nil
	})
	return rep
}

func want(row map[string]any, fields map[string]any) error {
	for k, v := range fields {
		if fmt.Sprint(row[k]) != fmt.Sprint(v) {
			return fmt.Errorf("%s = %v, want %v (row %v)", k, row[k], v, row)
		}
	}
	return nil
}

func oneRow(fields map[string]any) func(reportJSON) error {
	return func(r reportJSON) error {
		if len(r.Rows) != 1 {
			return fmt.Errorf("%d rows, want 1", len(r.Rows))
		}
		return want(r.Rows[0], fields)
	}
}

func TestLedgerEndToEndAtInstant(t *testing.T) {
	t.Parallel()
	s := setup(t, testkit.Now(t))
	total := s.seed(t)
	s.waitFor(t, s.month()+"&group_by=partner", oneRow(total))
	s.ledgerChecks(t, total)
}

// seed publishes a small month of clicks and conversions that exercise
// ordering, redelivery, late clicks, forged click ids, reversals,
// cross-sells and poison, and returns the totals they should report.
func (s *stack) seed(t *testing.T) map[string]any {
	t.Helper()
	h := time.Hour
	s.publish(t, events.TopicClicks,
		s.click("c1", "ml-101", "ml-101", 9*h, false, true),
		s.click("c2", "ml-101", "ml-101", 9*h, true, true),
		s.click("c3", "ml-101", "ml-101", 23*h+30*time.Minute, false, false),
		s.click("c1", "ml-101", "ml-101", 9*h, false, true), // redelivered
	)
	approved := s.conv("e2", "A-1", "c1", "", "approved", "10.00", "1.20", 11*h)
	s.publish(t, events.TopicConversions,
		approved, // before the pending event it follows
		s.conv("e1", "A-1", "c1", "", "pending", "10.00", "1.00", 10*h),
		s.conv("e3", "A-2", "c-late", "", "pending", "20.00", "2.00", 12*h),
		s.conv("e4", "A-3", "forged", "", "approved", "30.00", "3.00", 12*h+30*time.Minute),
		s.conv("e5", "A-4", "c1", "", "pending", "40.00", "4.00", 13*h),
		s.conv("e6", "A-4", "c1", "", "reversed", "40.00", "4.00", 14*h),
		s.conv("e7", "A-5", "c1", "stats-200", "pending", "50.00", "5.00", 15*h),
		approved, // redelivered
	)
	s.publish(t, events.TopicConversions, `{"not":"an event"}`)
	s.publish(t, events.TopicClicks, s.click("c-late", "py-201", "py-201", 11*h, false, true))

	total := map[string]any{"partner": "coursera", "currency": "USD", "clicks": 3, "unique_clicks": 2, "bot_clicks": 1,
		"conversions": 5, "direct_conversions": 3, "cross_sell_conversions": 1, "sale_amount": "110.00",
		"commission_pending": "7.00", "commission_approved": "4.20", "commission_reversed": "4.00",
		"commission_paid": "0.00", "epc": "1.40"}
	return total
}

func (s *stack) ledgerChecks(t *testing.T, total map[string]any) {
	month, monthName := s.month(), s.day.Format("2006-01")
	dayName, firstName := s.day.Format(time.DateOnly), monthOf(s.day).Format(time.DateOnly)

	t.Run("by link", func(t *testing.T) {
		rep := s.report(t, month+"&group_by=course,link")
		got := map[string]map[string]any{}
		for _, r := range rep.Rows {
			got[fmt.Sprint(r["course"], "/", r["link"])] = r
		}
		checks := map[string]map[string]any{
			"ml-101/ml-101": {"clicks": 2, "conversions": 3, "direct_conversions": 2, "cross_sell_conversions": 1},
			"py-201/py-201": {"clicks": 1, "conversions": 1, "commission_pending": "2.00", "epc": "0.00"},
			"/":             {"clicks": 0, "conversions": 1, "commission_approved": "3.00", "epc": "<nil>"},
		}
		for k, c := range checks {
			if err := want(got[k], c); err != nil {
				t.Errorf("%s: %v", k, err)
			}
		}
	})

	t.Run("days cut in the time zone", func(t *testing.T) {
		rep := s.report(t, month+"&group_by=day&tz=Europe/Berlin")
		next := s.day.AddDate(0, 0, 1).Format(time.DateOnly)
		if len(rep.Rows) != 2 || rep.Rows[1]["day"] != next || fmt.Sprint(rep.Rows[1]["clicks"]) != "1" {
			t.Fatalf("23:30 UTC is the next day in Berlin: %v", rep.Rows)
		}
	})

	t.Run("csv", func(t *testing.T) {
		r := s.do(t, "GET", "/v1/reports/commissions?"+month+"&group_by=link&format=csv", "")
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") || r.header.Get("X-Report-As-Of") == "" {
			t.Fatalf("csv = %d %v %s", r.status, r.header, r.body)
		}
		if !strings.HasPrefix(r.body, "link,currency,clicks,unique_clicks,bot_clicks,conversions,") {
			t.Fatalf("csv header: %s", r.body)
		}
		checkCRLF(t, "report csv", r.body)
	})

	t.Run("currency conversion refuses to guess", func(t *testing.T) {
		r := s.do(t, "GET", "/v1/reports/commissions?"+month+"&currency=EUR", "")
		if r.status != 422 || !strings.Contains(r.body, dayName) || !strings.Contains(r.body, "USD") {
			t.Fatalf("without a rate = %d %s", r.status, r.body)
		}
		r = s.do(t, "PUT", "/v1/fx-rates", "date,base,quote,rate\n"+firstName+",EUR,USD,1.25\n", "Content-Type", "text/csv")
		if r.status != 200 {
			t.Fatalf("PUT rates = %d %s", r.status, r.body)
		}
		rep := s.report(t, month+"&currency=EUR")
		if err := want(rep.Rows[0], map[string]any{"currency": "EUR", "sale_amount": "88.00", "commission_approved": "3.36"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, c := range []struct {
			method, path, body string
			status             int
		}{
			{"GET", "/v1/reports/commissions?group_by=colour", "", 422},
			{"GET", "/v1/reports/commissions?from=2026-13-01", "", 422},
			{"GET", "/v1/reports/commissions?from=2026-11-02&to=2026-11-01", "", 422},
			{"GET", "/v1/reports/commissions?tz=Mars/Olympus", "", 422},
			{"GET", "/v1/reports/commissions?tz=Asia/Kolkata&from=1900-01-01&to=1900-02-01", "", 422}, // +05:21:10 then
			{"GET", "/v1/reports/commissions?currency=usd", "", 422},
			{"PUT", "/v1/fx-rates", `[{"date":"2026-11-01","base":"EUR","quote":"USD","rate":"-1"}]`, 422},
			{"PUT", "/v1/fx-rates", `[{"date":"2026-11-01"`, 400},
			{"POST", "/v1/payouts/remittances", `{"partner":"coursera","amount":"1.001","currency":"USD","reference":"x"}`, 422},
			{"POST", "/v1/payouts/remittances", `{"partner":"coursera","amount":"1.00","currency":"USD"}`, 422},
			{"GET", "/v1/payouts/statements/nobody?month=2026-11", "", 404},
			{"GET", "/v1/payouts/statements/coursera?month=11-2026", "", 422},
			{"PUT", "/v1/periods/" + monthOf(s.at).AddDate(0, 1, 0).Format("2006-01"), `{"status":"closed"}`, 422}, // next month
		} {
			if r := s.do(t, c.method, c.path, c.body); r.status != c.status || !strings.Contains(r.body, `"error"`) {
				t.Errorf("%s %s = %d %s, want %d", c.method, c.path, r.status, r.body, c.status)
			}
		}
		if r := s.do(t, "GET", "/?from=yesterday", "", "Accept", "text/html"); r.status != 422 || !strings.Contains(r.body, "is not a date") {
			t.Errorf("dashboard with a bad date = %d %.200s", r.status, r.body)
		}
		anon, _ := http.Get(s.p.Base + "/")
		if anon == nil || anon.StatusCode != 401 || !strings.HasPrefix(anon.Header.Get("Content-Type"), "text/html") {
			t.Errorf("dashboard without a token: %v", anon)
		}
		req, _ := http.NewRequest("GET", s.p.Base+"/v1/reports/commissions", nil)
		if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 401 {
			t.Errorf("no token: %v %v", r, err)
		}
	})

	t.Run("remittances pay the oldest approved commission first", func(t *testing.T) {
		body := `{"partner":"coursera","amount":"2.00","currency":"USD","received_at":"` +
			s.day.Add(18*time.Hour).Format(time.RFC3339) + `","reference":"wire 88"}`
		if r := s.do(t, "POST", "/v1/payouts/remittances", body); r.status != 201 {
			t.Fatalf("remittance = %d %s", r.status, r.body)
		}
		if r := s.do(t, "POST", "/v1/payouts/remittances", body); r.status != 200 {
			t.Fatalf("same remittance again = %d %s", r.status, r.body)
		}
		if r := s.do(t, "POST", "/v1/payouts/remittances", strings.Replace(body, "2.00", "3.00", 1)); r.status != 409 {
			t.Fatalf("conflicting remittance = %d %s", r.status, r.body)
		}
		paid := map[string]any{}
		for k, v := range total {
			paid[k] = v
		}
		paid["commission_approved"], paid["commission_paid"] = "2.20", "2.00"
		s.waitFor(t, month+"&group_by=partner", oneRow(paid))
		r := s.do(t, "GET", "/v1/payouts/statements/coursera?month="+monthName, "")
		if r.status != 200 || !strings.Contains(r.body, `"remitted":"2.00"`) || !strings.Contains(r.body, `"approved":"4.20"`) ||
			!strings.Contains(r.body, `"balance_owed":"2.20"`) || !strings.Contains(r.body, `"reversed":"4.00"`) {
			t.Fatalf("statement = %d %s", r.status, r.body)
		}
		r = s.do(t, "GET", "/v1/payouts/statements/coursera?month="+monthName+"&format=csv", "")
		if r.status != 200 || !strings.Contains(r.body, "coursera,"+monthName+",USD,0.00,4.20,4.00,2.00,0.00,2.20,") {
			t.Fatalf("statement csv = %d %s", r.status, r.body)
		}
		checkCRLF(t, "statement csv", r.body)
	})

	t.Run("reconciliation", func(t *testing.T) {
		r := s.do(t, "GET", "/v1/payouts/reconciliation?month="+monthName, "")
		if r.status != 200 || !strings.Contains(r.body, `"expected":"4.20"`) || !strings.Contains(r.body, `"remitted":"2.00"`) ||
			!strings.Contains(r.body, `"difference":"-2.20"`) || !strings.Contains(r.body, `"unpaid_conversions":1`) {
			t.Fatalf("reconciliation = %d %s", r.status, r.body)
		}
		r = s.do(t, "GET", "/v1/payouts/reconciliation?month="+monthName+"&format=csv", "")
		if r.status != 200 || !strings.Contains(r.body, "coursera,USD,4.20,2.00,-2.20,") {
			t.Fatalf("reconciliation csv = %d %s", r.status, r.body)
		}
		checkCRLF(t, "reconciliation csv", r.body)
	})

	t.Run("settlement import flags every difference", func(t *testing.T) {
		csv := "Order_ID,Commission,Status,Currency\n" +
			"A-1,1.20,paid,USD\n" + // matches (paid is approved)
			"A-3,3.50,approved,USD\n" + // commission differs
			"A-4,4.00,approved,USD\n" + // the ledger has it reversed
			"Z-9,9.00,approved,USD\n" + // unknown to the ledger
			"A-1,1.20,paid,USD\n" // repeated
		r := s.do(t, "POST", "/v1/payouts/settlements/coursera?dry_run=false&month="+monthName, csv, "Content-Type", "text/csv")
		if r.status != 201 {
			t.Fatalf("settlement = %d %s", r.status, r.body)
		}
		for _, want := range []string{`"kind":"commission","ledger":"3.00 USD","line":3,"order_id":"A-3","partner":"3.50 USD"`, `"kind":"status","ledger":"reversed","line":4`,
			`"kind":"missing_in_ledger","ledger":"","line":5,"order_id":"Z-9","partner":"approved 9.00 USD"`, `"order_id":"A-2"`, `"order_id":"A-5"`, `"kind":"duplicate"`} {
			if !strings.Contains(r.body, want) {
				t.Errorf("settlement answer lacks %s: %s", want, r.body)
			}
		}
		for _, bad := range []struct{ body, query string }{
			{"order,amount\nA-1,1.00\n", "month=" + monthName},
			{"order_id,commission,status\nA-1,1.00,approved\n", "month=" + monthName},
			{"order_id,commission,status,currency\nA-1,-1.00,maybe,USD\n", "month=" + monthName},
			{"order_id,commission,status,currency\nA-1,1.00,paid,USD\n", "month=Nov"},
		} {
			if r := s.do(t, "POST", "/v1/payouts/settlements/coursera?"+bad.query, bad.body); r.status != 400 && r.status != 422 {
				t.Errorf("bad settlement %q = %d %s", bad.body, r.status, r.body)
			}
		}
	})

	t.Run("poison is dead-lettered with its reason", func(t *testing.T) {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.brokers, Topic: events.TopicConversionsDLQ, MaxWait: 100 * time.Millisecond})
		defer r.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dead, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("nothing on %s: %v", events.TopicConversionsDLQ, err)
		}
		var code string
		for _, h := range dead.Headers {
			if h.Key == "dlq-code" {
				code = string(h.Value)
			}
		}
		if string(dead.Value) != `{"not":"an event"}` || code == "" {
			t.Fatalf("dead letter %s, code %q", dead.Value, code)
		}
	})

	// The commands need no tokens: only where the data is, and the
	// process's clock.
	now := clock.Fixed(s.at)
	getenv := func(k string) string {
		if k == "DATABASE_URL" || k == "KAFKA_BROKERS" {
			return s.env[k]
		}
		return ""
	}
	t.Run("verify", func(t *testing.T) {
		var out bytes.Buffer
		if err := run(context.Background(), now, []string{"verify"}, getenv, &out, io.Discard); err != nil {
			t.Fatalf("verify: %v\n%s", err, out.String())
		}
	})

	t.Run("replay rebuilds identical reports", func(t *testing.T) {
		var out bytes.Buffer
		if err := run(context.Background(), now, []string{"replay", "-schema", "reporting_rebuild"}, getenv, &out, io.Discard); err != nil {
			t.Fatalf("replay: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "identical to the live schema: true") {
			t.Fatalf("replay: %s", out.String())
		}
	})

	t.Run("export", func(t *testing.T) {
		file := t.TempDir() + "/out.csv"
		if err := run(context.Background(), now, []string{"export", "-from", firstName,
			"-to", monthOf(s.day).AddDate(0, 1, 0).Format(time.DateOnly), "-group-by", "partner", "-o", file},
			getenv, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(file)
		// The settlement applied above moved A-4 from reversed to approved
		// (its line says approved): 40.00 of sale and 4.00 approved more.
		if !strings.Contains(string(b), "coursera,USD,3,2,1,5,3,1,150.00,7.00,6.20,0.00,2.00,2.73") {
			t.Fatalf("export: %s", b)
		}
		checkCRLF(t, "export", string(b))
	})
}

// checkCRLF fails unless body is CSV whose every record, the last one
// too, ends in CRLF (RFC 4180), with no bare LF or CR.
func checkCRLF(t *testing.T, what, body string) {
	t.Helper()
	if !strings.HasSuffix(body, "\r\n") || strings.ContainsAny(strings.ReplaceAll(body, "\r\n", ""), "\r\n") {
		t.Errorf("%s: records do not all end in CRLF: %q", what, body)
	}
}

// A closed month never changes: events that arrive after it was closed,
// and remittances applied after it, land as adjustments in the running
// month, and reports say which periods are closed. Both months are the
// clock's: the month running at the instant, and the one before it.
func TestClosedPeriodsAtInstant(t *testing.T) {
	t.Parallel()
	// Kafka timestamps have milliseconds: at, and a close at at, must be
	// exactly what Kafka records.
	at := testkit.Now(t).Truncate(time.Millisecond)
	s := setup(t, at)
	running := monthOf(at)
	closed := running.AddDate(0, -1, 0)
	purchase := closed.AddDate(0, 0, 9).Add(12 * time.Hour) // the 10th, noon
	inClosed := func(id, order, status string) events.ConversionReceived {
		c := s.conv(id, order, "", "", status, "10.00", "1.00", 0)
		c.OccurredAt, c.ReceivedAt = purchase, purchase.Add(time.Second)
		return c
	}
	// Kafka takes it before the month is closed.
	s.publishAt(t, at.Add(-time.Second), events.TopicConversions, inClosed("o1", "B-1", "pending"))
	closedQuery := span(closed, running) + "&group_by=month"
	runningQuery := span(running, running.AddDate(0, 1, 0)) + "&group_by=month"
	s.waitFor(t, closedQuery, oneRow(map[string]any{"commission_pending": "1.00", "conversions": 1}))

	closedName := closed.Format("2006-01")
	r := s.do(t, "PUT", "/v1/periods/"+closedName, `{"status":"closed"}`)
	if r.status != 200 || !strings.Contains(r.body, `"status":"closed"`) {
		t.Fatalf("close %s at %s = %d %s", closedName, at.Format(time.RFC3339), r.status, r.body)
	}
	if r := s.do(t, "GET", "/v1/periods", ""); r.status != 200 || !strings.Contains(r.body, `{"month":"`+closedName+`","status":"closed","closed_at":`) {
		t.Fatalf("periods = %d %s", r.status, r.body)
	}
	if r := s.do(t, "PUT", "/v1/periods/"+running.Format("2006-01"), `{"status":"closed"}`); r.status != 422 {
		t.Fatalf("closing the running month %s at %s = %d %s", running.Format("2006-01"), at.Format(time.RFC3339), r.status, r.body)
	}
	// Kafka takes these at the instant of the close: a change recorded
	// when its month was closed (at or after closed_at) is an adjustment.
	// The process's clock stands still, so "after the close" is the same
	// instant, inside the running month whatever the instant.
	s.publishAt(t, at, events.TopicConversions, inClosed("o2", "B-1", "approved"), inClosed("o3", "B-2", "approved"))
	s.waitFor(t, runningQuery, oneRow(map[string]any{"commission_pending": "-1.00", "commission_approved": "2.00", "conversions": 1}))

	// A remittance applied now pays the closed month's commission: the
	// payment is the running month's too (the store's clock dates it).
	if r := s.do(t, "POST", "/v1/payouts/remittances", `{"partner":"coursera","amount":"1.00","currency":"USD","reference":"late wire"}`); r.status != 201 {
		t.Fatalf("remittance = %d %s", r.status, r.body)
	}
	s.waitFor(t, runningQuery, oneRow(map[string]any{"commission_pending": "-1.00", "commission_approved": "1.00",
		"commission_paid": "1.00", "conversions": 1}))

	rep := s.report(t, closedQuery)
	if err := oneRow(map[string]any{"commission_pending": "1.00", "commission_approved": "0.00", "commission_paid": "0.00",
		"conversions": 1})(rep); err != nil {
		t.Fatalf("the closed month changed: %v", err)
	}
	if len(rep.Meta.ClosedPeriods) != 1 || rep.Meta.ClosedPeriods[0] != closedName || rep.Meta.AsOf == "" {
		t.Fatalf("meta = %+v", rep.Meta)
	}
	csv := s.do(t, "GET", "/v1/reports/commissions?"+closedQuery+"&format=csv", "")
	if csv.header.Get("X-Report-Closed-Periods") != closedName || !strings.Contains(csv.header.Get("Content-Disposition"), "asof") {
		t.Fatalf("csv headers %v", csv.header)
	}
}

// The running month and its days are the clock's, in each report time
// zone: a report without from and to covers the month running at the
// instant where it is asked, cut into that zone's days (23 or 25 hours on
// a DST change day); the dashboard shows the twelve months up to the
// running one; a remittance without a date is dated now.
func TestRunningMonthAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t)
	s := setup(t, at)
	// A click every 30 minutes, two days either side of the instant: a
	// DST change day the instant is on is covered whole.
	var clicks []any
	var times []time.Time
	for i := -96; i <= 96; i++ {
		c := s.click(fmt.Sprintf("r%03d", i+96), "ml-101", "ml-101", 0, false, true)
		c.OccurredAt = at.Add(time.Duration(i) * 30 * time.Minute).UTC()
		clicks, times = append(clicks, c), append(times, c.OccurredAt)
	}
	s.publish(t, events.TopicClicks, clicks...)
	s.waitFor(t, span(at.UTC().AddDate(0, 0, -3), at.UTC().AddDate(0, 0, 3))+"&group_by=partner",
		oneRow(map[string]any{"clicks": len(clicks)}))

	for _, tz := range []string{"UTC", "Europe/Berlin", "America/Chicago"} {
		t.Run(tz, func(t *testing.T) {
			loc, err := time.LoadLocation(tz)
			if err != nil {
				t.Fatal(err)
			}
			local := at.In(loc)
			first := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, loc)
			next := first.AddDate(0, 1, 0)
			want := map[string]int{}
			for _, c := range times {
				if !c.Before(first) && c.Before(next) {
					want[c.In(loc).Format(time.DateOnly)]++
				}
			}
			rep := s.report(t, "group_by=day&tz="+tz)
			if rep.Meta.From != first.Format(time.DateOnly) || rep.Meta.To != next.Format(time.DateOnly) {
				t.Fatalf("at %s the running month in %s is %s..%s, want %s..%s", local.Format(time.RFC3339), tz,
					rep.Meta.From, rep.Meta.To, first.Format(time.DateOnly), next.Format(time.DateOnly))
			}
			got := map[string]int{}
			for _, r := range rep.Rows {
				n, _ := strconv.Atoi(fmt.Sprint(r["clicks"]))
				got[fmt.Sprint(r["day"])] = n
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("clicks by day in %s at %s:\n got %v\nwant %v", tz, local.Format(time.RFC3339), got, want)
			}
		})
	}

	t.Run("dashboard", func(t *testing.T) {
		from := monthOf(at).AddDate(0, -11, 0)
		r := s.do(t, "GET", "/", "", "Accept", "text/html")
		if r.status != 200 || !strings.Contains(r.body, `value="`+from.Format(time.DateOnly)+`"`) ||
			!strings.Contains(r.body, `value="`+from.AddDate(1, 0, 0).Format(time.DateOnly)+`"`) {
			t.Fatalf("dashboard at %s, want %s for a year = %d %.2000s", at.Format(time.RFC3339), from.Format(time.DateOnly), r.status, r.body)
		}
	})

	t.Run("remittance dated now", func(t *testing.T) {
		// Money is recorded only from a partner the ledger knows.
		s.publish(t, events.TopicConversions, s.conv("rm-1", "RM-1", "c-none", "", "approved", "10.00", "1.00", 0))
		s.waitFor(t, span(s.day, s.day.AddDate(0, 0, 1))+"&group_by=partner", oneRow(map[string]any{"conversions": 1}))
		r := s.do(t, "POST", "/v1/payouts/remittances", `{"partner":"coursera","amount":"1.00","currency":"USD","reference":"undated"}`)
		// As stored: to the microsecond.
		if want := `"received_at":"` + at.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano) + `"`; r.status != 201 || !strings.Contains(r.body, want) {
			t.Fatalf("remittance = %d %s, want %s", r.status, r.body, want)
		}
	})
}
