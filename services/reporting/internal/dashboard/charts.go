package dashboard

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/services/reporting/internal/minor"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// Chart is an inline SVG chart and the table of the same figures, which
// is what screen readers and people without colour vision read.
type Chart struct {
	ID, Title, Note string
	Summary         string // the chart's text alternative
	Width, Height   int
	Bars            []Bar
	Ticks           []Tick
	Lines           []Line
	Legend          []Legend
	Columns         []string
	Rows            [][]string
}

// Bar is one labelled bar of stacked segments.
type Bar struct {
	Label          string
	LabelX, LabelY float64
	Anchor         string
	Value          string
	ValueX, ValueY float64
	ValueAnchor    string // "end" left of a bar below zero, so the text runs away from it
	Segments       []Segment
}

// Segment is one rectangle of a bar.
type Segment struct {
	Class      string
	X, Y, W, H float64
	Title      string
}

// Tick is an axis label.
type Tick struct {
	X, Y  float64
	Label string
}

// Line is a rule drawn across the plot, such as the zero line.
type Line struct {
	Class          string
	X1, Y1, X2, Y2 float64
}

// Legend names a segment class.
type Legend struct{ Class, Label string }

var moneyLegend = []Legend{{"bar-approved", "Earned (approved and paid)"}, {"bar-pending", "Pending"}}

var tableColumns = []string{"Earned", "Pending", "Reversed", "Conversions", "Human clicks", "EPC"}

// belowZeroNote is said under a chart that draws a figure below zero:
// only adjustments (late events for a closed month) make one.
const belowZeroNote = "Adjustments for closed months can make a figure negative; it is drawn from the zero line the other way."

func tableRow(key string, r report.Row, cur string) []string {
	epc := "—"
	if v, ok := r.EPC(); ok {
		epc = amount(v, cur)
	}
	return []string{key, amount(r.Earned(), cur), amount(r.Pending, cur), amount(r.Reversed, cur),
		fmt.Sprint(r.Conversions), fmt.Sprint(r.Clicks), epc}
}

func label(s, empty string) string {
	if s == "" {
		return empty
	}
	return s
}

// moneyParts are what the money charts stack: earned, then pending.
func moneyParts(r report.Row, cur string) []part {
	return []part{{"bar-approved", "earned " + amount(r.Earned(), cur), r.Earned()}, {"bar-pending", "pending " + amount(r.Pending, cur), r.Pending}}
}

// monthChart draws earned and pending commission per month as stacked
// columns, every month of the period shown even when it is empty.
func monthChart(rows []report.Row, start time.Time, p Page, cur string) Chart {
	byMonth := map[string]report.Row{}
	for _, r := range rows {
		byMonth[r.Keys[0]] = r
	}
	from, _ := time.Parse(time.DateOnly, p.From)
	to, _ := time.Parse(time.DateOnly, p.To)
	if from.IsZero() || !to.After(from) {
		from, to = start, start.AddDate(1, 0, 0)
	}
	var months []string
	for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC); m.Before(to) && len(months) < 60; m = m.AddDate(0, 1, 0) {
		months = append(months, m.Format("2006-01"))
	}
	c := Chart{ID: "months", Title: "Commission funding by month", Legend: moneyLegend,
		Note:    "Commission falls in the month of purchase. Pending commission may still be approved or reversed.",
		Columns: append([]string{"Month"}, tableColumns...), Width: 760, Height: 300}
	parts := make([][]part, len(months))
	for i, m := range months {
		parts[i] = moneyParts(byMonth[m], cur)
	}
	lo, hi := bounds(parts)
	if lo.Sign() < 0 {
		c.Note += " " + belowZeroNote
	}
	// The left margin holds the longest axis label whole: a fixed one cut
	// "1,249,995.29 USD" to "9,995.29 USD".
	values := tickValues(lo, hi)
	var widest float64
	for _, v := range values {
		widest = max(widest, labelWidth(amount(v, cur)))
	}
	const top, bottom, right, tickGap, minPlotW = 20.0, 40.0, 10.0, 8.0, 400.0
	left := max(90, math.Ceil(widest+tickGap+4))
	c.Width = max(c.Width, int(math.Ceil(left+minPlotW+right)))
	plotH := float64(c.Height) - top - bottom
	base := top + plotH
	a := axis{lo: lo, hi: hi, from: base, to: top}
	c.Ticks = ticks(a, values, left-tickGap, cur)
	zero := a.at0()
	c.Lines = []Line{{"zero-line", left, zero, float64(c.Width) - right, zero}}
	slot := (float64(c.Width) - left - right) / float64(max(1, len(months)))
	labelStep := max(1, int(math.Ceil((labelWidth("Sep 2026")+8)/slot)))
	for i, m := range months {
		x := left + float64(i)*slot + slot*0.15
		w := slot * 0.7
		mt, _ := time.Parse("2006-01", m)
		// "Dec 2026", not "Dec 26", which reads as a day; every step-th
		// month labelled when a label is wider than a month's column,
		// counted back from the last, the newest (a year's chart in
		// December labelled January to November and left the running
		// month without one).
		b := Bar{LabelX: x + w/2, LabelY: base + 18, Anchor: "middle"}
		if (len(months)-1-i)%labelStep == 0 {
			b.Label = mt.Format("Jan 2006")
		}
		for _, s := range stack(a, parts[i]) {
			b.Segments = append(b.Segments, Segment{s.class, x, min(s.near, s.far), w, math.Abs(s.far - s.near), m + ": " + s.title})
		}
		c.Bars = append(c.Bars, b)
		c.Rows = append(c.Rows, tableRow(m, byMonth[m], cur))
	}
	c.Summary = fmt.Sprintf("Column chart of earned and pending commission per month from %s to %s in %s, from a zero line: figures above zero rise from it, figures below zero hang under it; %s. The table below has every figure.",
		months[0], months[len(months)-1], cur, earnedByMonth(months, byMonth, cur))
	return c
}

// earnedByMonth says which months earned most and least, with their
// signs: a month that lost commission is not "the most earned".
func earnedByMonth(months []string, byMonth map[string]report.Row, cur string) string {
	best, worst := months[0], months[0]
	for _, m := range months {
		if byMonth[m].Earned().Cmp(byMonth[best].Earned()) > 0 {
			best = m
		}
		if byMonth[m].Earned().Cmp(byMonth[worst].Earned()) < 0 {
			worst = m
		}
	}
	hi, lo := byMonth[best].Earned(), byMonth[worst].Earned()
	var said []string
	if hi.Sign() > 0 {
		said = append(said, fmt.Sprintf("the most earned was in %s (%s)", best, amount(hi, cur)))
	} else {
		said = append(said, "no month earned more than zero")
	}
	if lo.Sign() < 0 {
		said = append(said, fmt.Sprintf("the least earned was in %s (%s, below zero)", worst, amount(lo, cur)))
	}
	return strings.Join(said, "; ")
}

// barChart draws earned and pending commission per key as horizontal
// stacked bars, largest first, at most limit of them (0: all).
func barChart(id, title, key string, rows []report.Row, cur string, limit int, order func([]report.Row)) Chart {
	rows = append([]report.Row(nil), rows...)
	order(rows)
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}
	c := Chart{ID: id, Title: title, Legend: moneyLegend, Columns: append([]string{key}, tableColumns...), Width: 760}
	bars := make([]barRow, len(rows))
	for i, r := range rows {
		name := label(r.Keys[0], "(unattributed)")
		bars[i] = barRow{name, moneyParts(r, cur)}
		c.Rows = append(c.Rows, tableRow(name, r, cur))
	}
	if lo, _ := drawBars(&c, bars, cur); lo.Sign() < 0 {
		c.Note = belowZeroNote
	}
	if len(rows) > 0 {
		c.Summary = fmt.Sprintf("Bar chart of earned and pending commission in %s for %d %s, from a zero line: figures above zero run right of it, figures below zero left; %s. The table below has every figure.",
			cur, len(rows), plural(key), ranked(bars, cur))
	}
	return c
}

// ranked says which bars hold the largest and the smallest figure (rows
// come largest first), with their signs.
func ranked(bars []barRow, cur string) string {
	first, last := bars[0], bars[len(bars)-1]
	said := fmt.Sprintf("the largest is %s with %s", first.name, amount(first.sum(), cur))
	var below int
	for _, b := range bars {
		if b.sum().Sign() < 0 {
			below++
		}
	}
	switch {
	case below == 0:
	case len(bars) == 1:
		said += ", below zero"
	default:
		said += fmt.Sprintf("; %d below zero, the smallest %s with %s", below, last.name, amount(last.sum(), cur))
	}
	return said
}

// epcMinClicks is how many human clicks a course needs to be ranked by
// earnings per click: one conversion on a course's only click is an EPC
// of its whole commission, and led the chart (a newcomer's try of the
// demo). When no course has that many, all are ranked and the note says
// the figures are early.
const epcMinClicks = 20

// epcChart ranks courses by earnings per human click.
func epcChart(rows []report.Row, cur string) Chart {
	note := fmt.Sprintf("Approved and paid commission per human click, among courses with at least %d human clicks.", epcMinClicks)
	var enough []report.Row
	for _, r := range rows {
		if r.Clicks >= epcMinClicks {
			enough = append(enough, r)
		}
	}
	switch {
	case len(enough) > 0:
		rows = enough
	case len(rows) > 0:
		rows = append([]report.Row(nil), rows...)
		note = fmt.Sprintf("Approved and paid commission per human click. No course has %d human clicks in this period: ranked on fewer, these figures move with every conversion.", epcMinClicks)
	}
	epc := func(r report.Row) minor.Sum { v, _ := r.EPC(); return v }
	sort.SliceStable(rows, func(i, j int) bool { return epc(rows[i]).Cmp(epc(rows[j])) > 0 })
	if len(rows) > 10 {
		rows = rows[:10]
	}
	c := Chart{ID: "epc", Title: "Top courses by earnings per click", Legend: []Legend{{"bar-approved", "EPC"}},
		Note:    note,
		Columns: append([]string{"Course"}, tableColumns...), Width: 760}
	bars := make([]barRow, len(rows))
	for i, r := range rows {
		name := label(r.Keys[0], "(no course)")
		bars[i] = barRow{name, []part{{"bar-approved", amount(epc(r), cur) + " per click", epc(r)}}}
		c.Rows = append(c.Rows, tableRow(name, r, cur))
	}
	if lo, _ := drawBars(&c, bars, cur); lo.Sign() < 0 {
		c.Note += " " + belowZeroNote
	}
	if len(rows) > 0 {
		c.Summary = fmt.Sprintf("Bar chart of earnings per click in %s for the top %d courses; the highest is %s at %s. The table below has every figure.",
			cur, len(rows), label(rows[0].Keys[0], "(no course)"), amount(epc(rows[0]), cur))
	}
	return c
}

// barRow is one horizontal bar: its name and the figures it stacks.
type barRow struct {
	name  string
	parts []part
}

// sum is what the label beside the bar says: the sum of its figures.
func (b barRow) sum() minor.Sum {
	var s minor.Sum
	for _, p := range b.parts {
		s = s.Add(p.v)
	}
	return s
}

// drawBars lays out horizontal bars on c: names in a column on the left,
// then the plot with its zero line, each bar's value just past the end of
// its stack on the side of its sign. The plot leaves room on either side
// for the longest value that goes there. It returns the axis's ends.
func drawBars(c *Chart, bars []barRow, cur string) (lo, hi minor.Sum) {
	const rowH, gap, edge, minPlotW = 30.0, 6.0, 10.0, 300.0
	// The name column is as wide as its longest name (at most maxName
	// characters, the whole name in each segment's title): a fixed column
	// cut a long course id at the chart's edge.
	names := make([]string, len(bars))
	left := 120.0
	for i, b := range bars {
		names[i] = truncate(b.name, maxName)
		left = max(left, math.Ceil(labelWidth(names[i])+2*gap+4))
	}
	padL, padR := edge, edge
	for _, b := range bars {
		room := labelWidth(amount(b.sum(), cur)) + 2*gap
		if b.sum().Sign() < 0 {
			padL = max(padL, room)
		} else {
			padR = max(padR, room)
		}
	}
	c.Width = max(c.Width, int(math.Ceil(left+padL+minPlotW+padR)))
	c.Height = int(rowH*float64(len(bars)) + 10)
	parts := make([][]part, len(bars))
	for i, b := range bars {
		parts[i] = b.parts
	}
	lo, hi = bounds(parts)
	a := axis{lo: lo, hi: hi, from: left + padL, to: float64(c.Width) - padR}
	zero := a.at0()
	c.Lines = []Line{{"zero-line", zero, 0, zero, float64(c.Height)}}
	for i, b := range bars {
		y := 5 + float64(i)*rowH
		bar := Bar{Label: names[i], LabelX: left - gap, LabelY: y + rowH/2 + 4, Anchor: "end",
			Value: amount(b.sum(), cur), ValueY: y + rowH/2 + 4}
		for _, s := range stack(a, b.parts) {
			bar.Segments = append(bar.Segments, Segment{s.class, min(s.near, s.far), y + 4, math.Abs(s.far - s.near), rowH - 8, b.name + ": " + s.title})
		}
		neg, pos := reach(b.parts)
		if b.sum().Sign() < 0 {
			bar.ValueX, bar.ValueAnchor = a.at(neg)-gap, "end"
		} else {
			bar.ValueX, bar.ValueAnchor = a.at(pos)+gap, "start"
		}
		c.Bars = append(c.Bars, bar)
	}
	return lo, hi
}

// part is one figure of a bar or column; its title says it, signed,
// after the bar's name.
type part struct {
	class, title string
	v            minor.Sum
}

// reach is how far a bar's figures stack from zero each way: the sum of
// its negative ones and of its positive ones.
func reach(parts []part) (neg, pos minor.Sum) {
	for _, p := range parts {
		if p.v.Sign() < 0 {
			neg = neg.Add(p.v)
		} else {
			pos = pos.Add(p.v)
		}
	}
	return neg, pos
}

// bounds is the range an axis must span to hold every bar whole: from
// the furthest any reaches below zero to the furthest above, 0 always in.
func bounds(bars [][]part) (lo, hi minor.Sum) {
	for _, parts := range bars {
		neg, pos := reach(parts)
		if neg.Cmp(lo) < 0 {
			lo = neg
		}
		hi = minor.Max(hi, pos)
	}
	return lo, hi
}

// axis maps money onto pixels: lo..hi (lo <= 0 <= hi) onto from..to. A
// column's axis runs up the page, so its to is less than its from.
type axis struct {
	lo, hi   minor.Sum
	from, to float64
}

// at is where v falls. With nothing to draw (lo = hi = 0), zero is at from.
func (a axis) at(v minor.Sum) float64 {
	return a.at0() + a.perUnit()*v.Float64()
}

// at0 is where zero falls.
func (a axis) at0() float64 { return a.from - a.perUnit()*a.lo.Float64() }

// perUnit is the px a minor unit is long (negative when to < from).
func (a axis) perUnit() float64 {
	span := a.hi.Sub(a.lo)
	if span.Sign() == 0 {
		return 0
	}
	return (a.to - a.from) / span.Float64()
}

// placed is a part laid on an axis, from its end nearer zero to its far one.
type placed struct {
	part
	near, far float64
}

// stack lays a bar's parts along a from zero, each as long as its own
// value: the positive ones end to end one way, the negative ones end to
// end the other. So earned 2.19 and pending -1.09 is a bar of 2.19 on one
// side and 1.09 on the other, not one of 1.10. Zero parts draw nothing.
func stack(a axis, parts []part) []placed {
	var out []placed
	var neg, pos minor.Sum
	for _, p := range parts {
		end := &pos
		switch p.v.Sign() {
		case 0:
			continue
		case -1:
			end = &neg
		}
		// Its length from its own value, not from where the stack ends:
		// the difference of two far-off positions would lose a small
		// figure beside a large one.
		near := a.at(*end)
		out = append(out, placed{p, near, near + a.perUnit()*p.v.Float64()})
		*end = end.Add(p.v)
	}
	return out
}

// tickValues are the figures an axis from lo to hi is labelled with,
// most telling first: zero, each end, then halfway to each.
func tickValues(lo, hi minor.Sum) []minor.Sum {
	out := []minor.Sum{{}}
	var halves []minor.Sum
	for _, end := range []minor.Sum{hi, lo} {
		if end.Sign() != 0 {
			out = append(out, end)
			halves = append(halves, minor.FromBig(new(big.Int).Quo(end.Big(), big.NewInt(2))))
		}
	}
	return append(out, halves...)
}

// ticks labels a's values right-aligned at x, leaving out any that would
// print over one already placed (values come most important first): with
// a peak of 0 the three labels were drawn on top of each other.
func ticks(a axis, values []minor.Sum, x float64, cur string) []Tick {
	const minGap = 14.0 // px between the baselines of 12px labels
	var out []Tick
	for _, v := range values {
		y := a.at(v)
		clear := true
		for _, t := range out {
			clear = clear && math.Abs(t.Y-4-y) >= minGap
		}
		if clear {
			out = append(out, Tick{X: x, Y: y + 4, Label: amount(v, cur)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Y < out[j].Y })
	return out
}

// labelWidth is a generous width in px of s in the charts' 12px text:
// 0.65em a character, about a digit of DejaVu Sans, the widest font a
// browser is likely to fall back to. Space sized by it never cuts a label.
func labelWidth(s string) float64 { return float64(utf8.RuneCountInString(s)) * 12 * 0.65 }

func plural(key string) string {
	if key == "Course" {
		return "courses"
	}
	return "partners"
}

// maxName is the most characters of a partner's or a course's name a bar
// chart's name column shows.
const maxName = 40

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
