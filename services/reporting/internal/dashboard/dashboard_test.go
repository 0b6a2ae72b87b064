package dashboard

import (
	"math"
	"testing"

	"github.com/linkcredit/linkcredit/services/reporting/internal/minor"
)

func TestAmount(t *testing.T) {
	for _, c := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{0, "USD", "0.00 USD"}, {735, "USD", "7.35 USD"}, {123456789, "USD", "1,234,567.89 USD"},
		{-100000, "EUR", "-1,000.00 EUR"}, {1200, "JPY", "1,200 JPY"}, {1234567, "BHD", "1,234.567 BHD"},
	} {
		if got := amount(minor.Of(c.minor), c.currency); got != c.want {
			t.Errorf("amount(%d, %s) = %q, want %q", c.minor, c.currency, got, c.want)
		}
	}
	beyond := minor.Of(math.MaxInt64).Add(minor.Of(math.MaxInt64))
	if got := amount(beyond, "USD"); got != "184,467,440,737,095,516.14 USD" {
		t.Errorf("a total beyond int64 = %q", got)
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
