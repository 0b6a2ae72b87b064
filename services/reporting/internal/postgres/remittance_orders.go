package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
)

// Errors of a remittance that names orders.
var (
	ErrUnknownOrder     = errs.New(errs.Unprocessable, "unknown_order", "the remittance names an order the ledger does not have")
	ErrBeyondCommission = errs.New(errs.Unprocessable, "amount_beyond_commission",
		"the remittance pays an order more than its approved commission")
)

// insertRemittanceOrders stores the orders r names (r.ID set).
func insertRemittanceOrders(ctx context.Context, tx *sql.Tx, r payout.Remittance) error {
	if len(r.Orders) == 0 {
		return nil
	}
	order, amount := make([]string, len(r.Orders)), make([]int64, len(r.Orders))
	for i, o := range r.Orders {
		order[i], amount[i] = o.OrderID, o.Amount
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO remittance_orders (remittance_id, partner, currency, order_id, amount_minor)
		SELECT $1, $2, $3, o, a FROM unnest($4::text[], $5::bigint[]) AS u(o, a)`,
		r.ID, r.Partner, r.Currency, pq.Array(order), pq.Array(amount)); err != nil {
		return fmt.Errorf("remittance orders: %w", err)
	}
	return nil
}

// sameRemittanceOrders reports whether remittance id named exactly orders.
func sameRemittanceOrders(ctx context.Context, tx *sql.Tx, id int64, orders []payout.OrderPayment) (bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT order_id, amount_minor FROM remittance_orders WHERE remittance_id = $1
		ORDER BY order_id`, id)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	var prev []payout.OrderPayment
	for rows.Next() {
		var o payout.OrderPayment
		if err := rows.Scan(&o.OrderID, &o.Amount); err != nil {
			return false, err
		}
		prev = append(prev, o)
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	sorted := slices.Clone(orders)
	slices.SortFunc(sorted, func(a, b payout.OrderPayment) int { return strings.Compare(a.OrderID, b.OrderID) })
	return slices.Equal(prev, sorted), nil
}

// checkRemittanceOrders checks, after r is stored, that each order it
// names is a conversion of its partner with approved commission in its
// currency of at least what r and the remittances before it name for
// the order. Every problem is named in one 422: unknown_order when any
// order is unknown, else amount_beyond_commission.
func checkRemittanceOrders(ctx context.Context, tx *sql.Tx, r payout.Remittance) error {
	order, amount := make([]string, len(r.Orders)), make([]int64, len(r.Orders))
	for i, o := range r.Orders {
		order[i], amount[i] = o.OrderID, o.Amount
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT u.n, u.o, u.a, c.status IS NOT NULL, coalesce(c.status, ''), coalesce(c.currency, ''),
			coalesce(c.commission_minor, 0),
			coalesce((SELECT sum(amount_minor) FROM remittance_orders p WHERE p.partner = $1 AND p.currency = $2
				AND p.order_id = u.o AND p.remittance_id <> $3), 0)
		FROM unnest($4::text[], $5::bigint[]) WITH ORDINALITY AS u(o, a, n)
		LEFT JOIN conversions c ON c.partner = $1 AND c.order_id = u.o
		ORDER BY u.n`, r.Partner, r.Currency, r.ID, pq.Array(order), pq.Array(amount))
	if err != nil {
		return fmt.Errorf("check remittance orders: %w", err)
	}
	defer rows.Close()
	var f errs.Fields
	unknown := false
	for rows.Next() {
		var n int
		var id, status, currency string
		var amt, commission, before int64
		var exists bool
		if err := rows.Scan(&n, &id, &amt, &exists, &status, &currency, &commission, &before); err != nil {
			return err
		}
		if len(f) >= 100 {
			continue // enough to fix the request
		}
		field := fmt.Sprintf("orders[%d]", n-1)
		cur := formatMinor(commission, r.Currency)
		switch {
		case !exists:
			unknown = true
			f.Add(field+".order_id", "the ledger has no conversion of %s with order id %q", r.Partner, id)
		case currency != r.Currency:
			f.Add(field+".order_id", "order %q is in %s, the remittance in %s", id, currency, r.Currency)
		case status != "approved":
			f.Add(field+".amount", "order %q is %s: it has no approved commission to pay", id, status)
		case before > 0 && amt > commission-before:
			f.Add(field+".amount", "%s is more than order %q's approved commission (%s) less what earlier remittances paid it (%s)",
				formatMinor(amt, r.Currency), id, cur, formatMinor(before, r.Currency))
		case amt > commission:
			f.Add(field+".amount", "%s is more than order %q's approved commission (%s)", formatMinor(amt, r.Currency), id, cur)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(f) == 0 {
		return nil
	}
	kind := ErrBeyondCommission
	if unknown {
		kind = ErrUnknownOrder
	}
	e := f.Err(kind.Code).(*errs.Error)
	e.Err = kind // errors.Is(err, ErrUnknownOrder)
	return e
}

// formatMinor is minor units of currency as a decimal string.
func formatMinor(m int64, currency string) string {
	c, _ := money.LookupCurrency(currency) // a stored remittance's currency is known
	return money.FormatMinor(m, c.Exponent)
}
