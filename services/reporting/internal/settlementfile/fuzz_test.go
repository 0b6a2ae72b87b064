package settlementfile

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// recordNumberIsLine: see the csvtable package's constant of that name (a
// reported defect). A line's number is compared with the line of the file
// its record starts on only where the two agree while this is true.
const recordNumberIsLine = false

// FuzzParse: no file, in any format, panics; a refusal is one of the
// documented ones (400 malformed_csv or unknown format, 413
// too_many_lines, 422 currency_required, invalid_settlement or
// empty_settlement); and every line accepted reproduces its record, read
// again with encoding/csv: the order id, the status word mapped by the
// format (or its default), the currency (the line's, upper-cased, or the
// one given), the commission as ParseAmount reads the cell (not negative),
// the date as ParseDate reads it, and the line the record starts on. CJ's
// lines are the sums of each order's records. A file whose every line is
// accepted keeps every record that is not blank.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"impact_paystub_actions.csv", "awin_transactions.csv", "cj_commission_detail.csv", "generic.csv"} {
		b, _ := os.ReadFile(filepath.Join("testdata", name))
		for _, format := range []string{"impact", "awin", "cj", "generic", ""} {
			f.Add(format, string(b))
		}
	}
	f.Add("cj", "orderId,actionStatus,pubCommissionAmountPubCurrency,pubCurrency\nA,new,-9223372036854775808,USD\nA,new,-1,USD\n")
	f.Add("awin", "id,commission,commission_status,currency\n1,(1.00),0,usd\n")
	f.Add("", "order_id,commission,status,currency,date\nA-1,\"1,234.56\",Paid,eur,2026-11-20\n\n,,,\nA-2,7.785,open,,2026-11-20T10:00:00+05:45\n")
	f.Add("generic", "Reference,Payout,State\n\"R\n1\",\"12,5\",ok\n")
	q := url.Values{"order_id_column": {"reference"}, "commission_column": {"payout"}, "status_column": {"state"}, "date_format": {"eu"},
		"status_map": {"ok:approved"}}
	f.Fuzz(func(t *testing.T, format, body string) {
		fm, err := Lookup(format, q)
		if err != nil {
			return
		}
		lines, err := Parse(fm, []byte(body), "USD")
		if err != nil {
			code, _ := errs.Public(err)
			ok := map[int][]string{400: {"malformed_csv"}, 413: {"too_many_lines"}, 422: {"currency_required", "invalid_settlement", "empty_settlement"}}
			if !slices.Contains(ok[errs.HTTPStatus(err)], code) {
				t.Fatalf("%v is a %d %s", err, errs.HTTPStatus(err), code)
			}
			return
		}
		// The records, read again.
		ref := csv.NewReader(bytes.NewReader(bytes.TrimPrefix([]byte(body), []byte("\ufeff"))))
		ref.FieldsPerRecord = -1
		ref.TrimLeadingSpace = true
		header, err := ref.Read()
		if err != nil {
			t.Fatalf("accepted a file without a header: %v", err)
		}
		cols := map[string]int{}
		for i, h := range header {
			cols[strings.ToLower(strings.TrimSpace(h))] = i
		}
		pick := func(names []string) int {
			for _, n := range names {
				if i, ok := cols[n]; ok {
					return i
				}
			}
			return -1
		}
		orderCol, statusCol, commissionCol, currencyCol, dateCol := pick(fm.OrderID), pick(fm.Status), pick(fm.Commission), pick(fm.Currency), pick(fm.Date)
		type want struct {
			line       int
			order      string
			status     string
			currency   string
			commission *big.Int
		}
		var wants []want
		at := map[string]int{}
		for n := 2; ; n++ {
			rec, err := ref.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("accepted a file encoding/csv cannot read: %v", err)
			}
			cell := func(i int) string {
				if i < 0 || i >= len(rec) {
					return ""
				}
				return strings.TrimSpace(rec[i])
			}
			if cell(orderCol) == "" && cell(commissionCol) == "" && cell(statusCol) == "" {
				continue // blank or totals-only
			}
			line, _ := ref.FieldPos(0)
			if recordNumberIsLine && line != n {
				line = n // the reported defect
			}
			w := want{line: line, order: cell(orderCol), currency: "USD", status: fm.DefaultStatus}
			if c := cell(currencyCol); c != "" {
				w.currency = strings.ToUpper(c)
			}
			if raw := strings.ToLower(cell(statusCol)); statusCol >= 0 && raw != "" {
				w.status = fm.Statuses[raw]
			}
			m, err := ParseAmount(cell(commissionCol), w.currency)
			if err != nil {
				t.Fatalf("line %d: accepted a commission %q ParseAmount refuses: %v", line, cell(commissionCol), err)
			}
			w.commission = big.NewInt(m)
			if dateCol >= 0 && cell(dateCol) != "" {
				if _, err := ParseDate(cell(dateCol), fm.DateLayouts); err != nil {
					t.Fatalf("line %d: accepted a date %q ParseDate refuses", line, cell(dateCol))
				}
			}
			if fm.SumByOrder {
				k := w.order + "\x00" + w.currency
				if i, ok := at[k]; ok {
					wants[i].commission.Add(wants[i].commission, w.commission)
					continue
				}
				at[k] = len(wants)
			}
			wants = append(wants, w)
		}
		if len(wants) != len(lines) {
			t.Fatalf("%d lines from %d records: %+v", len(lines), len(wants), lines)
		}
		for i, l := range lines {
			w := wants[i]
			if l.Line != w.line || l.OrderID != w.order || l.Currency != w.currency || big.NewInt(l.Commission).Cmp(w.commission) != 0 {
				t.Fatalf("line %+v, its records say line %d, order %q, %s %s", l, w.line, w.order, w.commission, w.currency)
			}
			if l.OrderID == "" || (l.Status != "pending" && l.Status != "approved" && l.Status != "reversed") || !money.IsCurrency(l.Currency) || l.Commission < 0 {
				t.Fatalf("accepted %+v", l)
			}
			if !fm.SumByOrder && l.Status != w.status {
				t.Fatalf("line %+v: status %q, the record says %q", l, l.Status, w.status)
			}
			if i > 0 && l.Line <= lines[i-1].Line {
				t.Fatalf("line %d after line %d", l.Line, lines[i-1].Line)
			}
		}
	})
}

// FuzzParseAmount: an exact amount written the ways exports write it
// (plain, "1,234.56", "1.234,56", a currency symbol or code beside it,
// "(1.50)" or "-1.50" when negative), with up to three decimals more than
// the currency has, reads as the amount rounded half away from zero to
// the currency's minor units (math/big), or ErrOverflow when its
// magnitude is beyond int64. Forms the comment leaves ambiguous ("1,234" is a
// thousand, so a decimal comma before exactly three digits is not
// written) are left out. Any other string reads or fails with a money
// error.
func FuzzParseAmount(f *testing.F) {
	f.Add(int64(123456), uint8(0), uint8(0), uint8(0), "")
	f.Add(int64(-7785), uint8(1), uint8(5), uint8(0), "$1,049.00")
	f.Add(int64(1234567890123), uint8(3), uint8(2), uint8(3), "1.234,56")
	f.Add(int64(-9223372036854775808), uint8(2), uint8(4), uint8(1), "(1.50)")
	f.Fuzz(func(t *testing.T, x int64, extra, style, cur uint8, raw string) {
		if _, err := ParseAmount(raw, "USD"); err != nil && !errors.Is(err, money.ErrSyntax) && !errors.Is(err, money.ErrPrecision) && !errors.Is(err, money.ErrOverflow) {
			t.Fatalf("ParseAmount(%q): %v", raw, err)
		}
		currency := []string{"USD", "JPY", "BHD", "CLF", "EUR", "GBP"}[int(cur)%6]
		c, _ := money.LookupCurrency(currency)
		d := int(extra % 4)
		digits := c.Exponent + d
		v := new(big.Rat).SetFrac(big.NewInt(x), testkit.Pow10(digits))
		abs := new(big.Rat).Abs(v).FloatString(digits)
		whole, frac, _ := strings.Cut(abs, ".")
		var s string
		switch style % 6 {
		case 0: // plain
			s = abs
		case 1, 4: // 1,234.56, with a symbol or a code
			s = group(whole, ",")
			if frac != "" {
				s += "." + frac
			}
			s = map[uint8]string{1: "$" + s, 4: s + " " + currency}[style%6]
		case 2, 5: // 1.234,56
			if frac == "" && len(whole) > 3 || len(frac) == 3 && len(whole) <= 3 {
				return // ambiguous: a dot alone is a decimal point, a comma before three digits a thousand
			}
			s = group(whole, ".")
			if frac != "" {
				s += "," + frac
			}
			if style%6 == 5 {
				s = "€ " + s
			}
		case 3: // no grouping, decimal comma
			if len(frac) == 3 || frac == "" && len(whole) > 3 {
				return
			}
			s = whole
			if frac != "" {
				s += "," + frac
			}
		}
		if x < 0 {
			if style%2 == 0 {
				s = "(" + s + ")"
			} else {
				s = "-" + s
			}
		}
		got, err := ParseAmount(s, currency)
		scaled := new(big.Rat).Mul(v, new(big.Rat).SetInt(testkit.Pow10(c.Exponent)))
		want := testkit.RoundHalfAway(scaled)
		// The magnitude is read, then negated: the range is symmetric,
		// -MaxInt64 to MaxInt64 (MinInt64 is ErrOverflow, unlike
		// money.Parse's, no commission is near either).
		if !new(big.Int).Abs(want).IsInt64() {
			if !errors.Is(err, money.ErrOverflow) {
				t.Fatalf("ParseAmount(%q, %s) = %d, %v; want ErrOverflow (%s)", s, currency, got, err, want)
			}
			return
		}
		if err != nil || got != want.Int64() {
			t.Fatalf("ParseAmount(%q, %s) = %d, %v; want %s", s, currency, got, err, want)
		}
	})
}

// group writes digits with sep between groups of three.
func group(digits, sep string) string {
	var b strings.Builder
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(c)
	}
	return b.String()
}
