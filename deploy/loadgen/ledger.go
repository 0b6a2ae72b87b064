package loadgen

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clickid"
)

// ClickAck is a click the redirect acknowledged: a 302 with X-Click-Id.
type ClickAck struct {
	ID   string
	Link string
}

// Ledger is what the stack acknowledged to loadgen, and what it may have
// kept without saying so (a request whose answer never came: the process
// may have recorded it and died, or the connection broke after the
// commit). Safe for concurrent use.
type Ledger struct {
	mu            sync.Mutex
	partners      map[string]bool
	links         map[string]bool
	clicks        map[string]string // click id -> link code
	dupClicks     int               // the same click id acknowledged twice
	inDoubtClicks map[string]int    // link code -> requests without an answer
	events        map[string]Event  // acknowledged, by event id
	inDoubt       map[string]Event  // sent, never acknowledged, by event id
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{partners: map[string]bool{}, links: map[string]bool{}, clicks: map[string]string{},
		inDoubtClicks: map[string]int{}, events: map[string]Event{}, inDoubt: map[string]Event{}}
}

// AddPartner and AddLink name what belongs to this run: reconciliation
// checks every report row of these partners and links.
func (l *Ledger) AddPartner(id string) { l.mu.Lock(); l.partners[id] = true; l.mu.Unlock() }

// AddLink is AddPartner for links.
func (l *Ledger) AddLink(code string) { l.mu.Lock(); l.links[code] = true; l.mu.Unlock() }

// AddClicks records acknowledged clicks.
func (l *Ledger) AddClicks(acks []ClickAck) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range acks {
		if _, dup := l.clicks[a.ID]; dup {
			l.dupClicks++
			continue
		}
		l.clicks[a.ID] = a.Link
	}
}

// ClickInDoubt records a click request that got no answer.
func (l *Ledger) ClickInDoubt(link string) { l.mu.Lock(); l.inDoubtClicks[link]++; l.mu.Unlock() }

// Acked records an acknowledged (2xx) conversion event.
func (l *Ledger) Acked(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.inDoubt, e.ID)
	l.events[e.ID] = e
}

// EventInDoubt records an event sent and never acknowledged.
func (l *Ledger) EventInDoubt(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.events[e.ID]; !ok {
		l.inDoubt[e.ID] = e
	}
}

// Counts says how much the ledger holds.
func (l *Ledger) Counts() (clicks, events, inDoubtClicks, inDoubtEvents int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.inDoubtClicks {
		inDoubtClicks += n
	}
	return len(l.clicks), len(l.events), inDoubtClicks, len(l.inDoubt)
}

// ClickIDs returns every acknowledged click id.
func (l *Ledger) ClickIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.clicks))
	for id := range l.clicks {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// ClickKey is a report cell for clicks: a link on a UTC day.
type ClickKey struct{ Link, Day string }

// ConvKey is a report cell for conversions: a partner, the UTC day of the
// purchase (its first occurred_at) and the original currency.
type ConvKey struct{ Partner, Day, Currency string }

// LinkConvKey is a cell of the conversions a link is credited with: the
// link of the order's click, in the conversion's currency.
type LinkConvKey struct{ Link, Currency string }

// ConvTotals are a cell's conversion figures, money in minor units.
type ConvTotals struct {
	Conversions                       int64
	Sale, Pending, Approved, Reversed int64
	Paid                              int64
}

func (t ConvTotals) figures() [6]int64 {
	return [6]int64{t.Conversions, t.Sale, t.Pending, t.Approved, t.Reversed, t.Paid}
}

func totalsFrom(f [6]int64) ConvTotals {
	return ConvTotals{Conversions: f[0], Sale: f[1], Pending: f[2], Approved: f[3], Reversed: f[4], Paid: f[5]}
}

func (t ConvTotals) plus(u ConvTotals) ConvTotals {
	a, b := t.figures(), u.figures()
	for i := range a {
		a[i] += b[i]
	}
	return totalsFrom(a)
}

// Doubt bounds a cell's figures when orders with unanswered events fall
// in it: each figure may move from what was acknowledged by at least Low
// and at most High (Low <= 0 <= High), as the stack kept any subset of
// those events.
type Doubt struct{ Low, High ConvTotals }

// holds reports whether got is want moved within d.
func (d Doubt) holds(want, got ConvTotals) bool {
	w, g, lo, hi := want.figures(), got.figures(), d.Low.figures(), d.High.figures()
	for i := range w {
		if g[i] < w[i]+lo[i] || g[i] > w[i]+hi[i] {
			return false
		}
	}
	return true
}

// Expected is what the reports must show for a run.
type Expected struct {
	Partners, Links map[string]bool
	Clicks          map[ClickKey]int64
	// ClicksInDoubt per link: clicks that may be there without an ack.
	ClicksInDoubt map[string]int64
	DupClicks     int
	Conversions   map[ConvKey]ConvTotals
	// LinkConversions are the conversions each link must be credited
	// with: the orders whose click loadgen knows (an acknowledged one).
	LinkConversions map[LinkConvKey]ConvTotals
	// OrdersInDoubt: orders with an event sent and never acknowledged,
	// by the cells they may fall in. A cell that differs is explained,
	// not failed, only within ConversionsInDoubt (LinkConversionsInDoubt
	// for the link cells): the figures of every subset of those events
	// the stack may have kept.
	OrdersInDoubt          map[ConvKey]int
	ConversionsInDoubt     map[ConvKey]Doubt
	LinkConversionsInDoubt map[LinkConvKey]Doubt
	From, To               time.Time // days to ask for: [From, To)
}

// Expected folds the ledger into report cells, as reporting must: clicks
// by link and day of the click (the time in its id), each conversion once
// with the status of its latest acknowledged event by occurred_at.
func (l *Ledger) Expected() Expected {
	l.mu.Lock()
	defer l.mu.Unlock()
	x := Expected{Partners: clone(l.partners), Links: clone(l.links), Clicks: map[ClickKey]int64{},
		ClicksInDoubt: map[string]int64{}, DupClicks: l.dupClicks, Conversions: map[ConvKey]ConvTotals{}, OrdersInDoubt: map[ConvKey]int{},
		LinkConversions: map[LinkConvKey]ConvTotals{}, ConversionsInDoubt: map[ConvKey]Doubt{}, LinkConversionsInDoubt: map[LinkConvKey]Doubt{}}
	widen := func(t time.Time) {
		d := t.UTC().Truncate(24 * time.Hour)
		if x.From.IsZero() || d.Before(x.From) {
			x.From = d
		}
		if e := d.AddDate(0, 0, 1); e.After(x.To) {
			x.To = e
		}
	}
	for id, link := range l.clicks {
		at, err := clickid.Time(id)
		if err != nil { // the redirect issued it: cannot happen; count it as unknown day
			x.Clicks[ClickKey{link, "?"}]++
			continue
		}
		widen(at)
		x.Clicks[ClickKey{link, at.UTC().Format(time.DateOnly)}]++
	}
	for link, n := range l.inDoubtClicks {
		x.ClicksInDoubt[link] += int64(n)
	}
	now := time.Now()
	widen(now) // in-doubt clicks are today's
	orders := map[[2]string][]Event{}
	for _, e := range l.events {
		k := [2]string{e.Partner, e.OrderID}
		orders[k] = append(orders[k], e)
	}
	linkOf := func(k ConvKey, evs []Event) (LinkConvKey, bool) {
		link, ok := l.clicks[clickOf(evs)]
		return LinkConvKey{link, k.Currency}, ok
	}
	for _, evs := range orders {
		k, t := Fold(evs)
		widen(evs[0].OccurredAt)
		x.Conversions[k] = x.Conversions[k].plus(t)
		if lk, ok := linkOf(k, evs); ok {
			x.LinkConversions[lk] = x.LinkConversions[lk].plus(t)
		}
	}
	doubted := map[[2]string][]Event{}
	for _, e := range l.inDoubt {
		k := [2]string{e.Partner, e.OrderID}
		doubted[k] = append(doubted[k], e)
		widen(e.OccurredAt)
	}
	convCell := func(o outcome) (ConvKey, bool) { return o.cell, o.exists }
	linkCell := func(o outcome) (LinkConvKey, bool) { return o.link, o.exists && o.linked }
	for k, doubt := range doubted {
		var outs []outcome
		for _, evs := range outcomes(orders[k], doubt) {
			o := outcome{exists: len(evs) > 0}
			if o.exists {
				var t ConvTotals
				o.cell, t = Fold(evs)
				o.link, o.linked = linkOf(o.cell, evs)
				o.figures = t.figures()
			}
			outs = append(outs, o)
		}
		for _, c := range cellsOf(outs, convCell) {
			x.OrdersInDoubt[c]++
		}
		widenDoubt(x.ConversionsInDoubt, outs, convCell)
		widenDoubt(x.LinkConversionsInDoubt, outs, linkCell)
	}
	return x
}

// outcome is what one of the event sets an order may stand at makes of
// it: its cell and its link's, with its figures; none without events.
type outcome struct {
	exists, linked bool
	cell           ConvKey
	link           LinkConvKey
	figures        [6]int64
}

// clickOf is the click an order's events name: the latest non-empty
// click id by occurred_at, as reporting attributes it.
func clickOf(evs []Event) string {
	id := ""
	for _, e := range sortedByTime(evs) {
		if e.ClickID != "" {
			id = e.ClickID
		}
	}
	return id
}

func sortedByTime(evs []Event) []Event {
	out := slices.Clone(evs)
	slices.SortStableFunc(out, func(a, b Event) int { return a.OccurredAt.Compare(b.OccurredAt) })
	return out
}

// outcomes are the event sets an order with unanswered events may stand
// at in the stack: its acknowledged events with each subset of the
// unanswered ones (the first is the acknowledged ones alone, maybe none).
// An order has a few events at most; past 10 unanswered ones, the others
// are left out (never taken as kept).
func outcomes(acked, doubt []Event) [][]Event {
	if len(doubt) > 10 {
		doubt = doubt[:10]
	}
	var out [][]Event
	for mask := 0; mask < 1<<len(doubt); mask++ {
		evs := slices.Clone(acked)
		for i, e := range doubt {
			if mask&(1<<i) != 0 {
				evs = append(evs, e)
			}
		}
		out = append(out, evs)
	}
	return out
}

// cellsOf is every cell any of outs falls in, by key.
func cellsOf[K comparable](outs []outcome, key func(outcome) (K, bool)) []K {
	var cells []K
	for _, o := range outs {
		if c, ok := key(o); ok && !slices.Contains(cells, c) {
			cells = append(cells, c)
		}
	}
	return cells
}

// widenDoubt adds to bounds how far an order's outcomes may move each
// cell's figures from its first outcome (what was acknowledged).
func widenDoubt[K comparable](bounds map[K]Doubt, outs []outcome, key func(outcome) (K, bool)) {
	in := func(o outcome, c K) [6]int64 { // o's figures in cell c
		if k, ok := key(o); ok && k == c {
			return o.figures
		}
		return [6]int64{}
	}
	for _, c := range cellsOf(outs, key) {
		base := in(outs[0], c)
		lo, hi := bounds[c].Low.figures(), bounds[c].High.figures()
		for f := range base {
			least, most := base[f], base[f]
			for _, o := range outs {
				least, most = min(least, in(o, c)[f]), max(most, in(o, c)[f])
			}
			lo[f] += least - base[f]
			hi[f] += most - base[f]
		}
		bounds[c] = Doubt{totalsFrom(lo), totalsFrom(hi)}
	}
}

// Fold returns the cell and figures of one conversion from its events
// (at least one): ordered by occurred_at, the purchase is the first, the
// state the last. It sorts evs.
func Fold(evs []Event) (ConvKey, ConvTotals) {
	slices.SortStableFunc(evs, func(a, b Event) int { return a.OccurredAt.Compare(b.OccurredAt) })
	last := evs[len(evs)-1]
	k := ConvKey{Partner: last.Partner, Day: evs[0].OccurredAt.UTC().Format(time.DateOnly), Currency: last.Currency}
	t := ConvTotals{Conversions: 1}
	switch last.Status {
	case "pending":
		t.Sale, t.Pending = last.Sale, last.Commission
	case "approved":
		t.Sale, t.Approved = last.Sale, last.Commission
	case "reversed":
		t.Reversed = last.Commission
	}
	return k, t
}

func clone(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// sortedKeys returns m's keys in order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Events returns every acknowledged conversion event, by id.
func (l *Ledger) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Event, 0, len(l.events))
	for _, id := range sortedKeys(l.events) {
		out = append(out, l.events[id])
	}
	return out
}
