// Package csvtable reads the CSV files finance uploads: a header row
// naming the columns (any order, any case, a byte-order mark allowed,
// extra columns ignored), then records read by column name. Malformed
// CSV is an errs.Invalid error naming the line.
package csvtable

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Reader reads records after the header.
type Reader struct {
	r    *csv.Reader
	what string
	col  map[string]int
	rec  []string
	line int
}

// New reads the header of body, which must name every required column;
// what names the file in errors ("the settlement").
func New(body []byte, what string, required ...string) (*Reader, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\ufeff"))))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.ReuseRecord = true
	header, err := r.Read()
	want := strings.Join(required, ",")
	if err != nil {
		return nil, errs.Newf(errs.Invalid, "malformed_csv", "%s has no header row (%s)", what, want)
	}
	col := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if _, twice := col[name]; twice && slices.Contains(required, name) {
			// The later column would be read: which the file meant is not
			// defined (a rate column named twice stored the second rate).
			// A network's export may repeat a column nobody reads.
			return nil, errs.Newf(errs.Invalid, "malformed_csv", "the header of %s names %q twice", what, name)
		}
		col[name] = i
	}
	for _, need := range required {
		if _, ok := col[need]; !ok {
			return nil, errs.Newf(errs.Invalid, "malformed_csv", "the header of %s has no %q column (want %s)", what, need, want)
		}
	}
	return &Reader{r: r, what: what, col: col, line: 1}, nil
}

// Has reports whether the header names column.
func (t *Reader) Has(column string) bool {
	_, ok := t.col[column]
	return ok
}

// Next reads the next record; it returns false at the end of the file.
func (t *Reader) Next() (bool, error) {
	rec, err := t.r.Read()
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	if err != nil {
		// The line the broken record starts on; the parse error says
		// where in it the fault is.
		line := t.line + 1
		var pe *csv.ParseError
		if errors.As(err, &pe) && pe.StartLine > 0 {
			line = pe.StartLine
		}
		return false, errs.Newf(errs.Invalid, "malformed_csv", "%s, line %d: %v", t.what, line, err)
	}
	// The file's line the record starts on: blank lines are skipped, and
	// a quoted cell may hold line breaks (counting records named every
	// later line too early).
	t.line, _ = t.r.FieldPos(0)
	t.rec = rec
	return true, nil
}

// Line is the line of the file the current record starts on (the header
// is line 1, or the line it is on after blank ones).
func (t *Reader) Line() int { return t.line }

// Get is the current record's value in column, trimmed; "" when the
// column or the cell is missing.
func (t *Reader) Get(column string) string {
	if i, ok := t.col[column]; ok && i < len(t.rec) {
		return strings.TrimSpace(t.rec[i])
	}
	return ""
}
