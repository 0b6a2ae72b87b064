package ledger

import (
	"slices"
	"time"
)

// Step is a change of a conversion's balances and when it takes effect.
// Its postings balance per currency.
type Step struct {
	At       time.Time
	Postings []Posting
}

// instant keys a map by a moment, whatever its location.
type instant struct {
	sec  int64
	nsec int
}

func instantOf(t time.Time) instant { return instant{t.Unix(), t.Nanosecond()} }

// journal sums dated postings by moment, account and currency.
type journal map[instant]map[[2]string]int64

func (j journal) add(at time.Time, ps []Posting, sign int64) {
	k := instantOf(at)
	m := j[k]
	if m == nil {
		m = map[[2]string]int64{}
		j[k] = m
	}
	for _, p := range ps {
		m[[2]string{p.Account, p.Currency}] += sign * p.Amount
	}
}

// timeline adds the balances (nothing paid) that events move through, one
// step per event in Compare order, each at its event's occurred_at.
func (j journal) timeline(events []Event, sign int64) {
	var prev State
	for _, e := range ordered(events) {
		next := prev.then(e)
		j.add(e.OccurredAt, Diff(prev, next), sign)
		prev = next
	}
}

// Moves is what the ledger posts for a conversion whose events went from
// old to new and whose state went from from to to, in time order.
//
// A conversion's entries are the steps of its timeline: each event, in
// the order the events apply (occurred_at, then acceptance), moves the
// balances at its own occurred_at. An event that arrives late but
// happened earlier changes the timeline from its moment on; Moves posts
// that difference, dated as the timeline is, so the entries of every
// moment are the same whatever order the events arrived in (a payout
// statement's "approved in the month" among them). What remittances
// paid, and any difference between from and the fold of old (entries
// posted before the timeline was kept), are posted at at, so that a
// conversion's entries always sum to Balances(to).
func Moves(old, new []Event, from, to State, at time.Time) []Step {
	if appended(old, new) {
		// The timeline only grew at its end (events arriving in order,
		// the common case), or did not change: one step at at, which
		// is then the newest event's time.
		if ps := Diff(from, to); len(ps) > 0 {
			return []Step{{At: at, Postings: ps}}
		}
		return nil
	}
	j := journal{}
	j.timeline(new, 1)
	j.timeline(old, -1)
	// The rest of Balances(to) - Balances(from), at at: what the
	// timeline's difference does not already post.
	var posted []Posting
	for _, m := range j {
		posted = append(posted, postingsOf(m)...)
	}
	j.add(at, Diff(from, to), 1)
	j.add(at, posted, -1)
	var steps []Step
	for k, m := range j {
		if ps := postingsOf(m); len(ps) > 0 {
			steps = append(steps, Step{At: time.Unix(k.sec, int64(k.nsec)).UTC(), Postings: ps})
		}
	}
	slices.SortFunc(steps, func(a, b Step) int { return a.At.Compare(b.At) })
	return steps
}

// appended reports whether new holds the events of old, or those and one
// event that applies after all of them, with no replay among them.
func appended(old, new []Event) bool {
	for _, e := range new {
		if e.ReplayOf != "" {
			return false
		}
	}
	in := map[string]bool{}
	for _, e := range old {
		in[e.ID] = true
	}
	switch len(new) - len(old) {
	case 0: // the same events
		for _, e := range new {
			if !in[e.ID] {
				return false
			}
		}
		return true
	case 1:
	default:
		return false
	}
	var added *Event
	for i := range new {
		if !in[new[i].ID] {
			if added != nil {
				return false
			}
			added = &new[i]
		}
	}
	if added == nil {
		return false
	}
	for _, e := range old {
		if Compare(e, *added) >= 0 {
			return false
		}
	}
	return true
}
