package reporting

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/pkg/money"
)

func TestRemittanceOrders(t *testing.T) {
	total := money.Amount{Minor: 1000, Currency: "USD"}
	for name, c := range map[string]struct {
		orders []RemittanceOrder
		want   int // orders kept; -1: an error
	}{
		"none":               {nil, 0},
		"two":                {[]RemittanceOrder{{"A", "4.00"}, {"B", "6.00"}}, 2},
		"beyond the total":   {[]RemittanceOrder{{"A", "4.00"}, {"B", "6.01"}}, -1},
		"twice":              {[]RemittanceOrder{{"A", "1.00"}, {"A", "1.00"}}, -1},
		"zero":               {[]RemittanceOrder{{"A", "0.00"}}, -1},
		"three decimals":     {[]RemittanceOrder{{"A", "1.001"}}, -1},
		"no id":              {[]RemittanceOrder{{"", "1.00"}}, -1},
		"an id of 129 bytes": {[]RemittanceOrder{{string(make([]byte, 129)), "1.00"}}, -1},
	} {
		var f errs.Fields
		got := remittanceOrders(RemittanceRequest{Orders: c.orders}, total, &f)
		if (c.want < 0) != (len(f) > 0) || (c.want >= 0 && len(got) != c.want) {
			t.Errorf("%s: %d orders, problems %v", name, len(got), f)
		}
	}
}

// FuzzRemittanceOrders: whatever a client sends as "orders", the check
// answers problems or orders that add up to at most the remittance,
// each named once with a positive amount; never a panic.
func FuzzRemittanceOrders(f *testing.F) {
	f.Add(`[{"order_id":"A","amount":"4.00"},{"order_id":"B","amount":"6.00"}]`, "10.00")
	f.Add(`[{"order_id":"A","amount":"-1"}]`, "1")
	f.Add(`[{"order_id":"A","amount":"9223372036854775807"},{"order_id":"B","amount":"9223372036854775807"}]`, "9223372036854775807")
	f.Fuzz(func(t *testing.T, orders, amount string) {
		var req RemittanceRequest
		if httpx.UnmarshalStrict([]byte(`{"orders":`+orders+`}`), &req) != nil {
			return
		}
		total, err := money.Parse(amount, "USD")
		if err != nil || total.Minor <= 0 {
			return
		}
		var problems errs.Fields
		got := remittanceOrders(req, total, &problems)
		if len(problems) > 0 {
			if problems.Err("x") == nil {
				t.Fatal("problems without an error")
			}
			return
		}
		var sum int64
		seen := map[string]bool{}
		for _, o := range got {
			if o.Amount <= 0 || seen[o.OrderID] || o.OrderID == "" {
				t.Fatalf("order %+v kept", o)
			}
			seen[o.OrderID] = true
			sum += o.Amount
			if sum > total.Minor || sum < 0 {
				b, _ := json.Marshal(got)
				t.Fatalf("orders %s add up to more than %d", b, total.Minor)
			}
		}
	})
}

// TestAddRemittanceNamesEveryFieldAtOnce: a remittance refused for several
// fields names each of them, a missing amount beside a missing currency
// too (it was named only once the currency was right), and touches no
// store.
func TestAddRemittanceNamesEveryFieldAtOnce(t *testing.T) {
	s := New(nil, clock.Fixed(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)))
	for name, c := range map[string]struct {
		req  RemittanceRequest
		want []string
	}{
		"only a partner":       {RemittanceRequest{Partner: "coursera"}, []string{"currency", "amount", "reference"}},
		"a bad currency":       {RemittanceRequest{Partner: "coursera", Currency: "usd", Amount: "1.00", Reference: "w1"}, []string{"currency"}},
		"no amount":            {RemittanceRequest{Partner: "coursera", Currency: "USD", Reference: "w1"}, []string{"amount"}},
		"too many decimals":    {RemittanceRequest{Partner: "coursera", Currency: "JPY", Amount: "1.5", Reference: "w1"}, []string{"amount"}},
		"a bad received_at":    {RemittanceRequest{Partner: "coursera", Currency: "USD", Amount: "1.00", Reference: "w1", ReceivedAt: "yesterday"}, []string{"received_at"}},
		"nothing but received": {RemittanceRequest{ReceivedAt: "2026-11-20T10:00:00Z"}, []string{"partner", "currency", "amount", "reference"}},
	} {
		_, _, err := s.AddRemittance(t.Context(), c.req)
		var got []string
		for _, fe := range errs.FieldsOf(err) {
			got = append(got, fe.Field)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: fields %v (%v), want %v", name, got, err, c.want)
		}
	}
}
