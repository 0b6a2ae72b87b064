package feed

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/strictjson"
	"github.com/linkcredit/linkcredit/services/redirect/internal/link"
)

// Formats.
const (
	NDJSON = "ndjson"
	CSV    = "csv"
)

// MaxLineBytes bounds one NDJSON line or CSV record (the CSV reader reads
// ahead up to 4 KiB, so a CSV record may pass it by that much). A longer
// NDJSON line is that row's error, and the feed goes on at the next line;
// a longer CSV record stops the feed (where it ends is not known without
// reading it), as no row is that long.
const MaxLineBytes = 64 << 10

// Row is one feed row: a link, or why the row could not be read.
type Row struct {
	Line int
	// EndLine is the line the row's last field starts on, when after
	// Line: a CSV record whose quoted field spans lines (an open quote
	// joins the lines up to the next one).
	EndLine int
	Link    link.Link
	Err     error
	// With Err: the row's code, when it holds a valid one, and the field
	// at fault, when one is; either may be "".
	Code, Field string
}

// Spans says, for an error about r, that r runs over several lines, or "".
func (r Row) Spans() string {
	if r.EndLine <= r.Line {
		return ""
	}
	return fmt.Sprintf(" (the record runs from line %d to %d: a quote left open joins the lines up to the next quote, and their rows are part of it)", r.Line, r.EndLine)
}

// Reader yields rows.
type Reader interface {
	// Next returns the next row, or io.EOF after the last. Any other error
	// means the feed as a whole cannot be read further.
	Next() (Row, error)
}

// Detect picks a format from a Content-Type, an explicit format name, or
// the first non-blank byte of the body.
func Detect(contentType, format string, first byte) (string, error) {
	switch strings.ToLower(format) {
	case NDJSON, "jsonl", "json":
		return NDJSON, nil
	case CSV:
		return CSV, nil
	case "":
	default:
		return "", fmt.Errorf("unknown format %s; use ndjson or csv", link.Quote(format))
	}
	ct := strings.ToLower(contentType)
	switch {
	case strings.Contains(ct, "ndjson"), strings.Contains(ct, "jsonl"), strings.Contains(ct, "json"):
		return NDJSON, nil
	case strings.Contains(ct, "csv"):
		return CSV, nil
	}
	if first == '{' {
		return NDJSON, nil
	}
	return CSV, nil
}

// NewReader returns a reader of format over r.
func NewReader(format string, r io.Reader) (Reader, error) {
	switch format {
	case NDJSON:
		return &ndjsonReader{r: bufio.NewReaderSize(r, 64<<10)}, nil
	case CSV:
		return newCSVReader(r)
	}
	return nil, fmt.Errorf("unknown format %s", link.Quote(format))
}

// jsonRow is a feed row; unknown fields (prices, descriptions) are ignored,
// because catalog feeds carry more than links.
type jsonRow struct {
	Code        *string   `json:"code"`
	Partner     *string   `json:"partner"`
	CourseID    *string   `json:"course_id"`
	Title       *string   `json:"title"`
	Destination *string   `json:"destination"`
	Active      *bool     `json:"active"`
	Placements  *[]string `json:"placements"`
}

type ndjsonReader struct {
	r    *bufio.Reader
	buf  []byte // the line being read, at most MaxLineBytes
	line int
}

// readLine returns the next line without its newline, and whether it was
// longer than MaxLineBytes: then it is read to its end and dropped, so
// that no more than MaxLineBytes of it is ever held.
func (n *ndjsonReader) readLine() (line []byte, tooLong bool, err error) {
	n.buf = n.buf[:0]
	for {
		chunk, err := n.r.ReadSlice('\n')
		if err == nil || err == io.EOF {
			chunk = bytes.TrimSuffix(chunk, []byte("\n"))
		}
		if !tooLong {
			if len(n.buf)+len(chunk) > MaxLineBytes {
				tooLong, n.buf = true, n.buf[:0]
			} else {
				n.buf = append(n.buf, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && (len(n.buf) > 0 || tooLong):
			return n.buf, tooLong, nil // a last line without its newline
		case err != nil:
			return nil, false, err // io.EOF after the last line
		}
		return n.buf, tooLong, nil
	}
}

func (n *ndjsonReader) Next() (Row, error) {
	for {
		raw, tooLong, err := n.readLine()
		if err != nil {
			return Row{}, err // io.EOF after the last line
		}
		n.line++
		if tooLong {
			return Row{Line: n.line, Err: fmt.Errorf("line %d is longer than %d bytes", n.line, MaxLineBytes)}, nil
		}
		b := bytes.TrimSpace(raw)
		if len(b) == 0 {
			continue
		}
		if !utf8.Valid(b) {
			return Row{Line: n.line, Err: errNotUTF8}, nil
		}
		if b[0] != '{' { // an array, a string, a number, true, false, null, or no JSON
			return Row{Line: n.line, Err: fmt.Errorf("line %d is not a JSON object; each line of an NDJSON feed is one link's fields", n.line)}, nil
		}
		var jr jsonRow
		if err := json.Unmarshal(b, &jr); err != nil {
			row := Row{Line: n.line, Err: jsonProblem(n.line, len(b), err), Code: codeOf(b)}
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				row.Field = te.Field
			}
			return row, nil
		}
		if key, ok := strictjson.RepeatedKey(b); ok {
			// encoding/json kept the last: which the feed meant is not defined.
			return Row{Line: n.line, Err: fmt.Errorf("line %d gives %s more than once: which value is meant is not defined", n.line, link.Quote(key))}, nil
		}
		l := link.Link{Active: true}
		for _, f := range []struct {
			dst *string
			src *string
		}{{&l.Code, jr.Code}, {&l.Partner, jr.Partner}, {&l.CourseID, jr.CourseID}, {&l.Title, jr.Title}, {&l.Destination, jr.Destination}} {
			if f.src != nil {
				*f.dst = *f.src
			}
		}
		if jr.Active != nil {
			l.Active = *jr.Active
		}
		if jr.Placements != nil {
			l.Placements = *jr.Placements
		}
		return Row{Line: n.line, Link: l}, nil
	}
}

// codeOf is the code of an NDJSON line that did not decode as link
// fields (a wrong type elsewhere), when it names a valid one.
func codeOf(line []byte) string {
	var c struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(line, &c) != nil {
		return ""
	}
	return link.CodeIfValid(c.Code)
}

// jsonProblem words why a line that starts like an object is not one of
// link fields, in JSON's terms (string, array), never Go's: a wrong type
// names the field and what it must be; anything else is a syntax error
// located by its byte, as strictjson words both, or the line's end.
func jsonProblem(line, length int, err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset >= int64(length) {
		return fmt.Errorf("line %d is not valid JSON: it ends before its value does", line)
	}
	if errors.As(err, &te) && te.Field == "placements" {
		// encoding/json names the list for a wrong element too.
		return fmt.Errorf("line %d: field \"placements\" must be an array of strings", line)
	}
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("line %d: %s", line, strictjson.Problem(err))
	}
	return fmt.Errorf("line %d is not valid JSON: %s", line, strictjson.Problem(err))
}

type csvReader struct {
	r       *csv.Reader
	limit   *recordLimiter
	cols    map[string]int
	line    int
	lastErr string
	repeats int
}

// csvColumns are the columns a CSV feed may have; placements is a list
// separated by commas or spaces (quote it when it has commas), as
// link.ParsePlacements reads it.
var csvColumns = []string{"code", "partner", "course_id", "title", "destination", "active", "placements"}

func newCSVReader(r io.Reader) (*csvReader, error) {
	lr := &recordLimiter{r: r}
	lr.next()
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("the CSV feed is empty; it needs a header row")
	}
	if err != nil {
		return nil, fmt.Errorf("the CSV header cannot be read: %w", err)
	}
	cols := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := cols[name]; dup {
			return nil, fmt.Errorf("the CSV header names %s twice", link.Quote(name))
		}
		cols[name] = i
	}
	var missing []string
	for _, c := range []string{"code", "partner", "course_id", "destination"} {
		if _, ok := cols[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the CSV header lacks %s (columns: %s)", strings.Join(missing, ", "), strings.Join(csvColumns, ","))
	}
	return &csvReader{r: cr, limit: lr, cols: cols, line: 1}, nil
}

func (c *csvReader) Next() (Row, error) {
	for {
		c.limit.next()
		rec, err := c.r.Read()
		if err == io.EOF {
			return Row{}, io.EOF
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return Row{}, err
			}
			// The reader goes on after a bad record, but guard against a
			// reader that cannot get past one.
			if pe.Error() == c.lastErr {
				if c.repeats++; c.repeats > 3 {
					return Row{}, fmt.Errorf("the CSV cannot be read past line %d: %w", pe.Line, pe.Err)
				}
			}
			c.lastErr = pe.Error()
			// The record's first line, where the fault begins (an open
			// quote swallows the lines after it, which the message names).
			line, msg := pe.StartLine, fmt.Sprintf("not valid CSV: %v", pe.Err)
			if line <= 0 {
				line = pe.Line
			}
			if pe.Line > line {
				msg += fmt.Sprintf(" (the record runs from line %d to %d: its rows, and any others in those lines, were not imported)", line, pe.Line)
			}
			return Row{Line: line, Err: errors.New(msg)}, nil
		}
		c.repeats = 0
		line, end := c.line+1, 0
		if len(rec) > 0 {
			line, _ = c.r.FieldPos(0) // valid only after a successful Read
			end, _ = c.r.FieldPos(len(rec) - 1)
		}
		c.line = line
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		for _, f := range rec {
			if !utf8.ValidString(f) {
				return Row{Line: line, EndLine: end, Err: errNotUTF8}, nil
			}
		}
		get := func(name string) string {
			i, ok := c.cols[name]
			if !ok || i >= len(rec) {
				return ""
			}
			return strings.TrimSpace(rec[i])
		}
		l := link.Link{Code: get("code"), Partner: get("partner"), CourseID: get("course_id"),
			Title: get("title"), Destination: get("destination"), Active: true}
		if v := strings.ToLower(get("active")); v != "" {
			switch v {
			case "true", "1", "yes", "y":
			case "false", "0", "no", "n":
				l.Active = false
			default:
				return Row{Line: line, EndLine: end, Err: fmt.Errorf("active: %s is not true or false", link.Quote(v)),
					Code: link.CodeIfValid(l.Code), Field: "active"}, nil
			}
		}
		p, err := link.ParsePlacements(get("placements"))
		if err != nil {
			return Row{Line: line, EndLine: end, Err: err, Code: link.CodeIfValid(l.Code), Field: "placements"}, nil
		}
		l.Placements = p
		return Row{Line: line, EndLine: end, Link: l}, nil
	}
}

// errNotUTF8 is a row that is not UTF-8 text (a Latin-1 export, say):
// refused rather than stored with its bytes replaced.
var errNotUTF8 = errors.New("not UTF-8 text; send the feed in UTF-8")

// errRecordTooLong stops a CSV feed at a record longer than MaxLineBytes.
var errRecordTooLong = fmt.Errorf("a CSV record is longer than %d bytes", MaxLineBytes)

// recordLimiter bounds what the CSV reader may read for one record
// (encoding/csv has no such bound, and gathers a quoted field across
// lines): next grants another MaxLineBytes, plus the 4 KiB the CSV
// reader's buffer reads ahead of the record it returns.
type recordLimiter struct {
	r    io.Reader
	left int
}

func (l *recordLimiter) next() { l.left = MaxLineBytes + 4<<10 }

func (l *recordLimiter) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errRecordTooLong
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= n
	return n, err
}
