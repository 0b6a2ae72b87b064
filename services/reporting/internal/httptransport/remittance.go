package httptransport

import (
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
)

// remittanceOrdersJSON lists the orders a remittance names, amounts as
// decimal strings.
func remittanceOrdersJSON(r payout.Remittance) []map[string]string {
	cur, _ := money.LookupCurrency(r.Currency) // a stored remittance's currency is known
	out := make([]map[string]string, 0, len(r.Orders))
	for _, o := range r.Orders {
		out = append(out, map[string]string{"order_id": o.OrderID, "amount": money.FormatMinor(o.Amount, cur.Exponent)})
	}
	return out
}
