package adapter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/pkg/rfc3339"
)

// amount reads the field's raw amount the way the mapping says the
// network writes it (minor units, more places than the currency, a
// reversal's sign) and checks it; negative reports a sign the mapping
// takes for a reversal.
func (m Mapping) amount(f, large *errs.Fields, field, raw, currency string, p Partner) (a money.Amount, negative bool) {
	name := m.name(field)
	if m.NegativeReverses && strings.HasPrefix(raw, "-") {
		raw, negative = raw[1:], true
	}
	switch {
	case m.MinorUnits:
		cur, _ := money.LookupCurrency(currency)
		minor, err := strconv.ParseInt(raw, 10, 64)
		switch {
		case err != nil && errors.Is(err, strconv.ErrRange):
			large.Add(name, "%s is beyond any amount", show(raw))
			return money.Amount{}, negative
		case err != nil || strings.HasPrefix(raw, "+"):
			f.Add(name, "%s is not a whole number of %s minor units such as \"4900\"", show(raw), currency)
			return money.Amount{}, negative
		}
		raw = money.FormatMinor(minor, cur.Exponent)
	case m.RoundAmounts:
		cur, _ := money.LookupCurrency(currency)
		raw = roundHalfEven(raw, cur.Exponent)
	}
	return amount(f, large, name, raw, currency, p), negative
}

// roundHalfEven rounds a decimal string such as "7.785" to places
// decimals, half to even ("7.78"); anything else is returned as it is, for
// the parser to refuse.
func roundHalfEven(s string, places int) string {
	digits, neg := s, false
	if strings.HasPrefix(digits, "-") {
		digits, neg = digits[1:], true
	}
	whole, frac, dot := strings.Cut(digits, ".")
	if whole == "" || !allDigits(whole) || dot && (frac == "" || !allDigits(frac)) || len(frac) <= places {
		return s
	}
	kept, dropped := []byte(whole+frac[:places]), frac[places:]
	up := dropped[0] > '5' || dropped[0] == '5' && (strings.Trim(dropped[1:], "0") != "" || (kept[len(kept)-1]-'0')%2 == 1)
	if up {
		i := len(kept) - 1
		for ; i >= 0 && kept[i] == '9'; i-- {
			kept[i] = '0'
		}
		if i < 0 {
			kept = append([]byte{'1'}, kept...)
		} else {
			kept[i]++
		}
	}
	out := string(kept)
	if places > 0 {
		out = out[:len(out)-places] + "." + out[len(out)-places:]
	}
	if neg {
		out = "-" + out
	}
	return out
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// amount parses an exact, non-negative amount within p's ceiling: a bad
// one goes to f, one too large (beyond the ceiling or any int64) to large.
func amount(f, large *errs.Fields, field, raw, currency string, p Partner) money.Amount {
	a, err := parseAmount(raw, currency)
	switch {
	case errors.Is(err, money.ErrOverflow):
		large.Add(field, "%s is above %s", show(raw), p.describeCeiling(currency))
		return money.Amount{}
	case err != nil:
		f.Add(field, "%s", amountProblem(raw, currency, err))
		return money.Amount{}
	case a.IsNegative():
		f.Add(field, "must not be negative")
	}
	// In absolute value: a negative amount is refused above, but if it
	// ever were not, it would be bounded the same way.
	if limit := p.ceiling(currency); a.Minor > limit || a.Minor < -limit {
		large.Add(field, "%s is above %s", show(raw), p.describeCeiling(currency))
	}
	return a
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04:05.000Z07:00"}

// parseTime reads RFC 3339 (and, from networks, a naive UTC date-time,
// JavaScript's date string (parseJSDate), or unix seconds or
// milliseconds). An impossible date such as 2026-02-30
// fails. Every time is cut to the microsecond: reporting keeps occurred_at
// in PostgreSQL's microseconds, and the event must say the very instant
// reporting stores, or events less than 1 µs apart would order one way as
// decoded and another read back (there they tie, in acceptance order).
func parseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := rfc3339.ParseLayout(layout, s); err == nil {
			return t.Truncate(time.Microsecond), nil
		}
	}
	if t, ok := parseJSDate(s); ok {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && allDigits(s) {
		switch {
		case n < 1<<36:
			return time.Unix(n, 0), nil
		case n < 1<<46: // milliseconds (PartnerStack's created_at) until the year 4199
			return time.UnixMilli(n), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time")
}

// jsDateLayout is JavaScript's Date.prototype.toString without the zone's
// name in parentheses that follows it.
const jsDateLayout = "Mon Jan 02 2006 15:04:05 GMT-0700"

// parseJSDate reads a time as JavaScript prints a date, which is how
// Rakuten Advertising sends transaction_date ("Format used is EEE MMM DD
// YYYY HH:mm:ss ZZZZ", e.g. "Wed Apr 15 2020 21:20:27 GMT+0000 (UTC)":
// the Events API's response, whose fields the Postback API pushes). The
// zone's name in parentheses is ignored (the offset says the instant),
// and a space where the offset's sign belongs is a '+' that a query
// string did not percent-encode. The offset must be within ±23:59.
func parseJSDate(s string) (time.Time, bool) {
	if open := strings.LastIndex(s, " ("); open >= 0 && strings.HasSuffix(s, ")") {
		s = s[:open]
	}
	const tail = len("GMT+0000")
	if len(s) < tail || !strings.HasPrefix(s[len(s)-tail:], "GMT") {
		return time.Time{}, false
	}
	off := []byte(s[len(s)-5:])
	if off[0] == ' ' {
		off[0] = '+'
	}
	if (off[0] != '+' && off[0] != '-') || !allDigits(string(off[1:])) {
		return time.Time{}, false
	}
	if hh, mm := (off[1]-'0')*10+off[2]-'0', (off[3]-'0')*10+off[4]-'0'; hh > 23 || mm > 59 {
		return time.Time{}, false
	}
	t, err := time.Parse(jsDateLayout, s[:len(s)-5]+string(off))
	if err != nil {
		return time.Time{}, false
	}
	return t.Truncate(time.Microsecond), true
}
