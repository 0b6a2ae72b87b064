package report

import (
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Period is a month and whether it is closed, in which time zone (the
// finance time zone it was closed in).
type Period struct {
	Month    string     `json:"month"`
	Status   string     `json:"status"`
	ClosedAt *time.Time `json:"closed_at,omitempty"`
	TimeZone string     `json:"time_zone,omitempty"`
}

// PeriodChange is one entry of the periods' audit: a month's status
// changed from From to To at At, by By (a token's scope and fingerprint).
type PeriodChange struct {
	Month    string    `json:"month"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	At       time.Time `json:"at"`
	By       string    `json:"by"`
	TimeZone string    `json:"time_zone,omitempty"`
}

// DayRange is a run of days, From inclusive and To exclusive (YYYY-MM-DD,
// as a report's from and to).
type DayRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ErrOpenMonth is returned when closing a month that has not ended.
var ErrOpenMonth = errs.New(errs.Unprocessable, "month_not_ended", "only a month that has ended can be closed")
