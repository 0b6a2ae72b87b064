package ledger

import (
	"cmp"
	"slices"
	"time"
)

// Statuses of a conversion. Paid is not a status of its own: it is the
// part of an approved commission that remittances have covered.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
	StatusReversed = "reversed"
)

// Event is one conversions.v1 event, as the ledger needs it. Amounts are
// minor units of Currency.
type Event struct {
	ID         string
	ClickID    string
	CourseID   string
	Status     string
	Sale       int64
	Commission int64
	Currency   string
	OccurredAt time.Time
	// ReplayOf names the event this one supersedes, if any.
	ReplayOf string
	// AcceptedSeq is the order in which conversions accepted the request
	// behind the event (contract v1.1, "Status order"); 0 on events from
	// before it.
	AcceptedSeq int64
}

// Rank is a status's place in a conversion's life: pending, approved,
// reversed. It orders events only when their time and acceptance number
// are equal (events from before v1.1 carry no number).
func Rank(status string) int {
	switch status {
	case StatusPending:
		return 0
	case StatusApproved:
		return 1
	case StatusReversed:
		return 2
	}
	return 3
}

// Compare is the order a conversion's events apply in (contract v1.1):
// occurred_at; then the order conversions accepted them (AcceptedSeq; a
// pre-v1.1 event has 0, so it comes before every numbered one at the
// same instant: it was accepted before v1.1 was deployed); then the
// lifecycle rank (pending < approved < reversed), which alone decides
// between two pre-v1.1 events; then the event id, so the order is total
// and never depends on arrival.
func Compare(a, b Event) int {
	if c := a.OccurredAt.Compare(b.OccurredAt); c != 0 {
		return c
	}
	if c := cmp.Compare(a.AcceptedSeq, b.AcceptedSeq); c != 0 {
		return c
	}
	if c := cmp.Compare(Rank(a.Status), Rank(b.Status)); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// State is what a conversion is now: the fold of its events, plus the
// part of its commission remittances paid.
type State struct {
	Status     string // "" for a conversion with no events
	Sale       int64
	Commission int64
	Paid       int64
	Currency   string
	// PurchasedAt is the first occurred_at: the conversion's period.
	PurchasedAt time.Time
	// ClickID and BoughtCourseID are the latest non-empty ones.
	ClickID        string
	BoughtCourseID string
	Events         int
}

// Exists reports whether the conversion has any events.
func (s State) Exists() bool { return s.Status != "" }

// Fold applies events in Compare order, whatever order they are
// given in, skipping events that a replay superseded. Paid is carried over
// from paid, clamped to what the new state allows (only approved
// commission can be paid).
func Fold(events []Event, paid int64) State {
	var s State
	for _, e := range ordered(events) {
		s = s.then(e)
	}
	return s.WithPaid(paid)
}

// ordered is events in the order they apply (Compare), without those a
// replay superseded.
func ordered(events []Event) []Event {
	superseded := map[string]bool{}
	for _, e := range events {
		if e.ReplayOf != "" {
			superseded[e.ReplayOf] = true
		}
	}
	sorted := make([]Event, 0, len(events))
	for _, e := range events {
		if !superseded[e.ID] {
			sorted = append(sorted, e)
		}
	}
	slices.SortFunc(sorted, Compare)
	return sorted
}

// then is s after e, the next event in Compare order; nothing paid.
func (s State) then(e Event) State {
	if s.Events == 0 {
		s.PurchasedAt = e.OccurredAt
	}
	sale, commission, currency := e.Sale, e.Commission, e.Currency
	if e.Status == StatusReversed && s.Exists() {
		sale, commission, currency = s.reversedAmounts(e)
	}
	s.Status, s.Sale, s.Commission, s.Currency = e.Status, sale, commission, currency
	if e.ClickID != "" {
		s.ClickID = e.ClickID
	}
	if e.CourseID != "" {
		s.BoughtCourseID = e.CourseID
	}
	s.Events++
	s.Paid = 0
	return s
}

// reversedAmounts are the amounts a reversal e of s reverses. A reversal
// names the money it takes back; one that names none (a partner sending
// "reversed" with 0.00, the conversion's money now being nothing) takes
// back what the conversion carried: without this the commission approved
// before would leave every figure (reversed 0.00 beside approved 0.00)
// while the partner's statement took it back as owed. Each amount is kept
// apart: a reversal with a sale of 0.00 and its commission keeps the
// sale the conversion had, and the other way round, in the same
// currency; in another currency the event's amounts stand as sent.
func (s State) reversedAmounts(e Event) (sale, commission int64, currency string) {
	sale, commission, currency = e.Sale, e.Commission, e.Currency
	if sale == 0 && commission == 0 {
		return s.Sale, s.Commission, s.Currency
	}
	if currency != s.Currency {
		return sale, commission, currency
	}
	if sale == 0 {
		sale = s.Sale
	}
	if commission == 0 {
		commission = s.Commission
	}
	return sale, commission, currency
}

// WithPaid returns s with paid set, clamped to the approved commission.
func (s State) WithPaid(paid int64) State {
	if s.Status != StatusApproved {
		paid = 0
	}
	s.Paid = max(0, min(paid, s.Commission))
	return s
}
