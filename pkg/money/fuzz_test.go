package money

import (
	"errors"
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"
)

// decimalRE is the grammar Parse documents: an optional '-', digits, and
// optionally a '.' followed by digits; nothing else.
var decimalRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// refParse is Parse written from its doc comment with math/big: the
// currency first, then the grammar, then the fraction digits against the
// exponent, then the exact value against int64.
func refParse(s, currency string) (int64, error) {
	cur, err := LookupCurrency(currency)
	if err != nil {
		return 0, ErrUnknownCurrency
	}
	if !decimalRE.MatchString(s) {
		return 0, ErrSyntax
	}
	if _, frac, ok := strings.Cut(s, "."); ok && len(frac) > cur.Exponent {
		return 0, ErrPrecision
	}
	v, _ := new(big.Rat).SetString(s)
	v.Mul(v, new(big.Rat).SetInt(pow10Big(cur.Exponent)))
	if !v.IsInt() {
		panic("refParse: a fraction left after scaling " + s)
	}
	if !v.Num().IsInt64() {
		return 0, ErrOverflow
	}
	return v.Num().Int64(), nil
}

func pow10Big(exp int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)
}

// refFormat is minor/10^exp written with exactly exp fraction digits by
// math/big.
func refFormat(minor int64, exp int) string {
	return new(big.Rat).SetFrac(big.NewInt(minor), pow10Big(exp)).FloatString(exp)
}

// canonicalRE is what String writes for exponent exp: no '+', no leading
// zeros, exactly exp fraction digits, and no sign on zero.
func canonicalRE(exp int) *regexp.Regexp {
	frac := ""
	if exp > 0 {
		frac = `\.[0-9]{` + string(rune('0'+exp)) + `}`
	}
	return regexp.MustCompile(`^-?(0|[1-9][0-9]*)` + frac + `$`)
}

var fuzzCurrencies = []string{"USD", "JPY", "BHD", "CLF", "EUR", "KWD", "UYW"}

// longZerosOverflow is true while Parse refuses, as ErrOverflow, an
// amount whose integer part has more than 19 digits even when leading
// zeros make it small: "00000000000000000001.00" USD is 1.00 by the
// grammar Parse documents (leading zeros are taken: "007.10"), and is
// refused as out of range (a defect found by FuzzParseFormat, reported,
// not fixed here). FuzzParseFormat lets exactly that pass while this is
// true; set it false once Parse reads such a value.
const longZerosOverflow = false

// FuzzParseFormat holds Parse to refParse (math/big): the same amount for
// what either accepts, the same documented error (ErrUnknownCurrency,
// ErrSyntax, ErrPrecision, ErrOverflow, in that order of checking) for
// what it refuses. An accepted amount is in the currency's minor units
// and formats, by String, to the canonical string (exactly the
// currency's fraction digits, no sign on zero) that math/big writes, which
// parses back to the same amount and is a fixed point.
func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{"49.99", "-0.05", "0", "1200", "92233720368547758.07", "-92233720368547758.08", "1.", ".1", "1e9", "99999999999999999999",
		"-0", "-0.000", "007.10", "+5", "1.000", "9223372036854775807", "-9223372036854775808", "-9223372036854775809", "922337203685477.5808", "٣",
		"00000000000000000000", "-00000000000000000001.5"} { // the last two: longZerosOverflow
		for _, c := range []string{"USD", "JPY", "BHD", "CLF", "usd", ""} {
			f.Add(s, c)
		}
	}
	f.Fuzz(func(t *testing.T, s, currency string) {
		a, err := Parse(s, currency)
		want, wantErr := refParse(s, currency)
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("Parse(%q, %q) = %+v, %v; want %v", s, currency, a, err, wantErr)
			}
			return
		}
		if intPart, _, _ := strings.Cut(strings.TrimPrefix(s, "-"), "."); longZerosOverflow && len(intPart) > 19 && errors.Is(err, ErrOverflow) {
			return // the reported defect: see longZerosOverflow
		}
		if err != nil || a.Minor != want || a.Currency != currency {
			t.Fatalf("Parse(%q, %q) = %+v, %v; want %d minor units", s, currency, a, err, want)
		}
		exp := exponents[currency]
		out := a.String()
		if ref := refFormat(a.Minor, exp); out != ref {
			t.Fatalf("Parse(%q, %q).String() = %q, math/big writes %q", s, currency, out, ref)
		}
		if !canonicalRE(exp).MatchString(out) || strings.HasPrefix(out, "-") && a.Minor == 0 {
			t.Fatalf("Parse(%q, %q).String() = %q is not canonical", s, currency, out)
		}
		b, err := Parse(out, currency)
		if err != nil || a != b {
			t.Fatalf("round trip %q -> %v -> %q -> %v, %v", s, a, out, b, err)
		}
	})
}

// FuzzArithmetic holds FormatMinor, String, Add and Neg to math/big for
// any minor units: the decimal is minor/10^exp with exactly exp digits and
// parses back to the same minor units; a sum or negation is exact when it
// fits in int64 and ErrOverflow when it does not; amounts of two
// currencies never add.
func FuzzArithmetic(f *testing.F) {
	for _, v := range [][2]int64{{0, 0}, {1, -1}, {math.MaxInt64, 1}, {math.MinInt64, -1}, {math.MinInt64, 0}, {-5, 4999}, {math.MaxInt64, math.MinInt64}} {
		f.Add(v[0], v[1], uint8(0), uint8(0))
		f.Add(v[0], v[1], uint8(2), uint8(3))
	}
	f.Fuzz(func(t *testing.T, x, y int64, ci, cj uint8) {
		cur := fuzzCurrencies[int(ci)%len(fuzzCurrencies)]
		exp := exponents[cur]
		a := Amount{Minor: x, Currency: cur}
		if s, ref := a.String(), refFormat(x, exp); s != ref || FormatMinor(x, exp) != ref {
			t.Fatalf("%d %s writes %q (FormatMinor %q), math/big %q", x, cur, s, FormatMinor(x, exp), ref)
		}
		if back, err := Parse(a.String(), cur); err != nil || back != a {
			t.Fatalf("%d %s -> %q -> %+v, %v", x, cur, a.String(), back, err)
		}
		b := Amount{Minor: y, Currency: cur}
		sum := new(big.Int).Add(big.NewInt(x), big.NewInt(y))
		got, err := a.Add(b)
		switch {
		case sum.IsInt64() && (err != nil || got != Amount{Minor: sum.Int64(), Currency: cur}):
			t.Fatalf("%d + %d = %+v, %v; want %s", x, y, got, err, sum)
		case !sum.IsInt64() && !errors.Is(err, ErrOverflow):
			t.Fatalf("%d + %d = %+v, %v; want ErrOverflow", x, y, got, err)
		}
		if m, ok := AddMinor(x, y); ok != sum.IsInt64() || ok && m != sum.Int64() {
			t.Fatalf("AddMinor(%d, %d) = %d, %v; want %s", x, y, m, ok, sum)
		}
		neg := new(big.Int).Neg(big.NewInt(x))
		n, err := a.Neg()
		switch {
		case neg.IsInt64() && (err != nil || n != Amount{Minor: neg.Int64(), Currency: cur}):
			t.Fatalf("-%d = %+v, %v", x, n, err)
		case !neg.IsInt64() && !errors.Is(err, ErrOverflow):
			t.Fatalf("-%d = %+v, %v; want ErrOverflow", x, n, err)
		}
		if a.IsNegative() != (x < 0) {
			t.Fatalf("IsNegative(%d) = %v", x, a.IsNegative())
		}
		if other := fuzzCurrencies[int(cj)%len(fuzzCurrencies)]; other != cur {
			if _, err := a.Add(Amount{Minor: y, Currency: other}); !errors.Is(err, ErrCurrencyMix) {
				t.Fatalf("%s + %s: %v, want ErrCurrencyMix", cur, other, err)
			}
		}
	})
}
