package report

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/linkcredit/linkcredit/services/reporting/internal/minor"
)

// Meta says what a report is and as of when: a closed month's figures are
// final, an open month's may still move.
type Meta struct {
	From          string    `json:"from"`
	To            string    `json:"to"`
	TZ            string    `json:"tz"`
	GroupBy       []string  `json:"group_by"`
	Currency      string    `json:"currency,omitempty"`
	AsOf          time.Time `json:"as_of"`
	ClosedPeriods []string  `json:"closed_periods"`
	// FinanceTimeZone is the zone months are closed in (FINANCE_TIME_ZONE);
	// FinalDays, the report's days (in TZ) wholly inside closed months:
	// their figures never change. In another zone than the finance one, a
	// day at a closed month's edge straddles it and is not final.
	FinanceTimeZone string     `json:"finance_time_zone"`
	FinalDays       []DayRange `json:"final_days"`
}

// Encoder writes a report as it is read, row by row.
type Encoder interface {
	Row(Row) error
	// Close ends the document and flushes it.
	Close() error
}

// Columns are the CSV header and JSON field names after the group keys.
var Columns = []string{"currency", "clicks", "unique_clicks", "bot_clicks", "conversions", "direct_conversions",
	"cross_sell_conversions", "sale_amount", "commission_pending", "commission_approved", "commission_reversed",
	"commission_paid", "epc"}

func values(r Row) []string {
	epc := ""
	if v, ok := r.EPC(); ok {
		epc = v.In(r.Currency)
	}
	i := strconv.FormatInt
	out := []string{r.Currency, i(r.Clicks, 10), i(r.UniqueClicks, 10), i(r.BotClicks, 10), i(r.Conversions, 10),
		i(r.Direct, 10), i(r.CrossSell, 10)}
	for _, m := range []minor.Sum{r.Sale, r.Pending, r.Approved, r.Reversed, r.Paid} {
		out = append(out, m.In(r.Currency))
	}
	return append(out, epc)
}

// NewCSVWriter is the writer of every CSV reporting sends: RFC 4180,
// whose records end in CRLF (encoding/csv writes LF unless told), so a
// line break inside a quoted cell is written CRLF too.
func NewCSVWriter(w io.Writer) *csv.Writer {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	return cw
}

// FormatAsOf writes when a report's or a statement's figures were read,
// as its CSV as_of column, a statement's as_of and the X-Report-As-Of
// header all give it: RFC 3339 in UTC, to the millisecond the report
// holds (JSON's meta.as_of reads the same).
func FormatAsOf(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// NewCSV writes RFC 4180 CSV with a header row; every cell is made safe
// to open in a spreadsheet. A last column, as_of (FormatAsOf), says when
// the figures were read, so a file says what it is wherever it is copied.
func NewCSV(w io.Writer, m Meta) (Encoder, error) {
	cw := NewCSVWriter(w)
	header := append(append(append([]string{}, m.GroupBy...), Columns...), "as_of")
	if err := cw.Write(header); err != nil {
		return nil, err
	}
	return &csvEncoder{w: cw, asOf: FormatAsOf(m.AsOf)}, nil
}

type csvEncoder struct {
	w    *csv.Writer
	rec  []string
	asOf string
}

func (e *csvEncoder) Row(r Row) error {
	e.rec = e.rec[:0]
	for _, k := range r.Keys {
		e.rec = append(e.rec, SafeCell(k))
	}
	e.rec = append(e.rec, values(r)...)
	e.rec = append(e.rec, e.asOf)
	return e.w.Write(e.rec)
}

func (e *csvEncoder) Close() error {
	e.w.Flush()
	return e.w.Error()
}

// SafeCell neutralises a text cell (a partner, course, link or placement:
// what partners and visitors named) that a spreadsheet would run as a
// formula: one starting with = + - @, a tab, a carriage return or a line
// feed, after any spaces (a spreadsheet may trim them), gets a quote in
// front, even one that reads as a number (a course id "-3"), as the
// contract says. The figures reporting computes (amounts, counts) are not
// text cells: a negative amount stays a plain number.
func SafeCell(s string) string {
	t := strings.TrimLeft(s, " ")
	if t == "" || !strings.ContainsRune("=+-@\t\r\n", rune(t[0])) {
		return s
	}
	return "'" + s
}

// NewJSON writes {"meta":..., "rows":[...]} as rows arrive.
func NewJSON(w io.Writer, m Meta) (Encoder, error) {
	bw := bufio.NewWriterSize(w, 32<<10)
	if m.GroupBy == nil {
		m.GroupBy = []string{}
	}
	if m.ClosedPeriods == nil {
		m.ClosedPeriods = []string{}
	}
	if m.FinalDays == nil {
		m.FinalDays = []DayRange{}
	}
	meta, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	bw.WriteString(`{"meta":`)
	bw.Write(meta)
	bw.WriteString(`,"rows":[`)
	return &jsonEncoder{w: bw, keys: m.GroupBy}, nil
}

type jsonEncoder struct {
	w    *bufio.Writer
	keys []string
	n    int
}

func (e *jsonEncoder) Row(r Row) error {
	if e.n > 0 {
		e.w.WriteByte(',')
	}
	e.n++
	e.w.WriteByte('{')
	for i, k := range e.keys {
		writeField(e.w, k, jsonString(r.Keys[i]))
		e.w.WriteByte(',')
	}
	vals := values(r)
	for i, col := range Columns {
		if i > 0 {
			e.w.WriteByte(',')
		}
		v := vals[i]
		switch {
		case col == "epc" && v == "":
			v = "null"
		case i >= 1 && i <= 6:
			// counts are numbers
		default:
			v = jsonString(v)
		}
		writeField(e.w, col, v)
	}
	e.w.WriteByte('}')
	if e.w.Buffered() > 16<<10 {
		return e.w.Flush()
	}
	return nil
}

func writeField(w *bufio.Writer, name, value string) {
	w.WriteByte('"')
	w.WriteString(name)
	w.WriteString(`":`)
	w.WriteString(value)
}

func (e *jsonEncoder) Close() error {
	e.w.WriteString("]}\n")
	return e.w.Flush()
}

func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}
