package money

import (
	"errors"
	"testing"
)

// FuzzParseFormat checks that every string Parse accepts formats back to a
// string that parses to the same amount, and that Parse never panics and
// fails only with its documented errors.
func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{"49.99", "-0.05", "0", "1200", "92233720368547758.07", "-92233720368547758.08", "1.", ".1", "1e9", "99999999999999999999"} {
		for _, c := range []string{"USD", "JPY", "BHD", "CLF"} {
			f.Add(s, c)
		}
	}
	f.Fuzz(func(t *testing.T, s, currency string) {
		a, err := Parse(s, currency)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrPrecision) && !errors.Is(err, ErrOverflow) && !errors.Is(err, ErrUnknownCurrency) {
				t.Fatalf("Parse(%q, %q): undocumented error %v", s, currency, err)
			}
			return
		}
		out := a.String()
		b, err := Parse(out, currency)
		if err != nil {
			t.Fatalf("Parse(%q) = %v; its String %q does not parse: %v", s, a, out, err)
		}
		if a != b {
			t.Fatalf("round trip %q -> %v -> %q -> %v", s, a, out, b)
		}
	})
}
