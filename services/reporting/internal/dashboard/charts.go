package dashboard

import (
	"fmt"
	"math/big"
	"sort"
	"time"

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

// Legend names a segment class.
type Legend struct{ Class, Label string }

var moneyLegend = []Legend{{"bar-approved", "Earned (approved and paid)"}, {"bar-pending", "Pending"}}

var tableColumns = []string{"Earned", "Pending", "Reversed", "Conversions", "Human clicks", "EPC"}

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
	var peak minor.Sum
	for _, m := range months {
		peak = minor.Max(peak, owed(byMonth[m]))
	}
	const left, top, bottom = 90.0, 20.0, 40.0
	plotH := float64(c.Height) - top - bottom
	slot := (float64(c.Width) - left - 10) / float64(max(1, len(months)))
	scale := func(v minor.Sum) float64 { return proportion(v, peak) * plotH }
	half := minor.FromBig(new(big.Int).Quo(peak.Big(), big.NewInt(2)))
	for i, t := range []minor.Sum{{}, half, peak} {
		c.Ticks = append(c.Ticks, Tick{X: left - 8, Y: top + plotH - scale(t) + 4, Label: amount(t, cur)})
		if i == 2 && peak.IsZero() {
			break
		}
	}
	var best string
	var bestV minor.Sum
	for i, m := range months {
		r := byMonth[m]
		x := left + float64(i)*slot + slot*0.15
		w := slot * 0.7
		hE, hP := scale(r.Earned()), scale(r.Pending)
		base := top + plotH
		mt, _ := time.Parse("2006-01", m)
		b := Bar{Label: mt.Format("Jan 06"), LabelX: x + w/2, LabelY: base + 18, Anchor: "middle"}
		if hE > 0 {
			b.Segments = append(b.Segments, Segment{"bar-approved", x, base - hE, w, hE, m + ": earned " + amount(r.Earned(), cur)})
		}
		if hP > 0 {
			b.Segments = append(b.Segments, Segment{"bar-pending", x, base - hE - hP, w, hP, m + ": pending " + amount(r.Pending, cur)})
		}
		c.Bars = append(c.Bars, b)
		c.Rows = append(c.Rows, tableRow(m, r, cur))
		if best == "" || r.Earned().Cmp(bestV) > 0 {
			best, bestV = m, r.Earned()
		}
	}
	c.Summary = fmt.Sprintf("Column chart of earned and pending commission per month from %s to %s in %s; the most earned was in %s (%s). The table below has every figure.",
		months[0], months[len(months)-1], cur, best, amount(minor.Max(minor.Sum{}, bestV), cur))
	return c
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
	var peak minor.Sum
	for _, r := range rows {
		peak = minor.Max(peak, owed(r))
	}
	const left, rowH = 170.0, 30.0
	plotW := float64(c.Width) - left - 150
	c.Height = int(rowH*float64(len(rows)) + 10)
	scale := func(v minor.Sum) float64 { return proportion(v, peak) * plotW }
	for i, r := range rows {
		name := label(r.Keys[0], "(unattributed)")
		y := 5 + float64(i)*rowH
		wE, wP := scale(r.Earned()), scale(r.Pending)
		b := Bar{Label: truncate(name, 24), LabelX: left - 8, LabelY: y + rowH/2 + 4, Anchor: "end",
			Value: amount(owed(r), cur), ValueX: left + wE + wP + 6, ValueY: y + rowH/2 + 4}
		if wE > 0 {
			b.Segments = append(b.Segments, Segment{"bar-approved", left, y + 4, wE, rowH - 8, name + ": earned " + amount(r.Earned(), cur)})
		}
		if wP > 0 {
			b.Segments = append(b.Segments, Segment{"bar-pending", left + wE, y + 4, wP, rowH - 8, name + ": pending " + amount(r.Pending, cur)})
		}
		c.Bars = append(c.Bars, b)
		c.Rows = append(c.Rows, tableRow(name, r, cur))
	}
	if len(rows) > 0 {
		c.Summary = fmt.Sprintf("Bar chart of earned and pending commission in %s for %d %s; the largest is %s with %s. The table below has every figure.",
			cur, len(rows), plural(key), label(rows[0].Keys[0], "(unattributed)"), amount(owed(rows[0]), cur))
	}
	return c
}

// epcChart ranks courses by earnings per human click.
func epcChart(rows []report.Row, cur string) Chart {
	rows = append([]report.Row(nil), rows...)
	epc := func(r report.Row) minor.Sum { v, _ := r.EPC(); return v }
	sort.SliceStable(rows, func(i, j int) bool { return epc(rows[i]).Cmp(epc(rows[j])) > 0 })
	if len(rows) > 10 {
		rows = rows[:10]
	}
	c := Chart{ID: "epc", Title: "Top courses by earnings per click", Legend: []Legend{{"bar-approved", "EPC"}},
		Note:    "Approved and paid commission per human click; courses with no clicks are left out.",
		Columns: append([]string{"Course"}, tableColumns...), Width: 760}
	var peak minor.Sum
	for _, r := range rows {
		peak = minor.Max(peak, epc(r))
	}
	const left, rowH = 170.0, 30.0
	plotW := float64(c.Width) - left - 150
	c.Height = int(rowH*float64(len(rows)) + 10)
	for i, r := range rows {
		name := label(r.Keys[0], "(no course)")
		y := 5 + float64(i)*rowH
		w := proportion(epc(r), peak) * plotW
		b := Bar{Label: truncate(name, 24), LabelX: left - 8, LabelY: y + rowH/2 + 4, Anchor: "end",
			Value: amount(epc(r), cur), ValueX: left + w + 6, ValueY: y + rowH/2 + 4}
		if w > 0 {
			b.Segments = []Segment{{"bar-approved", left, y + 4, w, rowH - 8, name + ": " + amount(epc(r), cur) + " per click"}}
		}
		c.Bars = append(c.Bars, b)
		c.Rows = append(c.Rows, tableRow(name, r, cur))
	}
	if len(rows) > 0 {
		c.Summary = fmt.Sprintf("Bar chart of earnings per click in %s for the top %d courses; the highest is %s at %s. The table below has every figure.",
			cur, len(rows), label(rows[0].Keys[0], "(no course)"), amount(epc(rows[0]), cur))
	}
	return c
}

// proportion is v/peak for drawing, 0 when peak is not positive.
func proportion(v, peak minor.Sum) float64 {
	if peak.Sign() <= 0 {
		return 0
	}
	return v.Float64() / peak.Float64()
}

func plural(key string) string {
	if key == "Course" {
		return "courses"
	}
	return "partners"
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
