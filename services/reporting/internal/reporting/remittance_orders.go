package reporting

import (
	"strconv"

	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
)

// remittanceOrders checks the orders a remittance names, as far as the
// request alone can tell (each order once, a positive amount of the
// remittance's currency, together at most the remittance), adding each
// problem to f. Whether each order exists and has that much approved
// commission is the store's check (payout.ErrUnknownOrders and kin).
func remittanceOrders(req RemittanceRequest, amount money.Amount, f interface {
	Add(field, format string, args ...any)
}) []payout.OrderPayment {
	if len(req.Orders) == 0 {
		return nil
	}
	if len(req.Orders) > payout.MaxRemittanceOrders {
		f.Add("orders", "names at most %d orders", payout.MaxRemittanceOrders)
		return nil
	}
	out := make([]payout.OrderPayment, 0, len(req.Orders))
	seen := make(map[string]bool, len(req.Orders))
	var total int64
	bad := 0
	for i, o := range req.Orders {
		if bad >= 100 {
			break // enough to fix the request
		}
		field := "orders[" + strconv.Itoa(i) + "]"
		switch {
		case o.OrderID == "" || len(o.OrderID) > 128:
			f.Add(field+".order_id", "is required (at most 128 bytes)")
			bad++
			continue
		case seen[o.OrderID]:
			f.Add(field+".order_id", "%q is named twice", o.OrderID)
			bad++
			continue
		}
		seen[o.OrderID] = true
		if amount.Currency == "" {
			continue // the currency or amount is wrong already
		}
		a, err := money.Parse(o.Amount, amount.Currency)
		if err != nil || a.Minor <= 0 {
			f.Add(field+".amount", "%q is not a positive amount of %s", o.Amount, amount.Currency)
			bad++
			continue
		}
		sum, ok := money.AddMinor(total, a.Minor)
		if !ok || sum > amount.Minor {
			f.Add("orders", "the orders' amounts add up to more than the remittance (%s %s)", amount, amount.Currency)
			return nil
		}
		total = sum
		out = append(out, payout.OrderPayment{OrderID: o.OrderID, Amount: a.Minor})
	}
	return out
}
