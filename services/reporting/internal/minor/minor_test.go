package minor

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"
)

func TestAddNeverWraps(t *testing.T) {
	tests := []struct {
		name string
		a, b Sum
		want string
	}{
		{"small", Of(735), Of(-35), "700"},
		{"past MaxInt64", Of(math.MaxInt64), Of(1), "9223372036854775808"},
		{"past MinInt64", Of(math.MinInt64), Of(-1), "-9223372036854775809"},
		{"back into int64", FromBig(new(big.Int).Lsh(big.NewInt(1), 63)), Of(-1), "9223372036854775807"},
		{"two ceilings", Of(math.MaxInt64), Of(math.MaxInt64), "18446744073709551614"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.a.Add(tt.b)
			if got.String() != tt.want {
				t.Fatalf("%s + %s = %s, want %s", tt.a, tt.b, got, tt.want)
			}
			want, _ := new(big.Int).SetString(tt.want, 10)
			if _, fits := got.Int64(); fits != want.IsInt64() {
				t.Fatalf("%s: Int64 fits = %v", got, fits)
			}
			if back := got.Sub(tt.b); back.Cmp(tt.a) != 0 {
				t.Fatalf("(%s + %s) - %s = %s", tt.a, tt.b, tt.b, back)
			}
		})
	}
	if n := Of(math.MinInt64).Neg(); n.String() != "9223372036854775808" {
		t.Fatalf("-MinInt64 = %s", n)
	}
}

func TestFormat(t *testing.T) {
	huge, _ := Parse("922337203685477580700")
	tests := []struct {
		s        Sum
		currency string
		want     string
	}{
		{Of(735), "USD", "7.35"},
		{Of(-5), "USD", "-0.05"},
		{Of(1200), "JPY", "1200"},
		{Of(1), "BHD", "0.001"},
		{huge, "USD", "9223372036854775807.00"},
		{huge.Neg(), "USD", "-9223372036854775807.00"},
		{huge, "KWD", "922337203685477580.700"},
		{huge, "XXX", "922337203685477580700"},
		{Of(math.MaxInt64).Add(Of(2)), "USD", "92233720368547758.09"},
	}
	for _, tt := range tests {
		if got := tt.s.In(tt.currency); got != tt.want {
			t.Errorf("%s %s = %s, want %s", tt.s, tt.currency, got, tt.want)
		}
	}
}

func TestPrint(t *testing.T) {
	huge := Of(math.MaxInt64).Add(Of(1))
	if got := fmt.Sprintf("%d %v %s|%x", Of(-735), huge, Of(7), Of(1)); got != "-735 9223372036854775808 7|%!x(minor.Sum=1)" {
		t.Fatalf("printed %q", got)
	}
	if got := fmt.Sprint(struct{ A, B Sum }{Of(1), huge}); got != "{1 9223372036854775808}" {
		t.Fatalf("printed %q", got)
	}
}

func TestScan(t *testing.T) {
	tests := []struct {
		src  any
		want string
		ok   bool
	}{
		{int64(-735), "-735", true},
		{[]byte("735"), "735", true},
		{[]byte("18446744073709551614"), "18446744073709551614", true},
		{"-18446744073709551614", "-18446744073709551614", true},
		{[]byte("735.000"), "735", true},
		{[]byte("18446744073709551614.0"), "18446744073709551614", true},
		{[]byte("7.35"), "", false},
		{[]byte(""), "", false},
		{[]byte("-"), "", false},
		{[]byte("1e3"), "", false},
		{[]byte("+5"), "", false},
		{nil, "", false},
		{3.5, "", false},
	}
	for _, tt := range tests {
		var s Sum
		err := s.Scan(tt.src)
		if (err == nil) != tt.ok || (tt.ok && s.String() != tt.want) {
			t.Errorf("Scan(%v) = %s, %v; want %s ok=%v", tt.src, s, err, tt.want, tt.ok)
		}
	}
}

func TestRound(t *testing.T) {
	for _, tt := range []struct {
		num, den int64
		want     string
	}{{5, 2, "3"}, {-5, 2, "-3"}, {7, 3, "2"}, {-7, 3, "-2"}, {0, 9, "0"}} {
		if got := Round(big.NewRat(tt.num, tt.den)); got.String() != tt.want {
			t.Errorf("Round(%d/%d) = %s, want %s", tt.num, tt.den, got, tt.want)
		}
	}
	x := new(big.Rat).Mul(Of(math.MaxInt64).Rat(), big.NewRat(3, 1))
	if got := Round(x); got.String() != "27670116110564327421" {
		t.Errorf("3 x MaxInt64 = %s", got)
	}
}

func TestCmp(t *testing.T) {
	big1 := Of(math.MaxInt64).Add(Of(1))
	ordered := []Sum{big1.Neg().Sub(Of(1)), Of(math.MinInt64), Of(-1), {}, Of(1), Of(math.MaxInt64), big1}
	for i := range ordered {
		for j := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := ordered[i].Cmp(ordered[j]); got != want {
				t.Errorf("Cmp(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
		if ordered[i].Sign() != ordered[i].Cmp(Sum{}) {
			t.Errorf("Sign(%s) = %d", ordered[i], ordered[i].Sign())
		}
	}
	if Max(Of(3), big1).Cmp(big1) != 0 || !(Sum{}).IsZero() || Of(1).Sub(Of(1)).IsZero() == false {
		t.Error("Max or IsZero")
	}
}

// wholeRE is what Parse documents it reads: a whole number, with an
// optional '-', or a numeric with a zero fraction as Postgres writes one.
var wholeRE = regexp.MustCompile(`^-?[0-9]+(\.0+)?$`)

// FuzzParse holds Parse to math/big: it accepts v exactly when v is a
// whole number (wholeRE) of at most 1000 digits, or any such number that
// fits in int64 however written; what it accepts is the big integer v
// says, normalised (an int64 whenever it fits), prints back as it reads
// and is a fixed point; Decimal and In write it divided by 10^exp with
// exactly exp digits, as big.Rat does; and it adds, subtracts, negates
// and compares as big integers do.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "-735", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
		"12.00", "1.5", "", "-", "00012", "99999999999999999999999999999999", "+5", "-0", "1.", ".0", "18446744073709551614.0", "1_000", "0x10"} {
		f.Add(s, int64(1), uint8(2))
	}
	f.Add(strings.Repeat("9", 1001), int64(-1), uint8(0))
	f.Fuzz(func(t *testing.T, v string, add int64, exp uint8) {
		s, err := Parse(v)
		whole, _, _ := strings.Cut(v, ".")
		want, ok := new(big.Int).SetString(whole, 10)
		accept := wholeRE.MatchString(v) && (len(whole) <= 1000 || want.IsInt64())
		if (err == nil) != accept {
			t.Fatalf("Parse(%q) = %s, %v; want accepted %v", v, s, err, accept)
		}
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q): %v is not ErrSyntax", v, err)
			}
			return
		}
		if !ok || want.Cmp(s.Big()) != 0 {
			t.Fatalf("Parse(%q) = %s, want %v", v, s, want)
		}
		if _, fits := s.Int64(); fits != want.IsInt64() {
			t.Fatalf("Parse(%q): not normalised", v)
		}
		again, err := Parse(s.String())
		if err != nil || again.Cmp(s) != 0 || again.String() != s.String() || s.String() != want.String() {
			t.Fatalf("Parse(%s) again = %s, %v", s, again, err)
		}
		e := int(exp % 5)
		if got, ref := s.Decimal(e), new(big.Rat).SetFrac(want, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(e)), nil)).FloatString(e); got != ref {
			t.Fatalf("%s.Decimal(%d) = %q, math/big %q", s, e, got, ref)
		}
		if got, ref := s.In("BHD"), s.Decimal(3); got != ref {
			t.Fatalf("%s.In(BHD) = %q, want %q", s, got, ref)
		}
		b := big.NewInt(add)
		for _, c := range []struct {
			op   string
			got  Sum
			want *big.Int
		}{
			{"+", s.Add(Of(add)), new(big.Int).Add(want, b)},
			{"-", s.Sub(Of(add)), new(big.Int).Sub(want, b)},
			{"neg", s.Neg(), new(big.Int).Neg(want)},
			{"max", Max(s, Of(add)), map[bool]*big.Int{true: want, false: b}[want.Cmp(b) >= 0]},
		} {
			if c.got.Big().Cmp(c.want) != 0 {
				t.Fatalf("%s %s %d = %s, want %s", s, c.op, add, c.got, c.want)
			}
			if _, fits := c.got.Int64(); fits != c.want.IsInt64() {
				t.Fatalf("%s %s %d = %s: not normalised", s, c.op, add, c.got)
			}
		}
		if s.Cmp(Of(add)) != want.Cmp(b) || s.Sign() != want.Sign() || s.IsZero() != (want.Sign() == 0) {
			t.Fatalf("%s against %d: Cmp %d, Sign %d", s, add, s.Cmp(Of(add)), s.Sign())
		}
	})
}
