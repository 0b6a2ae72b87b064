package dashboard

import "testing"

func TestAmount(t *testing.T) {
	for _, c := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{0, "USD", "0.00 USD"}, {735, "USD", "7.35 USD"}, {123456789, "USD", "1,234,567.89 USD"},
		{-100000, "EUR", "-1,000.00 EUR"}, {1200, "JPY", "1,200 JPY"}, {1234567, "BHD", "1,234.567 BHD"},
	} {
		if got := amount(c.minor, c.currency); got != c.want {
			t.Errorf("amount(%d, %s) = %q, want %q", c.minor, c.currency, got, c.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("Machine Learning Specialization", 10); got != "Machine L…" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("ml-101", 10); got != "ml-101" {
		t.Errorf("truncate = %q", got)
	}
}
