package dashboard

import (
	"encoding/xml"
	"html/template"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/services/reporting/internal/minor"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// beyondInt64 is 184,467,440,737,095,516.14 USD: a total past int64.
var beyondInt64 = minor.Of(math.MaxInt64).Add(minor.Of(math.MaxInt64))

// figures is one key's earned (approved) and pending commission.
type figures struct {
	key             string
	earned, pending minor.Sum
}

func rowsOf(fs []figures) []report.Row {
	var rows []report.Row
	for _, f := range fs {
		rows = append(rows, report.Row{Keys: []string{f.key}, Approved: f.earned, Pending: f.pending})
	}
	return rows
}

// eps is what float rounding may move an edge by.
const eps = 1e-6

// segmentValues is the figure each segment of c draws, by its title:
// "name: earned 1.00 USD".
func segmentValues(fs []figures) map[string]minor.Sum {
	out := map[string]minor.Sum{}
	for _, f := range fs {
		out[f.key+"/bar-approved"] = f.earned
		out[f.key+"/bar-pending"] = f.pending
	}
	return out
}

// checkScale: every segment is as long as its own figure, on one scale
// for the whole chart (length / |value| the same for all).
func checkScale(t *testing.T, lengths map[string]float64, values map[string]minor.Sum) {
	t.Helper()
	var perUnit, longest float64 // the scale, read off the longest segment
	for k, l := range lengths {
		if l > longest {
			perUnit, longest = l/math.Abs(values[k].Float64()), l
		}
	}
	for k, v := range values {
		if _, drawn := lengths[k]; !drawn && !v.IsZero() {
			t.Errorf("%s: %s has no segment", k, v)
		}
	}
	for k, l := range lengths {
		if values[k].IsZero() {
			t.Errorf("%s: a segment for a zero figure", k)
		}
		if want := math.Abs(values[k].Float64()) * perUnit; math.Abs(l-want) > eps {
			t.Errorf("%s: %.6f px for %s, want %.6f on the chart's scale", k, l, values[k], want)
		}
	}
}

// checkStacks: from the zero line at zero, each bar's positive figures
// run end to end one way, its negative ones the other, earned nearest
// zero. at reads a segment's ends on an axis that grows with the figures.
func checkStacks(t *testing.T, name string, segs []Segment, values map[string]minor.Sum, zero float64, at func(Segment) (lo, hi float64)) {
	t.Helper()
	var pos, neg float64 // how far each stack has run so far
	for _, s := range segs {
		lo, hi := at(s)
		v := values[name+"/"+s.Class]
		if v.Sign() > 0 {
			if math.Abs(lo-(zero+pos)) > eps {
				t.Errorf("%s %s starts at %.3f, want %.3f (zero %.3f): a positive figure runs from zero or the figure before it", name, s.Class, lo, zero+pos, zero)
			}
			pos += hi - lo
		} else {
			if math.Abs(hi-(zero-neg)) > eps {
				t.Errorf("%s %s ends at %.3f, want %.3f (zero %.3f): a negative figure runs from zero the other way", name, s.Class, hi, zero-neg, zero)
			}
			neg += hi - lo
		}
	}
}

// checkText: a label of the charts' 12px text stays within from..to.
func checkText(t *testing.T, what, s string, x float64, anchor string, from, to float64) {
	t.Helper()
	w := labelWidth(s)
	lo, hi := x, x+w
	switch anchor {
	case "end":
		lo, hi = x-w, x
	case "middle":
		lo, hi = x-w/2, x+w/2
	}
	if lo < from-eps || hi > to+eps {
		t.Errorf("%s %q spans %.1f..%.1f, outside %.1f..%.1f: it would be cut off or overprint", what, s, lo, hi, from, to)
	}
}

func TestBarChartSignedFigures(t *testing.T) {
	for _, tt := range []struct {
		name      string
		rows      []figures
		values    []string // the labels beside the bars, largest first
		summary   []string
		notInSumm []string
		note      bool // the below-zero note is shown
	}{
		{
			name:    "mixed signs, from the outside check",
			rows:    []figures{{"c", minor.Of(-700), minor.Sum{}}, {"a", minor.Of(219), minor.Of(-109)}, {"b", minor.Of(300), minor.Of(-300)}},
			values:  []string{"1.10 USD", "0.00 USD", "-7.00 USD"},
			summary: []string{"the largest is a with 1.10 USD", "1 below zero, the smallest c with -7.00 USD"},
			note:    true,
		},
		{
			name:    "negative only",
			rows:    []figures{{"a", minor.Of(-700), minor.Sum{}}, {"b", minor.Of(-100), minor.Of(-25)}},
			values:  []string{"-1.25 USD", "-7.00 USD"},
			summary: []string{"the largest is b with -1.25 USD", "2 below zero, the smallest a with -7.00 USD"},
			note:    true,
		},
		{
			name:      "one partner below zero",
			rows:      []figures{{"a", minor.Of(-481), minor.Sum{}}},
			values:    []string{"-4.81 USD"},
			summary:   []string{"the largest is a with -4.81 USD, below zero"},
			notInSumm: []string{"smallest"},
			note:      true,
		},
		{
			name:      "all zero",
			rows:      []figures{{"a", minor.Sum{}, minor.Sum{}}, {"b", minor.Sum{}, minor.Sum{}}},
			values:    []string{"0.00 USD", "0.00 USD"},
			summary:   []string{"the largest is a with 0.00 USD"},
			notInSumm: []string{"below zero,", "smallest"},
		},
		{
			name:    "positive only",
			rows:    []figures{{"a", minor.Of(420), minor.Of(280)}, {"b", minor.Of(100), minor.Sum{}}},
			values:  []string{"7.00 USD", "1.00 USD"},
			summary: []string{"the largest is a with 7.00 USD"},
		},
		{
			// A long course id is shown whole up to 40 characters, in a
			// column as wide as it (found by an outside check: a fixed
			// column cut it at the chart's edge).
			name:    "a long name",
			rows:    []figures{{"MACHINE-LEARNING-MASTERCLASS-WWWWW-2026", minor.Of(100), minor.Sum{}}},
			values:  []string{"1.00 USD"},
			summary: []string{"the largest is MACHINE-LEARNING-MASTERCLASS-WWWWW-2026 with 1.00 USD"},
		},
		{
			name:    "very large, both ways",
			rows:    []figures{{"a", beyondInt64, minor.Of(-1)}, {"b", minor.Of(-124999529), minor.Sum{}}},
			values:  []string{"184,467,440,737,095,516.13 USD", "-1,249,995.29 USD"},
			summary: []string{"the largest is a with 184,467,440,737,095,516.13 USD", "the smallest b with -1,249,995.29 USD"},
			note:    true,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := barChart("partners", "Commission by partner", "Partner", rowsOf(tt.rows), "USD", 0, byEarned)
			if len(c.Lines) != 1 || c.Lines[0].X1 != c.Lines[0].X2 {
				t.Fatalf("lines %v, want one vertical zero line", c.Lines)
			}
			zero := c.Lines[0].X1
			names := c.Bars[0].LabelX + 6 // where the name column ends and the plot begins
			for _, b := range c.Bars {
				if b.LabelX != c.Bars[0].LabelX || b.LabelX-labelWidth(b.Label) < 0 {
					t.Errorf("name %q ends at %.1f: it would be cut at the chart's edge", b.Label, b.LabelX)
				}
			}
			if zero < names || zero > float64(c.Width) {
				t.Errorf("zero line at %.1f, outside the plot %.0f..%d", zero, names, c.Width)
			}
			values := segmentValues(tt.rows)
			lengths := map[string]float64{}
			var got []string
			for _, b := range c.Bars {
				got = append(got, b.Value)
				name := b.Label
				leftmost, rightmost := zero, zero
				for _, s := range b.Segments {
					if s.X < names-eps || s.X+s.W > float64(c.Width)+eps || s.W < 0 {
						t.Errorf("%s %s: x %.1f..%.1f, outside the plot %.0f..%d", name, s.Class, s.X, s.X+s.W, names, c.Width)
					}
					if want := name + ": "; !strings.HasPrefix(s.Title, want) ||
						!strings.HasSuffix(s.Title, amount(values[name+"/"+s.Class], "USD")) {
						t.Errorf("segment title %q, want its own signed figure", s.Title)
					}
					lengths[name+"/"+s.Class] = s.W
					leftmost, rightmost = min(leftmost, s.X), max(rightmost, s.X+s.W)
				}
				checkStacks(t, name, b.Segments, values, zero, func(s Segment) (float64, float64) { return s.X, s.X + s.W })
				checkText(t, "value", b.Value, b.ValueX, b.ValueAnchor, names, float64(c.Width))
				if strings.HasPrefix(b.Value, "-") != (b.ValueAnchor == "end") ||
					b.ValueAnchor == "end" && b.ValueX > leftmost || b.ValueAnchor == "start" && b.ValueX < rightmost {
					t.Errorf("%s: value %q at %.1f (%s), bar %.1f..%.1f: it goes past the bar's end on the side of its sign",
						name, b.Value, b.ValueX, b.ValueAnchor, leftmost, rightmost)
				}
			}
			checkScale(t, lengths, values)
			if strings.Join(got, " | ") != strings.Join(tt.values, " | ") {
				t.Errorf("values %q, want %q", got, tt.values)
			}
			for _, want := range tt.summary {
				if !strings.Contains(c.Summary, want) {
					t.Errorf("summary %q lacks %q", c.Summary, want)
				}
			}
			for _, not := range tt.notInSumm {
				if strings.Contains(c.Summary, not) {
					t.Errorf("summary %q says %q", c.Summary, not)
				}
			}
			if (c.Note == belowZeroNote) != tt.note {
				t.Errorf("note %q; want the below-zero note: %v", c.Note, tt.note)
			}
		})
	}
}

func TestMonthChartSignedFigures(t *testing.T) {
	page := Page{From: "2024-01-01", To: "2024-04-01"}
	for _, tt := range []struct {
		name      string
		cur       string
		rows      []figures
		ticks     []string // top to bottom
		summary   []string
		notInSumm []string
	}{
		{
			name:      "negative only, from the outside check",
			cur:       "USD",
			rows:      []figures{{"2024-02", minor.Of(-481), minor.Sum{}}},
			ticks:     []string{"0.00 USD", "-2.40 USD", "-4.81 USD"},
			summary:   []string{"no month earned more than zero", "the least earned was in 2024-02 (-4.81 USD, below zero)"},
			notInSumm: []string{"(0.00 USD)", "the most earned"},
		},
		{
			name:      "all zero",
			cur:       "USD",
			ticks:     []string{"0.00 USD"},
			summary:   []string{"no month earned more than zero"},
			notInSumm: []string{"below zero)"},
		},
		{
			name:    "mixed signs",
			cur:     "USD",
			rows:    []figures{{"2024-01", minor.Of(1000), minor.Of(-200)}, {"2024-03", minor.Of(-500), minor.Of(300)}},
			ticks:   []string{"10.00 USD", "5.00 USD", "0.00 USD", "-2.50 USD", "-5.00 USD"},
			summary: []string{"the most earned was in 2024-01 (10.00 USD)", "the least earned was in 2024-03 (-5.00 USD, below zero)"},
		},
		{
			name:    "a small loss beside a large gain: no labels on top of each other",
			cur:     "USD",
			rows:    []figures{{"2024-01", minor.Of(100000), minor.Sum{}}, {"2024-02", minor.Of(-1), minor.Sum{}}},
			ticks:   []string{"1,000.00 USD", "500.00 USD", "0.00 USD"},
			summary: []string{"the most earned was in 2024-01 (1,000.00 USD)", "2024-02 (-0.01 USD, below zero)"},
		},
		{
			name:    "seven digits",
			cur:     "USD",
			rows:    []figures{{"2024-01", minor.Of(124999529), minor.Sum{}}},
			ticks:   []string{"1,249,995.29 USD", "624,997.64 USD", "0.00 USD"},
			summary: []string{"the most earned was in 2024-01 (1,249,995.29 USD)"},
		},
		{
			name:    "JPY, nine digits, below zero",
			cur:     "JPY",
			rows:    []figures{{"2024-01", minor.Of(-124999529), minor.Of(-1)}},
			ticks:   []string{"0 JPY", "-62,499,765 JPY", "-124,999,530 JPY"},
			summary: []string{"the least earned was in 2024-01 (-124,999,529 JPY, below zero)"},
		},
		{
			name:    "beyond int64",
			cur:     "USD",
			rows:    []figures{{"2024-02", beyondInt64, minor.Sum{}}, {"2024-03", beyondInt64.Neg(), minor.Sum{}}},
			ticks:   []string{"184,467,440,737,095,516.14 USD", "92,233,720,368,547,758.07 USD", "0.00 USD", "-92,233,720,368,547,758.07 USD", "-184,467,440,737,095,516.14 USD"},
			summary: []string{"the most earned was in 2024-02 (184,467,440,737,095,516.14 USD)", "2024-03 (-184,467,440,737,095,516.14 USD, below zero)"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := monthChart(rowsOf(tt.rows), time.Time{}, page, tt.cur)
			if len(c.Bars) != 3 {
				t.Fatalf("%d columns, want the 3 months", len(c.Bars))
			}
			if len(c.Lines) != 1 || c.Lines[0].Y1 != c.Lines[0].Y2 {
				t.Fatalf("lines %v, want one horizontal zero line", c.Lines)
			}
			zeroLine := c.Lines[0]
			left, right := zeroLine.X1, zeroLine.X2
			const top, base = 20.0, 260.0 // the plot's top and bottom
			if zeroLine.Y1 < top-eps || zeroLine.Y1 > base+eps || right > float64(c.Width) {
				t.Errorf("zero line %+v outside the plot", zeroLine)
			}
			var got []string
			for i, tk := range c.Ticks {
				got = append(got, tk.Label)
				checkText(t, "axis label", tk.Label, tk.X, "end", 0, left)
				if i > 0 && tk.Y-c.Ticks[i-1].Y < 14 {
					t.Errorf("axis labels %q and %q %.1f px apart: drawn over each other", c.Ticks[i-1].Label, tk.Label, tk.Y-c.Ticks[i-1].Y)
				}
				if tk.Label == amount(minor.Sum{}, tt.cur) && math.Abs(tk.Y-4-zeroLine.Y1) > eps {
					t.Errorf("the zero label at %.1f, the zero line at %.1f", tk.Y-4, zeroLine.Y1)
				}
			}
			if strings.Join(got, " | ") != strings.Join(tt.ticks, " | ") {
				t.Errorf("axis labels %q, want %q", got, tt.ticks)
			}
			values := segmentValues(tt.rows)
			lengths := map[string]float64{}
			for _, b := range c.Bars {
				checkText(t, "month", b.Label, b.LabelX, b.Anchor, left, float64(c.Width))
				for _, s := range b.Segments {
					month, _, _ := strings.Cut(s.Title, ":")
					if s.Y < top-eps || s.Y+s.H > base+eps || s.X < left || s.X+s.W > right || s.H < 0 {
						t.Errorf("%s %s: %.1f..%.1f x %.1f..%.1f, outside the plot", month, s.Class, s.X, s.X+s.W, s.Y, s.Y+s.H)
					}
					if !strings.HasSuffix(s.Title, amount(values[month+"/"+s.Class], tt.cur)) {
						t.Errorf("segment title %q, want its own signed figure", s.Title)
					}
					lengths[month+"/"+s.Class] = s.H
				}
				if len(b.Segments) > 0 {
					month, _, _ := strings.Cut(b.Segments[0].Title, ":")
					// y runs down the page: mirrored about the zero line, up is more.
					z := zeroLine.Y1
					checkStacks(t, month, b.Segments, values, z, func(s Segment) (float64, float64) { return 2*z - (s.Y + s.H), 2*z - s.Y })
				}
			}
			checkScale(t, lengths, values)
			for _, want := range tt.summary {
				if !strings.Contains(c.Summary, want) {
					t.Errorf("summary %q lacks %q", c.Summary, want)
				}
			}
			for _, not := range tt.notInSumm {
				if strings.Contains(c.Summary, not) {
					t.Errorf("summary %q says %q", c.Summary, not)
				}
			}
		})
	}
}

// A course with a handful of clicks is not ranked by EPC beside courses
// with enough: one conversion on one click is no rate.
func TestEPCChartNeedsClicks(t *testing.T) {
	rows := []report.Row{
		{Keys: []string{"lucky"}, Approved: minor.Of(5000), Clicks: 1},
		{Keys: []string{"ml-101"}, Approved: minor.Of(9000), Clicks: 300},
		{Keys: []string{"go-201"}, Approved: minor.Of(2000), Clicks: 20},
	}
	c := epcChart(rows, "USD")
	if len(c.Bars) != 2 || c.Rows[0][0] != "go-201" || c.Rows[1][0] != "ml-101" {
		t.Fatalf("ranked %v, want go-201 (1.00 a click) then ml-101 (0.30), without the 1-click course (50.00)", c.Rows)
	}
	few := epcChart(rows[:1], "USD")
	if len(few.Bars) != 1 || !strings.Contains(few.Note, "move with every conversion") {
		t.Fatalf("with no course of 20 clicks: %d bars, note %q", len(few.Bars), few.Note)
	}
}

func TestEPCChartBelowZero(t *testing.T) {
	rows := []report.Row{
		{Keys: []string{"ml-101"}, Approved: minor.Of(900), Clicks: 3},
		{Keys: []string{"go-201"}, Approved: minor.Of(-500), Clicks: 2},
	}
	c := epcChart(rows, "USD")
	zero := c.Lines[0].X1
	want := []struct {
		value, anchor string
		right         bool // the bar runs right of the zero line
	}{{"3.00 USD", "start", true}, {"-2.50 USD", "end", false}}
	for i, b := range c.Bars {
		if len(b.Segments) != 1 || b.Value != want[i].value || b.ValueAnchor != want[i].anchor {
			t.Fatalf("bar %d: %d segments, value %q (%s), want %+v", i, len(b.Segments), b.Value, b.ValueAnchor, want[i])
		}
		s := b.Segments[0]
		if right := s.X >= zero-eps; right != want[i].right || math.Abs(s.X-zero) > eps && math.Abs(s.X+s.W-zero) > eps {
			t.Errorf("bar %d runs %.1f..%.1f from the zero line at %.1f", i, s.X, s.X+s.W, zero)
		}
	}
	if math.Abs(c.Bars[0].Segments[0].W/c.Bars[1].Segments[0].W-300.0/250) > 1e-9 {
		t.Errorf("bars of %.1f and %.1f px for 3.00 and -2.50", c.Bars[0].Segments[0].W, c.Bars[1].Segments[0].W)
	}
	if !strings.Contains(c.Note, belowZeroNote) {
		t.Errorf("note %q lacks the below-zero note", c.Note)
	}
}

// svgElement is what TestChartSVG reads of the rendered chart.
type svgElement struct {
	XMLName xml.Name
	Class   string  `xml:"class,attr"`
	X       float64 `xml:"x,attr"`
	Y       float64 `xml:"y,attr"`
	Width   float64 `xml:"width,attr"`
	Height  float64 `xml:"height,attr"`
	X1      float64 `xml:"x1,attr"`
	X2      float64 `xml:"x2,attr"`
	Anchor  string  `xml:"text-anchor,attr"`
	Text    string  `xml:",chardata"`
	Title   string  `xml:"title"`
}

// TestChartSVG renders the charts of the outside check's figures and
// reads the SVG a browser gets: a zero line, every shape inside the view
// box, a negative value labelled with its sign to the bar's left, and the
// text alternative saying the signed figures.
func TestChartSVG(t *testing.T) {
	tmpl := template.Must(template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.html"))
	rows := rowsOf([]figures{{"a", minor.Of(219), minor.Of(-109)}, {"b", minor.Of(300), minor.Of(-300)}, {"c", minor.Of(-700), minor.Sum{}}})
	for _, c := range []Chart{
		barChart("partners", "Commission by partner", "Partner", rows, "USD", 0, byEarned),
		monthChart(rowsOf([]figures{{"2024-02", minor.Of(-40000000), minor.Sum{}}, {"2024-03", minor.Of(124999529), minor.Sum{}}}),
			time.Time{}, Page{From: "2024-01-01", To: "2024-04-01"}, "USD"),
	} {
		t.Run(c.ID, func(t *testing.T) {
			var out strings.Builder
			if err := tmpl.ExecuteTemplate(&out, "chart", c); err != nil {
				t.Fatal(err)
			}
			html := out.String()
			svg := html[strings.Index(html, "<svg"):]
			svg = svg[:strings.Index(svg, "</svg>")+len("</svg>")]
			var doc struct {
				Desc  string       `xml:"desc"`
				Lines []svgElement `xml:"line"`
				Rects []svgElement `xml:"rect"`
				Texts []svgElement `xml:"text"`
			}
			if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
				t.Fatalf("the chart's SVG does not parse: %v\n%s", err, svg)
			}
			if len(doc.Lines) != 1 || doc.Lines[0].Class != "zero-line" {
				t.Errorf("lines %+v, want the zero line", doc.Lines)
			}
			if doc.Desc != c.Summary || !strings.Contains(doc.Desc, "below zero") {
				t.Errorf("desc %q, want the summary %q, which names a figure below zero", doc.Desc, c.Summary)
			}
			for _, r := range doc.Rects {
				if r.X < 0 || r.Y < 0 || r.X+r.Width > float64(c.Width) || r.Y+r.Height > float64(c.Height) || r.Title == "" {
					t.Errorf("rect %+v outside the view box %dx%d, or without its title", r, c.Width, c.Height)
				}
			}
			texts := map[string]svgElement{}
			for _, tx := range doc.Texts {
				if tx.Anchor == "" {
					t.Errorf("text %q without its anchor", tx.Text)
				}
				checkText(t, "text", tx.Text, tx.X, tx.Anchor, 0, float64(c.Width))
				texts[tx.Text] = tx
			}
			want := map[string][]string{"partners": {"-7.00 USD", "0.00 USD", "1.10 USD"}, "months": {"-400,000.00 USD", "1,249,995.29 USD", "0.00 USD"}}
			for _, s := range want[c.ID] {
				if _, ok := texts[s]; !ok {
					t.Errorf("no text %q in the SVG", s)
				}
			}
			if c.ID == "partners" && texts["-7.00 USD"].Anchor != "end" {
				t.Errorf("-7.00 USD is anchored %q, want end: it is left of its bar", texts["-7.00 USD"].Anchor)
			}
		})
	}
}

// TestMonthLabelsDoNotOverlap: over a long period the month chart labels
// every n-th month, so no two labels print over each other (found by a
// re-check: at 13 months and more every label ran into the next), counted
// back from the newest, which always has its label.
func TestMonthLabelsDoNotOverlap(t *testing.T) {
	for _, months := range []int{1, 3, 12, 13, 24, 60} {
		from := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
		p := Page{From: from.Format(time.DateOnly), To: from.AddDate(0, months, 0).Format(time.DateOnly)}
		c := monthChart(nil, time.Time{}, p, "USD")
		if len(c.Bars) != months {
			t.Fatalf("%d months: %d columns", months, len(c.Bars))
		}
		last := math.Inf(-1)
		labelled := 0
		for _, b := range c.Bars {
			if b.Label == "" {
				continue
			}
			labelled++
			w := labelWidth(b.Label)
			if b.LabelX-w/2 < last {
				t.Errorf("%d months: %q at %.1f overlaps the label before (ending at %.1f)", months, b.Label, b.LabelX, last)
			}
			last = b.LabelX + w/2
		}
		newest := from.AddDate(0, months-1, 0).Format("Jan 2006")
		if labelled == 0 || c.Bars[len(c.Bars)-1].Label != newest {
			t.Errorf("%d months: %d labels, the newest month's %q, want %q", months, labelled, c.Bars[len(c.Bars)-1].Label, newest)
		}
	}
}
