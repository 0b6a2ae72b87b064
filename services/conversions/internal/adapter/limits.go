package adapter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/money"
)

// Partner is what decoding needs from a partner's settings.
type Partner struct {
	// Currency is the partner's own: the currency of a message that names
	// none, and the one MaxAmount is in.
	Currency string
	// MaxAmount is the partner's max_amount (contract v1.1): sale_amount
	// and commission above it are refused with amount_too_large. The zero
	// value means DefaultMaxAmount.
	MaxAmount money.Amount
}

// DefaultMaxAmount is a partner's max_amount until it sets one:
// 1,000,000 of its currency ("1000000.00" USD, "1000000" JPY).
func DefaultMaxAmount(currency string) money.Amount {
	cur, err := money.LookupCurrency(currency)
	if err != nil {
		return money.Amount{}
	}
	minor := int64(1_000_000)
	for range cur.Exponent {
		minor *= 10
	}
	return money.Amount{Minor: minor, Currency: cur.Code}
}

// ParseMaxAmount reads a max_amount setting: a positive decimal string in
// the partner's currency, trailing zeros past its precision allowed
// ("1000000.00" for JPY), at most the schema's ceiling
// (events.MaxAmountMinor minor units), so whatever a partner may send
// is an event every consumer accepts.
func ParseMaxAmount(raw, currency string) (money.Amount, error) {
	a, err := parseAmount(raw, currency)
	overflow := errors.Is(err, money.ErrOverflow)
	switch {
	case err != nil && !overflow:
		return money.Amount{}, errors.New(amountProblem(raw, currency, err))
	case strings.HasPrefix(raw, "-") || !overflow && a.Minor <= 0:
		return money.Amount{}, fmt.Errorf("%s is not above zero", show(raw))
	case overflow || a.Minor > events.MaxAmountMinor:
		ceiling := money.Amount{Minor: events.MaxAmountMinor, Currency: currency}
		return money.Amount{}, fmt.Errorf("%s is above %s %s, the most any amount may be", show(raw), ceiling, currency)
	}
	return a, nil
}

// ceiling is the most, in minor units, that sale_amount or commission may
// be in currency.
//
// max_amount is in the partner's currency, and conversions knows no
// exchange rates (reporting owns them), so it holds amounts in that
// currency only. An amount in another currency is held to the schema's
// ceiling (events.MaxAmountMinor minor units) alone: holding it to the
// same number of minor units refused a 1,500,000.00 IDR sale (about 95
// USD) under a USD partner's 1,000,000.00, and a refusal is final (the
// network drops the sale), where an amount sent wrong can be corrected by
// the next event of its conversion. Either way nothing beyond
// events.MaxAmountMinor passes, so every accepted event validates and no
// sum of them can overflow.
func (p Partner) ceiling(currency string) int64 {
	if currency != p.Currency {
		return events.MaxAmountMinor
	}
	limit := p.MaxAmount.Minor
	if limit <= 0 {
		limit = DefaultMaxAmount(p.Currency).Minor
	}
	return min(limit, events.MaxAmountMinor)
}

// describeCeiling says what the ceiling is for an amount in currency.
func (p Partner) describeCeiling(currency string) string {
	here := money.Amount{Minor: p.ceiling(currency), Currency: currency}
	if currency == p.Currency {
		return fmt.Sprintf("%s %s, this partner's max_amount", here, currency)
	}
	return fmt.Sprintf("%s %s, the most any amount may be", here, currency)
}

// parseAmount parses an exact amount. Trailing zeros past the currency's
// precision are accepted ("7.3500" USD is 7.35); any other extra digit is
// refused, never rounded.
func parseAmount(raw, currency string) (money.Amount, error) {
	s := raw
	if i := strings.IndexByte(s, '.'); i >= 0 {
		cur, err := money.LookupCurrency(currency)
		if err != nil {
			return money.Amount{}, err
		}
		for len(s)-i-1 > cur.Exponent && strings.HasSuffix(s, "0") {
			s = s[:len(s)-1]
		}
		s = strings.TrimSuffix(s, ".")
	}
	return money.Parse(s, currency)
}

// amountProblem says why raw is not an amount of currency, without
// echoing more than a little of it.
func amountProblem(raw, currency string, err error) string {
	switch {
	case errors.Is(err, money.ErrUnknownCurrency):
		return fmt.Sprintf("%s is not an ISO 4217 currency", show(currency))
	case errors.Is(err, money.ErrPrecision):
		cur, _ := money.LookupCurrency(currency)
		return fmt.Sprintf("%s has more decimal places than %s has (%d)", show(raw), currency, cur.Exponent)
	case errors.Is(err, money.ErrOverflow):
		return fmt.Sprintf("%s is beyond any amount", show(raw))
	}
	return fmt.Sprintf("%s is not a decimal amount of %s such as \"49.00\"", show(raw), currency)
}

// showBytes is how much of a partner's value an error message repeats.
const showBytes = 40

// show quotes a partner's value for an error message, cut to its first
// showBytes: the answer to a hostile value stays small.
func show(s string) string {
	if len(s) <= showBytes {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:showBytes]) + fmt.Sprintf("… (%d bytes)", len(s))
}
