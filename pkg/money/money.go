package money

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Errors Parse and arithmetic return; test with errors.Is.
var (
	ErrUnknownCurrency = errors.New("unknown currency")
	ErrSyntax          = errors.New("not a decimal amount")
	ErrPrecision       = errors.New("more decimal places than the currency has")
	ErrOverflow        = errors.New("amount out of range")
	ErrCurrencyMix     = errors.New("amounts in different currencies")
)

// Amount is an exact amount of money in minor units of Currency.
type Amount struct {
	Minor    int64
	Currency string
}

var pow10 = [...]int64{1, 10, 100, 1000, 10000}

// Parse reads a decimal string such as "49.99", "-3.5" or "1200" as an amount
// of currency. It accepts an optional leading '-', digits, and at most as many
// fraction digits as the currency's exponent; nothing else (no '+', exponent,
// spaces, separators or a bare '.'). Trailing zeros beyond the exponent are
// refused too: "1.000" USD would hide a unit mistake.
func Parse(s, currency string) (Amount, error) {
	cur, err := LookupCurrency(currency)
	if err != nil {
		return Amount{}, err
	}
	minor, err := parseMinor(s, cur.Exponent)
	if err != nil {
		return Amount{}, err
	}
	return Amount{Minor: minor, Currency: cur.Code}, nil
}

func parseMinor(s string, exp int) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(body, ".")
	if intPart == "" || (hasDot && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	if len(frac) > exp {
		return 0, fmt.Errorf("%w: %q has %d, the currency %d", ErrPrecision, s, len(frac), exp)
	}
	// Leading zeros are taken ("007.10"), however many: only the digits
	// after them can overflow.
	if trimmed := strings.TrimLeft(intPart, "0"); len(trimmed) > 19 {
		return 0, fmt.Errorf("%w: %q", ErrOverflow, s)
	}
	whole, err := strconv.ParseUint(intPart, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrOverflow, s)
	}
	var fracValue uint64
	if frac != "" {
		fracValue, _ = strconv.ParseUint(frac, 10, 64) // at most 4 digits
	}
	fracValue *= uint64(pow10[exp-len(frac)])
	scale := uint64(pow10[exp])
	limit := uint64(math.MaxInt64)
	if neg {
		limit++ // -9223372036854775808 is representable
	}
	if whole > (limit-fracValue)/scale {
		return 0, fmt.Errorf("%w: %q", ErrOverflow, s)
	}
	u := whole*scale + fracValue
	if neg {
		return int64(-u), nil // two's complement wraps MinInt64 correctly
	}
	return int64(u), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats the amount as a decimal string with exactly the currency's
// number of fraction digits: "49.99", "-0.05", "1200" for JPY. The currency
// code is not included.
func (a Amount) String() string {
	exp := exponents[a.Currency] // unknown currencies format as minor units
	return FormatMinor(a.Minor, exp)
}

// FormatMinor formats minor units with exp fraction digits.
func FormatMinor(minor int64, exp int) string {
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = -u
	}
	digits := strconv.FormatUint(u, 10)
	if exp > 0 {
		if len(digits) <= exp {
			digits = strings.Repeat("0", exp-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-exp] + "." + digits[len(digits)-exp:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// Add returns a+b, or an error when the currencies differ or the sum overflows.
func (a Amount) Add(b Amount) (Amount, error) {
	if a.Currency != b.Currency {
		return Amount{}, fmt.Errorf("%w: %s and %s", ErrCurrencyMix, a.Currency, b.Currency)
	}
	sum, ok := AddMinor(a.Minor, b.Minor)
	if !ok {
		return Amount{}, ErrOverflow
	}
	return Amount{Minor: sum, Currency: a.Currency}, nil
}

// AddMinor adds two minor-unit counts, reporting false on overflow.
func AddMinor(a, b int64) (int64, bool) {
	s := a + b
	if (s > a) != (b > 0) {
		return 0, false
	}
	return s, true
}

// Neg returns -a. MinInt64 has no negation and is returned unchanged with
// an error.
func (a Amount) Neg() (Amount, error) {
	if a.Minor == math.MinInt64 {
		return a, ErrOverflow
	}
	return Amount{Minor: -a.Minor, Currency: a.Currency}, nil
}

// IsNegative reports whether a is below zero.
func (a Amount) IsNegative() bool { return a.Minor < 0 }
