package minor

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/linkcredit/linkcredit/pkg/money"
)

// ErrSyntax is a value Scan or Parse cannot read as a whole number.
var ErrSyntax = errors.New("minor: not a whole number of minor units")

// Sum is an exact whole number of minor units. The zero value is 0. Sums
// are values: every operation returns a new one and none changes its
// operands. Compare them with Cmp, not ==.
type Sum struct {
	n   int64
	big *big.Int // set only when the value is outside int64; never changed once set
}

// Of returns n as a Sum.
func Of(n int64) Sum { return Sum{n: n} }

// FromBig returns x as a Sum (x is copied).
func FromBig(x *big.Int) Sum { return fromBig(new(big.Int).Set(x)) }

// fromBig takes ownership of x.
func fromBig(x *big.Int) Sum {
	if x.IsInt64() {
		return Sum{n: x.Int64()}
	}
	return Sum{big: x}
}

func (s Sum) bigInt() *big.Int {
	if s.big != nil {
		return s.big
	}
	return big.NewInt(s.n)
}

// Add returns s+t, exactly.
func (s Sum) Add(t Sum) Sum {
	if s.big == nil && t.big == nil {
		if v, ok := money.AddMinor(s.n, t.n); ok {
			return Sum{n: v}
		}
	}
	return fromBig(new(big.Int).Add(s.bigInt(), t.bigInt()))
}

// Sub returns s-t, exactly.
func (s Sum) Sub(t Sum) Sum { return s.Add(t.Neg()) }

// Neg returns -s, exactly.
func (s Sum) Neg() Sum {
	if s.big == nil && s.n != math.MinInt64 {
		return Sum{n: -s.n}
	}
	return fromBig(new(big.Int).Neg(s.bigInt()))
}

// Sign is -1, 0 or +1.
func (s Sum) Sign() int {
	if s.big != nil {
		return s.big.Sign()
	}
	switch {
	case s.n < 0:
		return -1
	case s.n > 0:
		return 1
	}
	return 0
}

// IsZero reports whether s is 0.
func (s Sum) IsZero() bool { return s.big == nil && s.n == 0 }

// Cmp is -1, 0 or +1 as s is less than, equal to or more than t.
func (s Sum) Cmp(t Sum) int {
	if s.big == nil && t.big == nil {
		switch {
		case s.n < t.n:
			return -1
		case s.n > t.n:
			return 1
		}
		return 0
	}
	return s.bigInt().Cmp(t.bigInt())
}

// Max returns the larger of s and t.
func Max(s, t Sum) Sum {
	if s.Cmp(t) >= 0 {
		return s
	}
	return t
}

// Int64 returns s and true when it fits in an int64.
func (s Sum) Int64() (int64, bool) { return s.n, s.big == nil }

// Big returns s as a new big.Int.
func (s Sum) Big() *big.Int { return new(big.Int).Set(s.bigInt()) }

// Rat returns s as a new big.Rat.
func (s Sum) Rat() *big.Rat { return new(big.Rat).SetInt(s.bigInt()) }

// Float64 is s rounded to a float64, for drawing (never for money).
func (s Sum) Float64() float64 {
	if s.big == nil {
		return float64(s.n)
	}
	f, _ := new(big.Float).SetInt(s.big).Float64()
	return f
}

// Round returns x rounded half away from zero.
func Round(x *big.Rat) Sum {
	num, den := new(big.Int).Set(x.Num()), x.Denom()
	neg := num.Sign() < 0
	num.Abs(num)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Lsh(r, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	return fromBig(q)
}

// String is s in minor units, such as "-735": what fmt prints.
func (s Sum) String() string {
	if s.big != nil {
		return s.big.String()
	}
	return strconv.FormatInt(s.n, 10)
}

// Format makes %d, %v and %s print s in minor units, as String does,
// never the struct inside.
func (s Sum) Format(f fmt.State, verb rune) {
	switch verb {
	case 'd', 'v', 's':
		fmt.Fprint(f, s.String())
	default:
		fmt.Fprintf(f, "%%!%c(minor.Sum=%s)", verb, s.String())
	}
}

// Decimal formats s with exp fraction digits: "7.35", "-0.05", "1200"
// (exp 0), as money.FormatMinor does for an int64.
func (s Sum) Decimal(exp int) string {
	if s.big == nil {
		return money.FormatMinor(s.n, exp)
	}
	digits := new(big.Int).Abs(s.big).String()
	if exp > 0 {
		if len(digits) <= exp {
			digits = strings.Repeat("0", exp-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-exp] + "." + digits[len(digits)-exp:]
	}
	if s.big.Sign() < 0 {
		return "-" + digits
	}
	return digits
}

// In is s as a decimal amount of currency, with its number of fraction
// digits ("7.35" for 735 USD); an unknown currency formats as minor
// units, as money.Amount.String does.
func (s Sum) In(currency string) string {
	c, err := money.LookupCurrency(currency)
	if err != nil {
		return s.Decimal(0)
	}
	return s.Decimal(c.Exponent)
}

// Parse reads a whole number such as "-735" or "92233720368547758070".
// Postgres may write a numeric with a zero fraction ("735.00"); that is
// read too, any other fraction is refused.
func Parse(v string) (Sum, error) {
	if strings.HasPrefix(v, "+") {
		return Sum{}, fmt.Errorf("%w: %q", ErrSyntax, v)
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return Sum{n: n}, nil
	}
	whole, frac, hasDot := strings.Cut(v, ".")
	if hasDot {
		if frac == "" || strings.Trim(frac, "0") != "" {
			return Sum{}, fmt.Errorf("%w: %q", ErrSyntax, v)
		}
		if n, err := strconv.ParseInt(whole, 10, 64); err == nil {
			return Sum{n: n}, nil
		}
	}
	digits := strings.TrimPrefix(whole, "-")
	if digits == "" || len(whole) > 1000 || strings.TrimLeft(digits, "0123456789") != "" {
		return Sum{}, fmt.Errorf("%w: %q", ErrSyntax, v)
	}
	x, ok := new(big.Int).SetString(whole, 10)
	if !ok {
		return Sum{}, fmt.Errorf("%w: %q", ErrSyntax, v)
	}
	return fromBig(x), nil
}

// Scan implements sql.Scanner for bigint and numeric columns and sums.
// NULL is an error: a query coalesces what may be missing.
func (s *Sum) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*s = Sum{n: v}
		return nil
	case []byte:
		p, err := Parse(string(v))
		if err != nil {
			return err
		}
		*s = p
		return nil
	case string:
		p, err := Parse(v)
		if err != nil {
			return err
		}
		*s = p
		return nil
	case nil:
		return fmt.Errorf("%w: NULL", ErrSyntax)
	}
	return fmt.Errorf("minor: cannot scan %T", src)
}
