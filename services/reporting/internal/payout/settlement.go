// Package payout reads what partners send about money: their settlement
// reports, as CSV, checked line by line. It does not compare them with
// the ledger; the store does.
package payout

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/money"
)

// Line is one settlement line with its commission in minor units.
type Line struct {
	Line       int // 1-based, the header being line 1
	OrderID    string
	Commission int64
	Currency   string
	Status     string // pending, approved or reversed
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
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil, errs.New(errs.Invalid, "malformed_csv", "the settlement has no header row (order_id,commission,status[,currency])")
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, need := range []string{"order_id", "commission", "status"} {
		if _, ok := col[need]; !ok {
			return nil, errs.Newf(errs.Invalid, "malformed_csv", "the settlement header has no %q column", need)
		}
	}
	_, hasCurrency := col["currency"]
	if !hasCurrency && !money.IsCurrency(currency) {
		return nil, errs.New(errs.Unprocessable, "currency_required", "the settlement has no currency column: pass ?currency=")
	}
	var lines []Line
	var f errs.Fields
	for n := 2; ; n++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, errs.Newf(errs.Invalid, "malformed_csv", "settlement line %d: %v", n, err)
		}
		if len(lines) >= MaxLines {
			return nil, errs.Newf(errs.TooLarge, "too_many_lines", "a settlement has at most %d lines", MaxLines)
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
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
