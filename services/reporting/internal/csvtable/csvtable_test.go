package csvtable

import (
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// TestReader: LF and CRLF line ends (RFC 4180 delimits records with CRLF;
// many exports end them with LF) read alike, a byte-order mark, header case
// and spacing, column order and extra columns do not matter.
func TestReader(t *testing.T) {
	want := [][2]string{{"A-1", "1.00"}, {"A-2", "2.50"}, {"A-3, the third", "3.00"}}
	tests := []struct {
		name, in string
	}{
		{"LF", "order_id,commission\nA-1,1.00\nA-2,2.50\n\"A-3, the third\",3.00\n"},
		{"CRLF", "order_id,commission\r\nA-1,1.00\r\nA-2,2.50\r\n\"A-3, the third\",3.00\r\n"},
		{"CRLF, no last line end", "order_id,commission\r\nA-1,1.00\r\nA-2,2.50\r\n\"A-3, the third\",3.00"},
		{"mixed", "order_id,commission\r\nA-1,1.00\nA-2,2.50\r\n\"A-3, the third\",3.00\n"},
		{"BOM and CRLF", "\ufeffOrder_ID , Commission\r\nA-1,1.00\r\nA-2,2.50\r\n\"A-3, the third\",3.00\r\n"},
		{"other order, extra column", "note,commission,order_id\r\nx,1.00,A-1\r\ny,2.50,A-2\r\nz,3.00,\"A-3, the third\"\r\n"},
	}
	for _, tt := range tests {
		r, err := New([]byte(tt.in), "the file", "order_id", "commission")
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var got [][2]string
		for {
			ok, err := r.Next()
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if !ok {
				break
			}
			got = append(got, [2]string{r.Get("order_id"), r.Get("commission")})
			if strings.ContainsAny(r.Get("commission"), "\r\n") {
				t.Errorf("%s: a line end in a cell: %q", tt.name, r.Get("commission"))
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d records %q, want %d", tt.name, len(got), got, len(want))
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: record %d = %q, want %q", tt.name, i+1, got[i], want[i])
			}
		}
		if r.Line() != 4 {
			t.Errorf("%s: last line %d, want 4", tt.name, r.Line())
		}
	}
}

// A quoted cell may hold a line break, CRLF or LF; it reads as LF.
func TestReaderQuotedLineBreak(t *testing.T) {
	for _, in := range []string{"id,note\r\n1,\"two\r\nlines\"\r\n", "id,note\n1,\"two\nlines\"\n"} {
		r, err := New([]byte(in), "the file", "id", "note")
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := r.Next(); !ok || err != nil || r.Get("note") != "two\nlines" {
			t.Errorf("%q: note %q, %v %v", in, r.Get("note"), ok, err)
		}
	}
}

func TestReaderRefusals(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"only a BOM", "\ufeff"},
		{"no such column", "order_id,amount\r\nA-1,1.00\r\n"},
	}
	for _, tt := range tests {
		if _, err := New([]byte(tt.in), "the file", "order_id", "commission"); errs.HTTPStatus(err) != 400 {
			t.Errorf("%s: %v, want a 400", tt.name, err)
		}
	}
	r, err := New([]byte("order_id,commission\r\n\"A-1,1.00\r\n"), "the file", "order_id", "commission")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); errs.HTTPStatus(err) != 400 || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("an unterminated quote: %v, want a 400 naming line 2", err)
	}
}

// TestHeaderNamingAColumnTwice: a column named twice, in any case, is
// refused: the later one would be read (found by a re-check: an fx-rates
// file with two rate columns stored the second rate).
func TestHeaderNamingAColumnTwice(t *testing.T) {
	for _, header := range []string{"date,base,quote,rate,rate", "date,base,quote,rate,Rate", "date,date,base,quote,rate"} {
		_, err := New([]byte(header+"\n2026-11-22,EUR,USD,1.08,9.99\n"), "the rates", "date", "base", "quote", "rate")
		if err == nil || errs.HTTPStatus(err) != 400 || !strings.Contains(err.Error(), "twice") {
			t.Errorf("%s: %v", header, err)
		}
	}
}
