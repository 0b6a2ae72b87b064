// Package payout is the vocabulary of money between partners and the
// catalog: remittances, statements, reconciliation lines, settlement
// reports (read from CSV, checked line by line) and their differences
// from the ledger. It computes nothing against the ledger; the store does.
package payout

import (
	"strconv"
	"strings"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/csvtable"
)

// Line is one settlement line with its commission in minor units: the
// (order, status, commission, currency, date) a dry run compares with the
// ledger and an apply will turn into ledger events.
type Line struct {
	Line       int // 1-based, the header being line 1
	OrderID    string
	Commission int64
	Currency   string
	Status     string    // pending, approved or reversed
	Date       time.Time // when the export dates the line (UTC); zero when it has none
}

// statuses maps partners' words to the ledger's. Paid and locked are
// approved commission from the ledger's point of view.
var statuses = map[string]string{
	"pending": "pending", "open": "pending", "extended": "pending", "new": "pending",
	"approved": "approved", "paid": "approved", "locked": "approved", "confirmed": "approved", "accepted": "approved",
	"reversed": "reversed", "declined": "reversed", "rejected": "reversed", "cancelled": "reversed", "canceled": "reversed", "void": "reversed",
}

// MaxLines bounds one report.
const MaxLines = 200000

// ParseSettlement reads a settlement CSV: a header naming order_id,
// commission and status (any order, any case, extra columns ignored) and
// optionally currency, which defaults to currency. Every bad line is
// reported, with its number, in one 422.
func ParseSettlement(b []byte, currency string) ([]Line, error) {
	t, err := csvtable.New(b, "the settlement", "order_id", "commission", "status")
	if err != nil {
		return nil, err
	}
	hasCurrency := t.Has("currency")
	if !hasCurrency && !money.IsCurrency(currency) {
		return nil, errs.New(errs.Unprocessable, "currency_required", "the settlement has no currency column: pass ?currency=")
	}
	var lines []Line
	var f errs.Fields
	for {
		more, err := t.Next()
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		if len(lines) >= MaxLines {
			return nil, errs.Newf(errs.TooLarge, "too_many_lines", "a settlement has at most %d lines", MaxLines)
		}
		n, get := t.Line(), t.Get
		l := Line{Line: n, OrderID: get("order_id"), Currency: currency}
		if hasCurrency {
			l.Currency = strings.ToUpper(get("currency"))
		}
		field := func(name string) string { return "line " + itoa(n) + " " + name }
		if l.OrderID == "" || len(l.OrderID) > 200 {
			f.Add(field("order_id"), "is required (at most 200 characters)")
		}
		if st, ok := statuses[strings.ToLower(get("status"))]; ok {
			l.Status = st
		} else {
			f.Add(field("status"), "%q is not a status we know (pending, approved, paid, reversed, declined, ...)", get("status"))
		}
		if !money.IsCurrency(l.Currency) {
			f.Add(field("currency"), "%q is not an ISO 4217 currency code", l.Currency)
		} else if a, err := money.Parse(get("commission"), l.Currency); err != nil || a.Minor < 0 {
			f.Add(field("commission"), "%q is not a non-negative amount of %s", get("commission"), l.Currency)
		} else {
			l.Commission = a.Minor
		}
		if len(f) > 100 {
			break // enough to fix the file
		}
		lines = append(lines, l)
	}
	if err := f.Err("invalid_settlement"); err != nil {
		return nil, err
	}
	if len(lines) == 0 {
		return nil, errs.New(errs.Unprocessable, "empty_settlement", "the settlement has no lines")
	}
	return lines, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
