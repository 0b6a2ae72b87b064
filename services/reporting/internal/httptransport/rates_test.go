package httptransport

import (
	"bytes"
	"encoding/csv"
	"io"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
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

// FuzzDecodeRatesCSV: a body is refused only with a 400, and an accepted
// one gives one rate per record encoding/csv reads after the header (a
// byte-order mark dropped, leading spaces trimmed), each field the
// record's cell under its header name (any case, any order), trimmed.
func FuzzDecodeRatesCSV(f *testing.F) {
	f.Add([]byte("date,base,quote,rate\n2026-11-20,EUR,USD,1.0832\n"))
	f.Add([]byte("\ufeffRate, Quote ,BASE,date,note\r\n1.09,USD,EUR,2026-11-21,x\r\n\r\n\"1,5\",\"U\nSD\"\r\n"))
	f.Add([]byte("date,base,quote,rate,rate\n"))
	f.Add([]byte("date,base,quote,rate\n\"2026"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rates, err := decodeRatesCSV(b)
		if err != nil {
			if errs.HTTPStatus(err) != 400 {
				t.Fatalf("status %d: %v", errs.HTTPStatus(err), err)
			}
			return
		}
		ref := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff"))))
		ref.FieldsPerRecord = -1
		ref.TrimLeadingSpace = true
		header, err := ref.Read()
		if err != nil {
			t.Fatalf("accepted %q, whose header encoding/csv cannot read: %v", b, err)
		}
		col := map[string]int{}
		for i, h := range header {
			col[strings.ToLower(strings.TrimSpace(h))] = i
		}
		cell := func(rec []string, name string) string {
			if i := col[name]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		for n := 0; ; n++ {
			rec, err := ref.Read()
			if err == io.EOF {
				if n != len(rates) {
					t.Fatalf("%q: %d rates from %d records", b, len(rates), n)
				}
				return
			}
			if err != nil {
				t.Fatalf("accepted %q, which encoding/csv cannot read: %v", b, err)
			}
			want := report.Rate{Date: cell(rec, "date"), Base: cell(rec, "base"), Quote: cell(rec, "quote"), Rate: cell(rec, "rate")}
			if n >= len(rates) || rates[n] != want {
				t.Fatalf("%q: record %d %q, want %+v, got %+v", b, n+1, rec, want, rates)
			}
		}
	})
}

// FuzzRatesCSVRoundTrip: rates written as CSV by encoding/csv, the
// columns in any order and case, with an extra column, read back as
// written (trimmed). A cell with a CR is left out: RFC 4180 readers turn a
// quoted CRLF into LF.
func FuzzRatesCSVRoundTrip(f *testing.F) {
	f.Add("2026-11-20", "EUR", "USD", "1.0832", "note, with a comma", uint8(0), true)
	f.Add(" x ", "\"", "\n", "", "", uint8(5), false)
	f.Fuzz(func(t *testing.T, date, base, quote, rate, note string, order uint8, crlf bool) {
		if strings.Contains(date+base+quote+rate+note, "\r") {
			return
		}
		cols := []string{"Date", "BASE", "quote", "Rate", "note"}
		vals := map[string]string{"Date": date, "BASE": base, "quote": quote, "Rate": rate, "note": note}
		for i := len(cols) - 1; i > 0; i-- { // a permutation chosen by order
			j := int(order) % (i + 1)
			cols[i], cols[j] = cols[j], cols[i]
			order /= 2
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.UseCRLF = crlf
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = vals[c]
		}
		_ = w.Write(cols)
		_ = w.Write(row)
		_ = w.Write(row)
		w.Flush()
		rates, err := decodeRatesCSV(buf.Bytes())
		want := report.Rate{Date: strings.TrimSpace(date), Base: strings.TrimSpace(base), Quote: strings.TrimSpace(quote), Rate: strings.TrimSpace(rate)}
		if err != nil || len(rates) != 2 || rates[0] != want || rates[1] != want {
			t.Fatalf("%q: %+v, %v; want twice %+v", buf.String(), rates, err, want)
		}
	})
}
