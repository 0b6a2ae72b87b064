package csvtable

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// recordNumberIsLine is true while Line (and the "line N" of a malformed
// CSV error) counts records, the header being 1, rather than naming the
// line of the file the record starts on, as its comment says ("the
// current record's line number") and as settlement errors are read: a
// blank line, or a quoted cell holding a line break, makes every later
// number too small. A defect found by FuzzReader, reported, not fixed
// here: "order_id,commission\n\nA-1,x\n" names A-1 line 2, it is on line
// 3. The targets compare Line with the file's line only where the two
// agree while this is true; set it false once Line is the file's line.
const recordNumberIsLine = false

var required = []string{"order_id", "commission"}

// FuzzReader holds Reader to encoding/csv read the way the package
// comment says (a byte-order mark dropped, leading spaces trimmed, any
// number of fields): New refuses, with a 400 malformed_csv, exactly a file
// without a readable header, one lacking a required column, or one naming
// a required column twice; Next yields exactly the records encoding/csv
// reads, each cell by its header's name trimmed ("" past the record's
// end), and stops with a 400 malformed_csv exactly where encoding/csv
// fails; Line is the line the record starts on.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"order_id,commission\nA-1,1.00\n",
		"\ufeffOrder_ID , Commission,note\r\nA-1,1.00\r\n\"A-2\r\nx\",2\r\n",
		"order_id,commission\n\nA-1,x\n",
		"order_id,commission\nA-1,1\n\"A-2,2\n",
		"order_id,commission,ORDER_ID\n1,2,3\n",
		"note,note,order_id,commission\n1,2,3,4\n",
		"order_id,commission\n a , b ,c\nonly\n",
		"order_id,commission\nA-1,1\"x\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ref := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\ufeff"))))
		ref.FieldsPerRecord = -1
		ref.TrimLeadingSpace = true
		header, herr := ref.Read()
		cols := map[string]int{}
		twice := false
		for i, h := range header {
			name := strings.ToLower(strings.TrimSpace(h))
			if _, seen := cols[name]; seen && slices.Contains(required, name) {
				twice = true
			}
			cols[name] = i
		}
		_, hasOrder := cols["order_id"]
		_, hasCommission := cols["commission"]
		wantRefused := herr != nil || twice || !hasOrder || !hasCommission
		r, err := New(body, "the file", required...)
		if wantRefused {
			if code, _ := errs.Public(err); err == nil || code != "malformed_csv" || errs.HTTPStatus(err) != 400 {
				t.Fatalf("New(%q) = %v; want a 400 malformed_csv", body, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("New(%q) = %v; encoding/csv reads the header %q", body, err, header)
		}
		for name := range cols {
			if !r.Has(name) {
				t.Fatalf("Has(%q) false, the header %q names it", name, header)
			}
		}
		prevLine := 1
		for n := 1; ; n++ {
			rec, rerr := ref.Read()
			ok, err := r.Next()
			if errors.Is(rerr, io.EOF) {
				if ok || err != nil {
					t.Fatalf("record %d: Next = %v, %v after encoding/csv's last", n, ok, err)
				}
				return
			}
			if rerr != nil {
				var pe *csv.ParseError
				errors.As(rerr, &pe)
				if code, msg := errs.Public(err); ok || code != "malformed_csv" || errs.HTTPStatus(err) != 400 {
					t.Fatalf("record %d: Next = %v, %v; encoding/csv: %v", n, ok, err, rerr)
				} else if want := fmt.Sprintf("the file, line %d:", pe.StartLine); (!recordNumberIsLine || pe.StartLine == n+1) && !strings.HasPrefix(msg, want) {
					t.Fatalf("record %d: %q, want it to start %q", n, msg, want)
				}
				return
			}
			if !ok || err != nil {
				t.Fatalf("record %d %q: Next = %v, %v", n, rec, ok, err)
			}
			for name, i := range cols {
				want := ""
				if i < len(rec) {
					want = strings.TrimSpace(rec[i])
				}
				if got := r.Get(name); got != want {
					t.Fatalf("record %d %q: Get(%q) = %q, want %q", n, rec, name, got, want)
				}
			}
			if r.Get("no such column") != "" {
				t.Fatalf("record %d: a column the header lacks has a value", n)
			}
			line, _ := ref.FieldPos(0)
			if (!recordNumberIsLine || line == n+1) && r.Line() != line {
				t.Fatalf("record %d %q starts on line %d, Line says %d", n, rec, line, r.Line())
			}
			if r.Line() <= prevLine {
				t.Fatalf("record %d: Line %d after %d", n, r.Line(), prevLine)
			}
			prevLine = r.Line()
		}
	})
}

// FuzzReaderRoundTrip: records written by encoding/csv's Writer (LF or
// CRLF, with or without a byte-order mark, the header in another case
// and order, an extra column) read back cell for cell, trimmed, on the
// lines they were written on (blank lines between records too; see
// recordNumberIsLine). A cell with a CR is left out: RFC 4180
// readers turn a quoted CRLF into LF.
func FuzzReaderRoundTrip(f *testing.F) {
	f.Add("A-1", "1.00", "A-2, the second", " 2.50 ", "x\ny", true, false, uint8(0))
	f.Add("\"", "", "é", "=1+1", "", false, true, uint8(3))
	f.Fuzz(func(t *testing.T, o1, c1, o2, c2, note string, crlf, bom bool, blanks uint8) {
		if strings.Contains(o1+c1+o2+c2+note, "\r") {
			return
		}
		var b bytes.Buffer
		if bom {
			b.WriteString("\ufeff")
		}
		w := csv.NewWriter(&b)
		w.UseCRLF = crlf
		rows := [][]string{{" Commission", "NOTE", "Order_ID "}, {c1, note, o1}, {c2, note, o2}}
		var starts []int // the line each record starts on
		line := 1
		for i, row := range rows {
			if i > 0 {
				for range blanks % 3 {
					w.Flush()
					b.WriteString("\n")
					line++
				}
			}
			starts = append(starts, line)
			if err := w.Write(row); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			line += strings.Count(strings.Join(row, ","), "\n") + 1
		}
		r, err := New(b.Bytes(), "the file", required...)
		if err != nil {
			t.Fatalf("%q: %v", b.String(), err)
		}
		for i, row := range rows[1:] {
			ok, err := r.Next()
			if !ok || err != nil {
				t.Fatalf("%q: record %d: %v %v", b.String(), i+1, ok, err)
			}
			if r.Get("commission") != strings.TrimSpace(row[0]) || r.Get("note") != strings.TrimSpace(row[1]) || r.Get("order_id") != strings.TrimSpace(row[2]) {
				t.Fatalf("%q: record %d reads %q %q %q, written %q", b.String(), i+1, r.Get("commission"), r.Get("note"), r.Get("order_id"), row)
			}
			if (!recordNumberIsLine || starts[i+1] == i+2) && r.Line() != starts[i+1] {
				t.Fatalf("%q: record %d written on line %d, Line says %d", b.String(), i+1, starts[i+1], r.Line())
			}
		}
		if ok, err := r.Next(); ok || err != nil {
			t.Fatalf("%q: more than was written: %v", b.String(), err)
		}
	})
}
