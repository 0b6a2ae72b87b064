package ledger

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func ev(id, status string, commission int64, at time.Duration) Event {
	return Event{ID: id, Status: status, Sale: commission * 10, Commission: commission, Currency: "USD", OccurredAt: t0.Add(at)}
}

func TestFold(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		paid   int64
		want   State
	}{
		{"nothing", nil, 0, State{}},
		{"one pending", []Event{ev("a", StatusPending, 100, 0)}, 0,
			State{Status: StatusPending, Sale: 1000, Commission: 100, Currency: "USD", PurchasedAt: t0, Events: 1}},
		{"approval arrives first", []Event{ev("b", StatusApproved, 120, time.Hour), ev("a", StatusPending, 100, 0)}, 0,
			State{Status: StatusApproved, Sale: 1200, Commission: 120, Currency: "USD", PurchasedAt: t0, Events: 2}},
		{"reversal keeps nothing paid", []Event{ev("a", StatusApproved, 100, 0), ev("b", StatusReversed, 100, time.Hour)}, 100,
			State{Status: StatusReversed, Sale: 1000, Commission: 100, Currency: "USD", PurchasedAt: t0, Events: 2}},
		{"a reversal of 0.00 reverses what the conversion carried", []Event{ev("a", StatusApproved, 100, 0),
			{ID: "b", Status: StatusReversed, Currency: "USD", OccurredAt: t0.Add(time.Hour)}}, 100,
			State{Status: StatusReversed, Sale: 1000, Commission: 100, Currency: "USD", PurchasedAt: t0, Events: 2}},
		{"a reversal of 0.00 in another currency too", []Event{ev("a", StatusPending, 100, 0),
			{ID: "b", Status: StatusReversed, Currency: "EUR", OccurredAt: t0.Add(time.Hour)}}, 0,
			State{Status: StatusReversed, Sale: 1000, Commission: 100, Currency: "USD", PurchasedAt: t0, Events: 2}},
		{"a reversal's zero commission keeps the commission", []Event{ev("a", StatusApproved, 100, 0),
			{ID: "b", Status: StatusReversed, Sale: 700, Currency: "USD", OccurredAt: t0.Add(time.Hour)}}, 0,
			State{Status: StatusReversed, Sale: 700, Commission: 100, Currency: "USD", PurchasedAt: t0, Events: 2}},
		{"a reversal's zero sale keeps the sale", []Event{ev("a", StatusApproved, 100, 0),
			{ID: "b", Status: StatusReversed, Commission: 30, Currency: "USD", OccurredAt: t0.Add(time.Hour)}}, 0,
			State{Status: StatusReversed, Sale: 1000, Commission: 30, Currency: "USD", PurchasedAt: t0, Events: 2}},
		{"a reversal with amounts in another currency stands as sent", []Event{ev("a", StatusApproved, 100, 0),
			{ID: "b", Status: StatusReversed, Commission: 30, Currency: "EUR", OccurredAt: t0.Add(time.Hour)}}, 0,
			State{Status: StatusReversed, Commission: 30, Currency: "EUR", PurchasedAt: t0, Events: 2}},
		{"a reversal of 0.00 that arrives first reverses the sale once it arrives", []Event{
			{ID: "b", Status: StatusReversed, Currency: "USD", OccurredAt: t0.Add(time.Hour)}, ev("a", StatusPending, 100, 0)}, 0,
			State{Status: StatusReversed, Sale: 1000, Commission: 100, Currency: "USD", PurchasedAt: t0, Events: 2}},
		{"a first event reversed with 0.00 reverses nothing", []Event{{ID: "b", Status: StatusReversed, Currency: "USD", OccurredAt: t0}}, 0,
			State{Status: StatusReversed, Currency: "USD", PurchasedAt: t0, Events: 1}},
		{"paid is clamped to the commission", []Event{ev("a", StatusApproved, 100, 0), ev("b", StatusApproved, 60, time.Hour)}, 100,
			State{Status: StatusApproved, Sale: 600, Commission: 60, Paid: 60, Currency: "USD", PurchasedAt: t0, Events: 2}},
		{"same time: id breaks the tie", []Event{ev("b", StatusReversed, 100, 0), ev("a", StatusApproved, 100, 0)}, 0,
			State{Status: StatusReversed, Sale: 1000, Commission: 100, Currency: "USD", PurchasedAt: t0, Events: 2}},
		{"a replay supersedes its original", []Event{ev("a", StatusApproved, 100, 0),
			{ID: "r", ReplayOf: "a", Status: StatusPending, Sale: 500, Commission: 50, Currency: "USD", OccurredAt: t0}}, 0,
			State{Status: StatusPending, Sale: 500, Commission: 50, Currency: "USD", PurchasedAt: t0, Events: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fold(tt.events, tt.paid); got != tt.want {
				t.Fatalf("Fold = %+v\nwant   %+v", got, tt.want)
			}
		})
	}
}

// Any arrival order folds to the same state, and every transaction from
// one state to the next balances, so the entries always sum to the
// balances of the final state.
func TestLedgerProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	statuses := []string{StatusPending, StatusApproved, StatusReversed}
	currencies := []string{"USD", "EUR", "JPY"}
	for round := 0; round < 2000; round++ {
		n := 1 + rng.IntN(6)
		var events []Event
		for i := 0; i < n; i++ {
			events = append(events, Event{ID: string(rune('a' + i)), Status: statuses[rng.IntN(3)],
				Sale: rng.Int64N(10000), Commission: rng.Int64N(1000), Currency: currencies[rng.IntN(3)],
				OccurredAt: t0.Add(time.Duration(rng.IntN(4)) * time.Hour)})
		}
		want := Fold(events, 0)
		sum := map[[2]string]int64{}
		var prev State
		arrived := []Event{}
		for _, i := range rng.Perm(n) {
			arrived = append(arrived, events[i])
			next := Fold(arrived, rng.Int64N(1000))
			tx := Diff(prev, next)
			if !Balanced(tx) {
				t.Fatalf("round %d: unbalanced transaction %v", round, tx)
			}
			for _, p := range tx {
				sum[[2]string{p.Account, p.Currency}] += p.Amount
			}
			prev = next
		}
		got := Fold(arrived, 0)
		if got != want {
			t.Fatalf("round %d: order changed the fold: %+v vs %+v", round, got, want)
		}
		for _, p := range Balances(prev) {
			if sum[[2]string{p.Account, p.Currency}] != p.Amount {
				t.Fatalf("round %d: %s %s sums to %d, state implies %d", round, p.Account, p.Currency, sum[[2]string{p.Account, p.Currency}], p.Amount)
			}
			delete(sum, [2]string{p.Account, p.Currency})
		}
		for k, v := range sum {
			if v != 0 {
				t.Fatalf("round %d: %v holds %d, state implies nothing", round, k, v)
			}
		}
	}
}

func TestContribute(t *testing.T) {
	clicked := Attribution{Attributed: true, Code: "ml", CourseID: "ml-101", Placement: "hero"}
	tests := []struct {
		name  string
		state State
		attr  Attribution
		key   RollupKey
		want  Contribution
	}{
		{"direct", State{Status: StatusApproved, Sale: 4900, Commission: 735, Paid: 235, Currency: "USD"}, clicked,
			RollupKey{"p", "ml-101", "ml", "hero", "USD", 0}, Contribution{Conversions: 1, Direct: 1, Sale: 4900, Approved: 500, Paid: 235}},
		{"cross-sell", State{Status: StatusPending, Sale: 100, Commission: 10, Currency: "USD", BoughtCourseID: "stats"}, clicked,
			RollupKey{"p", "ml-101", "ml", "hero", "USD", 0}, Contribution{Conversions: 1, CrossSell: 1, Sale: 100, Pending: 10}},
		{"unattributed counts for its partner", State{Status: StatusReversed, Sale: 100, Commission: 10, Currency: "EUR", BoughtCourseID: "stats"}, Attribution{},
			RollupKey{"p", "stats", "", "", "EUR", 0}, Contribution{Conversions: 1, Reversed: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, _, got := Contribute("p", tt.state, tt.attr)
			if key != tt.key || got != tt.want {
				t.Fatalf("Contribute = %+v %+v, want %+v %+v", key, got, tt.key, tt.want)
			}
			if sum, ok := got.Add(got.Neg()); !ok || !sum.IsZero() {
				t.Fatal("c + -c is not zero")
			}
		})
	}
}

// A sum that would not fit is refused, not wrapped, and leaves c as it
// was; a sum that fits is exact.
func TestContributionAddIsChecked(t *testing.T) {
	const ceiling = 1_000_000_000_000 // events.MaxAmountMinor
	one := Contribution{Conversions: 1, Direct: 1, Sale: ceiling, Approved: ceiling}
	var sum Contribution
	for i := 0; i < 3; i++ {
		var ok bool
		if sum, ok = sum.Add(one); !ok {
			t.Fatalf("3 ceilings do not fit: %+v", sum)
		}
	}
	if sum.Approved != 3*ceiling || sum.Conversions != 3 {
		t.Fatalf("sum = %+v", sum)
	}
	near := Contribution{Conversions: 1, Sale: math.MaxInt64 - 1}
	if got, ok := near.Add(Contribution{Conversions: 1, Sale: 2}); ok || got != near {
		t.Fatalf("MaxInt64-1 + 2 = %+v %v, want refused and unchanged", got, ok)
	}
	if got, ok := near.Neg().Add(Contribution{Sale: -3}); ok || got != near.Neg() {
		t.Fatalf("-(MaxInt64-1) - 3 = %+v %v, want refused", got, ok)
	}
}

// The probe of issue 11: six Impact actions, each sent a few status
// changes with the same EventDate (the purchase date). Each ends as the
// network sent it last, whatever order the events arrive in and whatever
// their ids (hashes) say: acceptance order decides, then rank.
func TestFoldSameInstantEndsAsSent(t *testing.T) {
	sent := map[string][]string{
		"IMP-1": {StatusPending, StatusApproved, StatusReversed},
		"IMP-2": {StatusPending, StatusApproved},
		"IMP-3": {StatusPending},
		"IMP-4": {StatusPending, StatusReversed},
		"IMP-5": {StatusApproved, StatusPending},  // corrected back to pending: rank alone would say approved
		"IMP-6": {StatusReversed, StatusApproved}, // a reversal undone: rank alone would say reversed
	}
	rng := rand.New(rand.NewPCG(11, 11))
	seq := int64(100)
	for order, statuses := range sent {
		var evs []Event
		for i, st := range statuses {
			seq++
			// ids that sort against the sending order
			evs = append(evs, Event{ID: fmt.Sprintf("cv_%s_%d", order, 9-i), Status: st, Commission: 100, Sale: 1000,
				Currency: "USD", OccurredAt: t0, AcceptedSeq: seq})
		}
		want := statuses[len(statuses)-1]
		for round := 0; round < 20; round++ {
			rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
			if got := Fold(evs, 0).Status; got != want {
				t.Fatalf("%s sent %v ends %s after arriving as %v", order, statuses, got, evs)
			}
		}
	}
}

// Events from before v1.1 (no acceptance number) order by lifecycle rank,
// then id; at the same instant they come before numbered ones; a later
// occurred_at always wins.
func TestCompareOrder(t *testing.T) {
	at := func(d time.Duration, seq int64, st, id string) Event {
		return Event{ID: id, Status: st, OccurredAt: t0.Add(d), AcceptedSeq: seq}
	}
	ordered := []Event{
		at(0, 0, StatusPending, "z"),
		at(0, 0, StatusApproved, "a"),
		at(0, 0, StatusReversed, "b"),
		at(0, 0, StatusReversed, "c"),
		at(0, 5, StatusReversed, "y"),
		at(0, 6, StatusPending, "x"),
		at(time.Second, 1, StatusPending, "a"),
	}
	for i := range ordered {
		for j := range ordered {
			if got, want := Compare(ordered[i], ordered[j]), cmp.Compare(i, j); got != want {
				t.Errorf("Compare(%+v, %+v) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}
