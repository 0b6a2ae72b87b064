package money

import (
	"errors"
	"math"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in       string
		currency string
		minor    int64
		err      error
	}{
		{"49.99", "USD", 4999, nil},
		{"49.9", "USD", 4990, nil},
		{"49", "USD", 4900, nil},
		{"0.05", "USD", 5, nil},
		{"-0.05", "USD", -5, nil},
		{"-0", "USD", 0, nil},
		{"007.10", "EUR", 710, nil},
		{"1200", "JPY", 1200, nil},
		{"1.234", "BHD", 1234, nil},
		{"1.5", "BHD", 1500, nil},
		{"92233720368547758.07", "USD", math.MaxInt64, nil},
		{"-92233720368547758.08", "USD", math.MinInt64, nil},
		{"9223372036854775807", "JPY", math.MaxInt64, nil},
		{"92233720368547758.08", "USD", 0, ErrOverflow},
		{"99999999999999999999", "JPY", 0, ErrOverflow},
		{"100000000000000000000000", "USD", 0, ErrOverflow},
		{"1.5", "JPY", 0, ErrPrecision},
		{"49.999", "USD", 0, ErrPrecision},
		{"1.000", "USD", 0, ErrPrecision},
		{"", "USD", 0, ErrSyntax},
		{"-", "USD", 0, ErrSyntax},
		{".5", "USD", 0, ErrSyntax},
		{"5.", "USD", 0, ErrSyntax},
		{"+5", "USD", 0, ErrSyntax},
		{"1e3", "USD", 0, ErrSyntax},
		{"1,000.00", "USD", 0, ErrSyntax},
		{" 1.00", "USD", 0, ErrSyntax},
		{"1.0.0", "USD", 0, ErrSyntax},
		{"--1", "USD", 0, ErrSyntax},
		{"NaN", "USD", 0, ErrSyntax},
		{"１", "USD", 0, ErrSyntax},
		{"1.00", "usd", 0, ErrUnknownCurrency},
		{"1.00", "XYZ", 0, ErrUnknownCurrency},
		{"1.00", "", 0, ErrUnknownCurrency},
	}
	for _, tt := range tests {
		t.Run(tt.in+" "+tt.currency, func(t *testing.T) {
			got, err := Parse(tt.in, tt.currency)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Parse(%q, %q) error = %v, want %v", tt.in, tt.currency, err, tt.err)
			}
			if err == nil && got.Minor != tt.minor {
				t.Fatalf("Parse(%q, %q) = %d, want %d", tt.in, tt.currency, got.Minor, tt.minor)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		a    Amount
		want string
	}{
		{Amount{4999, "USD"}, "49.99"},
		{Amount{5, "USD"}, "0.05"},
		{Amount{-5, "USD"}, "-0.05"},
		{Amount{0, "USD"}, "0.00"},
		{Amount{1200, "JPY"}, "1200"},
		{Amount{1, "BHD"}, "0.001"},
		{Amount{math.MinInt64, "USD"}, "-92233720368547758.08"},
		{Amount{math.MaxInt64, "CLF"}, "922337203685477.5807"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.a, got, tt.want)
		}
	}
}

func TestAdd(t *testing.T) {
	if _, err := (Amount{1, "USD"}).Add(Amount{1, "EUR"}); !errors.Is(err, ErrCurrencyMix) {
		t.Errorf("mixed currencies: err = %v", err)
	}
	if _, err := (Amount{math.MaxInt64, "USD"}).Add(Amount{1, "USD"}); !errors.Is(err, ErrOverflow) {
		t.Errorf("overflow: err = %v", err)
	}
	if _, err := (Amount{math.MinInt64, "USD"}).Add(Amount{-1, "USD"}); !errors.Is(err, ErrOverflow) {
		t.Errorf("underflow: err = %v", err)
	}
	if got, err := (Amount{150, "USD"}).Add(Amount{-200, "USD"}); err != nil || got.Minor != -50 {
		t.Errorf("Add = %v, %v", got, err)
	}
	if _, err := (Amount{math.MinInt64, "USD"}).Neg(); !errors.Is(err, ErrOverflow) {
		t.Errorf("Neg(MinInt64): err = %v", err)
	}
}

func TestExponentsAreSane(t *testing.T) {
	for code, exp := range exponents {
		if len(code) != 3 || exp < 0 || exp >= len(pow10) {
			t.Errorf("bad table row %q: %d", code, exp)
		}
	}
}
