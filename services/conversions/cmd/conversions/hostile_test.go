package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/conversions/internal/webhook"
)

// Issue 12 item 7: every route of conversions, fed oversized, truncated,
// binary, deeply nested, wrongly typed and wrongly encoded input, answers
// a 4xx in the contract's error shape: never a 500, never a hang (each
// request has a client timeout), never a leak in the error text (no Go
// type, file, driver message, address or secret, and no echo of the
// input: an answer stays under 1 KiB).

// hostileCase is one request. sign makes it a webhook of coursera signed
// with its secret under a fresh webhook-id; admin adds the admin token.
type hostileCase struct {
	name    string
	method  string
	path    string
	body    []byte
	headers []string
	sign    bool
	admin   bool
	chunked bool // send the body without a Content-Length
	status  int  // 0: any 4xx
	code    string
}

var hostileClient = &http.Client{Timeout: 20 * time.Second}

// leaks are what an answer must never contain.
func (s *stack) leaks() []string {
	return []string{s.secret, strings.TrimPrefix(s.secret, "whsec_"), "goroutine", "panic", "runtime", ".go:", "pq:", "sql:", "postgres", "127.0.0.1", "localhost", "dial ",
		"conversion.", "adapter.", "httpx.", "strictjson.", "main.", "map[", "[]string", "interface {}", "Go value", "json:",
		postbackToken, adminToken, secretsKey, "SECRETS_KEY"}
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func utf16le(s string) []byte {
	out := []byte{0xff, 0xfe}
	for _, r := range s {
		out = append(out, byte(r), byte(r>>8))
	}
	return out
}

// nested is depth levels of open brackets around a value, then closed.
func nested(open, close string, depth int, inner string) string {
	return strings.Repeat(open, depth) + inner + strings.Repeat(close, depth)
}

func TestHostileInput(t *testing.T) {
	t.Parallel()
	s := setup(t, migratedDatabaseURL(t), testkit.Now(t))
	s.putPartner(t, "awin", fmt.Sprintf(`{"name":"Awin","postback_token":%q,"currency":"GBP","adapter":"awin"}`, postbackToken), 201)
	occurred := s.occurred().Format(time.RFC3339)
	conv := func(fields string) []byte { // a webhook body with fields replaced
		v := map[string]any{"order_id": "H-1", "click_id": "c-1", "status": "pending", "sale_amount": "49.00",
			"commission": "7.35", "currency": "USD", "occurred_at": occurred}
		var over map[string]any
		if err := json.Unmarshal([]byte(fields), &over); err != nil {
			t.Fatalf("bad test case %s: %v", fields, err)
		}
		for k, x := range over {
			v[k] = x
		}
		b, _ := json.Marshal(v)
		return b
	}
	// raw splices a JSON fragment for a field in as it is, bytes and all.
	raw := func(field, fragment string) []byte {
		return []byte(`{"order_id":"H-1","status":"pending","sale_amount":"49.00","commission":"7.35","currency":"USD","occurred_at":"` +
			occurred + `",` + strconv.Quote(field) + `:` + fragment + `}`)
	}
	rawOrder := func(fragment string) []byte {
		return []byte(`{"order_id":` + fragment + `,"status":"pending","sale_amount":"49.00","commission":"7.35","currency":"USD","occurred_at":"` + occurred + `"}`)
	}
	partner := []byte(`{"name":"Hostile","currency":"USD"}`)
	pb := func(q string) string { return "/v1/postback/coursera?token=" + postbackToken + "&" + q }
	pbOK := "order_id=PB-H&status=pending&sale_amount=10.00&commission=1.00&currency=USD"
	form := func(v url.Values) []byte { v.Set("token", postbackToken); return []byte(v.Encode()) }
	formCT := []string{"Content-Type", "application/x-www-form-urlencoded"}
	jsonCT := []string{"Content-Type", "application/json"}
	ts := strconv.FormatInt(s.at.Unix(), 10)

	cases := []hostileCase{
		// PUT /v1/partners/{partner}
		{name: "partner: body over 64 KiB", method: "PUT", path: "/v1/partners/h", admin: true,
			body:   append(bytes.TrimSuffix(partner, []byte("}")), []byte(`,"mapping":{"statuses":{"`+strings.Repeat("s", 64<<10)+`":"approved"}}}`)...),
			status: 413, code: "body_too_large"},
		{name: "partner: 8 MiB without a length", method: "PUT", path: "/v1/partners/h", admin: true, chunked: true,
			body: bytes.Repeat([]byte("{"), 8<<20), status: 413, code: "body_too_large"},
		{name: "partner: truncated", method: "PUT", path: "/v1/partners/h", admin: true, body: partner[:20], status: 400, code: "malformed_json"},
		{name: "partner: empty", method: "PUT", path: "/v1/partners/h", admin: true, status: 400, code: "malformed_json"},
		{name: "partner: binary", method: "PUT", path: "/v1/partners/h", admin: true, body: randomBytes(4096, 1), status: 400, code: "malformed_json"},
		{name: "partner: NUL", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte("\x00\x00\x00"), status: 400, code: "malformed_json"},
		{name: "partner: nested arrays", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte(nested("[", "]", 30000, "")), status: 400, code: "malformed_json"},
		{name: "partner: nested objects in mapping", method: "PUT", path: "/v1/partners/h", admin: true,
			body: []byte(`{"name":"H","currency":"USD","mapping":` + nested(`{"":`, "}", 10500, "1") + `}`), status: 400, code: "malformed_json"},
		{name: "partner: name a number", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte(`{"name":1,"currency":"USD"}`), status: 400, code: "malformed_json"},
		{name: "partner: name a huge number", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte(`{"name":1e999999,"currency":"USD"}`), status: 400, code: "malformed_json"},
		{name: "partner: secrets a string", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte(`{"name":"H","currency":"USD","webhook_secrets":"whsec_x"}`), status: 400, code: "malformed_json"},
		{name: "partner: currency an array", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte(`{"name":"H","currency":["USD"]}`), status: 400, code: "malformed_json"},
		{name: "partner: mapping a number", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte(`{"name":"H","currency":"USD","mapping":5}`), status: 400, code: "malformed_json"},
		{name: "partner: statuses an array", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte(`{"name":"H","currency":"USD","mapping":{"statuses":[1]}}`), status: 400, code: "malformed_json"},
		{name: "partner: max_amount a number", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte(`{"name":"H","currency":"USD","max_amount":100}`), status: 400, code: "malformed_json"},
		{name: "partner: an array", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte(`[]`), status: 400, code: "malformed_json"},
		{name: "partner: null", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte(`null`), status: 422},
		{name: "partner: unknown field of 60 KB", method: "PUT", path: "/v1/partners/h", admin: true,
			body: []byte(`{"` + strings.Repeat("f", 60<<10) + `":1}`), status: 400, code: "malformed_json"},
		{name: "partner: trailing garbage", method: "PUT", path: "/v1/partners/h", admin: true, body: append(partner, '}'), status: 400, code: "malformed_json"},
		{name: "partner: Latin-1", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte("{\"name\":\"Caf\xe9\",\"currency\":\"EUR\"}"), status: 400, code: "malformed_json"},
		{name: "partner: UTF-16", method: "PUT", path: "/v1/partners/h", admin: true, body: utf16le(string(partner)), status: 400, code: "malformed_json"},
		{name: "partner: gzip", method: "PUT", path: "/v1/partners/h", admin: true, body: gzipped(partner), headers: []string{"Content-Encoding", "gzip"}, status: 400, code: "malformed_json"},
		{name: "partner: XML", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte(`<partner><name>H</name></partner>`),
			headers: []string{"Content-Type", "application/xml"}, status: 400, code: "malformed_json"},
		{name: "partner: a lone surrogate", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte(`{"name":"\ud800","currency":"USD"}`), status: 400, code: "malformed_json"},
		{name: "partner: NUL in the name", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte(`{"name":"a\u0000b","currency":"USD"}`), status: 422, code: "invalid_partner"},
		{name: "partner: NUL in a status word", method: "PUT", path: "/v1/partners/h", admin: true,
			body: []byte(`{"name":"H","currency":"USD","mapping":{"statuses":{"a\u0000":"approved"}}}`), status: 422},
		{name: "partner: name of 60 KB", method: "PUT", path: "/v1/partners/h", admin: true, body: []byte(`{"name":"` + strings.Repeat("n", 60<<10) + `","currency":"USD"}`), status: 422, code: "invalid_partner"},
		{name: "partner: 3000 secrets", method: "PUT", path: "/v1/partners/h", admin: true,
			body: []byte(`{"name":"H","currency":"USD","webhook_secrets":[` + strings.TrimSuffix(strings.Repeat(`"x",`, 3000), ",") + `]}`), status: 422, code: "invalid_partner"},
		{name: "partner: id NUL", method: "PUT", path: "/v1/partners/%00", admin: true, body: partner, status: 422, code: "invalid_partner"},
		{name: "partner: id of 4 KB", method: "PUT", path: "/v1/partners/" + strings.Repeat("p", 4096), admin: true, body: partner, status: 422, code: "invalid_partner"},
		{name: "partner: id not UTF-8", method: "PUT", path: "/v1/partners/%FF%FE", admin: true, body: partner, status: 422, code: "invalid_partner"},
		{name: "partner: id with a slash", method: "PUT", path: "/v1/partners/..%2F..%2Fetc", admin: true, body: partner, status: 422, code: "invalid_partner"},
		{name: "partner: no token", method: "PUT", path: "/v1/partners/h", body: partner, status: 401},
		{name: "partner: a 16 KB token", method: "PUT", path: "/v1/partners/h", body: partner,
			headers: []string{"Authorization", "Bearer " + strings.Repeat("t", 16<<10)}, status: 401},
		{name: "partner: a binary token", method: "PUT", path: "/v1/partners/h", body: partner, headers: []string{"Authorization", "Bearer \xff\xfe\x80"}, status: 401},
		{name: "partner: basic auth", method: "PUT", path: "/v1/partners/h", body: partner, headers: []string{"Authorization", "Basic YWRtaW46YWRtaW4="}, status: 401},

		// GET /v1/partners/{partner}
		{name: "list partners: bad escape", method: "GET", path: "/v1/partners?x=%ZZ", admin: true, status: 400, code: "invalid_query"},
		{name: "get partner: ';' in the query", method: "GET", path: "/v1/partners/coursera?a=1;b=2", admin: true, status: 400, code: "invalid_query"},
		{name: "partner health: bad escape", method: "GET", path: "/v1/partner-health?x=%ZZ", admin: true, status: 400, code: "invalid_query"},
		{name: "webhook: bad escape in the query", method: "POST", path: "/v1/webhooks/coursera?x=%ZZ", sign: true, body: raw("course_id", `"c"`), status: 400, code: "invalid_query"},
		{name: "get partner: id of 16 KB", method: "GET", path: "/v1/partners/" + strings.Repeat("p", 16<<10), admin: true, status: 404, code: "partner_not_found"},
		{name: "get partner: id NUL", method: "GET", path: "/v1/partners/%00", admin: true, status: 404, code: "partner_not_found"},
		{name: "get partner: id not UTF-8", method: "GET", path: "/v1/partners/%C0%AF", admin: true, status: 404, code: "partner_not_found"},
		{name: "get partner: id with a slash", method: "GET", path: "/v1/partners/coursera%2F..", admin: true, status: 404, code: "partner_not_found"},
		{name: "get partner: upper case", method: "GET", path: "/v1/partners/COURSERA", admin: true, status: 404, code: "partner_not_found"},
		{name: "get partner: no token", method: "GET", path: "/v1/partners/coursera", status: 401},
		{name: "get partner: a binary token", method: "GET", path: "/v1/partners/coursera", headers: []string{"Authorization", "Bearer \x80\x81"}, status: 401},
		{name: "get partner: wrong method", method: "DELETE", path: "/v1/partners/coursera", admin: true, status: 405},

		// POST /v1/webhooks/{partner}
		{name: "webhook: signed, over 64 KiB", method: "POST", path: "/v1/webhooks/coursera", sign: true,
			body: append(bytes.TrimSuffix(conv(`{}`), []byte("}")), []byte(`,"pad":"`+strings.Repeat("x", 64<<10)+`"}`)...), status: 413, code: "body_too_large"},
		{name: "webhook: unsigned, 200 KiB", method: "POST", path: "/v1/webhooks/coursera", body: bytes.Repeat([]byte("x"), 200<<10), status: 413, code: "body_too_large"},
		{name: "webhook: unsigned, 8 MiB without a length", method: "POST", path: "/v1/webhooks/coursera", chunked: true, body: bytes.Repeat([]byte("x"), 8<<20), status: 413, code: "body_too_large"},
		{name: "webhook: unknown partner, 200 KiB", method: "POST", path: "/v1/webhooks/nobody", body: bytes.Repeat([]byte("x"), 200<<10), status: 413},
		{name: "webhook: empty", method: "POST", path: "/v1/webhooks/coursera", sign: true, status: 400, code: "malformed_json"},
		{name: "webhook: truncated", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: conv(`{}`)[:40], status: 400, code: "malformed_json"},
		{name: "webhook: binary", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: randomBytes(4096, 2), status: 400, code: "malformed_json"},
		{name: "webhook: NUL", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: []byte("{\x00}"), status: 400, code: "malformed_json"},
		{name: "webhook: nested arrays", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: []byte(nested("[", "]", 30000, "")), status: 400, code: "malformed_json"},
		{name: "webhook: nested objects in a field", method: "POST", path: "/v1/webhooks/coursera", sign: true,
			body: raw("extra", nested(`{"":`, "}", 10500, "1")), status: 400, code: "malformed_json"},
		{name: "webhook: nested order_id", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: rawOrder(nested("[", "]", 500, `"A"`)), status: 400, code: "malformed_json"},
		{name: "webhook: an array", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: []byte(`[]`), status: 400, code: "malformed_json"},
		{name: "webhook: a string", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: []byte(`"order"`), status: 400, code: "malformed_json"},
		{name: "webhook: null", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: []byte(`null`), status: 400, code: "malformed_json"},
		{name: "webhook: a number", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: []byte(`42`), status: 400, code: "malformed_json"},
		// A wrong JSON type is a malformed body (400), as in the admin APIs.
		{name: "webhook: order_id a number", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: rawOrder(`5`), status: 400, code: "malformed_json"},
		{name: "webhook: order_id an object", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: rawOrder(`{}`), status: 400, code: "malformed_json"},
		{name: "webhook: sale_amount a number", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: conv(`{"sale_amount":49}`), status: 400, code: "malformed_json"},
		{name: "webhook: sale_amount 49.00 a number", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: raw("sale_amount", `49.00`), status: 400, code: "malformed_json"},
		{name: "webhook: sale_amount 1e999999", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: raw("sale_amount", `1e999999`), status: 400, code: "malformed_json"},
		{name: "webhook: status true", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: conv(`{"status":true}`), status: 400, code: "malformed_json"},
		{name: "webhook: occurred_at a number", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: conv(`{"occurred_at":1700000000}`), status: 400, code: "malformed_json"},
		{name: "webhook: currency an array", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: conv(`{"currency":["USD"]}`), status: 400, code: "malformed_json"},
		{name: "webhook: duplicate keys (which is meant is not defined)", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: raw("commission", `"-1.00"`), status: 400, code: "malformed_json"},
		{name: "webhook: duplicate keys, one wrongly typed", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: raw("commission", `-1`), status: 400, code: "malformed_json"},
		{name: "webhook: trailing garbage", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: append(conv(`{}`), '}'), status: 400, code: "malformed_json"},
		{name: "webhook: Latin-1", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: rawOrder("\"Caf\xe9\""), status: 400, code: "malformed_json"},
		{name: "webhook: UTF-16", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: utf16le(string(conv(`{}`))), status: 400, code: "malformed_json"},
		{name: "webhook: UTF-8 BOM", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: append([]byte("\xef\xbb\xbf"), conv(`{}`)...), status: 400, code: "malformed_json"},
		{name: "webhook: gzip", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: gzipped(conv(`{}`)), headers: []string{"Content-Encoding", "gzip"}, status: 400, code: "malformed_json"},
		{name: "webhook: a form", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: []byte("order_id=A&status=pending"), headers: formCT, status: 400, code: "malformed_json"},
		{name: "webhook: a lone surrogate", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: rawOrder(`"A\udc00"`), status: 400, code: "malformed_json"},
		{name: "webhook: an escaped NUL", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: rawOrder(`"A\u0000"`), status: 422, code: "invalid_value"},
		{name: "webhook: a control character in order_id", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: rawOrder(`"ctl\u0001x"`), status: 422, code: "invalid_value"},
		{name: "webhook: ESC in order_id", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: rawOrder(`"A\u001b[31m"`), status: 422, code: "invalid_value"},
		{name: "webhook: a tab in click_id", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: conv(`{"click_id":"c\t1"}`), status: 422, code: "invalid_value"},
		{name: "webhook: DEL in course_id", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: conv(`{"course_id":"a\u007fb"}`), status: 422, code: "invalid_value"},
		{name: "webhook: a C1 control (NEL) in order_id", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: rawOrder(`"A\u0085"`), status: 422, code: "invalid_value"},
		{name: "webhook: a control character in event_id", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: conv(`{"event_id":"e\u0002"}`), status: 422, code: "invalid_value"},
		{name: "webhook: a tab in webhook-id, signed", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: conv(`{}`),
			headers: []string{"webhook-id", "msg\tone"}, status: 422, code: "invalid_value"},
		{name: "webhook: timestamp -1", method: "POST", path: "/v1/webhooks/coursera", body: conv(`{}`),
			headers: []string{"webhook-id", "h", "webhook-timestamp", "-1", "webhook-signature", "v1,AAAA"}, status: 401, code: "invalid_timestamp"},
		{name: "webhook: timestamp 1e10", method: "POST", path: "/v1/webhooks/coursera", body: conv(`{}`),
			headers: []string{"webhook-id", "h", "webhook-timestamp", "1e10", "webhook-signature", "v1,AAAA"}, status: 401, code: "invalid_timestamp"},
		{name: "webhook: timestamp of 8 KB of digits", method: "POST", path: "/v1/webhooks/coursera", body: conv(`{}`),
			headers: []string{"webhook-id", "h", "webhook-timestamp", strings.Repeat("9", 8<<10), "webhook-signature", "v1,AAAA"}, status: 401, code: "invalid_timestamp"},
		{name: "webhook: 24 KB of signatures", method: "POST", path: "/v1/webhooks/coursera", body: conv(`{}`),
			headers: []string{"webhook-id", "h", "webhook-timestamp", ts, "webhook-signature", strings.Repeat("v1,bm90IGEgc2lnbmF0dXJlIG9mIHRoaXMgbWVzc2FnZSE= ", 500)}, status: 401, code: "invalid_signature"},
		{name: "webhook: a binary signature", method: "POST", path: "/v1/webhooks/coursera", body: conv(`{}`),
			headers: []string{"webhook-id", "h", "webhook-timestamp", ts, "webhook-signature", "v1,\x80\xff\xfe"}, status: 401, code: "invalid_signature"},
		{name: "webhook: svix headers, binary", method: "POST", path: "/v1/webhooks/coursera", body: conv(`{}`),
			headers: []string{"svix-id", "\xff", "svix-timestamp", "\xfe", "svix-signature", "\xfd"}, status: 401, code: "invalid_timestamp"},
		{name: "webhook: id of 300 bytes, signed", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: conv(`{}`),
			headers: []string{"webhook-id", strings.Repeat("i", 300)}, status: 422, code: "field_too_long"},
		{name: "webhook: id not UTF-8, signed", method: "POST", path: "/v1/webhooks/coursera", sign: true, body: conv(`{}`),
			headers: []string{"webhook-id", "msg-\xff\xfe"}, status: 422, code: "invalid_value"},
		{name: "webhook: partner NUL", method: "POST", path: "/v1/webhooks/%00", sign: true, body: conv(`{}`), status: 404, code: "partner_not_found"},
		{name: "webhook: partner of 4 KB", method: "POST", path: "/v1/webhooks/" + strings.Repeat("w", 4096), sign: true, body: conv(`{}`), status: 404, code: "partner_not_found"},
		{name: "webhook: wrong method", method: "PUT", path: "/v1/webhooks/coursera", body: conv(`{}`), status: 405},

		// GET /v1/postback/{partner} (and the form POST)
		{name: "postback: order_id of 24 KB", method: "GET", path: pb("order_id=" + strings.Repeat("o", 24<<10) + "&status=pending&sale_amount=1.00&commission=1.00"), status: 422, code: "field_too_long"},
		{name: "postback: a URL over the header limit", method: "GET", path: pb(pbOK + "&pad=" + strings.Repeat("p", 40<<10)), status: 431, code: "headers_too_large"},
		{name: "postback: a control character in order_id", method: "GET", path: pb("order_id=pb%01x&status=pending&sale_amount=1.00&commission=1.00"), status: 422, code: "invalid_value"},
		{name: "postback: truncated", method: "GET", path: pb("order_id=PB-T&status=pend"), status: 400, code: "missing_field"},
		{name: "postback: a broken escape", method: "GET", path: pb("order_id=%&status=pending&sale_amount=1.00&commission=1.00"), status: 400, code: "invalid_query"},
		// Go drops a pair it cannot parse: occurred_at with a ';' in it
		// became the time the postback arrived, and was accepted.
		{name: "postback: a ';' in a value", method: "GET", path: pb(pbOK + "&occurred_at=2026-11-02T10:00:00Z;x=1"), status: 400, code: "invalid_query"},
		{name: "postback: a bad escape in an unknown parameter", method: "GET", path: pb(pbOK + "&x=%ZZ"), status: 400, code: "invalid_query"},
		{name: "postback: binary order_id", method: "GET", path: pb("order_id=%00%FF%FE&status=pending&sale_amount=1.00&commission=1.00"), status: 422, code: "invalid_value"},
		{name: "postback: overlong UTF-8", method: "GET", path: pb("order_id=%C0%AF&status=pending&sale_amount=1.00&commission=1.00"), status: 422, code: "invalid_value"},
		{name: "postback: a UTF-8 surrogate", method: "GET", path: pb("order_id=%ED%A0%80&status=pending&sale_amount=1.00&commission=1.00"), status: 422, code: "invalid_value"},
		{name: "postback: sale_amount abc", method: "GET", path: pb("order_id=PB-1&status=pending&sale_amount=abc&commission=1.00"), status: 422, code: "invalid_value"},
		{name: "postback: sale_amount 1e5", method: "GET", path: pb("order_id=PB-1&status=pending&sale_amount=1e5&commission=1.00"), status: 422, code: "invalid_value"},
		{name: "postback: sale_amount NaN", method: "GET", path: pb("order_id=PB-1&status=pending&sale_amount=NaN&commission=1.00"), status: 422, code: "invalid_value"},
		{name: "postback: sale_amount 0x10", method: "GET", path: pb("order_id=PB-1&status=pending&sale_amount=0x10&commission=1.00"), status: 422, code: "invalid_value"},
		{name: "postback: commission of 8 KB of digits", method: "GET", path: pb("order_id=PB-1&status=pending&sale_amount=1.00&commission=" + strings.Repeat("9", 8<<10)), status: 422, code: "amount_too_large"},
		{name: "postback: currency 12", method: "GET", path: pb("order_id=PB-1&status=pending&sale_amount=1&commission=1&currency=12"), status: 422, code: "invalid_value"},
		{name: "postback: occurred_at yesterday", method: "GET", path: pb("order_id=PB-1&status=pending&sale_amount=1.00&commission=1.00&occurred_at=yesterday"), status: 422, code: "invalid_value"},
		{name: "postback: occurred_at year 99999", method: "GET", path: pb("order_id=PB-1&status=pending&sale_amount=1.00&commission=1.00&occurred_at=99999-01-01T00:00:00Z"), status: 422, code: "invalid_value"},
		{name: "postback: status NUL", method: "GET", path: pb("order_id=PB-1&status=%00&sale_amount=1.00&commission=1.00"), status: 422, code: "invalid_value"},
		{name: "postback: event_id of 300 bytes", method: "GET", path: pb(pbOK + "&event_id=" + strings.Repeat("e", 300)), status: 422, code: "field_too_long"},
		{name: "postback: event_id with a newline", method: "GET", path: pb(pbOK + "&event_id=a%0Ab"), status: 422, code: "invalid_value"},
		{name: "postback: order_id twice", method: "GET", path: pb(pbOK + "&order_id=PB-OTHER"), status: 400, code: "repeated_parameter"},
		{name: "postback: token twice", method: "GET", path: "/v1/postback/coursera?token=" + postbackToken + "&token=other&" + pbOK, status: 400, code: "repeated_parameter"},
		{name: "postback form: order_id in the URL and the form", method: "POST", path: pb("order_id=PB-URL"), headers: formCT, body: []byte(pbOK), status: 400, code: "repeated_parameter"},
		{name: "postback: token of 16 KB", method: "GET", path: "/v1/postback/coursera?token=" + strings.Repeat("t", 16<<10) + "&" + pbOK, status: 401, code: "invalid_token"},
		{name: "postback: token binary", method: "GET", path: "/v1/postback/coursera?token=%FF%00&" + pbOK, status: 401, code: "invalid_token"},
		{name: "postback: partner of 4 KB", method: "GET", path: "/v1/postback/" + strings.Repeat("w", 4096) + "?token=" + postbackToken + "&" + pbOK, status: 404, code: "partner_not_found"},
		{name: "postback form: 200 KiB", method: "POST", path: "/v1/postback/coursera", headers: formCT, body: bytes.Repeat([]byte("a"), 200<<10), status: 413, code: "body_too_large"},
		{name: "postback form: binary", method: "POST", path: "/v1/postback/coursera", headers: formCT, body: randomBytes(2048, 3)},
		{name: "postback form: a broken escape", method: "POST", path: "/v1/postback/coursera", headers: formCT, body: []byte("token=" + postbackToken + "&order_id=%zz"), status: 400, code: "malformed_form"},
		{name: "postback form: JSON instead", method: "POST", path: "/v1/postback/coursera", headers: []string{"Content-Type", "application/json"}, body: conv(`{}`), status: 401},
		// A JSON body (PartnerStack, a CJ record) is decoded as strictly.
		{name: "postback json: an array", method: "POST", path: pb(""), headers: jsonCT, body: []byte(`[1]`), status: 400, code: "malformed_json"},
		{name: "postback json: nested", method: "POST", path: pb(""), headers: jsonCT, body: []byte(`{"a":` + nested(`{"b":`, "}", 10001, "1") + `}`), status: 400, code: "malformed_json"},
		{name: "postback json: Latin-1", method: "POST", path: pb(""), headers: jsonCT, body: []byte("{\"order_id\":\"Caf\xe9\"}"), status: 400, code: "malformed_json"},
		{name: "postback json: an amount of 1e999", method: "POST", path: pb(""), headers: jsonCT,
			body: []byte(`{"order_id":"J-1","status":"pending","sale_amount":1e999,"commission":1}`), status: 422, code: "invalid_value"},
		{name: "postback json: 200 KiB", method: "POST", path: pb(""), headers: jsonCT, body: append([]byte(`{"pad":"`), bytes.Repeat([]byte("a"), 200<<10)...), status: 413, code: "body_too_large"},
		{name: "postback json: no token", method: "POST", path: "/v1/postback/coursera", headers: jsonCT, body: []byte(`{"order_id":"x"}`), status: 401, code: "missing_token"},
		// GET /v1/partners, and the partner-health routes (any 4xx: they
		// answer 401 without a token, 404 for an unknown partner)
		{name: "list partners: no token", method: "GET", path: "/v1/partners", status: 401, code: "missing_token"},
		{name: "list partners: a binary token", method: "GET", path: "/v1/partners", headers: []string{"Authorization", "Bearer \x80\xff"}, status: 401},
		{name: "list partners: a 16 KB token", method: "GET", path: "/v1/partners", headers: []string{"Authorization", "Bearer " + strings.Repeat("t", 16<<10)}, status: 401},
		{name: "list partners: a body, no token", method: "GET", path: "/v1/partners", body: randomBytes(1<<20, 5), status: 401},
		{name: "list partners: wrong method", method: "POST", path: "/v1/partners", admin: true, body: []byte(`{"name":"x"}`), status: 405},
		{name: "list partners: bad escape", method: "GET", path: "/v1/partners?cursor=%zz", status: 401},
		{name: "postback url: no token", method: "GET", path: "/v1/partners/coursera/postback-url", status: 401},
		{name: "health: partner of 16 KB", method: "GET", path: "/v1/partners/" + strings.Repeat("h", 16<<10) + "/health", admin: true},
		{name: "health: binary partner", method: "GET", path: "/v1/partners/%00%FF%FE/health", admin: true},
		{name: "health: no token", method: "GET", path: "/v1/partners/coursera/health"},
		{name: "partner health: no token", method: "GET", path: "/v1/partner-health"},
		{name: "partner health: a binary token", method: "GET", path: "/v1/partner-health", headers: []string{"Authorization", "Bearer \x80\xff"}},
		{name: "postback url: partner of 4 KB", method: "GET", path: "/v1/partners/" + strings.Repeat("w", 4096) + "/postback-url", admin: true, status: 404, code: "partner_not_found"},
		{name: "postback url: token of 16 KB", method: "GET", path: "/v1/partners/coursera/postback-url?token=" + strings.Repeat("t", 16<<10), admin: true, status: 422, code: "invalid_value"},
		{name: "awin push: nested", method: "POST", path: "/v1/postback/awin", headers: formCT,
			body: form(url.Values{"AwinTransactionPush": {`{"a":` + nested("[", "]", 10001, "") + `}`}}), status: 400, code: "malformed_json"},
		{name: "awin push: an array", method: "POST", path: "/v1/postback/awin", headers: formCT, body: form(url.Values{"AwinTransactionPush": {`[1]`}}), status: 400, code: "malformed_json"},
		{name: "awin push: null", method: "POST", path: "/v1/postback/awin", headers: formCT, body: form(url.Values{"AwinTransactionPush": {`null`}}), status: 400, code: "malformed_json"},
		{name: "awin push: truncated", method: "POST", path: "/v1/postback/awin", headers: formCT, body: form(url.Values{"AwinTransactionPush": {`{"transactionId":1,`}}), status: 400, code: "malformed_json"},
		{name: "awin push: trailing garbage", method: "POST", path: "/v1/postback/awin", headers: formCT,
			body: form(url.Values{"AwinTransactionPush": {`{"transactionId":1}}`}}), status: 400, code: "malformed_json"},
		{name: "awin push: Latin-1", method: "POST", path: "/v1/postback/awin", headers: formCT,
			body: form(url.Values{"AwinTransactionPush": {"{\"transactionId\":\"Caf\xe9\"}"}}), status: 400, code: "malformed_json"},
		{name: "awin push: a lone surrogate", method: "POST", path: "/v1/postback/awin", headers: formCT,
			body: form(url.Values{"AwinTransactionPush": {`{"transactionId":"\ud800"}`}}), status: 400, code: "malformed_json"},
		{name: "awin push: wrongly typed", method: "POST", path: "/v1/postback/awin", headers: formCT,
			body: form(url.Values{"AwinTransactionPush": {`{"transactionId":{"a":1},"commission":[1],"status":"approved"}`}}), status: 400, code: "malformed_json"},
		{name: "awin push: click ref an array", method: "POST", path: "/v1/postback/awin", headers: formCT,
			body: form(url.Values{"AwinTransactionPush": {`{"transactionId":"1","commission":"1.00","clickRef":["c"]}`}}), status: 400, code: "malformed_json"},
		{name: "postback json: order_id true", method: "POST", path: pb(""), headers: jsonCT,
			body: []byte(`{"order_id":true,"status":"pending","sale_amount":"1.00","commission":"1.00"}`), status: 400, code: "malformed_json"},
	}
	for i, tc := range cases {
		r, err := sendHostile(s, tc, fmt.Sprintf("hostile-%d", i))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		checkHostile(t, s, tc.name, r, tc.status, tc.code)
	}

	// Bodies that stop short of their Content-Length, on a raw connection
	// that the client half-closes: the service answers at once.
	for _, tc := range []struct {
		name, head string
		body       string
	}{
		{"partner", "PUT /v1/partners/h HTTP/1.1\r\nAuthorization: Bearer " + adminToken + "\r\n", `{"name":"H","curr`},
		{"webhook", "POST /v1/webhooks/coursera HTTP/1.1\r\nwebhook-id: h\r\nwebhook-timestamp: " + ts + "\r\nwebhook-signature: v1,AAAA\r\n", `{"order_id":"A`},
		{"postback form", "POST /v1/postback/coursera HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n", "token=" + postbackToken + "&order_id=A"},
	} {
		r, err := halfClosed(s.p.Base, tc.head, tc.body, len(tc.body)+1000)
		if err != nil {
			t.Errorf("truncated %s: %v", tc.name, err)
			continue
		}
		checkHostile(t, s, "truncated "+tc.name, r, 400, "")
	}

	// Nothing failed inside: no panic, no internal error logged; and the
	// service still takes a normal webhook.
	logs := s.p.Logs()
	for _, bad := range []string{"panic", "level=ERROR", `"level":"ERROR"`} {
		if strings.Contains(logs, bad) {
			t.Errorf("the service logged %q:\n%s", bad, tail(logs, 3000))
		}
	}
	if r := s.send(t, "coursera", "msg_after_hostile", s.conversionBody("AFTER-1", "pending", "1.00"), s.key, s.at); r.status != 202 {
		t.Fatalf("a normal webhook after the hostile ones = %d %s", r.status, r.body)
	}
	if n := inboxCount(t, s); n != 1 {
		t.Errorf("the inbox holds %d requests, want only the normal one", n)
	}
}

func inboxCount(t *testing.T, s *stack) int {
	t.Helper()
	var n int
	if err := openDB(t, s).QueryRow(`SELECT count(*) FROM conversions.inbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func sendHostile(s *stack, tc hostileCase, id string) (resp, error) {
	var body io.Reader = bytes.NewReader(tc.body)
	if tc.chunked {
		body = io.MultiReader(bytes.NewReader(tc.body)) // hides the length: sent chunked
	}
	req, err := http.NewRequest(tc.method, s.p.Base+tc.path, body)
	if err != nil {
		return resp{}, err
	}
	if tc.sign {
		ts := strconv.FormatInt(s.at.Unix(), 10)
		for i := 0; i+1 < len(tc.headers); i += 2 {
			if strings.EqualFold(tc.headers[i], "webhook-id") {
				id = tc.headers[i+1]
			}
		}
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", ts)
		req.Header.Set("webhook-signature", webhook.Sign(s.key, id, ts, tc.body))
	}
	if tc.admin {
		req.Header.Set("Authorization", "Bearer "+adminToken)
	}
	for i := 0; i+1 < len(tc.headers); i += 2 {
		req.Header[http.CanonicalHeaderKey(tc.headers[i])] = []string{tc.headers[i+1]}
	}
	r, err := hostileClient.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	return resp{r.StatusCode, string(b), r.Header}, err
}

// halfClosed sends head, a Content-Length of length and then only body,
// closes its side of the connection and reads the answer.
func halfClosed(base, head, body string, length int) (resp, error) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return resp{}, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(conn, "%sHost: x\r\nContent-Length: %d\r\n\r\n%s", head, length, body); err != nil {
		return resp{}, err
	}
	conn.(*net.TCPConn).CloseWrite()
	r, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return resp{}, err
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, string(b), r.Header}, nil
}

// checkHostile holds an answer to the contract: a 4xx (status when not 0)
// in the error shape (code, when given), small, and leaking nothing.
func checkHostile(t *testing.T, s *stack, name string, r resp, status int, code string) {
	t.Helper()
	if r.status < 400 || r.status > 499 || (status != 0 && r.status != status) {
		t.Errorf("%s: %d %.300s, want %d (a 4xx)", name, r.status, r.body, status)
		return
	}
	if len(r.body) > 1024 {
		t.Errorf("%s: a %d-byte answer repeats the input", name, len(r.body))
	}
	for _, leak := range s.leaks() {
		if strings.Contains(r.body, leak) {
			t.Errorf("%s: the answer holds %q: %.300s", name, leak, r.body)
		}
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want JSON", name, ct)
	}
	var e errorBody
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("%s: %.300s is not the contract's error shape (%v)", name, r.body, err)
		return
	}
	if code != "" && e.Error.Code != code {
		t.Errorf("%s: code %s (%s), want %s", name, e.Error.Code, e.Error.Message, code)
	}
}
