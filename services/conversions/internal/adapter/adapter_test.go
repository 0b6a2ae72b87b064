package adapter

import (
	"encoding/json"
	"errors"
	"flag"
	"math/big"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/pkg/rfc3339"
)

var update = flag.Bool("update", false, "rewrite golden files")

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// usd is a partner in USD with the default max_amount.
var usd = Partner{Currency: "USD"}

func standard(t testing.TB) Mapping {
	m, err := Mapping{}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDecodeWebhook decodes as a webhook arrives (DecodeNewWebhook);
// FuzzDecodeWebhook holds the replay's DecodeWebhook to accept at least
// as much, the same.
func TestDecodeWebhook(t *testing.T) {
	valid := `{"order_id":"A-1001","click_id":"c1","status":"pending","sale_amount":"49.00","commission":"7.35","currency":"USD","occurred_at":"2026-11-20T10:00:00Z"}`
	with := func(field, value string) string {
		var m map[string]any
		json.Unmarshal([]byte(valid), &m)
		if value == "<delete>" {
			delete(m, field)
		} else {
			var v any
			json.Unmarshal([]byte(value), &v)
			m[field] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name   string
		body   string
		status int // 0 = ok
		field  string
	}{
		{"valid", valid, 0, ""},
		{"extra fields kept elsewhere", with("coupon", `"BF20"`), 0, ""},
		{"course named", with("course_id", `"ml-101"`), 0, ""},
		{"no click id", with("click_id", "<delete>"), 0, ""},
		{"partner currency default", with("currency", "<delete>"), 0, ""},
		{"lower-case currency", with("currency", `"usd"`), 0, ""},
		{"trailing zeros", with("commission", `"7.3500"`), 0, ""},
		{"not json", `{"order_id":`, 400, ""},
		{"array", `[1]`, 400, ""},
		{"trailing", valid + `{}`, 400, ""},
		{"missing order", with("order_id", "<delete>"), 400, ""},
		{"blank order", with("order_id", `"   "`), 400, ""},
		{"blank status", with("status", `" "`), 400, ""},
		{"missing status", with("status", "<delete>"), 400, ""},
		{"missing amount", with("sale_amount", "<delete>"), 400, ""},
		{"missing time", with("occurred_at", "<delete>"), 400, ""},
		// A wrong JSON type is a malformed body (400 malformed_json), as in
		// the admin APIs; a value of the right type that is wrong is a 422.
		{"money as number", with("commission", `7.35`), 400, "commission"},
		{"sale amount as number", with("sale_amount", `49.00`), 400, "sale_amount"},
		{"money as a huge number", `{"order_id":"A","status":"pending","sale_amount":1e999,"commission":"1","occurred_at":"2026-11-20T10:00:00Z"}`, 400, "sale_amount"},
		{"order as number", with("order_id", `1001`), 400, "order_id"},
		{"status as bool", with("status", `true`), 400, "status"},
		{"currency as array", with("currency", `["USD"]`), 400, "currency"},
		{"click id as object", with("click_id", `{"id":"c1"}`), 400, "click_id"},
		{"time as unix seconds", with("occurred_at", `1763632800`), 400, "occurred_at"},
		{"event id as number", with("event_id", `7`), 400, "event_id"},
		{"wrong type and missing field", `{"order_id":1,"status":"pending"}`, 400, "order_id"},
		{"null is left out", with("click_id", `null`), 0, ""},
		{"null where required", with("order_id", `null`), 400, ""},
		{"unknown fields of any type", with("coupon", `{"a":[1,true]}`), 0, ""},
		{"negative", with("commission", `"-1.00"`), 422, "commission"},
		{"too precise", with("commission", `"7.355"`), 422, "commission"},
		{"not decimal", with("sale_amount", `"49,00"`), 422, "sale_amount"},
		{"unknown currency", with("currency", `"XYZ"`), 422, "currency"},
		{"unknown status", with("status", `"paid-ish"`), 422, "status"},
		{"impossible date", with("occurred_at", `"2026-02-30T10:00:00Z"`), 422, "occurred_at"},
		{"far future", with("occurred_at", `"2027-11-20T10:00:00Z"`), 422, "occurred_at"},
		{"ancient", with("occurred_at", `"1999-12-31T10:00:00Z"`), 422, "occurred_at"},
		// The bound is an instant, as reporting's, which would set the
		// event aside after its 202: 00:59:59+01:00 is 1999 in UTC.
		{"2000 locally, 1999 in UTC", with("occurred_at", `"2000-01-01T00:59:59+01:00"`), 422, "occurred_at"},
		{"2000 in UTC", with("occurred_at", `"2000-01-01T01:00:00+01:00"`), 0, ""},
		{"1999 locally, 2000 in UTC", with("occurred_at", `"1999-12-31T23:30:00-01:00"`), 0, ""},
		{"control chars in id", with("order_id", `"A\n1"`), 422, "order_id"},
	}
	m := standard(t)
	for _, tt := range tests {
		c, err := m.DecodeNewWebhook([]byte(tt.body), usd, now)
		if tt.status == 0 {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if errs.HTTPStatus(err) != tt.status {
			t.Errorf("%s: err = %v (%d), want %d", tt.name, err, errs.HTTPStatus(err), tt.status)
			continue
		}
		if tt.field != "" {
			fields := errs.FieldsOf(err)
			if len(fields) == 0 || fields[0].Field != tt.field {
				t.Errorf("%s: fields %v, want %s", tt.name, fields, tt.field)
			}
		}
		if code := errCode(err); tt.status == 400 && tt.field != "" && code != "malformed_json" {
			t.Errorf("%s: code %q, want malformed_json", tt.name, code)
		}
		_ = c
	}
	c, _ := m.DecodeWebhook([]byte(with("commission", `"7.3500"`)), usd, now)
	if c.Commission.Minor != 735 || c.SaleAmount.Minor != 4900 || c.Status != "approved" && c.Status != "pending" {
		t.Fatalf("decoded %+v", c)
	}
}

// TestDecodeWebhookWrongTypes: every field of the wrong JSON type is named,
// in the webhook's field order, in the fields and in the message.
func TestDecodeWebhookWrongTypes(t *testing.T) {
	body := `{"order_id":"A","status":false,"sale_amount":49.00,"commission":7,"currency":"USD","occurred_at":"2026-11-20T10:00:00Z"}`
	_, err := standard(t).DecodeWebhook([]byte(body), usd, now)
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != errs.Invalid || e.Code != "malformed_json" {
		t.Fatalf("err = %v, want a 400 malformed_json", err)
	}
	var got []string
	for _, f := range e.Fields {
		got = append(got, f.Field)
	}
	if strings.Join(got, ",") != "status,sale_amount,commission" {
		t.Errorf("fields %v", got)
	}
	for _, want := range []string{`field "status" must be a string, not true or false`, `field "sale_amount" must be a decimal string such as "49.00", not a number`} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message %q lacks %q", e.Message, want)
		}
	}
}

func errCode(err error) string {
	var e *errs.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

type golden struct {
	OrderID, ClickID, CourseID, Status, RawStatus, ReasonCode, EventID string
	SaleAmount, Commission, Currency                                   string
	OccurredAt                                                         string
}

func toGolden(c Conversion) golden {
	g := golden{OrderID: c.OrderID, ClickID: c.ClickID, CourseID: c.CourseID, Status: c.Status, RawStatus: c.RawStatus,
		ReasonCode: c.ReasonCode, EventID: c.EventID, SaleAmount: c.SaleAmount.String(), Commission: c.Commission.String(),
		Currency: c.Commission.Currency}
	if !c.OccurredAt.IsZero() {
		g.OccurredAt = c.OccurredAt.Format(time.RFC3339Nano)
	}
	return g
}

func TestCustomMappingWithoutCode(t *testing.T) {
	m, err := Mapping{Preset: "standard", Fields: map[string]string{FieldOrderID: "oid", FieldCommission: "comm"},
		Statuses: map[string]string{"OK": "approved", "CHARGEBACK": "reversed"}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	params, _ := url.ParseQuery("oid=9&comm=1.00&sale_amount=10.00&status=chargeback&currency=USD")
	c, err := m.FromParams(params, usd, now)
	if err != nil || c.OrderID != "9" || c.Status != "reversed" || c.RawStatus != "chargeback" {
		t.Fatalf("%+v, %v", c, err)
	}
	for _, bad := range []Mapping{{Preset: "nope"}, {Fields: map[string]string{"colour": "x"}}, {Statuses: map[string]string{"x": "paid"}}} {
		if _, err := bad.Resolve(); err == nil {
			t.Errorf("%+v resolved", bad)
		}
	}
}

func TestPostbackErrorsNameThePartnersParameter(t *testing.T) {
	m, _ := Mapping{Preset: "impact"}.Resolve()
	params, _ := url.ParseQuery("action_id=1&payout=abc&amount=1.00&status=PENDING")
	_, err := m.FromParams(params, usd, now)
	if fields := errs.FieldsOf(err); len(fields) != 1 || fields[0].Field != "payout" {
		t.Fatalf("err = %v", err)
	}
	params, _ = url.ParseQuery("payout=1.00&amount=1.00")
	if _, err := m.FromParams(params, usd, now); errs.HTTPStatus(err) != 400 || !strings.Contains(err.Error(), "action_id") {
		t.Fatalf("missing: %v", err)
	}
}

func TestCheckRepeated(t *testing.T) {
	m, _ := Mapping{Preset: "impact"}.Resolve()
	for _, c := range []struct {
		query, repeated string // repeated: the parameter named in the 400, "" for none
	}{
		{"action_id=1&payout=1.00&amount=1.00&status=PENDING", ""},
		{"action_id=1&action_id=2&payout=1.00", `"action_id" is given 2 times`},
		{"action_id=1&payout=1.00&payout=1.00&payout=2.00", `"payout" is given 3 times with different values`},
		{"action_id=1&action_id=1&payout=1.00", ""},           // the same value again is no doubt
		{"action_id=1&payout=1.00&pad=a&pad=b", ""},           // a parameter the mapping does not read
		{"action_id=1&payout=1.00&order_id=a&order_id=b", ""}, // the canonical name, not impact's
		{"", ""},
	} {
		params, _ := url.ParseQuery(c.query)
		err := m.CheckRepeated(params)
		if c.repeated == "" {
			if err != nil {
				t.Errorf("%s: %v", c.query, err)
			}
			continue
		}
		if errs.HTTPStatus(err) != 400 || !strings.Contains(err.Error(), c.repeated) {
			t.Errorf("%s: %v, want 400 naming %s", c.query, err, c.repeated)
		}
	}
}

func TestCheckRepeatedWithAJSONParameter(t *testing.T) {
	m, err := Mapping{Preset: "awin"}.Resolve()
	if err != nil || m.JSONParam == "" {
		t.Fatalf("awin has no JSON parameter: %v", err)
	}
	// The fields come from the JSON parameter: repeated URL parameters of
	// the same names are not read, so they are no doubt.
	params := url.Values{m.JSONParam: {`{}`}, m.Fields[FieldCommission]: {"a", "b"}}
	if err := m.CheckRepeated(params); err != nil {
		t.Fatalf("with %s: %v", m.JSONParam, err)
	}
	params[m.JSONParam] = append(params[m.JSONParam], `{"x":1}`)
	if err := m.CheckRepeated(params); errs.HTTPStatus(err) != 400 {
		t.Fatalf("%s twice: %v, want 400", m.JSONParam, err)
	}
	delete(params, m.JSONParam)
	if err := m.CheckRepeated(params); errs.HTTPStatus(err) != 400 {
		t.Fatalf("without %s, %s twice: %v, want 400", m.JSONParam, m.Fields[FieldCommission], err)
	}
}

// FuzzDecodeWebhook: a body is refused only with a 400 or a 422; a body
// taken is a complete conversion within its limits, DecodeNewWebhook (on
// arrival, stricter) takes no more and the same; and it is the body's own
// fields as encoding/json reads them (string members by their exact
// names, null as absent): the ids, reason code and raw status as sent,
// the status the standard mapping gives that word, the currency sent
// (upper-cased) or the partner's, both amounts a plain decimal whose
// exact value they are in it (exactMinor: trailing zeros past the
// currency's precision, or a bare trailing point, change no value), and
// occurred_at as rfc3339.Parse reads it, in UTC, to the microsecond.
func FuzzDecodeWebhook(f *testing.F) {
	f.Add([]byte(`{"order_id":"A-1001","click_id":"c1","status":"pending","sale_amount":"49.00","commission":"7.35","currency":"USD","occurred_at":"2026-11-20T10:00:00Z"}`))
	f.Add([]byte(`{"order_id":1,"commission":7.35}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"order_id":"A","status":"pending","sale_amount":"1000000.01","commission":"92233720368547758.07","occurred_at":"2026-11-20T10:00:00Z"}`))
	f.Add([]byte(`{"order_id":"\udcff","status":"pending","sale_amount":"1","commission":"1","currency":"jpy","occurred_at":"2026-11-20T10:00:00Z"}`))
	f.Add([]byte(`{"order_id":"A","ORDER_ID":"B","status":"Approved","sale_amount":"1.5","commission":"0","currency":"bhd","click_id":null,"occurred_at":"2026-11-20T10:00:00.1234567+05:45","order_id":"C"}`))
	f.Add([]byte(`{"order_id":"A","status":"pending","sale_amount":"49.","commission":"7.3500","occurred_at":"2026-11-20T10:00:00Z"}`))
	f.Add([]byte(`{"order_id":"A","status":"pending","sale_amount":"1200.0","commission":"-0.","currency":"JPY","occurred_at":"2026-11-20T10:00:00Z"}`))
	m := standard(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := m.DecodeWebhook(body, usd, now)
		if err != nil {
			if s := errs.HTTPStatus(err); s != 400 && s != 422 {
				t.Fatalf("status %d for %q: %v", s, body, err)
			}
			return
		}
		if c.OccurredAt.IsZero() {
			t.Fatalf("accepted a conversion without a time %+v", c)
		}
		checkAccepted(t, c, usd)
		// On arrival, stricter: what it accepts DecodeWebhook accepts,
		// the same; what it refuses is a 400 or a 422.
		arrived, err := m.DecodeNewWebhook(body, usd, now)
		switch {
		case err == nil && arrived != c:
			t.Fatalf("on arrival %+v, replayed %+v", arrived, c)
		case err != nil && errs.HTTPStatus(err) != 400 && errs.HTTPStatus(err) != 422:
			t.Fatalf("on arrival, status %d for %q: %v", errs.HTTPStatus(err), body, err)
		}

		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
		str := func(k string) string {
			var s *string
			if err := json.Unmarshal(obj[k], &s); obj[k] != nil && err != nil {
				t.Fatalf("accepted %q, whose %s is not a string: %v", body, k, err)
			}
			if s == nil {
				return ""
			}
			return *s
		}
		for _, x := range []struct{ field, got string }{{"order_id", c.OrderID}, {"click_id", c.ClickID}, {"course_id", c.CourseID},
			{"event_id", c.EventID}, {"reason_code", c.ReasonCode}, {"status", c.RawStatus}} {
			if x.got != str(x.field) {
				t.Fatalf("%q: %s %q, encoding/json reads %q", body, x.field, x.got, str(x.field))
			}
		}
		wantStatus := m.Statuses[strings.ToLower(str("status"))]
		if s, ok := m.Reasons[strings.ToLower(str("reason_code"))]; ok && str("reason_code") != "" {
			wantStatus = s
		}
		if c.Status != wantStatus {
			t.Fatalf("%q: status %q, the mapping gives %q", body, c.Status, wantStatus)
		}
		cur := strings.ToUpper(str("currency"))
		if cur == "" {
			cur = usd.Currency
		}
		for _, x := range []struct {
			field string
			got   money.Amount
		}{{"sale_amount", c.SaleAmount}, {"commission", c.Commission}} {
			if want, ok := exactMinor(str(x.field), cur); !ok || x.got != want {
				t.Fatalf("%q: %s %+v, its exact value is %+v (%v)", body, x.field, x.got, want, ok)
			}
		}
		if at, err := rfc3339.Parse(str("occurred_at")); err == nil && !c.OccurredAt.Equal(at.Truncate(time.Microsecond)) {
			t.Fatalf("%q: occurred_at %v, rfc3339.Parse reads %v", body, c.OccurredAt, at)
		}
	})
}

// exactMinor is raw's exact value in currency's minor units, read by
// math/big rather than money.Parse (which refuses the trailing zeros a
// partner may send, "7.3500"): ok only for a plain decimal ("-"? digits,
// then "." and digits, or a bare ".") that is a whole number of minor
// units within int64.
func exactMinor(raw, currency string) (money.Amount, bool) {
	cur, err := money.LookupCurrency(currency)
	if err != nil || !plainDecimal.MatchString(raw) {
		return money.Amount{}, false
	}
	r, ok := new(big.Rat).SetString(strings.TrimSuffix(raw, "."))
	if !ok {
		return money.Amount{}, false
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(cur.Exponent)), nil)))
	if !r.IsInt() || !r.Num().IsInt64() {
		return money.Amount{}, false
	}
	return money.Amount{Minor: r.Num().Int64(), Currency: cur.Code}, true
}

var plainDecimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]*)?$`)

func FuzzFromParams(f *testing.F) {
	f.Add("awin", "AwinTransactionPush=%7B%22transactionId%22%3A1%7D")
	f.Add("impact", "action_id=1&payout=7.3500&amount=1&status=PENDING&event_date=1763632800000")
	f.Add("everflow", "transaction_id=1&payout_amount=-1&sale_amount=2")
	f.Add("cj", "orderId=o&actionStatus=new&pubCommissionAmountPubCurrency=-0.005&correctionReason=bad_debt")
	f.Add("partnerstack", "data.key=k&data.status=paid&data.amount=9223372036854775807&data.created_at=99999999999999")
	f.Add("rakuten", "etransaction_id=t&commissions=1.00&sale_amount=1&transaction_date=2014-04-30%2002:18:36")
	f.Add("rakuten", "etransaction_id=t&commissions=1.00&sale_amount=1&transaction_date=Wed%20Apr%2015%202020%2021%3A20%3A27%20GMT+0000%20(UTC)")
	f.Add("standard", "order_id=1&status=approved&sale_amount=92233720368547758.07&commission=1000000.00")
	f.Add("standard", "order_id="+strings.Repeat("o", 129)+"&status=approved&sale_amount=1&commission=1")
	f.Add("standard", "order_id=%FF&status=approved&sale_amount=1&commission=1&currency=JPY")
	f.Fuzz(func(t *testing.T, preset, query string) {
		m, err := Mapping{Preset: preset}.Resolve()
		if err != nil {
			return
		}
		params, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		c, err := m.FromParams(params, usd, now)
		if err != nil {
			if s := errs.HTTPStatus(err); s != 400 && s != 422 {
				t.Fatalf("status %d: %v", s, err)
			}
			return
		}
		checkAccepted(t, c, usd)
	})
}
