package httptransport

import (
	"testing"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

func TestDecodeRatesCSV(t *testing.T) {
	for _, in := range []string{
		"\ufeffDate, Base ,quote,rate\n2026-11-20,EUR,USD,1.0832\n2026-11-21, EUR,USD ,1.09\n",
		"\ufeffDate, Base ,quote,rate\r\n2026-11-20,EUR,USD,1.0832\r\n2026-11-21, EUR,USD ,1.09\r\n", // CRLF (RFC 4180)
		"Date, Base ,quote,rate\r\n2026-11-20,EUR,USD,1.0832\n2026-11-21, EUR,USD ,1.09",             // mixed, no last line end
	} {
		rates, err := decodeRatesCSV([]byte(in))
		if err != nil || len(rates) != 2 || rates[1].Base != "EUR" || rates[1].Quote != "USD" || rates[0].Rate != "1.0832" || rates[1].Rate != "1.09" {
			t.Fatalf("%q: rates = %+v %v", in, rates, err)
		}
	}
	for _, bad := range []string{"", "date,base,quote\n2026-11-20,EUR,USD\n", "date,base,quote,rate\n\"2026"} {
		if _, err := decodeRatesCSV([]byte(bad)); errs.HTTPStatus(err) != 400 {
			t.Errorf("%q: err = %v, want a 400", bad, err)
		}
	}
}

func FuzzDecodeRatesCSV(f *testing.F) {
	f.Add([]byte("date,base,quote,rate\n2026-11-20,EUR,USD,1.0832\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := decodeRatesCSV(b); err != nil && errs.HTTPStatus(err) != 400 {
			t.Fatalf("status %d: %v", errs.HTTPStatus(err), err)
		}
	})
}
