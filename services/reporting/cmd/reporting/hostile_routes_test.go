package main

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// Issue 12 item 7: every route of reporting, public and finance, fed
// oversized, truncated, binary, deeply nested, wrongly typed and wrongly
// encoded input, answers a 4xx in the contract's error shape (the
// dashboard's HTML pages answer browsers with the sign-in form and API
// clients with the JSON error): never a 5xx, never a hang (each request
// has a client timeout), never internals in the text (Go types, files,
// stacks, SQL or driver text, addresses, the token), never a whole
// hostile value echoed back.

// hostileMarker ends every hostile value that is not small: an answer may
// quote the start of a value, never the whole of one.
const hostileMarker = "HOSTILE"

func hostileLeaks() []string {
	return []string{hostileMarker, token, "/work/", "/root/", ".go:", "goroutine", "panic", "runtime.", "pq:", "sql:", "SELECT",
		"INSERT", "UPDATE ", "dashboard_sessions", "postgres", "127.0.0.1", "map[", "[]string", "interface {}", "Go value",
		"json: ", "reporting.", "strictjson", "httpx."}
}

type routeCase struct {
	name, method, path string
	body               io.Reader
	headers            []string
	auth               bool   // send the finance (admin) token
	status             int    // 0: any 4xx
	code               string // "": any; "html": the sign-in page, not JSON
}

// hostileStack is reporting with sign-ins keyed by X-Forwarded-For (the
// test is the trusted proxy), so each hostile sign-in counts against a
// client of its own and the throttle is tested apart.
func hostileStack(t *testing.T) *stack {
	t.Helper()
	brokers := testkit.Kafka(t)
	env := map[string]string{"DATABASE_URL": migratedDatabaseURL(t), "KAFKA_BROKERS": strings.Join(brokers, ","),
		"ADMIN_TOKEN": token, "LOG_LEVEL": "warn", "TRUSTED_PROXIES": "127.0.0.1/32,::1/128", "SIGNIN_MAX_ATTEMPTS": "3"}
	at := testkit.Now(t)
	s := &stack{ln: testkit.Listen(t), at: at, day: monthOf(at).AddDate(0, -1, 19), brokers: brokers, env: env}
	s.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("reporting's logs:\n%s", s.p.Logs())
		}
	})
	return s
}

func TestHostileInputOnEveryRoute(t *testing.T) {
	t.Parallel()
	s := hostileStack(t)
	hv := testkit.NewHostileValues(hostileMarker, 12)
	big, binary, nested, utf16le := hv.Big, hv.Binary, hv.Nested, hv.UTF16LE
	str := strings.NewReader
	month := s.day.Format("2006-01")
	remit := `{"partner":"coursera","amount":"10.00","currency":"USD","received_at":"2026-11-20T10:00:00Z","reference":"w1"}`
	rates := `[{"date":"2026-11-20","base":"EUR","quote":"USD","rate":"1.08"}]`
	csvCT := []string{"Content-Type", "text/csv"}
	jsonAccept := []string{"Accept", "application/json"}
	htmlAccept := []string{"Accept", "text/html"}
	form := func(h ...string) []string {
		return append([]string{"Content-Type", "application/x-www-form-urlencoded", "Origin", s.p.Base, "Accept", "application/json"}, h...)
	}

	cases := []routeCase{
		// GET /v1/reports/commissions
		{name: "report: oversized tz", method: "GET", path: "/v1/reports/commissions?tz=" + big(16<<10), auth: true, status: 422},
		{name: "report: binary tz", method: "GET", path: "/v1/reports/commissions?tz=" + url.QueryEscape(binary(64)), auth: true, status: 422},
		{name: "report: path tz", method: "GET", path: "/v1/reports/commissions?tz=../../etc/passwd", auth: true, status: 422},
		{name: "report: oversized from", method: "GET", path: "/v1/reports/commissions?from=" + big(8<<10), auth: true, status: 422},
		{name: "report: wrongly typed date", method: "GET", path: "/v1/reports/commissions?from=1700000000&to=true", auth: true, status: 422},
		{name: "report: truncated date", method: "GET", path: "/v1/reports/commissions?from=2026-1", auth: true, status: 422},
		{name: "report: impossible date", method: "GET", path: "/v1/reports/commissions?from=2026-02-30", auth: true, status: 422},
		{name: "report: year 0", method: "GET", path: "/v1/reports/commissions?from=0000-01-01&to=9999-12-31", auth: true},
		{name: "report: oversized group_by", method: "GET", path: "/v1/reports/commissions?group_by=" + strings.Repeat("partner,", 2000) + big(200), auth: true, status: 422},
		{name: "report: nested group_by", method: "GET", path: "/v1/reports/commissions?group_by=" + url.QueryEscape(nested(500)), auth: true, status: 422},
		{name: "report: binary currency", method: "GET", path: "/v1/reports/commissions?currency=" + url.QueryEscape(binary(100)), auth: true, status: 422},
		{name: "report: oversized format", method: "GET", path: "/v1/reports/commissions?format=" + big(4<<10), auth: true, status: 422},
		{name: "report: unknown parameter", method: "GET", path: "/v1/reports/commissions?" + big(2<<10) + "=1", auth: true, status: 422},
		{name: "report: bad escape", method: "GET", path: "/v1/reports/commissions?from=%zz" + hostileMarker, auth: true, status: 400, code: "invalid_query"},
		{name: "report: semicolon", method: "GET", path: "/v1/reports/commissions?from=2026-01-01;" + hostileMarker, auth: true, status: 400, code: "invalid_query"},
		{name: "statement: bad escape", method: "GET", path: "/v1/payouts/statements/coursera?month=%zz", auth: true, status: 400, code: "invalid_query"},
		{name: "statement: unknown parameter", method: "GET", path: "/v1/payouts/statements/coursera?month=2026-11&monht=2026-10", auth: true, status: 422, code: "invalid_query"},
		{name: "statement: oversized unknown parameter", method: "GET", path: "/v1/payouts/statements/coursera?" + big(2<<10) + "=1", auth: true, status: 422, code: "invalid_query"},
		{name: "reconciliation: unknown parameter", method: "GET", path: "/v1/payouts/reconciliation?month=2026-11&partner=coursera", auth: true, status: 422, code: "invalid_query"},
		{name: "fx rates: unknown parameter", method: "GET", path: "/v1/fx-rates?base=EUR", auth: true, status: 422, code: "invalid_query"},
		{name: "partner activity: bad escape", method: "GET", path: "/v1/partner-activity?x=%zz", auth: true, status: 400, code: "invalid_query"},
		{name: "unattributed: ';' in the query", method: "GET", path: "/v1/partners/coursera/unattributed?limit=5;x=1", auth: true, status: 400, code: "invalid_query"},
		{name: "dashboard: bad escape", method: "GET", path: "/?from=%zz", auth: true, headers: htmlAccept, status: 400, code: "invalid_query"},
		{name: "report: repeated parameter", method: "GET", path: "/v1/reports/commissions?" + strings.Repeat("group_by=partner&", 1500) + "x=" + hostileMarker, auth: true, status: 422},
		{name: "report: oversized token", method: "GET", path: "/v1/reports/commissions", headers: []string{"Authorization", "Bearer " + big(16<<10)}, status: 401, code: "invalid_token"},
		{name: "report: binary token", method: "GET", path: "/v1/reports/commissions", headers: []string{"Authorization", "Bearer \x80\xff" + hostileMarker}, status: 401, code: "invalid_token"},
		{name: "report: basic auth", method: "GET", path: "/v1/reports/commissions", headers: []string{"Authorization", "Basic " + big(100)}, status: 401, code: "missing_token"},
		{name: "report: no token", method: "GET", path: "/v1/reports/commissions", status: 401, code: "missing_token"},

		// GET /v1/fx-rates
		{name: "rates: oversized currency", method: "GET", path: "/v1/fx-rates?currency=" + big(8<<10), auth: true, status: 422},
		{name: "rates: binary currency", method: "GET", path: "/v1/fx-rates?currency=" + url.QueryEscape(binary(100)), auth: true, status: 422},
		{name: "rates: from not a date", method: "GET", path: "/v1/fx-rates?from=2026-13-01", auth: true, status: 422, code: "invalid_query"},
		{name: "rates: oversized to", method: "GET", path: "/v1/fx-rates?to=" + big(8<<10), auth: true, status: 422, code: "invalid_query"},
		{name: "rates: no token", method: "GET", path: "/v1/fx-rates", status: 401},

		// PUT /v1/fx-rates
		{name: "put rates: oversized", method: "PUT", path: "/v1/fx-rates", body: testkit.Endless(9 << 20), auth: true, status: 413, code: "body_too_large"},
		{name: "put rates: truncated JSON", method: "PUT", path: "/v1/fx-rates", body: str(rates[:30]), auth: true, status: 400},
		{name: "put rates: trailing garbage", method: "PUT", path: "/v1/fx-rates", body: str(rates + "]" + big(64)), auth: true, status: 400},
		{name: "put rates: binary", method: "PUT", path: "/v1/fx-rates", body: str(binary(4 << 10)), auth: true},
		{name: "put rates: binary JSON", method: "PUT", path: "/v1/fx-rates", body: str("[" + binary(4<<10)), auth: true, status: 400},
		{name: "put rates: deeply nested", method: "PUT", path: "/v1/fx-rates", body: str(nested(100000)), auth: true, status: 400},
		{name: "put rates: nested objects", method: "PUT", path: "/v1/fx-rates", body: str("[" + strings.Repeat(`{"date":`, 20000) + "1" + strings.Repeat("}", 20000) + "]"), auth: true, status: 400},
		{name: "put rates: number for a string", method: "PUT", path: "/v1/fx-rates", body: str(`[{"date":"2026-11-20","base":"EUR","quote":"USD","rate":1.08}]`), auth: true, status: 400},
		{name: "put rates: object body", method: "PUT", path: "/v1/fx-rates", body: str(`{"rates":` + rates + `}`), headers: []string{"Content-Type", "application/json"}, auth: true, status: 400},
		{name: "put rates: huge number", method: "PUT", path: "/v1/fx-rates", body: str(`[{"date":"2026-11-20","base":"EUR","quote":"USD","rate":"1` + strings.Repeat("0", 100000) + `"}]`), auth: true, status: 422},
		{name: "put rates: negative rate", method: "PUT", path: "/v1/fx-rates", body: str(`[{"date":"2026-11-20","base":"EUR","quote":"USD","rate":"-1"}]`), auth: true, status: 422},
		{name: "put rates: two rates for one pair and date", method: "PUT", path: "/v1/fx-rates", body: str(`[{"date":"2026-11-20","base":"EUR","quote":"USD","rate":"1.1"},{"date":"2026-11-20","base":"EUR","quote":"USD","rate":"1.2"}]`), auth: true, status: 422, code: "invalid_rate"},
		{name: "put rates: impossible date", method: "PUT", path: "/v1/fx-rates", body: str(`[{"date":"2026-02-30","base":"EUR","quote":"USD","rate":"1"}]`), auth: true, status: 422},
		{name: "put rates: Latin-1", method: "PUT", path: "/v1/fx-rates", body: str(`[{"date":"2026-11-20","base":"EU` + "\xc9" + `","quote":"USD","rate":"1"}]`), auth: true, status: 400},
		{name: "put rates: UTF-16", method: "PUT", path: "/v1/fx-rates", body: str(utf16le(rates)), auth: true},
		{name: "put rates: CSV oversized cell", method: "PUT", path: "/v1/fx-rates", body: str("date,base,quote,rate\n" + big(1<<20) + ",EUR,USD,1\n"), headers: csvCT, auth: true},
		{name: "put rates: CSV unterminated quote", method: "PUT", path: "/v1/fx-rates", body: str("date,base,quote,rate\n\"2026-11-20,EUR,USD,1\n" + big(100)), headers: csvCT, auth: true},
		{name: "put rates: CSV wrong header", method: "PUT", path: "/v1/fx-rates", body: str(big(2<<10) + "\n1,2,3,4\n"), headers: csvCT, auth: true},
		{name: "put rates: CSV binary", method: "PUT", path: "/v1/fx-rates", body: str(binary(8 << 10)), headers: csvCT, auth: true},
		{name: "put rates: CSV Latin-1", method: "PUT", path: "/v1/fx-rates", body: str("date,base,quote,rate\n2026-11-20,EU\xc9,USD,1\n"), headers: csvCT, auth: true},
		{name: "put rates: form-encoded", method: "PUT", path: "/v1/fx-rates", body: str("date=2026-11-20&rate=1"), headers: []string{"Content-Type", "application/x-www-form-urlencoded"}, auth: true},
		{name: "put rates: no token", method: "PUT", path: "/v1/fx-rates", body: str(binary(1 << 10)), status: 401},

		// POST /v1/payouts/remittances
		{name: "remit: oversized", method: "POST", path: "/v1/payouts/remittances", body: testkit.Endless(9 << 20), auth: true, status: 413, code: "body_too_large"},
		{name: "remit: oversized, no length", method: "POST", path: "/v1/payouts/remittances", body: io.MultiReader(str(`{"reference":"`), testkit.Endless(9<<20)), auth: true, status: 413},
		{name: "remit: long string", method: "POST", path: "/v1/payouts/remittances", body: str(`{"reference":"` + big(70<<10) + `"}`), auth: true},
		{name: "remit: truncated", method: "POST", path: "/v1/payouts/remittances", body: str(remit[:40]), auth: true, status: 400},
		{name: "remit: empty", method: "POST", path: "/v1/payouts/remittances", body: str(""), auth: true, status: 400},
		// The time package takes +24:00 and a minute of 60: the remittance
		// moved a day, into the statement of the month before.
		{name: "remit: offset +24:00", method: "POST", path: "/v1/payouts/remittances", body: str(strings.Replace(remit, "Z", "+24:00", 1)), auth: true, status: 422, code: "invalid_remittance"},
		{name: "remit: offset minute 60", method: "POST", path: "/v1/payouts/remittances", body: str(strings.Replace(remit, "Z", "+01:60", 1)), auth: true, status: 422, code: "invalid_remittance"},
		{name: "remit: binary", method: "POST", path: "/v1/payouts/remittances", body: str(binary(4 << 10)), auth: true, status: 400},
		{name: "remit: deeply nested", method: "POST", path: "/v1/payouts/remittances", body: str(`{"partner":` + nested(30000) + `}`), auth: true, status: 400},
		{name: "remit: nested objects", method: "POST", path: "/v1/payouts/remittances", body: str(strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)), auth: true, status: 400},
		{name: "remit: number for amount", method: "POST", path: "/v1/payouts/remittances", body: str(strings.Replace(remit, `"10.00"`, `10.00`, 1)), auth: true, status: 400},
		{name: "remit: float amount string", method: "POST", path: "/v1/payouts/remittances", body: str(strings.Replace(remit, `"10.00"`, `"1e3"`, 1)), auth: true, status: 422},
		{name: "remit: huge amount", method: "POST", path: "/v1/payouts/remittances", body: str(strings.Replace(remit, `"10.00"`, `"`+strings.Repeat("9", 4000)+`.00"`, 1)), auth: true, status: 422},
		{name: "remit: negative amount", method: "POST", path: "/v1/payouts/remittances", body: str(strings.Replace(remit, `"10.00"`, `"-10.00"`, 1)), auth: true, status: 422},
		{name: "remit: bad time", method: "POST", path: "/v1/payouts/remittances", body: str(strings.Replace(remit, `2026-11-20T10:00:00Z`, big(200), 1)), auth: true, status: 422},
		{name: "remit: array body", method: "POST", path: "/v1/payouts/remittances", body: str("[" + remit + "]"), auth: true, status: 400},
		{name: "remit: unknown field", method: "POST", path: "/v1/payouts/remittances", body: str(`{"` + big(1<<10) + `":1}`), auth: true, status: 400},
		{name: "remit: trailing garbage", method: "POST", path: "/v1/payouts/remittances", body: str(remit + "}" + big(20)), auth: true, status: 400},
		{name: "remit: Latin-1", method: "POST", path: "/v1/payouts/remittances", body: str(strings.Replace(remit, "w1", "caf\xe9", 1)), auth: true, status: 400},
		{name: "remit: UTF-16", method: "POST", path: "/v1/payouts/remittances", body: str(utf16le(remit)), auth: true, status: 400},
		{name: "remit: control characters", method: "POST", path: "/v1/payouts/remittances", body: str(strings.Replace(remit, "w1", `w\u0000\u001b[31m`, 1)), auth: true, status: 422, code: "invalid_remittance"},
		{name: "remit: oversized partner", method: "POST", path: "/v1/payouts/remittances", body: str(strings.Replace(remit, "coursera", big(4<<10), 1)), auth: true, status: 422},
		{name: "remit: no token", method: "POST", path: "/v1/payouts/remittances", body: str(remit), status: 401},

		// GET /v1/payouts/statements/{partner}
		{name: "statement: oversized partner", method: "GET", path: "/v1/payouts/statements/" + big(16<<10) + "?month=" + month, auth: true},
		{name: "statement: binary partner", method: "GET", path: "/v1/payouts/statements/" + url.PathEscape(binary(64)) + "?month=" + month, auth: true},
		{name: "statement: oversized month", method: "GET", path: "/v1/payouts/statements/coursera?month=" + big(4<<10), auth: true, status: 422},
		{name: "statement: truncated month", method: "GET", path: "/v1/payouts/statements/coursera?month=2026-1", auth: true, status: 422},
		{name: "statement: wrongly typed month", method: "GET", path: "/v1/payouts/statements/coursera?month=1700000000", auth: true, status: 422},
		{name: "statement: bad format", method: "GET", path: "/v1/payouts/statements/coursera?month=" + month + "&format=" + big(1<<10), auth: true},
		{name: "statement: no token", method: "GET", path: "/v1/payouts/statements/coursera?month=" + month, status: 401},

		// GET /v1/payouts/reconciliation
		{name: "reconciliation: oversized month", method: "GET", path: "/v1/payouts/reconciliation?month=" + big(8<<10), auth: true, status: 422},
		{name: "reconciliation: binary month", method: "GET", path: "/v1/payouts/reconciliation?month=" + url.QueryEscape(binary(100)), auth: true, status: 422},
		{name: "reconciliation: bad format", method: "GET", path: "/v1/payouts/reconciliation?month=" + month + "&format=" + url.QueryEscape(nested(100)), auth: true, status: 422},
		{name: "reconciliation: no token", method: "GET", path: "/v1/payouts/reconciliation?month=" + month, status: 401},

		// POST /v1/payouts/settlements/{partner}
		{name: "settlement: oversized", method: "POST", path: "/v1/payouts/settlements/coursera?month=" + month, body: testkit.Endless(33 << 20), headers: csvCT, auth: true, status: 413, code: "body_too_large"},
		{name: "settlement: binary", method: "POST", path: "/v1/payouts/settlements/coursera?month=" + month, body: str(binary(8 << 10)), headers: csvCT, auth: true},
		{name: "settlement: truncated", method: "POST", path: "/v1/payouts/settlements/coursera?month=" + month, body: str("order_id,commission,sta"), headers: csvCT, auth: true},
		{name: "settlement: oversized cell", method: "POST", path: "/v1/payouts/settlements/coursera?month=" + month, body: str("order_id,commission,status\n" + big(2<<20) + ",1.00,approved\n"), headers: csvCT, auth: true},
		{name: "settlement: unterminated quote", method: "POST", path: "/v1/payouts/settlements/coursera?month=" + month, body: str("order_id,commission,status\n\"A-1,1.00,approved\n" + big(100)), headers: csvCT, auth: true},
		{name: "settlement: wrongly typed amount", method: "POST", path: "/v1/payouts/settlements/coursera?month=" + month, body: str("order_id,commission,status\nA-1," + big(100) + ",approved\n"), headers: csvCT, auth: true},
		{name: "settlement: JSON body", method: "POST", path: "/v1/payouts/settlements/coursera?month=" + month, body: str(`{"order_id":` + nested(10000) + `}`), headers: []string{"Content-Type", "application/json"}, auth: true},
		{name: "settlement: UTF-16", method: "POST", path: "/v1/payouts/settlements/coursera?month=" + month, body: str(utf16le("order_id,commission,status\nA-1,1.00,approved\n")), headers: csvCT, auth: true},
		{name: "settlement: Latin-1", method: "POST", path: "/v1/payouts/settlements/coursera?month=" + month, body: str("order_id,commission,status\nA-\xe9,1.00,approved\n"), headers: csvCT, auth: true},
		{name: "settlement: oversized month", method: "POST", path: "/v1/payouts/settlements/coursera?month=" + big(4<<10), body: str("order_id,commission,status\n"), headers: csvCT, auth: true, status: 422},
		{name: "settlement: oversized partner", method: "POST", path: "/v1/payouts/settlements/" + big(8<<10) + "?month=" + month, body: str("order_id,commission,status\n"), headers: csvCT, auth: true},
		{name: "settlement: binary currency", method: "POST", path: "/v1/payouts/settlements/coursera?month=" + month + "&currency=" + url.QueryEscape(binary(100)), body: str("order_id,commission,status\n"), headers: csvCT, auth: true},
		{name: "settlement: no token", method: "POST", path: "/v1/payouts/settlements/coursera?month=" + month, body: str(binary(1 << 10)), status: 401},

		// GET /v1/periods, PUT /v1/periods/{month}
		{name: "periods: body on a GET", method: "GET", path: "/v1/periods", body: str(binary(1 << 20)), status: 401},
		{name: "periods: no token", method: "GET", path: "/v1/periods", status: 401},
		{name: "close: oversized", method: "PUT", path: "/v1/periods/" + month, body: str(`{"status":"` + big(8<<10) + `"}`), auth: true, status: 413},
		{name: "close: truncated", method: "PUT", path: "/v1/periods/" + month, body: str(`{"status":"clo`), auth: true, status: 400},
		{name: "close: binary", method: "PUT", path: "/v1/periods/" + month, body: str(binary(1 << 10)), auth: true, status: 400},
		// Dates outside the events' years are the caller's error, named (a
		// limits check: year 0000 was 422 database_refused_data, and a
		// remittance received in 0001 was taken).
		{name: "close: year 0000", method: "PUT", path: "/v1/periods/0000-01", body: str(`{"status":"closed"}`), auth: true, status: 422, code: "invalid_month"},
		{name: "put rates: year 0000", method: "PUT", path: "/v1/fx-rates", body: str(strings.Replace(rates, "2026-11-20", "0000-01-01", 1)), auth: true, status: 422, code: "invalid_rate"},
		{name: "remit: year 0001", method: "POST", path: "/v1/payouts/remittances", body: str(strings.Replace(remit, "2026-11-20", "0001-01-01", 1)), auth: true, status: 422, code: "invalid_remittance"},
		{name: "close: deeply nested", method: "PUT", path: "/v1/periods/" + month, body: str(`{"status":` + nested(1500) + `}`), auth: true, status: 400},
		{name: "close: wrongly typed", method: "PUT", path: "/v1/periods/" + month, body: str(`{"status":true}`), auth: true, status: 400},
		{name: "close: unknown status", method: "PUT", path: "/v1/periods/" + month, body: str(`{"status":"` + big(1<<10) + `"}`), auth: true, status: 422},
		{name: "close: UTF-16", method: "PUT", path: "/v1/periods/" + month, body: str(utf16le(`{"status":"closed"}`)), auth: true, status: 400},
		{name: "close: oversized month", method: "PUT", path: "/v1/periods/" + big(8<<10), body: str(`{"status":"closed"}`), auth: true},
		{name: "close: binary month", method: "PUT", path: "/v1/periods/" + url.PathEscape(binary(100)), body: str(`{"status":"closed"}`), auth: true},
		{name: "close: impossible month", method: "PUT", path: "/v1/periods/2026-13", body: str(`{"status":"closed"}`), auth: true},
		{name: "close: no token", method: "PUT", path: "/v1/periods/" + month, body: str(`{"status":"closed"}`), status: 401},

		// GET /v1/partner-activity, GET /v1/partners/{partner}/unattributed
		{name: "activity: no token", method: "GET", path: "/v1/partner-activity", status: 401},
		{name: "activity: binary token", method: "GET", path: "/v1/partner-activity", headers: []string{"Authorization", "Bearer \x80\xff" + hostileMarker}, status: 401},
		{name: "unattributed: oversized limit", method: "GET", path: "/v1/partners/coursera/unattributed?limit=" + big(4<<10), auth: true},
		{name: "unattributed: overflowing limit", method: "GET", path: "/v1/partners/coursera/unattributed?limit=" + strings.Repeat("9", 400), auth: true},
		{name: "unattributed: negative limit", method: "GET", path: "/v1/partners/coursera/unattributed?limit=-1", auth: true},
		{name: "unattributed: float limit", method: "GET", path: "/v1/partners/coursera/unattributed?limit=1e3", auth: true},
		{name: "unattributed: binary limit", method: "GET", path: "/v1/partners/coursera/unattributed?limit=" + url.QueryEscape(binary(100)), auth: true},
		{name: "unattributed: no token", method: "GET", path: "/v1/partners/coursera/unattributed", status: 401},

		// GET /partners/health: the dashboard's partner panel, signed in
		// like the dashboard.
		{name: "partner panel: no session, browser", method: "GET", path: "/partners/health", headers: htmlAccept, status: 401, code: "html"},
		{name: "partner panel: no session, API", method: "GET", path: "/partners/health", headers: jsonAccept, status: 401},
		{name: "partner panel: forged id", method: "GET", path: "/partners/health", headers: []string{"Cookie", "linkcredit_session=" + strings.Repeat("C", 43), "Accept", "application/json"}, status: 401},
		{name: "partner panel: binary cookie", method: "GET", path: "/partners/health", headers: []string{"Cookie", "__Host-linkcredit_session=\x80" + big(2<<10), "Accept", "application/json"}, status: 401},

		// GET /: the dashboard. Browsers get the sign-in page, API clients
		// the JSON error; with a token, hostile parameters show the page
		// with its problem, never a 5xx.
		{name: "dashboard: oversized from", method: "GET", path: "/?from=" + big(8<<10), headers: jsonAccept, auth: true, status: 422},
		{name: "dashboard: binary currency", method: "GET", path: "/?currency=" + url.QueryEscape(binary(100)), headers: jsonAccept, auth: true, status: 422},
		{name: "dashboard: nested to", method: "GET", path: "/?to=" + url.QueryEscape(nested(300)), headers: htmlAccept, auth: true, status: 422, code: "html"},
		{name: "dashboard: garbage cookie", method: "GET", path: "/", headers: append([]string{"Cookie", "linkcredit_session=" + big(4<<10)}, jsonAccept...), status: 401, code: "missing_session"},
		{name: "dashboard: binary cookie", method: "GET", path: "/", headers: []string{"Cookie", "__Host-linkcredit_session=\x80\xff" + hostileMarker, "Accept", "application/json"}, status: 401},
		{name: "dashboard: forged id", method: "GET", path: "/", headers: []string{"Cookie", "linkcredit_session=" + strings.Repeat("A", 43), "Accept", "application/json"}, status: 401, code: "session_expired"},
		{name: "dashboard: many cookies", method: "GET", path: "/", headers: []string{"Cookie", strings.Repeat("linkcredit_session=x; ", 1000) + hostileMarker, "Accept", "text/html"}, status: 401, code: "html"},
		{name: "dashboard: token as cookie", method: "GET", path: "/", headers: []string{"Cookie", "linkcredit_session=" + token, "Accept", "application/json"}, status: 401},

		// POST /login
		{name: "login: oversized", method: "POST", path: "/login", body: str("token=" + big(8<<10)), headers: form(), status: 413},
		{name: "login: oversized, no length", method: "POST", path: "/login", body: io.MultiReader(str("token="), testkit.Endless(1<<20)), headers: form(), status: 413},
		{name: "login: truncated escape", method: "POST", path: "/login", body: str("token=abc%"), headers: form(), status: 400, code: "malformed_form"},
		{name: "login: bad escape", method: "POST", path: "/login", body: str("token=%zz" + hostileMarker), headers: form(), status: 400, code: "malformed_form"},
		{name: "login: binary", method: "POST", path: "/login", body: str(binary(2 << 10)), headers: form()},
		{name: "login: binary token", method: "POST", path: "/login", body: str("token=" + url.QueryEscape(binary(100))), headers: form(), status: 401, code: "invalid_token"},
		{name: "login: JSON", method: "POST", path: "/login", body: str(`{"token":` + nested(1000) + `}`), headers: form("Content-Type", "application/json"), status: 400, code: "malformed_form"},
		{name: "login: multipart", method: "POST", path: "/login", body: str("--x\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n" + token + "\r\n--x--\r\n"), headers: form("Content-Type", "multipart/form-data; boundary=x"), status: 400, code: "malformed_form"},
		{name: "login: Latin-1 charset", method: "POST", path: "/login", body: str("token=caf%E9"), headers: form("Content-Type", "application/x-www-form-urlencoded; charset=iso-8859-1"), status: 400, code: "malformed_form"},
		{name: "login: no content type", method: "POST", path: "/login", body: str("token=" + token), headers: form("Content-Type", ""), status: 400, code: "malformed_form"},
		{name: "login: repeated token", method: "POST", path: "/login", body: str("token=a&token=" + token), headers: form(), status: 400, code: "malformed_form"},
		{name: "login: nested brackets", method: "POST", path: "/login", body: str("token[" + strings.Repeat("[", 1000) + "]=" + hostileMarker), headers: form(), status: 401, code: "missing_token"},
		{name: "login: empty", method: "POST", path: "/login", body: str(""), headers: form(), status: 401, code: "missing_token"},
		{name: "login: browser, wrong token", method: "POST", path: "/login", body: str("token=" + big(1<<10)), headers: form("Accept", "text/html"), status: 401, code: "html"},
		{name: "login: cross-origin", method: "POST", path: "/login", body: str("token=" + token), headers: form("Origin", "https://"+big(1<<10)), status: 403, code: "cross_origin"},
		{name: "login: two origins", method: "POST", path: "/login", body: str("token=" + token), headers: form("Origin", s.p.Base+", https://evil.example"), status: 403, code: "cross_origin"},

		// POST /logout
		{name: "logout: oversized", method: "POST", path: "/logout", body: str("csrf=" + big(8<<10)), headers: form(), status: 413},
		{name: "logout: bad escape", method: "POST", path: "/logout", body: str("csrf=%zz"), headers: form(), status: 400, code: "malformed_form"},
		{name: "logout: binary", method: "POST", path: "/logout", body: str(binary(1 << 10)), headers: form()},
		{name: "logout: JSON", method: "POST", path: "/logout", body: str(`{"csrf":1}`), headers: form("Content-Type", "application/json"), status: 400},
		{name: "logout: forged session, no csrf", method: "POST", path: "/logout", body: str(""), headers: form("Cookie", "linkcredit_session="+strings.Repeat("B", 42)+"A"), status: 403, code: "invalid_csrf_token"},
		{name: "logout: cross-origin", method: "POST", path: "/logout", body: str(""), headers: form("Origin", "null"), status: 403, code: "cross_origin"},
		{name: "logout: cross-site fetch", method: "POST", path: "/logout", body: str(""), headers: form("Origin", "", "Sec-Fetch-Site", "cross-site"), status: 403, code: "cross_origin"},

		// The rest of the public surface.
		{name: "login page: hostile query", method: "GET", path: "/login?next=" + big(8<<10), headers: htmlAccept, status: 200, code: "html"},
		{name: "stylesheet: POST", method: "POST", path: "/assets/dashboard.css", body: str(binary(1 << 10)), status: 405, code: "method_not_allowed"},
		{name: "icon: POST", method: "POST", path: "/favicon.ico", body: str(binary(1 << 10)), status: 405, code: "method_not_allowed"},
		{name: "unknown route", method: "GET", path: "/v1/" + big(8<<10), status: 404, code: "not_found"},
		{name: "unknown method", method: "DELETE", path: "/v1/fx-rates", auth: true, status: 405, code: "method_not_allowed"},
		{name: "healthz: POST", method: "POST", path: "/healthz", body: str(binary(1 << 10)), status: 405},
		{name: "readyz: body", method: "GET", path: "/readyz?x=" + big(1<<10), body: str(binary(1 << 10)), status: 200, code: "any"},
		{name: "metrics: POST", method: "POST", path: "/metrics", body: str(binary(1 << 10)), status: 405},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, s.p.Base+c.path, c.body)
			if err != nil {
				t.Fatal(err)
			}
			if c.auth {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			// Each case is a client of its own to the sign-in throttle.
			req.Header.Set("X-Forwarded-For", netipFrom(i))
			for j := 0; j+1 < len(c.headers); j += 2 {
				if c.headers[j+1] == "" {
					req.Header.Del(c.headers[j])
				} else {
					req.Header.Set(c.headers[j], c.headers[j+1])
				}
			}
			resp, body := testkit.SendHostile(t, req)
			checkHostile(t, resp, body, c.status, c.code)
		})
	}

	// The service is whole: healthy, and the sign-in and reports work.
	if r := s.do(t, "GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("healthz after the suite = %d", r.status)
	}
	if r := s.do(t, "GET", "/v1/reports/commissions", ""); r.status != 200 {
		t.Fatalf("a report after the suite = %d %s", r.status, r.body)
	}
	if r := s.withCookie(t, "POST", "/login", "token="+token, nil); r.status != http.StatusSeeOther {
		t.Fatalf("a sign-in after the suite = %d %s", r.status, r.body)
	}
	if strings.Contains(s.p.Logs(), "panicked") {
		t.Errorf("a handler panicked:\n%s", s.p.Logs())
	}
}

// netipFrom is a distinct documentation address per case.
func netipFrom(i int) string {
	return "198.51." + string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10)) + ".9"
}

// checkHostile holds an answer to the suite's rules. want 0 is any 4xx;
// code "html" wants the dashboard's HTML, "any" skips the shape check.
func checkHostile(t *testing.T, resp *http.Response, body []byte, want int, code string) {
	t.Helper()
	status := resp.StatusCode
	if status >= 500 {
		t.Fatalf("answered %d: %.300s", status, body)
	}
	if want == 0 && (status < 400 || status > 499) || want != 0 && status != want {
		t.Errorf("answered %d, want %d: %.300s", status, want, body)
	}
	for _, leak := range hostileLeaks() {
		if (status >= 300 || code != "any") && bytes.Contains(body, []byte(leak)) {
			t.Errorf("the answer holds %q: %.400s", leak, body)
		}
	}
	switch code {
	case "any":
		return
	case "html":
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte("Sign in")) &&
			!bytes.Contains(body, []byte("cannot be shown")) {
			t.Errorf("not the dashboard's page: %s %.300s", resp.Header.Get("Content-Type"), body)
		}
		return
	}
	if status < 400 {
		return
	}
	if len(body) > 4<<10 {
		t.Errorf("a %d-byte error answer: %.300s", len(body), body)
	}
	testkit.ErrorShape(t, resp.Header, body, code)
}

// Requests net/http refuses before any route runs get a 4xx in the
// contract's error shape (net/http's own plain-text answer, rewritten by
// httpx.Serve), echo nothing, and do not hang.
func TestHostileRequestsNetHTTPRefuses(t *testing.T) {
	t.Parallel()
	s := hostileStack(t)
	addr := strings.TrimPrefix(s.p.Base, "http://")
	for _, tt := range []struct {
		name, request string
		status        int
		code          string
	}{
		{"bad escape in a path", "GET /v1/payouts/statements/%zz" + hostileMarker + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\n\r\n", 400, "malformed_request"},
		{"binary request line", "GET /\x00\x01" + hostileMarker + " HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed_request"},
		{"control character in a header", "GET / HTTP/1.1\r\nHost: x\r\nCookie: a\x01" + hostileMarker + "\r\n\r\n", 400, "malformed_request"},
		{"headers above 32 KiB", "GET / HTTP/1.1\r\nHost: x\r\nCookie: " + hostileMarker + strings.Repeat("a", 40<<10) + "\r\n\r\n", 431, "headers_too_large"},
		{"bad content length", "POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: " + hostileMarker + "\r\n\r\n", 400, "malformed_request"},
		{"truncated headers", "POST /login HTTP/1.1\r\nHost: x\r\nOrigin: " + hostileMarker, 400, "malformed_request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := testkit.RawHTTP(t, addr, tt.request, tt.name == "truncated headers")
			checkHostile(t, resp, body, tt.status, tt.code)
		})
	}
	if r := s.do(t, "GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("healthz after the suite = %d", r.status)
	}
}

// A client that keeps guessing tokens is throttled: after
// SIGNIN_MAX_ATTEMPTS failures, 429 with Retry-After, even with the right
// token; another client signs in.
func TestSignInThrottleInProcess(t *testing.T) {
	t.Parallel()
	s := hostileStack(t)
	guess := []string{"X-Forwarded-For", "203.0.113.77"}
	for i := range 3 {
		if r := s.withCookie(t, "POST", "/login", "token=guess-0123456789abcdefghijklmnopqrstu", nil, guess...); r.status != 401 {
			t.Fatalf("guess %d = %d", i, r.status)
		}
	}
	r := s.withCookie(t, "POST", "/login", "token="+token, nil, append(guess, "Accept", "application/json")...)
	if r.status != 429 || r.header.Get("Retry-After") != "900" || !strings.Contains(r.body, `"code":"too_many_sign_in_attempts"`) {
		t.Fatalf("after 3 failures = %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if r := s.withCookie(t, "POST", "/login", "token="+token, nil, "X-Forwarded-For", "203.0.113.78"); r.status != http.StatusSeeOther {
		t.Fatalf("another client = %d", r.status)
	}
}
