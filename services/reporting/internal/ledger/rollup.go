package ledger

import (
	"time"

	"github.com/linkcredit/linkcredit/pkg/money"
)

// Attribution is what a conversion took from its click.
type Attribution struct {
	Attributed bool
	Code       string
	CourseID   string // the clicked course
	Placement  string
	UTMSource  string
	UTMMedium  string
	UTMCamp    string
	Bot        bool
}

// RollupKey is a row of the conversion rollups, less its hour.
type RollupKey struct {
	Partner   string
	CourseID  string
	Code      string
	Placement string
	Currency  string
	// FXAt is, for an adjustment (a change to a closed month, counted in
	// the open one), its purchase's quarter-hour in unix seconds: reports
	// convert its money at the purchase's date, not the adjustment's. 0
	// for every other row, whose hour is its purchase's.
	FXAt int64
}

// Contribution is what one conversion adds to its rollup row.
type Contribution struct {
	Conversions, Direct, CrossSell          int64
	Sale, Pending, Approved, Reversed, Paid int64
}

// Add returns c plus d, and false (with c unchanged) when a figure would
// not fit in an int64: the caller then keeps the two apart (a rollup
// delta row each) instead of letting the sum wrap.
func (c Contribution) Add(d Contribution) (Contribution, bool) {
	x, y := c.figures(), d.figures()
	var sum [8]int64
	for i := range x {
		var ok bool
		if sum[i], ok = money.AddMinor(x[i], y[i]); !ok {
			return c, false
		}
	}
	return Contribution{sum[0], sum[1], sum[2], sum[3], sum[4], sum[5], sum[6], sum[7]}, true
}

func (c Contribution) figures() [8]int64 {
	return [8]int64{c.Conversions, c.Direct, c.CrossSell, c.Sale, c.Pending, c.Approved, c.Reversed, c.Paid}
}

// Neg returns -c. Every figure of a conversion's contribution is within
// ±MaxInt64 (amounts are never negative), so it has a negation.
func (c Contribution) Neg() Contribution {
	return Contribution{-c.Conversions, -c.Direct, -c.CrossSell, -c.Sale, -c.Pending, -c.Approved, -c.Reversed, -c.Paid}
}

// IsZero reports whether c changes nothing.
func (c Contribution) IsZero() bool { return c == Contribution{} }

// Contribute says where a conversion counts and what it adds there. An
// attributed conversion counts under its click's course, link and
// placement, as direct when it bought that course (or did not say) and as
// a cross-sell when it bought another; an unattributed one counts for its
// partner under the course it bought, with no link.
func Contribute(partner string, s State, a Attribution) (RollupKey, time.Time, Contribution) {
	if !s.Exists() {
		return RollupKey{}, time.Time{}, Contribution{}
	}
	key := RollupKey{Partner: partner, CourseID: s.BoughtCourseID, Currency: s.Currency}
	c := Contribution{Conversions: 1}
	if a.Attributed {
		key.CourseID, key.Code, key.Placement = a.CourseID, a.Code, a.Placement
		if s.BoughtCourseID == "" || s.BoughtCourseID == a.CourseID {
			c.Direct = 1
		} else {
			c.CrossSell = 1
		}
	}
	switch s.Status {
	case StatusPending:
		c.Pending = s.Commission
	case StatusApproved:
		c.Approved, c.Paid = s.Commission-s.Paid, s.Paid
	case StatusReversed:
		c.Reversed = s.Commission
	}
	if s.Status != StatusReversed {
		c.Sale = s.Sale
	}
	return key, s.PurchasedAt, c
}
