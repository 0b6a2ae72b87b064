package report

import (
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Period is a month and whether it is closed.
type Period struct {
	Month    string     `json:"month"`
	Status   string     `json:"status"`
	ClosedAt *time.Time `json:"closed_at,omitempty"`
}

// ErrOpenMonth is returned when closing a month that has not ended.
var ErrOpenMonth = errs.New(errs.Unprocessable, "month_not_ended", "only a month that has ended can be closed")
