package loadgen

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/linkcredit/linkcredit/pkg/money"
)

// Observed is what the reports show for a run's links and partners.
type Observed struct {
	// Clicks is clicks + bot_clicks per link and day: every recorded
	// click, whatever redirect's bot verdict (loadgen does not second-guess it).
	Clicks      map[ClickKey]int64
	Conversions map[ConvKey]ConvTotals
	// LinkConversions are the conversions each link is credited with
	// (its attributed conversions, over the run's days), per currency.
	LinkConversions map[LinkConvKey]ConvTotals
	// Inconsistent are rows that contradict each other.
	Inconsistent []string
}

// Observe reads reporting's reports for the run's links and partners.
func Observe(ctx context.Context, s *Stack, x Expected) (Observed, error) {
	o := Observed{Clicks: map[ClickKey]int64{}, Conversions: map[ConvKey]ConvTotals{}, LinkConversions: map[LinkConvKey]ConvTotals{}}
	from, to := x.From.Format(time.DateOnly), x.To.Format(time.DateOnly)
	rows, err := s.Report(ctx, url.Values{"from": {from}, "to": {to}, "tz": {"UTC"}, "group_by": {"link,day"}})
	if err != nil {
		return o, err
	}
	for _, r := range rows {
		link := str(r["link"])
		if !x.Links[link] {
			continue
		}
		// Without a report currency there is one row per original
		// currency, each repeating the link's clicks: count them once.
		k := ClickKey{link, str(r["day"])}
		n := num(r["clicks"]) + num(r["bot_clicks"])
		if have, ok := o.Clicks[k]; ok && have != n {
			o.Inconsistent = append(o.Inconsistent, fmt.Sprintf("clicks %s %s: %d on one currency row, %d on another", k.Link, k.Day, have, n))
		}
		if n != 0 {
			o.Clicks[k] = n
		}
		t, err := totalsOf(r)
		if err != nil {
			return o, err
		}
		if t != (ConvTotals{}) {
			lk := LinkConvKey{link, str(r["currency"])}
			o.LinkConversions[lk] = o.LinkConversions[lk].plus(t)
		}
	}
	rows, err = s.Report(ctx, url.Values{"from": {from}, "to": {to}, "tz": {"UTC"}, "group_by": {"partner,day"}})
	if err != nil {
		return o, err
	}
	for _, r := range rows {
		p := str(r["partner"])
		if !x.Partners[p] {
			continue
		}
		t, err := totalsOf(r)
		if err != nil {
			return o, err
		}
		if t == (ConvTotals{}) {
			continue
		}
		k := ConvKey{p, str(r["day"]), str(r["currency"])}
		o.Conversions[k] = o.Conversions[k].plus(t)
	}
	return o, nil
}

// totalsOf is a report row's conversion figures.
func totalsOf(r map[string]any) (ConvTotals, error) {
	cur := str(r["currency"])
	t := ConvTotals{Conversions: num(r["conversions"])}
	for _, f := range []struct {
		dst *int64
		col string
	}{{&t.Sale, "sale_amount"}, {&t.Pending, "commission_pending"}, {&t.Approved, "commission_approved"},
		{&t.Reversed, "commission_reversed"}, {&t.Paid, "commission_paid"}} {
		s := str(r[f.col])
		if s == "" || strings.Trim(s, "0.") == "" { // rows with clicks only carry "0" and no currency
			continue
		}
		a, err := money.Parse(s, cur)
		if err != nil {
			return ConvTotals{}, fmt.Errorf("report row %v: %s %q: %w", r, f.col, s, err)
		}
		*f.dst = a.Minor
	}
	return t, nil
}

// Verdict is the outcome of a reconciliation.
type Verdict struct {
	// Diffs are differences no in-doubt request explains: a failure.
	Diffs []string
	// Explained are differences within what in-doubt requests allow.
	Explained []string
	// Checked counts the cells compared.
	ClickCells, ConversionCells int
	// LinkConversionCells counts the link-currency cells of conversions:
	// what each link is credited with.
	LinkConversionCells int
	Clicks, Conversions int64
}

// OK reports an exact match (differences explained by in-doubt requests
// included).
func (v Verdict) OK() bool { return len(v.Diffs) == 0 }

func (v Verdict) String() string {
	var b strings.Builder
	if v.OK() {
		fmt.Fprintf(&b, "reconciled: %d clicks in %d link-day cells and %d conversions in %d partner-day-currency cells (%d link-currency cells) match the reports exactly",
			v.Clicks, v.ClickCells, v.Conversions, v.ConversionCells, v.LinkConversionCells)
	} else {
		fmt.Fprintf(&b, "NOT reconciled: %d differences", len(v.Diffs))
		for i, d := range v.Diffs {
			if i == 20 {
				fmt.Fprintf(&b, "\n  ... %d more", len(v.Diffs)-20)
				break
			}
			b.WriteString("\n  " + d)
		}
	}
	if len(v.Explained) > 0 {
		fmt.Fprintf(&b, "\n%d cells differ within requests that got no answer (the stack may have kept them):", len(v.Explained))
		for i, d := range v.Explained {
			if i == 10 {
				break
			}
			b.WriteString("\n  " + d)
		}
	}
	return b.String()
}

// Compare checks observed against expected, cell by cell.
func Compare(x Expected, o Observed) Verdict {
	var v Verdict
	v.Diffs = append(v.Diffs, o.Inconsistent...)
	if x.DupClicks > 0 {
		v.Diffs = append(v.Diffs, fmt.Sprintf("the redirect acknowledged %d click ids twice", x.DupClicks))
	}
	perLinkExtra := map[string]int64{}
	keys := map[ClickKey]bool{}
	for k := range x.Clicks {
		keys[k] = true
	}
	for k := range o.Clicks {
		keys[k] = true
	}
	var clickDiffs []ClickKey
	for k := range keys {
		want, got := x.Clicks[k], o.Clicks[k]
		v.ClickCells++
		v.Clicks += want
		switch {
		case got == want:
		case got > want:
			perLinkExtra[k.Link] += got - want
			clickDiffs = append(clickDiffs, k)
		default:
			v.Diffs = append(v.Diffs, fmt.Sprintf("clicks %s %s: acknowledged %d, reported %d (missing %d)", k.Link, k.Day, want, got, want-got))
		}
	}
	for _, k := range clickDiffs {
		d := fmt.Sprintf("clicks %s %s: acknowledged %d, reported %d", k.Link, k.Day, x.Clicks[k], o.Clicks[k])
		if perLinkExtra[k.Link] <= x.ClicksInDoubt[k.Link] {
			v.Explained = append(v.Explained, d+fmt.Sprintf(" (%d unanswered requests on the link)", x.ClicksInDoubt[k.Link]))
		} else {
			v.Diffs = append(v.Diffs, d+" (counted more than once, or not ours)")
		}
	}
	v.ConversionCells = compareCells(&v, x.Conversions, o.Conversions, x.ConversionsInDoubt, func(k ConvKey, want ConvTotals) (string, string) {
		v.Conversions += want.Conversions
		return fmt.Sprintf("conversions %s %s %s", k.Partner, k.Day, k.Currency), k.Currency
	}, func(k ConvKey) string {
		return fmt.Sprintf("within what %d orders with unanswered events allow", x.OrdersInDoubt[k])
	}, "")
	v.LinkConversionCells = compareCells(&v, x.LinkConversions, o.LinkConversions, x.LinkConversionsInDoubt, func(k LinkConvKey, _ ConvTotals) (string, string) {
		return fmt.Sprintf("conversions credited to link %s in %s", k.Link, k.Currency), k.Currency
	}, func(LinkConvKey) string { return "within what orders with unanswered events allow" }, " (credited to another click, counted twice, or not ours)")
	slices.Sort(v.Diffs)
	slices.Sort(v.Explained)
	return v
}

// compareCells compares conversion cells, the union of want's and got's
// keys: a difference is explained within the cell's doubt, else a
// failure (with failure added to its text). name names a cell and its
// currency; why says what explains a difference. It returns how many
// cells it compared.
func compareCells[K comparable](v *Verdict, want, got map[K]ConvTotals, doubt map[K]Doubt,
	name func(K, ConvTotals) (string, string), why func(K) string, failure string) int {
	keys := map[K]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	for k := range keys {
		w, g := want[k], got[k]
		cell, cur := name(k, w)
		if w == g {
			continue
		}
		d := fmt.Sprintf("%s: acknowledged %s, reported %s", cell, w.format(cur), g.format(cur))
		if r, ok := doubt[k]; ok && r.holds(w, g) {
			v.Explained = append(v.Explained, d+" ("+why(k)+")")
		} else {
			v.Diffs = append(v.Diffs, d+failure)
		}
	}
	return len(keys)
}

func (t ConvTotals) format(cur string) string {
	return fmt.Sprintf("{n=%d sale=%s pending=%s approved=%s reversed=%s paid=%s}", t.Conversions,
		amount(t.Sale, cur), amount(t.Pending, cur), amount(t.Approved, cur), amount(t.Reversed, cur), amount(t.Paid, cur))
}

// Reconcile reads the reports until they match the ledger or timeout
// passes (ingest is asynchronous), and returns the last verdict. A match
// must hold a second later too: a click counted twice may land late.
func Reconcile(ctx context.Context, s *Stack, l *Ledger, timeout time.Duration) (Verdict, error) {
	x := l.Expected()
	deadline := time.Now().Add(timeout)
	var matched bool
	for {
		o, err := Observe(ctx, s, x)
		var v Verdict
		if err == nil {
			v = Compare(x, o)
			if v.OK() && matched || time.Now().After(deadline) {
				return v, nil
			}
			if matched = v.OK(); matched {
				select {
				case <-ctx.Done():
					return v, ctx.Err()
				case <-time.After(time.Second):
				}
				continue
			}
		} else if time.Now().After(deadline) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}
