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

	"github.com/linkcredit/linkcredit/services/redirect/internal/link"
)

// Formats.
const (
	NDJSON = "ndjson"
	CSV    = "csv"
)

// MaxLineBytes bounds one NDJSON line or CSV record.
const MaxLineBytes = 64 << 10

// Row is one feed row: a link, or why the row could not be read.
type Row struct {
	Line int
	Link link.Link
	Err  error
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
		return "", fmt.Errorf("unknown format %q; use ndjson or csv", format)
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
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
		return &ndjsonReader{sc: sc}, nil
	case CSV:
		return newCSVReader(r)
	}
	return nil, fmt.Errorf("unknown format %q", format)
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
	sc   *bufio.Scanner
	line int
}

func (n *ndjsonReader) Next() (Row, error) {
	for n.sc.Scan() {
		n.line++
		b := bytes.TrimSpace(n.sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var jr jsonRow
		if err := json.Unmarshal(b, &jr); err != nil {
			return Row{Line: n.line, Err: fmt.Errorf("not a JSON object of link fields: %s", jsonProblem(err))}, nil
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
	if err := n.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Row{}, fmt.Errorf("line %d is longer than %d bytes", n.line+1, MaxLineBytes)
		}
		return Row{}, err
	}
	return Row{}, io.EOF
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field " + te.Field + " must be a " + te.Type.String()
	}
	return err.Error()
}

type csvReader struct {
	r       *csv.Reader
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
	cr := csv.NewReader(r)
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
			return nil, fmt.Errorf("the CSV header names %q twice", name)
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
	return &csvReader{r: cr, cols: cols, line: 1}, nil
}

func (c *csvReader) Next() (Row, error) {
	for {
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
			return Row{Line: pe.Line, Err: fmt.Errorf("not valid CSV: %v", pe.Err)}, nil
		}
		c.repeats = 0
		line := c.line + 1
		if len(rec) > 0 {
			line, _ = c.r.FieldPos(0) // valid only after a successful Read
		}
		c.line = line
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
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
				return Row{Line: line, Err: fmt.Errorf("active: %q is not true or false", v)}, nil
			}
		}
		p, err := link.ParsePlacements(get("placements"))
		if err != nil {
			return Row{Line: line, Err: err}, nil
		}
		l.Placements = p
		return Row{Line: line, Link: l}, nil
	}
}
