package settlementfile

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/pkg/rfc3339"
	"github.com/linkcredit/linkcredit/services/reporting/internal/csvtable"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
)

// MaxLines bounds one file.
const MaxLines = payout.MaxLines

// maxErrors is how many bad lines one answer lists: enough to fix a file.
const maxErrors = 100

// Parse reads body, a CSV export in format f, into settlement lines.
// currency is the currency of lines when the export has no currency
// column. Every bad line is named, with its number, in one 422; a file
// that is not CSV or lacks a required column is a 400.
func Parse(f Format, body []byte, currency string) ([]payout.Line, error) {
	t, err := csvtable.New(body, "the "+f.Name+" file")
	if err != nil {
		return nil, err
	}
	pick := func(names []string) string {
		for _, n := range names {
			if t.Has(n) {
				return n
			}
		}
		return ""
	}
	orderCol, statusCol, commissionCol, currencyCol, dateCol := pick(f.OrderID), pick(f.Status), pick(f.Commission), pick(f.Currency), pick(f.Date)
	var missing []string
	if orderCol == "" {
		missing = append(missing, "order id ("+strings.Join(f.OrderID, " or ")+")")
	}
	if commissionCol == "" {
		missing = append(missing, "commission ("+strings.Join(f.Commission, " or ")+")")
	}
	if statusCol == "" && f.DefaultStatus == "" {
		missing = append(missing, "status ("+strings.Join(f.Status, " or ")+")")
	}
	if len(missing) > 0 {
		return nil, errs.Newf(errs.Invalid, "malformed_csv", "the header of the %s file has no column for %s", f.Name, strings.Join(missing, ", "))
	}
	currency = strings.ToUpper(strings.TrimSpace(currency))
	if currencyCol == "" && !money.IsCurrency(currency) {
		return nil, errs.New(errs.Unprocessable, "currency_required", "the file has no currency column: pass ?currency=")
	}
	var lines []payout.Line
	var bad errs.Fields
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
		n := t.Line()
		field := func(name string) string { return fmt.Sprintf("line %d %s", n, name) }
		l := payout.Line{Line: n, OrderID: t.Get(orderCol), Currency: currency}
		if blank(t, orderCol, commissionCol, statusCol) {
			continue // exports end with empty or total-only rows
		}
		if l.OrderID == "" || len(l.OrderID) > 200 {
			bad.Add(field(orderCol), "is required (at most 200 characters)")
		}
		if currencyCol != "" && t.Get(currencyCol) != "" {
			l.Currency = strings.ToUpper(t.Get(currencyCol))
		}
		raw := strings.ToLower(t.Get(statusCol))
		if statusCol == "" || (raw == "" && f.DefaultStatus != "") {
			l.Status = f.DefaultStatus
		} else if st, ok := f.Statuses[raw]; ok {
			l.Status = st
		} else {
			bad.Add(field(statusCol), "%s is not a status of this export (%s)", quote(raw), words(f.Statuses))
		}
		if !money.IsCurrency(l.Currency) {
			bad.Add(field("currency"), "%s is not an ISO 4217 currency code", quote(l.Currency))
		} else if minor, err := ParseAmount(t.Get(commissionCol), l.Currency); err != nil || (minor < 0 && !f.SumByOrder) {
			bad.Add(field(commissionCol), "%s is not a non-negative amount of %s", quote(t.Get(commissionCol)), l.Currency)
		} else {
			l.Commission = minor
		}
		if dateCol != "" && t.Get(dateCol) != "" {
			d, err := ParseDate(t.Get(dateCol), f.DateLayouts)
			if err != nil {
				bad.Add(field(dateCol), "%s is not a date this export writes", quote(t.Get(dateCol)))
			}
			l.Date = d
		}
		if len(bad) > maxErrors {
			break
		}
		lines = append(lines, l)
	}
	if err := bad.Err("invalid_settlement"); err != nil {
		return nil, err
	}
	if f.SumByOrder {
		var err error
		if lines, err = sumByOrder(lines); err != nil {
			return nil, err
		}
	}
	if len(lines) == 0 {
		return nil, errs.New(errs.Unprocessable, "empty_settlement", "the settlement has no lines")
	}
	return lines, nil
}

func blank(t *csvtable.Reader, cols ...string) bool {
	for _, c := range cols {
		if c != "" && t.Get(c) != "" {
			return false
		}
	}
	return true
}

// sumByOrder folds the lines of each order (a commission and its
// corrections) into the first one: commissions added, the status and date
// of the latest; corrected down to zero, the order is reversed. The total
// must not be negative.
func sumByOrder(lines []payout.Line) ([]payout.Line, error) {
	at := map[string]int{}
	var out []payout.Line
	corrected := map[int]bool{}
	var bad errs.Fields
	for _, l := range lines {
		i, seen := at[l.OrderID+"\x00"+l.Currency]
		if !seen {
			at[l.OrderID+"\x00"+l.Currency] = len(out)
			out = append(out, l)
			continue
		}
		corrected[i] = corrected[i] || l.Commission < 0
		o := &out[i]
		sum, ok := money.AddMinor(o.Commission, l.Commission)
		if !ok {
			bad.Add(fmt.Sprintf("line %d", l.Line), "the commissions of order %s overflow", l.OrderID)
			continue
		}
		o.Commission = sum
		if !l.Date.Before(o.Date) {
			o.Status, o.Date = l.Status, l.Date
		}
	}
	for i := range out {
		o := &out[i]
		if o.Commission == 0 && corrected[i] {
			o.Status = "reversed" // corrected down to nothing: CJ's reversal
		}
		if o.Commission < 0 {
			bad.Add(fmt.Sprintf("line %d", o.Line), "the commissions of order %s add up to less than zero", o.OrderID)
		}
	}
	if err := bad.Err("invalid_settlement"); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseAmount reads an amount as exports write it: "1,234.56",
// "1.234,56", "$12.30", "12.30 USD", "(1.50)" or "-1.50", with more
// decimals than the currency has rounded half away from zero ("7.781"
// USD is 7.78). It returns minor units of currency.
func ParseAmount(raw, currency string) (int64, error) {
	s := strings.TrimSpace(raw)
	neg := false
	if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		neg, s = true, s[1:len(s)-1]
	}
	s = strings.TrimSpace(strings.TrimFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsSymbol(r) || unicode.IsSpace(r) }))
	if strings.HasPrefix(s, "-") {
		if neg {
			return 0, money.ErrSyntax
		}
		neg, s = true, strings.TrimSpace(s[1:])
	}
	s = strings.TrimFunc(s, func(r rune) bool { return unicode.IsSymbol(r) || unicode.IsSpace(r) })
	s = strings.ReplaceAll(s, "\u00a0", "")
	s = strings.ReplaceAll(s, " ", "")
	if strings.ContainsAny(s, "-+") {
		return 0, money.ErrSyntax
	}
	dot, comma := strings.LastIndexByte(s, '.'), strings.LastIndexByte(s, ',')
	switch {
	case dot >= 0 && comma >= 0 && comma > dot: // 1.234,56
		s = strings.ReplaceAll(s[:comma], ".", "") + "." + s[comma+1:]
	case dot >= 0 && comma >= 0: // 1,234.56
		s = strings.ReplaceAll(s, ",", "")
	case comma >= 0 && strings.Count(s, ",") == 1 && len(s)-comma-1 != 3: // 12,5 or 12,50
		s = s[:comma] + "." + s[comma+1:]
	case comma >= 0: // 1,234 or 1,234,567
		s = strings.ReplaceAll(s, ",", "")
	}
	cur, err := money.LookupCurrency(currency)
	if err != nil {
		return 0, err
	}
	whole, frac, _ := strings.Cut(s, ".")
	roundUp := false
	if len(frac) > cur.Exponent {
		extra := frac[cur.Exponent:]
		for _, c := range extra {
			if c < '0' || c > '9' {
				return 0, money.ErrSyntax
			}
		}
		roundUp = extra[0] >= '5'
		frac = frac[:cur.Exponent]
	}
	norm := whole
	if frac != "" {
		norm += "." + frac
	}
	a, err := money.Parse(norm, cur.Code)
	if err != nil {
		return 0, err
	}
	minor := a.Minor
	if roundUp {
		if minor, err = addOne(minor); err != nil {
			return 0, err
		}
	}
	if neg {
		minor = -minor
	}
	return minor, nil
}

func addOne(m int64) (int64, error) {
	sum, ok := money.AddMinor(m, 1)
	if !ok {
		return 0, money.ErrOverflow
	}
	return sum, nil
}

// ParseDate reads a date in the first of layouts that fits; a date
// without a zone is UTC.
func ParseDate(raw string, layouts []string) (time.Time, error) {
	raw = strings.TrimSpace(raw)
	for _, l := range layouts {
		if t, err := rfc3339.ParseLayout(l, raw); err == nil { // never +24:00 and the like
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date in any of %d layouts", raw, len(layouts))
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%q", strings.ToValidUTF8(s, "?"))
}

func words(m map[string]string) string {
	w := slices.Sorted(maps.Keys(m))
	if len(w) > 12 {
		w = append(w[:12], "…")
	}
	return strings.Join(w, ", ")
}
