package adapter

import (
	"net/url"
	"strings"
	"testing"
)

// TestPostbackURL pins the URL each preset gives a publisher: the
// network's macro syntax for every mapped field, the token or its
// placeholder, the click-id parameter of its links.
func TestPostbackURL(t *testing.T) {
	const base = "https://conversions.example.com/"
	tests := []struct {
		preset, token string
		want          PostbackURL
	}{
		{"awin", "", PostbackURL{Method: "GET", ClickIDParameter: "clickref", URL: "https://conversions.example.com/v1/postback/net?token=<your postback token>" +
			"&transactionId=!!!transactionId!!!&clickRef=!!!clickRef!!!&transactionAmount=!!!transactionAmount!!!&commission=!!!commission!!!" +
			"&transactionCurrency=!!!transactionCurrency!!!&transactionDate=!!!transactionDate!!!"}},
		{"impact", "tok en/+&", PostbackURL{Method: "GET", TokenIncluded: true, ClickIDParameter: "subId1", URL: "https://conversions.example.com/v1/postback/net?token=tok+en%2F%2B%26" +
			"&action_id={ActionId}&subid1={SubId1}&status={Status}&amount={Amount}&payout={Payout}&currency={Currency}&event_date={EventDate}&status_detail={StatusDetail}"}},
		{"everflow", "", PostbackURL{Method: "GET", ClickIDParameter: "sub1", URL: "https://conversions.example.com/v1/postback/net?token=<your postback token>" +
			"&transaction_id={transaction_id}&sub1={sub1}&sale_amount={sale_amount}&payout_amount={payout_amount}"}},
		{"rakuten", "", PostbackURL{Method: "GET", ClickIDParameter: "u1", URL: "https://conversions.example.com/v1/postback/net?token=<your postback token>" +
			"&etransaction_id=<etransaction_id>&u1=<u1>&sku_number=<sku_number>&sale_amount=<sale_amount>&commissions=<commissions>" +
			"&currency=<currency>&transaction_date=<transaction_date>&is_event=<is_event>"}},
		// No preset's macros: placeholders, one for each field, to replace.
		{"standard", "", PostbackURL{Method: "GET", MacrosToFill: true, URL: "https://conversions.example.com/v1/postback/net?token=<your postback token>" +
			"&order_id={order_id}&click_id={click_id}&course_id={course_id}&status={status}&sale_amount={sale_amount}&commission={commission}" +
			"&currency={currency}&occurred_at={occurred_at}&event_id={event_id}&reason_code={reason_code}"}},
		{"cj", "", PostbackURL{Method: "POST", ContentType: "application/json", ClickIDParameter: "sid",
			URL: "https://conversions.example.com/v1/postback/net?token=<your postback token>"}},
		{"partnerstack", "", PostbackURL{Method: "POST", ContentType: "application/json",
			URL: "https://conversions.example.com/v1/postback/net?token=<your postback token>"}},
	}
	for _, tt := range tests {
		m, err := Mapping{Preset: tt.preset}.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		got := m.PostbackURL(base, "net", tt.token)
		if got.URL != tt.want.URL || got.Method != tt.want.Method || got.ContentType != tt.want.ContentType ||
			got.TokenIncluded != tt.want.TokenIncluded || got.ClickIDParameter != tt.want.ClickIDParameter || got.MacrosToFill != tt.want.MacrosToFill {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.preset, got, tt.want)
		}
		if got.Method == "GET" && len(got.Parameters) == 0 {
			t.Errorf("%s: no parameters", tt.preset)
		}
	}
}

// TestPostbackURLExpandsToAConversion: the URL, its macros replaced with
// a network's documented example values the way the network does
// (escaped), decodes through the same mapping to the documented
// conversion.
func TestPostbackURLExpandsToAConversion(t *testing.T) {
	m, err := Mapping{Preset: "awin"}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	u := m.PostbackURL("http://127.0.0.1:8081", "awin", "secret-token-0123")
	expanded := u.URL
	for _, p := range u.Parameters {
		name := strings.Trim(p.Macro, "!")
		expanded = strings.Replace(expanded, p.Macro, url.QueryEscape(awinValues[name]), 1)
	}
	parsed, err := url.Parse(expanded)
	if err != nil {
		t.Fatal(err)
	}
	q := parsed.Query()
	if q.Get("token") != "secret-token-0123" {
		t.Fatalf("token %q in %s", q.Get("token"), expanded)
	}
	q.Del("token")
	c, err := m.FromParams(q, usd, now)
	if err != nil || c.OrderID != "105956531" || c.Commission.String() != "1.64" || c.ClickID != "LINKCMP2013-06" || c.Status != "pending" {
		t.Fatalf("%s: %+v, %v", expanded, c, err)
	}
}
