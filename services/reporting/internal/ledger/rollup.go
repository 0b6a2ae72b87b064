package ledger

import "time"

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
}

// Contribution is what one conversion adds to its rollup row.
type Contribution struct {
	Conversions, Direct, CrossSell          int64
	Sale, Pending, Approved, Reversed, Paid int64
}

// Add returns c plus d.
func (c Contribution) Add(d Contribution) Contribution {
	return Contribution{c.Conversions + d.Conversions, c.Direct + d.Direct, c.CrossSell + d.CrossSell,
		c.Sale + d.Sale, c.Pending + d.Pending, c.Approved + d.Approved, c.Reversed + d.Reversed, c.Paid + d.Paid}
}

// Neg returns -c.
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
