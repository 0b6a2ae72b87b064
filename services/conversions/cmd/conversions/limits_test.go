package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// Contract v1.1, limits on what partners send: each at its boundary,
// through real HTTP, for webhooks and postbacks. Nothing refused reaches
// the inbox or Kafka, and a normal webhook after the hostile ones is
// accepted and published.

// errorBody is the contract's error shape.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Fields  []struct {
			Field string `json:"field"`
		} `json:"fields"`
	} `json:"error"`
}

// check compares an answer with the wanted status and, for a 422, the
// code and the field it names.
func check(t *testing.T, name string, r resp, status int, code, field string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: %d %.300s, want %d %s", name, r.status, r.body, status, code)
		return
	}
	if status < 400 {
		return
	}
	var e errorBody
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("%s: %.300s, want code %s (%v)", name, r.body, code, err)
		return
	}
	if field != "" && (len(e.Error.Fields) == 0 || e.Error.Fields[0].Field != field) {
		t.Errorf("%s: %.300s, want the field %s named", name, r.body, field)
	}
	if len(r.body) > 1024 {
		t.Errorf("%s: a %d-byte answer repeats the hostile value", name, len(r.body))
	}
}

func TestPartnerLimitsOverHTTP(t *testing.T) {
	t.Parallel()
	s := setup(t, migratedDatabaseURL(t), testkit.Now(t))
	at128, at129 := strings.Repeat("k", 128), strings.Repeat("k", 129)
	// coursera knows a status word as long as a partner may send.
	word := strings.Repeat("s", 128)
	r := s.putPartner(t, "coursera", fmt.Sprintf(`{"name":"Coursera","currency":"USD","mapping":{"statuses":{%q:"approved"}}}`, word), 200)
	if !strings.Contains(r.body, `"max_amount":"1000000.00"`) {
		t.Fatalf("PUT without max_amount = %s, want the default 1000000.00", r.body)
	}

	webhookBody := func(field, value string) []byte {
		v := map[string]string{"order_id": "W-" + field + "-" + fmt.Sprint(len(value)), "click_id": "c-1", "status": "approved",
			"sale_amount": "49.00", "commission": "7.35", "currency": "USD", "occurred_at": s.occurred().Format(time.RFC3339)}
		v[field] = value
		if field == "currency" {
			v["sale_amount"], v["commission"] = "1", "1"
		}
		b, _ := json.Marshal(v)
		return b
	}
	postback := func(field, value string) string {
		q := url.Values{"token": {postbackToken}, "order_id": {"P-" + field + "-" + fmt.Sprint(len(value))}, "click_id": {"c-1"},
			"status": {"approved"}, "sale_amount": {"49.00"}, "commission": {"7.35"}, "currency": {"USD"}}
		if field == "currency" {
			q.Set("sale_amount", "1")
			q.Set("commission", "1")
		}
		q.Set(field, value)
		return s.p.Base + "/v1/postback/coursera?" + q.Encode()
	}

	tests := []struct {
		name, field, value string
		status             int
		code               string
	}{
		{"order_id 128 bytes", "order_id", at128, 202, ""},
		{"order_id 129 bytes", "order_id", at129, 422, "field_too_long"},
		{"order_id 128 bytes of UTF-8", "order_id", strings.Repeat("é", 64), 202, ""},
		{"order_id 129 bytes of UTF-8", "order_id", strings.Repeat("é", 64) + "x", 422, "field_too_long"},
		{"click_id 128 bytes", "click_id", at128, 202, ""},
		{"click_id 129 bytes", "click_id", at129, 422, "field_too_long"},
		{"course_id 128 bytes", "course_id", at128, 202, ""},
		{"course_id 129 bytes", "course_id", at129, 422, "field_too_long"},
		{"reason_code 128 bytes", "reason_code", at128, 202, ""},
		{"reason_code 129 bytes", "reason_code", at129, 422, "field_too_long"},
		{"status 128 bytes", "status", word, 202, ""},
		{"status 129 bytes", "status", word + "s", 422, "field_too_long"},
		{"status of 30 KB", "status", strings.Repeat("s", 30<<10), 422, "field_too_long"},
		{"currency unknown", "currency", "XXY", 422, "invalid_value"},
		{"currency of 30 KB", "currency", strings.Repeat("U", 30<<10), 422, "invalid_value"},
		{"commission at max_amount", "commission", "1000000.00", 202, ""},
		{"commission a cent above", "commission", "1000000.01", 422, "amount_too_large"},
		{"commission near int64", "commission", "92233720368547758.07", 422, "amount_too_large"},
		{"commission past int64", "commission", "92233720368547758.08", 422, "amount_too_large"},
		{"sale at max_amount", "sale_amount", "1000000.00", 202, ""},
		{"sale a cent above", "sale_amount", "1000000.01", 422, "amount_too_large"},
		{"sale near int64", "sale_amount", "92233720368547758.07", 422, "amount_too_large"},
		{"sale of 30 KB of digits", "sale_amount", strings.Repeat("9", 30<<10), 422, "amount_too_large"},
	}
	accepted := map[string]bool{} // order ids answered 202
	requests := 0                 // requests answered 202
	for i, tt := range tests {
		field := tt.field
		if tt.status < 400 {
			field = ""
		}
		body := webhookBody(tt.field, tt.value)
		r := s.send(t, "coursera", fmt.Sprintf("msg_limit_%d", i), body, s.key, s.at)
		check(t, "webhook "+tt.name, r, tt.status, tt.code, field)
		if tt.status == 202 && r.status == 202 {
			requests++
			var v map[string]string
			json.Unmarshal(body, &v)
			accepted[v["order_id"]] = true
		}
		r = do(t, "GET", postback(tt.field, tt.value), nil)
		check(t, "postback "+tt.name, r, tt.status, tt.code, field)
		if tt.status == 202 && r.status == 202 {
			requests++
			q, _ := url.Parse(postback(tt.field, tt.value))
			accepted[q.Query().Get("order_id")] = true
		}
	}

	// The idempotency keys: webhook-id and a postback's event_id.
	r = s.send(t, "coursera", at128, webhookBody("order_id", "W-id-128"), s.key, s.at)
	check(t, "webhook-id 128 bytes", r, 202, "", "")
	accepted["W-id-128"] = r.status == 202
	requests++
	check(t, "webhook-id 129 bytes", s.send(t, "coursera", at129, webhookBody("order_id", "W-id-129"), s.key, s.at), 422, "field_too_long", "webhook-id")
	r = do(t, "GET", postback("event_id", strings.Repeat("e", 128)), nil)
	check(t, "event_id 128 bytes", r, 202, "", "")
	accepted["P-event_id-128"] = r.status == 202
	requests++
	check(t, "event_id 129 bytes", do(t, "GET", postback("event_id", strings.Repeat("e", 129)), nil), 422, "field_too_long", "event_id")
	check(t, "event_id not UTF-8", do(t, "GET", postback("event_id", "\xff\xfe"), nil), 422, "invalid_value", "event_id")
	check(t, "order_id not UTF-8", do(t, "GET", postback("order_id", "A\xff"), nil), 422, "invalid_value", "order_id")
	// A 60 KB order id in a form: refused, and the answer stays small.
	form := url.Values{"token": {postbackToken}, "order_id": {strings.Repeat("o", 60<<10)}, "status": {"approved"},
		"sale_amount": {"1.00"}, "commission": {"1.00"}}
	check(t, "order_id of 60 KB in a form", do(t, "POST", s.p.Base+"/v1/postback/coursera", []byte(form.Encode()),
		"Content-Type", "application/x-www-form-urlencoded"), 422, "field_too_long", "order_id")

	// A partner's own max_amount holds its currency; a sale in another is
	// held to the schema's ceiling alone (10^12 minor units).
	r = s.putPartner(t, "net", fmt.Sprintf(`{"name":"Net","postback_token":%q,"currency":"USD","max_amount":"250.00"}`, postbackToken), 201)
	if g := do(t, "GET", s.p.Base+"/v1/partners/net", nil, "Authorization", "Bearer "+adminToken); !strings.Contains(g.body, `"max_amount":"250.00"`) {
		t.Fatalf("GET partner = %s, want max_amount 250.00", g.body)
	}
	net := func(order, amount, currency string) resp {
		return do(t, "GET", s.p.Base+"/v1/postback/net?"+url.Values{"token": {postbackToken}, "order_id": {order}, "status": {"approved"},
			"sale_amount": {amount}, "commission": {"1"}, "currency": {currency}}.Encode(), nil)
	}
	for _, tt := range []struct {
		order, amount, currency string
		status                  int
		code                    string
	}{
		{"N-1", "250.00", "USD", 202, ""},
		{"N-2", "250.01", "USD", 422, "amount_too_large"},
		{"N-3", "25001", "JPY", 202, ""},
		{"N-4", "1000000000001", "JPY", 422, "amount_too_large"},
		{"N-5", "1500000.00", "IDR", 202, ""},
		{"N-6", "1000000000.001", "KWD", 422, "amount_too_large"},
	} {
		r := net(tt.order, tt.amount, tt.currency)
		check(t, "net "+tt.order, r, tt.status, tt.code, "sale_amount")
		if tt.status == 202 && r.status == 202 {
			requests++
			accepted[tt.order] = true
		}
	}
	for _, bad := range []string{`"0.00"`, `"-1.00"`, `"1.001"`, `"10000000000.01"`, `"92233720368547758.07"`, `"lots"`} {
		r := s.putPartner(t, "net", fmt.Sprintf(`{"name":"Net","currency":"USD","max_amount":%s}`, bad), 0)
		check(t, "max_amount "+bad, r, 422, "invalid_partner", "max_amount")
	}
	if g := do(t, "GET", s.p.Base+"/v1/partners/net", nil, "Authorization", "Bearer "+adminToken); !strings.Contains(g.body, `"max_amount":"250.00"`) {
		t.Fatalf("a refused PUT changed the partner: %s", g.body)
	}

	// Anyone may post to any partner id: an unknown one is no metric label.
	check(t, "unknown partner", s.send(t, "nobody-0xdeadbeef", "msg_x", webhookBody("order_id", "X"), s.key, s.at), 404, "partner_not_found", "")
	if m := do(t, "GET", s.p.Base+"/metrics", nil); !strings.Contains(m.body, `partner="coursera"`) || strings.Contains(m.body, "nobody-0xdeadbeef") {
		t.Errorf("metrics: coursera labelled %v, the unknown id labelled %v",
			strings.Contains(m.body, `partner="coursera"`), strings.Contains(m.body, "nobody-0xdeadbeef"))
	}

	// After all that, a normal webhook is accepted and published, with
	// everything accepted before it. Nothing refused reached the inbox
	// (whose rows the outbox rows come with) or Kafka.
	r = s.send(t, "coursera", "msg_normal", s.conversionBody("NORMAL-1", "approved", "7.35"), s.key, s.at)
	check(t, "a normal webhook", r, 202, "", "")
	accepted["NORMAL-1"] = true
	requests++
	got := readUntil(t, s.b, 30*time.Second, func(got map[string]received) bool {
		seen := map[string]bool{}
		for _, c := range got {
			seen[c.OrderID] = true
		}
		for order := range accepted {
			if !seen[order] {
				return false
			}
		}
		return true
	})
	published := map[string]bool{}
	for _, c := range got {
		published[c.OrderID] = true
		if !accepted[c.OrderID] {
			t.Errorf("published an event that was refused: %.60s", c.OrderID)
		}
	}
	for order := range accepted {
		if !published[order] {
			t.Errorf("accepted %.60s but it was not published", order)
		}
	}
	var stored int
	db, err := sqlOpen(s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A partner stored before max_amount existed has the default.
	if _, err := db.Exec(`INSERT INTO conversions.partners (id, name, currency) VALUES ('legacy', 'Legacy', 'JPY')`); err != nil {
		t.Fatal(err)
	}
	if g := do(t, "GET", s.p.Base+"/v1/partners/legacy", nil, "Authorization", "Bearer "+adminToken); !strings.Contains(g.body, `"max_amount":"1000000"`) {
		t.Errorf("a partner from before max_amount = %s, want 1000000 (JPY)", g.body)
	}
	if err := db.QueryRow(`SELECT count(*) FROM conversions.inbox`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != requests {
		t.Errorf("the inbox holds %d requests, %d were accepted", stored, requests)
	}
}
