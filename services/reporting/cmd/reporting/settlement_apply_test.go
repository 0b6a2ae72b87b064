package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// Issue 14 item 4: a settlement file applied (dry_run=false) turns each
// status it differs on into a settlement event of that conversion,
// audited (who applied which file, when) and journaled; the same file
// again changes nothing; a change to a closed month lands in the open
// period; a remittance naming orders pays them first and the rest oldest
// first; the checks on named orders answer 422; `reporting replay`
// rebuilds all of it identically.
func TestSettlementApplyAndNamedRemittancesAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t).Truncate(time.Millisecond)
	s := setup(t, at)
	day := s.day
	// Kafka recorded the events before the finance actions below (all
	// at the frozen instant at): a replay applies them in that order.
	recorded := at.Add(-time.Minute)
	s.publishAt(t, recorded, events.TopicClicks, s.click("c-1", "ml", "ml-101", time.Hour, false, true))
	s.publishAt(t, recorded, events.TopicConversions,
		s.conv("e-4", "A-4", "", "ml-101", "approved", "50.00", "5.00", time.Hour), // the oldest purchase
		s.conv("e-1", "A-1", "c-1", "ml-101", "pending", "49.00", "7.35", 2*time.Hour),
		s.conv("e-2", "A-2", "", "ml-101", "pending", "10.00", "1.50", 3*time.Hour),
		s.conv("e-3", "A-3", "", "ml-101", "approved", "30.00", "3.00", 4*time.Hour),
		s.conv("e-5", "A-5", "", "ml-101", "approved", "40.00", "4.00", 5*time.Hour))
	s.waitFor(t, s.month(), oneRow(map[string]any{"conversions": 5, "commission_pending": "8.85", "commission_approved": "12.00"}))
	db := s.db(t)
	count := func(table string) int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM reporting.` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Awin's export, dated by transaction (the purchase): A-1 approved
	// (an event after its pending one at the same instant), A-2 declined,
	// A-3 as the ledger has it, an order the ledger lacks, A-1 twice.
	month := monthOf(day).Format("2006-01")
	date := func(h int) string { return fmt.Sprintf("%s %02d:00", day.Format("02/01/2006"), h) }
	awin := "id,commission,date,commission_status\n" +
		"A-1,7.35," + date(2) + ",approved\n" +
		"A-2,1.50," + date(3) + ",declined\n" +
		"A-3,3.00," + date(4) + ",approved\n" +
		"X-9,9.99," + date(4) + ",approved\n" +
		"A-1,7.35," + date(2) + ",declined\n"
	apply := "/v1/payouts/settlements/coursera?format=awin&currency=USD&dry_run=false&month=" + month
	r := s.do(t, "POST", apply, awin, "Content-Type", "text/csv", "Content-Disposition", `attachment; filename="awin-`+month+`.csv"`)
	if r.status != 201 {
		t.Fatalf("apply = %d %s", r.status, r.body)
	}
	var got struct {
		Apply struct {
			Digest          string `json:"digest"`
			AppliedBy       string `json:"applied_by"`
			AppliedAt       string `json:"applied_at"`
			Rows, Applied   int
			Unchanged       int
			UnknownOrders   int      `json:"unknown_orders"`
			NotApplied      int      `json:"not_applied"`
			UnknownOrderIDs []string `json:"unknown_order_ids"`
			Already         bool     `json:"already_applied"`
			Lines           []map[string]any
		}
		Remaining []map[string]any `json:"remaining_differences"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	a := got.Apply
	if a.Rows != 5 || a.Applied != 2 || a.Unchanged != 1 || a.UnknownOrders != 1 || a.NotApplied != 1 ||
		fmt.Sprint(a.UnknownOrderIDs) != "[X-9]" || a.Already || !strings.HasPrefix(a.Digest, "sha256:") ||
		!strings.HasPrefix(a.AppliedBy, "admin") || a.AppliedAt != at.UTC().Format(time.RFC3339Nano) ||
		!strings.Contains(r.body, `"file_name":"awin-`+month+`.csv"`) {
		t.Fatalf("apply record: %+v\n%s", a, r.body)
	}
	for _, w := range []string{`"from":"pending","line":2,"order_id":"A-1","outcome":"applied","to":"approved"`,
		`"from":"pending","line":3,"order_id":"A-2","outcome":"applied","to":"reversed"`,
		`"order_id":"X-9","outcome":"unknown_order"`, `"line":6,"order_id":"A-1","outcome":"duplicate"`} {
		if !strings.Contains(r.body, w) {
			t.Errorf("apply lacks %s: %s", w, r.body)
		}
	}
	for _, d := range got.Remaining { // only what an apply cannot change is left
		if d["kind"] == "status" && d["line"] != 6.0 { // line 6 repeats A-1 with another status
			t.Errorf("a status difference is left after the apply: %v", d)
		}
	}
	wantRow := map[string]any{"conversions": 5, "commission_pending": "0.00", "commission_approved": "19.35", "commission_reversed": "1.50"}
	s.waitFor(t, s.month(), oneRow(wantRow))
	if st := statuses(t, db, "reporting"); st["A-1"] != "approved" || st["A-2"] != "reversed" || st["A-3"] != "approved" {
		t.Fatalf("statuses after the apply: %v", st)
	}
	var src, eff string
	if err := db.QueryRow(`SELECT e.source, t.effective_at::text FROM reporting.conversion_events e
		JOIN reporting.ledger_transactions t ON t.event_id = e.id WHERE e.order_id = 'A-1' AND e.source = 'settlement'`).
		Scan(&src, &eff); err != nil {
		t.Fatalf("A-1's settlement event and its ledger transaction: %v", err)
	}

	// The same file again: the first apply's record, nothing changes.
	txns, journal := count("ledger_transactions"), count("finance_journal")
	r = s.do(t, "POST", apply, awin, "Content-Type", "text/csv")
	if r.status != 200 || !strings.Contains(r.body, `"already_applied":true`) || !strings.Contains(r.body, `"applied":2`) {
		t.Fatalf("the same file again = %d %s", r.status, r.body)
	}
	if count("ledger_transactions") != txns || count("finance_journal") != journal || count("settlement_applies") != 1 {
		t.Fatalf("applying the same file twice changed the ledger or the journal")
	}
	s.waitFor(t, s.month(), oneRow(wantRow))

	// A remittance naming A-5 pays it first; the rest goes oldest first
	// (A-4, then A-1). Oldest first alone would have paid.
	rem := `{"partner":"coursera","amount":"6.00","currency":"USD","reference":"wire 7","orders":[{"order_id":"A-5","amount":"4.00"}]}`
	if r := s.do(t, "POST", "/v1/payouts/remittances", rem); r.status != 201 || !strings.Contains(r.body, `"orders":[{"amount":"4.00","order_id":"A-5"}]`) {
		t.Fatalf("remittance naming orders = %d %s", r.status, r.body)
	}
	paid := func(schema string) string {
		rows, err := db.Query(`SELECT order_id, paid_minor FROM "` + schema + `".conversions WHERE paid_minor > 0 ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var o string
			var p int64
			rows.Scan(&o, &p)
			out = append(out, fmt.Sprintf("%s=%d", o, p))
		}
		return strings.Join(out, " ")
	}
	if p := paid("reporting"); p != "A-4=200 A-5=400" {
		t.Fatalf("paid after the named remittance: %s, want A-4=200 A-5=400", p)
	}
	if r := s.do(t, "POST", "/v1/payouts/remittances", rem); r.status != 200 {
		t.Fatalf("the same remittance again = %d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", "/v1/payouts/remittances", strings.Replace(rem, `"A-5"`, `"A-3"`, 1)); r.status != 409 {
		t.Fatalf("the same reference naming other orders = %d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", "/v1/payouts/remittances", `{"partner":"coursera","amount":"3.00","currency":"USD","reference":"wire 8"}`); r.status != 201 {
		t.Fatalf("remittance naming none = %d %s", r.status, r.body)
	}
	if p := paid("reporting"); p != "A-4=500 A-5=400" { // the free 5.00 fills A-4 (oldest) first
		t.Fatalf("paid after an unnamed remittance: %s, want A-4=500 A-5=400", p)
	}
	for name, c := range map[string]struct {
		orders string
		code   string
	}{
		"unknown order":          {`[{"order_id":"NOPE","amount":"1.00"}]`, "unknown_order"},
		"beyond the commission":  {`[{"order_id":"A-3","amount":"3.01"}]`, "amount_beyond_commission"},
		"beyond what is left":    {`[{"order_id":"A-5","amount":"0.01"}]`, "amount_beyond_commission"},
		"a reversed order":       {`[{"order_id":"A-2","amount":"1.00"}]`, "amount_beyond_commission"},
		"more than the total":    {`[{"order_id":"A-3","amount":"3.00"},{"order_id":"A-1","amount":"7.35"}]`, "invalid_remittance"},
		"an order twice":         {`[{"order_id":"A-3","amount":"1.00"},{"order_id":"A-3","amount":"1.00"}]`, "invalid_remittance"},
		"not an amount":          {`[{"order_id":"A-3","amount":"1,00"}]`, "invalid_remittance"},
		"a negative amount":      {`[{"order_id":"A-3","amount":"-1.00"}]`, "invalid_remittance"},
		"no order id":            {`[{"amount":"1.00"}]`, "invalid_remittance"},
		"unknown among known":    {`[{"order_id":"A-3","amount":"1.00"},{"order_id":"X-1","amount":"1.00"}]`, "unknown_order"},
		"an order id too long":   {`[{"order_id":"` + strings.Repeat("x", 129) + `","amount":"1.00"}]`, "invalid_remittance"},
		"orders not a list":      {`{"order_id":"A-3"}`, "invalid_json"},
		"an amount not a string": {`[{"order_id":"A-3","amount":1}]`, "invalid_json"},
	} {
		body := `{"partner":"coursera","amount":"10.00","currency":"USD","reference":"bad ` + name + `","orders":` + c.orders + `}`
		r := s.do(t, "POST", "/v1/payouts/remittances", body)
		wantStatus := 422
		if c.code == "invalid_json" {
			wantStatus = 400
		}
		if r.status != wantStatus || (c.code != "invalid_json" && !strings.Contains(r.body, `"code":"`+c.code+`"`)) {
			t.Errorf("%s = %d %s, want %d %s", name, r.status, r.body, wantStatus, c.code)
		}
	}
	if count("remittances") != 2 {
		t.Fatalf("a refused remittance was stored")
	}

	// The network's payment report names the orders instead: its approved
	// lines (Awin's export here) pay A-1 7.35, the amount their sum.
	report := "id,commission,date,commission_status\n" +
		"A-1,7.35," + date(2) + ",approved\n" +
		"A-2,1.50," + date(3) + ",declined\n" // pays nothing
	payment := "/v1/payouts/remittances?partner=coursera&currency=USD&reference=awin+payment+1&format=awin"
	if r := s.do(t, "POST", payment, report, "Content-Type", "text/csv"); r.status != 201 ||
		!strings.Contains(r.body, `"amount":"7.35"`) || !strings.Contains(r.body, `"orders":[{"amount":"7.35","order_id":"A-1"}]`) {
		t.Fatalf("a payment report = %d %s", r.status, r.body)
	}
	if p := paid("reporting"); p != "A-1=735 A-4=500 A-5=400" {
		t.Fatalf("paid after the payment report: %s, want A-1=735 A-4=500 A-5=400", p)
	}
	for name, c := range map[string]struct {
		query, body string
		status      int
		code        string
	}{
		"an unknown order":      {"&reference=r2&format=awin", "id,commission,commission_status\nX-7,1.00,approved\n", 422, "unknown_order"},
		"nothing approved":      {"&reference=r3&format=awin", "id,commission,commission_status\nA-3,3.00,pending\n", 422, "invalid_payment_report"},
		"another currency":      {"&reference=r4&format=awin", "id,commission,commission_status,currency\nA-3,3.00,approved,EUR\n", 422, "invalid_payment_report"},
		"not the report format": {"&reference=r5&format=awin", "Action Id,Payout\n1,1.00\n", 400, "malformed_csv"},
		"an unknown format":     {"&reference=r6&format=paypal", "id\n1\n", 400, "unknown_format"},
		"an empty report":       {"&reference=r7&format=awin", "", 400, ""},
		"beyond its amount":     {"&reference=r8&format=awin&amount=1.00", "id,commission,commission_status\nA-3,3.00,approved\n", 422, "invalid_remittance"},
	} {
		r := s.do(t, "POST", "/v1/payouts/remittances?partner=coursera&currency=USD"+c.query, c.body, "Content-Type", "text/csv")
		if r.status != c.status || !strings.Contains(r.body, `"code":"`+c.code) {
			t.Errorf("payment report with %s = %d %s, want %d %s", name, r.status, r.body, c.status, c.code)
		}
	}
	if count("remittances") != 3 {
		t.Fatalf("a refused payment report was stored")
	}

	// The month closes; a file reversing A-3 changes it as of now: the
	// closed month's figures stay, the change lands in the open period.
	if r := s.do(t, "PUT", "/v1/periods/"+month, `{"status":"closed"}`); r.status != 200 {
		t.Fatalf("close = %d %s", r.status, r.body)
	}
	closed := s.fetch(t, "/v1/reports/commissions?"+s.month())
	reverse := "id,commission,date,commission_status\nA-3,3.00," + date(4) + ",declined\n"
	if r := s.do(t, "POST", apply, reverse, "Content-Type", "text/csv"); r.status != 201 || !strings.Contains(r.body, `"applied":1`) {
		t.Fatalf("apply into a closed month = %d %s", r.status, r.body)
	}
	if got := s.fetch(t, "/v1/reports/commissions?"+s.month()); got != closed {
		t.Fatalf("the closed month moved:\n%s\nwas\n%s", got, closed)
	}
	all := span(monthOf(day), monthOf(at).AddDate(0, 1, 0)) + "&group_by=month"
	rep := s.report(t, all)
	if len(rep.Rows) != 2 || want(rep.Rows[1], map[string]any{"commission_reversed": "3.00", "commission_approved": "-3.00"}) != nil {
		t.Fatalf("the adjustment in the open period: %+v", rep.Rows)
	}

	// Replay: the journal applies the files and the remittances again.
	liveStatuses, livePaid := statuses(t, db, "reporting"), paid("reporting")
	var out bytes.Buffer
	if err := run(t.Context(), clock.Fixed(at), []string{"verify"}, s.getenv, &out, io.Discard); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	s.replay(t, "reporting_rebuild")
	if got := statuses(t, db, "reporting_rebuild"); fmt.Sprint(got) != fmt.Sprint(liveStatuses) {
		t.Errorf("statuses after replay %v, live %v", got, liveStatuses)
	}
	if got := paid("reporting_rebuild"); got != livePaid {
		t.Errorf("paid after replay %s, live %s", got, livePaid)
	}
	for _, q := range []string{
		`SELECT string_agg(partner || digest || file_name || format || month || rows || applied || unchanged || unknown || skipped || applied_at || applied_by, ',' ORDER BY id) FROM %s.settlement_applies`,
		`SELECT string_agg(line || order_id || outcome || from_status || to_status || coalesce(event_id, ''), ',' ORDER BY apply_id, line) FROM %s.settlement_apply_lines`,
		`SELECT string_agg(id || status || occurred_at || accepted_seq || recorded_at, ',' ORDER BY id) FROM %s.conversion_events WHERE source = 'settlement'`,
		`SELECT string_agg(order_id || amount_minor, ',' ORDER BY remittance_id, order_id) FROM %s.remittance_orders`,
	} {
		var live, rebuilt string
		if err := db.QueryRow(fmt.Sprintf(q, "reporting")).Scan(&live); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(fmt.Sprintf(q, "reporting_rebuild")).Scan(&rebuilt); err != nil {
			t.Fatal(err)
		}
		if live != rebuilt || live == "" {
			t.Errorf("%s\nlive    %s\nrebuilt %s", q, live, rebuilt)
		}
	}
}
