package reporting

import (
	"encoding/json"
	"testing"

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
