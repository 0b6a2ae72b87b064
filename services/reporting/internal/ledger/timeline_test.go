package ledger

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// post applies events one by one in the order given, as the ledger does
// when they arrive, with paid amounts as remittances might leave them,
// and returns every entry posted, by moment, account and currency. Each
// arrival's moment is that of the last event in the order they apply, as
// the store's.
func post(t *testing.T, arrivals []Event, paid func() int64) (journal, State) {
	t.Helper()
	posted := journal{}
	var arrived []Event
	var prev State
	for _, e := range arrivals {
		all := append(slices.Clone(arrived), e)
		next := Fold(all, paid())
		at := slices.MaxFunc(all, Compare).OccurredAt
		for _, st := range Moves(arrived, all, prev, next, at) {
			if !Balanced(st.Postings) {
				t.Fatalf("unbalanced step %v", st)
			}
			posted.add(st.At, st.Postings, 1)
		}
		arrived = append(arrived, e)
		prev = next
	}
	return posted, prev
}

// netted drops the zero sums of j, for comparing two journals.
func netted(j journal) map[string]int64 {
	out := map[string]int64{}
	for k, m := range j {
		for a, v := range m {
			if v != 0 {
				out[fmt.Sprintf("%d.%09d %s %s", k.sec, k.nsec, a[0], a[1])] = v
			}
		}
	}
	return out
}

// The entries of each moment are those of the events' timeline, whatever
// order the events arrived in, and with remittances paying part of it as
// it goes they still sum to the final state's balances.
func TestMovesFollowTheTimeline(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	statuses := []string{StatusPending, StatusApproved, StatusReversed}
	currencies := []string{"USD", "EUR"}
	for round := range 2000 {
		n := 1 + rng.IntN(6)
		var events []Event
		for i := range n {
			events = append(events, Event{ID: string(rune('a' + i)), Status: statuses[rng.IntN(3)],
				Sale: rng.Int64N(10000), Commission: rng.Int64N(1000), Currency: currencies[rng.IntN(2)],
				OccurredAt: t0.Add(time.Duration(rng.IntN(4)) * time.Hour), AcceptedSeq: int64(rng.IntN(3))})
		}
		want := journal{}
		want.timeline(events, 1)
		arrivals := make([]Event, n)
		for i, j := range rng.Perm(n) {
			arrivals[i] = events[j]
		}
		got, final := post(t, arrivals, func() int64 { return 0 })
		if g, w := netted(got), netted(want); !maps.Equal(g, w) {
			t.Fatalf("round %d: arrivals %v posted\n%v\nwant the timeline's\n%v", round, ids(arrivals), g, w)
		}
		// With remittances paying part of it as it goes, the entries
		// still sum to the final state's balances.
		paidGot, paidFinal := post(t, arrivals, func() int64 { return rng.Int64N(1000) })
		sum := map[[2]string]int64{}
		for _, m := range paidGot {
			for a, v := range m {
				sum[a] += v
			}
		}
		for _, p := range Balances(paidFinal) {
			sum[[2]string{p.Account, p.Currency}] -= p.Amount
		}
		for a, v := range sum {
			if v != 0 {
				t.Fatalf("round %d: %v sums to %d more than the final state's balances", round, a, v)
			}
		}
		if final.Paid != 0 {
			t.Fatalf("round %d: nothing paid, yet %d", round, final.Paid)
		}
	}
}

// The statement's cases (issue: a statement depended on the order
// webhooks arrived in): pending, approved and reversed on three days give
// the same entries in any arrival order; an approval that a pending event
// of the same instant, accepted after it, undoes leaves no approval.
func TestMovesStatementCases(t *testing.T) {
	day := 24 * time.Hour
	pending, approved, reversed := ev("p", StatusPending, 2000, 0), ev("a", StatusApproved, 2000, 5*day), ev("r", StatusReversed, 2000, 10*day)
	inOrder, _ := post(t, []Event{pending, approved, reversed}, func() int64 { return 0 })
	reversedFirst, _ := post(t, []Event{reversed, pending, approved}, func() int64 { return 0 })
	if a, b := netted(inOrder), netted(reversedFirst); !maps.Equal(a, b) {
		t.Fatalf("in order:\n%v\nreversal first:\n%v", a, b)
	}
	approvedAt := instantOf(approved.OccurredAt)
	if got := inOrder[approvedAt][[2]string{AccountReceivableApproved, "USD"}]; got != 2000 {
		t.Fatalf("approved on its day: %d, want 2000", got)
	}

	undone := []Event{
		{ID: "x1", Status: StatusApproved, Commission: 400, Currency: "USD", OccurredAt: t0, AcceptedSeq: 1},
		{ID: "x2", Status: StatusPending, Commission: 400, Currency: "USD", OccurredAt: t0, AcceptedSeq: 2},
	}
	got, final := post(t, undone, func() int64 { return 0 })
	if final.Status != StatusPending {
		t.Fatalf("final status %s, want pending", final.Status)
	}
	if v := got[instantOf(t0)][[2]string{AccountReceivableApproved, "USD"}]; v != 0 {
		t.Fatalf("an approval undone at the same instant left %d approved", v)
	}
}

// Entries posted before the timeline was kept (one transaction per
// arrival, at the last event) differ from the timeline's; Moves then
// posts the rest at the moment given, so the sums stay right.
func TestMovesCorrectsAStateTheEventsDoNotGive(t *testing.T) {
	events := []Event{ev("p", StatusPending, 100, 0)}
	legacy := State{Status: StatusApproved, Commission: 100, Currency: "USD", Events: 1}
	to := Fold(append(events, ev("r", StatusReversed, 100, time.Hour)), 0)
	at := t0.Add(48 * time.Hour)
	steps := Moves(events, append(slices.Clone(events), ev("r", StatusReversed, 100, time.Hour)), legacy, to, at)
	sum := map[[2]string]int64{}
	for _, st := range steps {
		if !Balanced(st.Postings) {
			t.Fatalf("unbalanced %v", st)
		}
		for _, p := range st.Postings {
			sum[[2]string{p.Account, p.Currency}] += p.Amount
		}
	}
	for _, p := range Diff(legacy, to) {
		if sum[[2]string{p.Account, p.Currency}] != p.Amount {
			t.Fatalf("%s sums to %d, want %d (steps %v)", p.Account, sum[[2]string{p.Account, p.Currency}], p.Amount, steps)
		}
	}
	if last := steps[len(steps)-1]; !last.At.Equal(at) {
		t.Fatalf("the correction is at %v, want %v", last.At, at)
	}
}

func ids(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}
