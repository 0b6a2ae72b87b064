package reporting

import (
	"fmt"
	"strconv"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/settlementfile"
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

// ordersFromReport names req's orders from its payment report: each
// approved line with a commission pays its order that commission (a
// pending, reversed or zero line pays nothing). Every line must be in the
// remittance's currency. Without an amount, the remittance is the sum of
// the lines.
func ordersFromReport(req *RemittanceRequest) error {
	if len(req.Orders) > 0 {
		return errs.New(errs.Invalid, "invalid_parameter", "name the orders in a JSON body or in a payment report, not both")
	}
	cur, err := money.LookupCurrency(req.Currency)
	if err != nil {
		return errs.Newf(errs.Unprocessable, "invalid_remittance", "currency: %q is not an ISO 4217 currency code", req.Currency)
	}
	format, err := settlementfile.Lookup(req.ReportFormat, req.Mapping)
	if err != nil {
		return err
	}
	lines, err := settlementfile.Parse(format, req.Report, cur.Code)
	if err != nil {
		return err
	}
	var bad errs.Fields
	var total int64
	for _, l := range lines {
		switch {
		case l.Currency != cur.Code:
			bad.Add(fmt.Sprintf("line %d currency", l.Line), "%s, but the remittance is in %s", l.Currency, cur.Code)
		case l.Status != "approved" || l.Commission <= 0:
			continue
		default:
			sum, ok := money.AddMinor(total, l.Commission)
			if !ok {
				bad.Add(fmt.Sprintf("line %d", l.Line), "the report's commissions add up to more than an amount can be")
				continue
			}
			total = sum
			req.Orders = append(req.Orders, RemittanceOrder{OrderID: l.OrderID, Amount: money.FormatMinor(l.Commission, cur.Exponent)})
		}
		if len(bad) >= 100 {
			break
		}
	}
	if err := bad.Err("invalid_payment_report"); err != nil {
		return err
	}
	if len(req.Orders) == 0 {
		return errs.New(errs.Unprocessable, "invalid_payment_report", "the payment report pays no order: no line is approved with a commission")
	}
	if req.Amount == "" {
		req.Amount = money.FormatMinor(total, cur.Exponent)
	}
	return nil
}
