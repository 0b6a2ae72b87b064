package feed

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/strictjson"
	"github.com/linkcredit/linkcredit/services/redirect/internal/link"
)

func readAll(t *testing.T, format, in string) []Row {
	t.Helper()
	r, err := NewReader(format, strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var rows []Row
	for {
		row, err := r.Next()
		if err == io.EOF {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
}

func TestNDJSON(t *testing.T) {
	in := `{"code":"a","partner":"coursera","course_id":"c1","destination":"https://x.example/","price":"9.99"}

{"code":"b","partner":"edx","course_id":"c2","destination":"https://y.example/","active":false}
{"code":
{"code":"c","active":"yes"}
`
	rows := readAll(t, NDJSON, in)
	if len(rows) != 4 {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	if rows[0].Line != 1 || rows[0].Link.Code != "a" || !rows[0].Link.Active || rows[0].Err != nil {
		t.Errorf("row 1: %+v", rows[0])
	}
	if rows[1].Line != 3 || rows[1].Link.Active {
		t.Errorf("row 3: %+v", rows[1])
	}
	if rows[2].Line != 4 || rows[2].Err == nil {
		t.Errorf("row 4 should fail: %+v", rows[2])
	}
	if rows[3].Line != 5 || rows[3].Err == nil || !strings.Contains(rows[3].Err.Error(), "active") {
		t.Errorf("row 5 should fail on active: %+v", rows[3])
	}
}

func TestCSV(t *testing.T) {
	in := "\ufeffCode,partner,course_id,title,destination,active,price\n" +
		"a,coursera,c1,\"Machine Learning, Part 1\",https://x.example/?id={click_id},,9.99\n" +
		"\n" +
		"b,edx,c2,Title,https://y.example/,no,1\n" +
		"c,edx,c3,\"bad \"quote\",https://y.example/,yes,1\n" +
		"d,edx,c4,T,https://y.example/,maybe\n" +
		"e,edx\n"
	rows := readAll(t, CSV, in)
	if len(rows) != 5 {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	if r := rows[0]; r.Line != 2 || r.Link.Title != "Machine Learning, Part 1" || !r.Link.Active || r.Err != nil {
		t.Errorf("row a: %+v", r)
	}
	if r := rows[1]; r.Line != 4 || r.Link.Active || r.Err != nil {
		t.Errorf("row b: %+v", r)
	}
	if r := rows[2]; r.Line != 5 || r.Err == nil {
		t.Errorf("row c should fail: %+v", r)
	}
	if r := rows[3]; r.Err == nil || !strings.Contains(r.Err.Error(), "maybe") {
		t.Errorf("row d should fail on active: %+v", r)
	}
	if r := rows[4]; r.Err != nil || r.Link.Code != "e" || r.Link.Destination != "" {
		t.Errorf("short row e should parse (validation rejects it later): %+v", r)
	}
}

// TestCSVLineEnds: a feed with CRLF line ends (RFC 4180, a spreadsheet's
// export) or mixed ones reads as the same feed with LF, line numbers and
// all; a quoted line break is kept as LF.
func TestCSVLineEnds(t *testing.T) {
	lf := "\ufeffcode,partner,course_id,title,destination,active\n" +
		"a,coursera,c1,\"Machine Learning,\nPart 1\",https://x.example/,\n" +
		"\n" +
		"b,edx,c2,Title,https://y.example/,no\n" +
		"c,edx,c3,T,https://y.example/,maybe\n"
	want := readAll(t, CSV, lf)
	tests := []struct{ name, in string }{
		{"CRLF", strings.ReplaceAll(lf, "\n", "\r\n")},
		{"CRLF, no last line end", strings.TrimSuffix(strings.ReplaceAll(lf, "\n", "\r\n"), "\r\n")},
		{"mixed", strings.Replace(strings.ReplaceAll(lf, "\n", "\r\n"), "\r\n", "\n", 2)},
	}
	if len(want) != 3 || want[0].Link.Title != "Machine Learning,\nPart 1" || want[1].Line != 5 || want[2].Err == nil {
		t.Fatalf("LF feed: %+v", want)
	}
	for _, tt := range tests {
		got := readAll(t, CSV, tt.in)
		if len(got) != len(want) {
			t.Errorf("%s: %d rows, want %d: %+v", tt.name, len(got), len(want), got)
			continue
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Line != w.Line || g.Link.Code != w.Link.Code || g.Link.Title != w.Link.Title || g.Link.Destination != w.Link.Destination ||
				g.Link.Active != w.Link.Active || (g.Err == nil) != (w.Err == nil) {
				t.Errorf("%s: row %d = %+v, want %+v", tt.name, i, g, w)
			}
		}
	}
}

func TestPlacements(t *testing.T) {
	ndjson := `{"code":"a","placements":["hero","sidebar"]}
{"code":"b"}
{"code":"c","placements":[]}
{"code":"d","placements":"hero"}
{"code":"e","placements":["a b"]}
`
	csv := "code,partner,course_id,destination,placements\n" +
		"a,x,c,https://x.example/,\"hero, sidebar\"\n" +
		"b,x,c,https://x.example/,\n" +
		"c,x,c,https://x.example/,hero sidebar footer\n" +
		"d,x,c,https://x.example/,\"" + strings.Repeat("p,", 33) + "\"\n"
	tests := []struct {
		format string
		in     string
		want   []string // per row: placements joined by |, or "error: ..."
	}{
		{NDJSON, ndjson, []string{"hero|sidebar", "", "", "error: placements", "a b"}},
		{CSV, csv, []string{"hero|sidebar", "", "hero|sidebar|footer", "error: more than 32"}},
	}
	for _, tt := range tests {
		rows := readAll(t, tt.format, tt.in)
		if len(rows) != len(tt.want) {
			t.Fatalf("%s: %d rows, want %d: %+v", tt.format, len(rows), len(tt.want), rows)
		}
		for i, want := range tt.want {
			r := rows[i]
			if msg, ok := strings.CutPrefix(want, "error: "); ok {
				if r.Err == nil || !strings.Contains(r.Err.Error(), msg) {
					t.Errorf("%s row %d: %+v, want an error about %q", tt.format, i+1, r, msg)
				}
				continue
			}
			if r.Err != nil || strings.Join(r.Link.Placements, "|") != want {
				t.Errorf("%s row %d: placements %q (%v), want %q", tt.format, i+1, r.Link.Placements, r.Err, want)
			}
		}
	}
	// An entry the parser passes but that is no tag fails validation,
	// which the import reports by field.
	if rows := readAll(t, NDJSON, ndjson); rows[4].Link.Validate() == nil {
		t.Error("placement \"a b\" validated")
	}
}

// TestRowProblemsInPlainWords: a row that cannot be read is reported in a
// sentence that names the line and JSON's or CSV's terms, never a Go type
// (encoding/json's own words are "Go value of type feed.jsonRow").
func TestRowProblemsInPlainWords(t *testing.T) {
	const header = "code,partner,course_id,destination,active,placements\n"
	tests := []struct {
		name, format, in string
		want             string // the whole message
	}{
		{"array", NDJSON, `[1,2]`, "line 1 is not a JSON object; each line of an NDJSON feed is one link's fields"},
		{"array of objects", NDJSON, `[{"code":"a"}]`, "line 1 is not a JSON object; each line of an NDJSON feed is one link's fields"},
		{"string", NDJSON, `"a"`, "line 1 is not a JSON object; each line of an NDJSON feed is one link's fields"},
		{"number", NDJSON, "\n\n  42", "line 3 is not a JSON object; each line of an NDJSON feed is one link's fields"},
		{"null", NDJSON, `null`, "line 1 is not a JSON object; each line of an NDJSON feed is one link's fields"},
		{"true", NDJSON, `true`, "line 1 is not a JSON object; each line of an NDJSON feed is one link's fields"},
		{"not JSON", NDJSON, `code,partner`, "line 1 is not a JSON object; each line of an NDJSON feed is one link's fields"},
		{"number for a string", NDJSON, `{"code":1}`, `line 1: field "code" must be a string`},
		{"object for a string", NDJSON, `{"destination":{"url":"https://x.example/"}}`, `line 1: field "destination" must be a string`},
		{"array for a string", NDJSON, `{"course_id":["c1"]}`, `line 1: field "course_id" must be a string`},
		{"key in another case", NDJSON, `{"Title":false}`, `line 1: field "title" must be a string`},
		{"string for active", NDJSON, `{"active":"yes"}`, `line 1: field "active" must be true or false`},
		{"number for active", NDJSON, `{"active":1}`, `line 1: field "active" must be true or false`},
		{"string for placements", NDJSON, `{"placements":"hero"}`, `line 1: field "placements" must be an array of strings`},
		{"number in placements", NDJSON, `{"placements":["hero",1]}`, `line 1: field "placements" must be an array of strings`},
		{"object for placements", NDJSON, `{"placements":{"hero":true}}`, `line 1: field "placements" must be an array of strings`},
		{"huge number", NDJSON, `{"partner":1e999}`, `line 1: field "partner" must be a string`},
		{"cut short", NDJSON, `{"code":"a"`, "line 1 is not valid JSON: it ends before its value does"},
		{"bad escape", NDJSON, `{"code":"\q"}`, "line 1 is not valid JSON: a syntax error at byte 11"},
		{"data after the object", NDJSON, `{"code":"a"} {}`, "line 1 is not valid JSON: a syntax error at byte 14"},
		{"CSV bare quote", CSV, header + `a,p,c,"https://x.example/"x,,` + "\n", "not valid CSV: extraneous or missing \" in quoted-field"},
		{"CSV active", CSV, header + "a,p,c,https://x.example/,2,\n", `active: "2" is not true or false`},
		{"CSV placements", CSV, header + "a,p,c,https://x.example/,," + strings.Repeat("p ", 33) + "\n", "placements: more than 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := readAll(t, tt.format, tt.in)
			if len(rows) != 1 || rows[0].Err == nil {
				t.Fatalf("rows %+v, want one that fails", rows)
			}
			if got := rows[0].Err.Error(); got != tt.want {
				t.Fatalf("message %q, want %q", got, tt.want)
			}
		})
	}
}

// goWords are what encoding/json says of Go types: no row message has one.
var goWords = []string{"Go ", "jsonRow", "feed.", "*string", "[]string", "*bool", "struct", "unmarshal"}

func TestCSVHeaderProblems(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "empty",
		"code,partner\n":                "lacks course_id, destination",
		"code,code,partner,course_id\n": "twice",
	} {
		if _, err := NewReader(CSV, strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
}

// A line longer than MaxLineBytes is its row's error, and the feed goes
// on at the next line (it stopped the whole feed, after the rows before it
// had been stored: from a limits check); a line of MaxLineBytes is read.
func TestNDJSONLineTooLong(t *testing.T) {
	row := func(code string, pad int) string {
		return `{"code":"` + code + `","partner":"p","course_id":"c","destination":"https://example.com/","title":"` + strings.Repeat("t", pad) + `"}`
	}
	fits := row("fits", 0)
	fits = row("fits", MaxLineBytes-len(fits))
	long := row("long", MaxLineBytes)
	for _, tt := range []struct{ in, want string }{
		{row("a", 0) + "\n" + long + "\n" + fits + "\n" + long + "\n" + row("b", 0), "[1:a 2:long 3:fits 4:long 5:b]"}, // the last without its newline
		{row("a", 0) + "\r\n" + long + "\r\n" + row("b", 0) + "\r\n", "[1:a 2:long 3:b]"},
		{long, "[1:long]"},
	} {
		r, _ := NewReader(NDJSON, strings.NewReader(tt.in))
		var got []string
		for {
			rw, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("err = %v after %v", err, got)
			}
			if rw.Err != nil {
				if !strings.Contains(rw.Err.Error(), "longer than") {
					t.Fatalf("line %d: %v", rw.Line, rw.Err)
				}
				got = append(got, fmt.Sprintf("%d:long", rw.Line))
				continue
			}
			got = append(got, fmt.Sprintf("%d:%s", rw.Line, rw.Link.Code))
		}
		if fmt.Sprint(got) != tt.want {
			t.Errorf("rows %v, want %s", got, tt.want)
		}
	}
}

// TestHostileFeeds: a CSV record past MaxLineBytes stops the feed (no
// row is that long, and encoding/csv would gather it all in memory); a row
// that is not UTF-8 is a row error; messages quote no more than a bit of
// what was sent.
func TestHostileFeeds(t *testing.T) {
	const header = "code,partner,course_id,destination\n"
	huge := strings.Repeat("A", MaxLineBytes+8<<10)
	tests := []struct {
		name, format, in string
		feedErr          string // the feed stops with this, "" for none
		rowErr           string // the first row's error, "" for none
	}{
		{"CSV record too long", CSV, header + `"` + huge + `",p,c,https://x.example/` + "\n", "longer than", ""},
		{"CSV quoted field across lines", CSV, header + `"` + strings.Repeat("a\n", MaxLineBytes) + `",p,c,d` + "\n", "longer than", ""},
		{"CSV header too long", CSV, huge + "\n", "longer than", ""},
		{"CSV record just below the limit", CSV, header + strings.Repeat("a", MaxLineBytes-100) + ",p,c,d\n", "", ""},
		{"CSV rows after a long one", CSV, header + strings.Repeat(strings.Repeat("a", MaxLineBytes-100)+",p,c,d\n", 5), "", ""},
		{"CSV Latin-1", CSV, header + "a,p,caf\xe9,https://x.example/\n", "", "UTF-8"},
		{"NDJSON Latin-1", NDJSON, `{"code":"a","course_id":"caf` + "\xe9" + `"}` + "\n", "", "UTF-8"},
		{"CSV long active", CSV, "code,partner,course_id,destination,active\na,p,c,d," + huge[:60<<10] + "\n", "", "is not true or false"},
		{"CSV header twice, long", CSV, "code,partner,course_id,destination," + huge[:20<<10] + "," + huge[:20<<10] + "\n", "twice", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rows []Row
			r, err := NewReader(tt.format, strings.NewReader(tt.in))
			for err == nil {
				var row Row
				if row, err = r.Next(); err == nil {
					rows = append(rows, row)
				}
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
			if (err != nil) != (tt.feedErr != "") || err != nil && !strings.Contains(err.Error(), tt.feedErr) {
				t.Fatalf("feed error %v, want %q", err, tt.feedErr)
			}
			if err != nil && len(err.Error()) > 256 {
				t.Errorf("a %d-byte feed error", len(err.Error()))
			}
			if tt.rowErr != "" {
				if len(rows) == 0 || rows[0].Err == nil || !strings.Contains(rows[0].Err.Error(), tt.rowErr) {
					t.Fatalf("rows %+v, want the first to fail with %q", rows, tt.rowErr)
				}
				if len(rows[0].Err.Error()) > 256 {
					t.Errorf("a %d-byte row error", len(rows[0].Err.Error()))
				}
			}
		})
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		ct, format string
		first      byte
		want       string
	}{
		{"application/x-ndjson", "", 'c', NDJSON},
		{"text/csv; charset=utf-8", "", '{', CSV},
		{"", "csv", '{', CSV},
		{"", "", '{', NDJSON},
		{"application/octet-stream", "", 'c', CSV},
	}
	for _, tt := range tests {
		if got, _ := Detect(tt.ct, tt.format, tt.first); got != tt.want {
			t.Errorf("Detect(%q, %q, %q) = %q, want %q", tt.ct, tt.format, tt.first, got, tt.want)
		}
	}
	if _, err := Detect("", "xml", 0); err == nil {
		t.Error("xml accepted")
	}
	if _, err := Detect("", strings.Repeat("x", 10<<10), 0); err == nil || len(err.Error()) > 128 {
		t.Errorf("a long unknown format: %.200v", err)
	}
}

// FuzzFeeds: any input reads to the end without panicking or looping,
// with short errors that speak JSON's words, not Go's; and each row is
// the input's own:
//   - NDJSON: one row per non-blank line, in order, numbered by its line;
//     a row read without error has the fields encoding/json finds in the
//     line (matched to names without regard to case; active true when
//     absent), and a line that is a UTF-8 JSON object whose known fields
//     have the right types and none given twice is never refused;
//   - CSV: one row per record encoding/csv reads that is not blank,
//     numbered by the line it starts on; a row read without error has the
//     record's trimmed cells under the header's names, active as its word
//     says, placements as link.ParsePlacements reads the cell; a record
//     encoding/csv cannot read is a row error at the line it starts on.
func FuzzFeeds(f *testing.F) {
	f.Add("code,partner,course_id,destination\na,b,c,https://x/\n")
	f.Add("{\"code\":\"a\"}\n{bad\n")
	f.Add("code,partner,course_id,destination\n\"unterminated\n")
	f.Add("\ufeffcode,partner,course_id,destination,active\na,b,c,d,x\n")
	f.Add("code,partner,course_id,destination,placements\na,b,c,d,\"x, y z\"\n")
	f.Add("{\"code\":\"a\",\"placements\":[\"x\",\"\\u0000\"]}\n")
	f.Add("code,partner,course_id,destination,active\na,b,c,d," + strings.Repeat("y", 300) + "\n")
	f.Add("code,code" + strings.Repeat("z", 300) + ",code" + strings.Repeat("z", 300) + "\n")
	f.Add("{\"code\":\"caf\xe9\"}\n")
	f.Add("[1,2]\n{\"code\":1,\"active\":\"x\",\"placements\":[2]}\n")
	f.Add(" {\"CODE\":\"a\",\"Active\":null,\"title\":\"T\\u00e9\",\"x\":[1]} \r\n\r\n\t\n{\"code\":\"a\",\"Code\":\"b\"}")
	f.Add("Title,CODE,partner,course_id,destination\r\n\" T \",a,p,\"c\r\n1\",d\r\n\r\nb,\"x\"y\",p,c,d\r\n ,\n")
	f.Fuzz(func(t *testing.T, in string) {
		for _, format := range []string{NDJSON, CSV} {
			r, err := NewReader(format, strings.NewReader(in))
			if err != nil {
				continue
			}
			var rows []Row
			for i := 0; ; i++ {
				if i > len(in)+10 {
					t.Fatalf("%s reader yields more rows than the input has bytes", format)
				}
				row, err := r.Next()
				if err != nil {
					if len(err.Error()) > 256 {
						t.Fatalf("%s feed error of %d bytes: an echo of the input", format, len(err.Error()))
					}
					if err != io.EOF {
						rows = nil // the feed stopped: the rows are not compared
					}
					break
				}
				if row.Line < 1 {
					t.Fatalf("%s row with line %d", format, row.Line)
				}
				if row.Err != nil && len(row.Err.Error()) > 256 {
					t.Fatalf("%s row error of %d bytes: an echo of the input", format, len(row.Err.Error()))
				}
				if row.Err != nil && format == NDJSON {
					for _, w := range goWords {
						if strings.Contains(row.Err.Error(), w) {
							t.Fatalf("row error %q speaks of Go (%q)", row.Err, w)
						}
					}
				}
				rows = append(rows, row)
			}
			if rows == nil {
				continue
			}
			if format == NDJSON {
				checkNDJSONRows(t, in, rows)
			} else {
				checkCSVRows(t, in, rows)
			}
		}
	})
}

// checkNDJSONRows holds rows, all an NDJSON feed gave, to the lines of in.
func checkNDJSONRows(t *testing.T, in string, rows []Row) {
	t.Helper()
	lines := strings.Split(in, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	next := 0
	for n, line := range lines {
		b := bytes.TrimSpace([]byte(strings.TrimSuffix(line, "\r")))
		if len(b) == 0 {
			continue
		}
		if next >= len(rows) || rows[next].Line != n+1 {
			t.Fatalf("line %d %q has no row of its own: %+v", n+1, b, rows)
		}
		row := rows[next]
		next++
		want, ok := refNDJSON(b)
		if row.Err == nil && !ok {
			t.Fatalf("line %d %q accepted as %+v; encoding/json and the field types say no", n+1, b, row.Link)
		}
		if row.Err != nil && ok {
			t.Fatalf("line %d %q refused (%v); it is a UTF-8 object of link fields", n+1, b, row.Err)
		}
		if row.Err == nil && !reflect.DeepEqual(row.Link, want) {
			t.Fatalf("line %d %q read as %+v, want %+v", n+1, b, row.Link, want)
		}
	}
	if next != len(rows) {
		t.Fatalf("%d rows for %d non-blank lines", len(rows), next)
	}
}

// refNDJSON reads one NDJSON line with encoding/json into a map and finds
// the link's fields in it by name without regard to case, as the
// contract's field names are; ok is false for a line that is not a UTF-8
// JSON object, gives a field twice (in any case), or gives a link field
// a value of another type (null is as if absent).
func refNDJSON(b []byte) (l link.Link, ok bool) {
	var m map[string]json.RawMessage
	if !utf8.Valid(b) || json.Unmarshal(b, &m) != nil || m == nil {
		return l, false
	}
	if _, repeated := strictjson.RepeatedKey(b); repeated {
		return l, false
	}
	l.Active = true
	for k, raw := range m {
		if string(raw) == "null" {
			continue
		}
		var err error
		switch {
		case strings.EqualFold(k, "code"):
			err = json.Unmarshal(raw, &l.Code)
		case strings.EqualFold(k, "partner"):
			err = json.Unmarshal(raw, &l.Partner)
		case strings.EqualFold(k, "course_id"):
			err = json.Unmarshal(raw, &l.CourseID)
		case strings.EqualFold(k, "title"):
			err = json.Unmarshal(raw, &l.Title)
		case strings.EqualFold(k, "destination"):
			err = json.Unmarshal(raw, &l.Destination)
		case strings.EqualFold(k, "active"):
			err = json.Unmarshal(raw, &l.Active)
		case strings.EqualFold(k, "placements"):
			err = json.Unmarshal(raw, &l.Placements)
		}
		if err != nil {
			return l, false
		}
	}
	return l, true
}

// checkCSVRows holds rows, all a CSV feed gave, to the records
// encoding/csv reads from in.
func checkCSVRows(t *testing.T, in string, rows []Row) {
	t.Helper()
	if len(in) > MaxLineBytes {
		return // the feed bounds a record; encoding/csv does not
	}
	ref := csv.NewReader(strings.NewReader(in))
	ref.FieldsPerRecord = -1
	header, _ := ref.Read()
	cols := map[string]int{}
	for i, h := range header {
		cols[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	next := 0
	for {
		rec, err := ref.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("encoding/csv: %v", err)
		}
		if err == nil && len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if next >= len(rows) {
			t.Fatalf("a record (%q, %v) has no row: %+v", rec, err, rows)
		}
		row := rows[next]
		next++
		if err != nil {
			if row.Err == nil || row.Line != pe.StartLine {
				t.Fatalf("encoding/csv fails at line %d (%v); the row is %+v", pe.StartLine, err, row)
			}
			continue
		}
		line, _ := ref.FieldPos(0)
		if row.Line != line {
			t.Fatalf("record %q starts on line %d, its row says %d", rec, line, row.Line)
		}
		if row.Err != nil {
			continue
		}
		cell := func(name string) string {
			if i, ok := cols[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		want := link.Link{Code: cell("code"), Partner: cell("partner"), CourseID: cell("course_id"), Title: cell("title"),
			Destination: cell("destination"), Active: !slices.Contains([]string{"false", "0", "no", "n"}, strings.ToLower(cell("active")))}
		if w := strings.ToLower(cell("active")); !slices.Contains([]string{"", "true", "1", "yes", "y", "false", "0", "no", "n"}, w) {
			t.Fatalf("record %q: active %q accepted", rec, w)
		}
		want.Placements, _ = link.ParsePlacements(cell("placements"))
		if !reflect.DeepEqual(row.Link, want) {
			t.Fatalf("record %q read as %+v, want %+v", rec, row.Link, want)
		}
	}
	if next != len(rows) {
		t.Fatalf("%d rows for %d records", len(rows), next)
	}
}

// FuzzFeedRoundTrip: a link written as an NDJSON line by encoding/json, or
// as a CSV record by encoding/csv (the columns in any order and case, a
// byte-order mark, CRLF, blank lines between rows), reads back as itself
// on the line it was written on (CSV cells trimmed; a cell with a CR is
// left out, as RFC 4180 readers turn a quoted CRLF into LF).
func FuzzFeedRoundTrip(f *testing.F) {
	f.Add("ml-101", "coursera", "ml", "Machine Learning, Part 1", "https://x.example/?id={click_id}", "hero, sidebar", true, uint8(0), false)
	f.Add(" a\"", "\n", "\u2028", "=1", "", "", false, uint8(7), true)
	f.Fuzz(func(t *testing.T, code, partner, course, title, dest, placements string, active bool, shape uint8, crlf bool) {
		for _, s := range []string{code, partner, course, title, dest, placements} {
			if !utf8.ValidString(s) {
				return
			}
		}
		p, err := link.ParsePlacements(placements)
		if err != nil {
			return
		}
		want := link.Link{Code: code, Partner: partner, CourseID: course, Title: title, Destination: dest, Active: active, Placements: p}
		blanks := int(shape % 3)
		eol := map[bool]string{false: "\n", true: "\r\n"}[crlf]

		// NDJSON: two copies, blank lines before each.
		line, err := json.Marshal(map[string]any{"code": code, "partner": partner, "course_id": course, "title": title,
			"destination": dest, "active": active, "placements": p, "price": "9.99"})
		if err != nil {
			t.Fatal(err)
		}
		var nd strings.Builder
		var ndLines []int
		n := 0
		for range 2 {
			for range blanks {
				nd.WriteString(" \t" + eol)
				n++
			}
			nd.Write(line)
			nd.WriteString(eol)
			n++
			ndLines = append(ndLines, n)
		}
		checkRoundTrip(t, NDJSON, nd.String(), want, ndLines)

		if strings.Contains(code+partner+course+title+dest+placements, "\r") {
			return
		}
		cols := []string{"Code", "PARTNER", "course_id", "title", "destination", "active", "placements", "price"}
		for i := len(cols) - 1; i > 0; i-- {
			j := int(shape) % (i + 1)
			cols[i], cols[j] = cols[j], cols[i]
			shape = shape/2 + 1
		}
		words := map[bool][]string{true: {"true", "YES", "1", ""}, false: {"false", "No", "0", "n"}}[active]
		cell := map[string]string{"Code": code, "PARTNER": partner, "course_id": course, "title": title, "destination": dest,
			"active": words[blanks], "placements": link.FormatPlacements(p), "price": "9.99"}
		var buf bytes.Buffer
		if crlf {
			buf.WriteString("\ufeff")
		}
		w := csv.NewWriter(&buf)
		w.UseCRLF = crlf
		_ = w.Write(cols)
		w.Flush()
		var csvLines []int
		for range 2 {
			for range blanks {
				buf.WriteString(eol)
			}
			csvLines = append(csvLines, bytes.Count(buf.Bytes(), []byte("\n"))+1)
			rec := make([]string, len(cols))
			for i, c := range cols {
				rec[i] = cell[c]
			}
			_ = w.Write(rec)
			w.Flush()
		}
		trimmed := want
		trimmed.Code, trimmed.Partner, trimmed.CourseID = strings.TrimSpace(code), strings.TrimSpace(partner), strings.TrimSpace(course)
		trimmed.Title, trimmed.Destination = strings.TrimSpace(title), strings.TrimSpace(dest)
		// The cell is trimmed too: a placement of other white space ("\v")
		// at either end goes with it.
		trimmed.Placements, _ = link.ParsePlacements(strings.TrimSpace(link.FormatPlacements(p)))
		checkRoundTrip(t, CSV, buf.String(), trimmed, csvLines)
	})
}

func checkRoundTrip(t *testing.T, format, in string, want link.Link, lines []int) {
	t.Helper()
	r, err := NewReader(format, strings.NewReader(in))
	if err != nil {
		t.Fatalf("%s %q: %v", format, in, err)
	}
	for _, line := range lines {
		row, err := r.Next()
		if err != nil || row.Err != nil || row.Line != line || !reflect.DeepEqual(row.Link, want) {
			t.Fatalf("%s %q: row %+v, %v; want line %d, %+v", format, in, row, err, line, want)
		}
	}
	if row, err := r.Next(); err != io.EOF {
		t.Fatalf("%s %q: a row more: %+v, %v", format, in, row, err)
	}
}

// TestCSVOpenQuoteNamesItsStart: an open quote swallows the lines after
// it up to the next quote; the error names the record's first line, where
// the fault is, and the lines it ran over, whose rows were not imported
// (found by an outside check: the error named the last line, and the
// valid row swallowed was named nowhere).
func TestCSVOpenQuoteNamesItsStart(t *testing.T) {
	in := "code,partner,course_id,title,destination\n" +
		"a,coursera,c1,T,https://x.example/\n" +
		"bad,\"unterminated,c2,T,https://x.example/\n" +
		"b,coursera,c3,T,https://x.example/\n" +
		"c,coursera,\"c4\"x,T,https://x.example/\n" +
		"d,coursera,c5,T,https://x.example/\n"
	rows := readAll(t, CSV, in)
	var bad *Row
	for i := range rows {
		if rows[i].Err != nil {
			bad = &rows[i]
			break
		}
	}
	if bad == nil || bad.Line != 3 || !strings.Contains(bad.Err.Error(), "from line 3 to 5") {
		t.Fatalf("rows %+v: want the error at line 3, naming lines 3 to 5", rows)
	}
}

// TestNDJSONRepeatedKey: a row that gives a field twice is refused, named
// at its line: encoding/json kept the last (a destination given twice,
// a good one first, stored the second).
func TestNDJSONRepeatedKey(t *testing.T) {
	in := `{"code":"a","partner":"p","course_id":"c","destination":"https://good.example/","destination":"https://evil.example/"}` + "\n" +
		`{"code":"b","partner":"p","course_id":"c","destination":"https://good.example/"}` + "\n"
	rows := readAll(t, NDJSON, in)
	if len(rows) != 2 || rows[0].Err == nil || !strings.Contains(rows[0].Err.Error(), `"destination" more than once`) || rows[1].Err != nil {
		t.Fatalf("rows %+v", rows)
	}
}

// TestCSVQuoteClosedLaterSaysItsSpan: a quote that closes lines later
// joins them into one record, whose rows are not imported; the row says
// the lines it runs over (found by a re-check: the error named only a
// field of the joined record).
func TestCSVQuoteClosedLaterSaysItsSpan(t *testing.T) {
	in := "code,partner,course_id,title,destination\n" +
		"a,p,c1,T,https://x.example/\n" +
		"b,p,c2,\"Broken title\n" +
		"c,p,c3,T,https://x.example/\n" +
		"d,p,c4,T4\",https://x.example/\n"
	rows := readAll(t, CSV, in)
	if len(rows) != 2 || rows[1].Line != 3 || rows[1].EndLine != 5 || !strings.Contains(rows[1].Spans(), "from line 3 to 5") {
		t.Fatalf("rows %+v", rows)
	}
	if rows[0].Spans() != "" {
		t.Fatalf("a one-line row says %q", rows[0].Spans())
	}
}

// TestRowErrorsNameCodeAndField: a row that fails as it is read names its
// code, when it holds a valid one, and the field at fault, as the import's
// answer lists them ({"line","code","field","message"}); an invalid code
// is never echoed.
func TestRowErrorsNameCodeAndField(t *testing.T) {
	const header = "code,partner,course_id,destination,active,placements\n"
	tests := []struct {
		name, format, in string
		code, field      string
	}{
		{"NDJSON wrong type", NDJSON, `{"code":"imp-6","partner":1,"course_id":"c","destination":"https://x.example/"}`, "imp-6", "partner"},
		{"NDJSON wrong type, code after it", NDJSON, `{"active":"yes","code":"imp-7"}`, "imp-7", "active"},
		{"NDJSON placements", NDJSON, `{"code":"imp-8","placements":[1]}`, "imp-8", "placements"},
		{"NDJSON invalid code", NDJSON, `{"code":"no spaces allowed","partner":1}`, "", "partner"},
		{"NDJSON code of the wrong type", NDJSON, `{"code":1}`, "", "code"},
		{"NDJSON syntax", NDJSON, `{"code":"imp-9",}`, "", ""},
		{"CSV active", CSV, header + "impc-3,impp,c3,https://x.test/c3,maybe,\n", "impc-3", "active"},
		{"CSV placements", CSV, header + "impc-4,impp,c4,https://x.test/c4,," + strings.Repeat("p ", 33) + "\n", "impc-4", "placements"},
		{"CSV invalid code", CSV, header + "a b,impp,c4,https://x.test/c4,maybe,\n", "", "active"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := readAll(t, tt.format, tt.in)
			if len(rows) != 1 || rows[0].Err == nil {
				t.Fatalf("rows %+v, want one that fails", rows)
			}
			if r := rows[0]; r.Code != tt.code || r.Field != tt.field {
				t.Errorf("code %q, field %q; want %q, %q (%v)", r.Code, r.Field, tt.code, tt.field, r.Err)
			}
		})
	}
}
