package reporting

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Partner health as reporting sees it (issue 14): what reached the ledger
// from each partner, and which conversions did not join a click. What
// conversions refused never reaches reporting: rejections by reason are
// conversions' GET /v1/partner-health and its metrics.

// PartnerActivity is what the ledger holds from one partner lately.
type PartnerActivity struct {
	Partner string `json:"partner"`
	// LastPurchaseAt is the purchase time of its latest conversion.
	LastPurchaseAt *time.Time `json:"last_purchase_at"`
	// Conversions purchased in the last 24 hours and 7 days.
	Conversions24h int64 `json:"conversions_24h"`
	Conversions7d  int64 `json:"conversions_7d"`
	// Of the last 7 days' conversions, those that joined no click: named
	// none, or named one reporting has not seen (a broken click-id macro
	// shows as a run of these).
	NoClickID7d    int64 `json:"no_click_id_7d"`
	UnknownClick7d int64 `json:"unknown_click_id_7d"`
}

// UnattributedConversion is a conversion that joined no click.
type UnattributedConversion struct {
	OrderID     string    `json:"order_id"`
	ClickID     string    `json:"click_id"` // "" when the partner sent none
	Status      string    `json:"status"`
	Commission  string    `json:"commission"`
	Currency    string    `json:"currency"`
	PurchasedAt time.Time `json:"purchased_at"`
}

// PartnerHealthStore reads partner activity from the ledger
// (postgres.Store).
type PartnerHealthStore interface {
	PartnerActivity(ctx context.Context, day, week time.Time) ([]PartnerActivity, error)
	Unattributed(ctx context.Context, partner string, limit int) ([]UnattributedConversion, error)
	partnerKnower
}

// PartnerHealth answers partner-health questions from the ledger.
type PartnerHealth struct {
	Store PartnerHealthStore
	Now   clock.Clock
}

// Activity returns every partner's recent activity, by partner id.
func (h *PartnerHealth) Activity(ctx context.Context) ([]PartnerActivity, error) {
	now := clock.OrSystem(h.Now)()
	out, err := h.Store.PartnerActivity(ctx, now.Add(-24*time.Hour), now.Add(-7*24*time.Hour))
	if out == nil && err == nil {
		out = []PartnerActivity{}
	}
	return out, err
}

// MaxUnattributed is the most conversions one listing returns.
const MaxUnattributed = 1000

// UnattributedRequest names a partner and how many conversions to list
// (limit: 1 to MaxUnattributed, default 100).
type UnattributedRequest struct{ Partner, Limit string }

// Unattributed lists a partner's latest conversions that joined no click,
// with the click ids they named. ErrUnknownPartner for a partner the
// ledger has never seen.
func (h *PartnerHealth) Unattributed(ctx context.Context, r UnattributedRequest) ([]UnattributedConversion, error) {
	limit := 100
	if r.Limit != "" {
		n, err := strconv.Atoi(r.Limit)
		if err != nil || n < 1 || n > MaxUnattributed {
			// 422 invalid_query, as a report's or the links list's bad limit.
			return nil, errs.Fields{{Field: "limit", Message: fmt.Sprintf("must be a whole number from 1 to %d", MaxUnattributed)}}.Err("invalid_query")
		}
		limit = n
	}
	if err := knownPartner(ctx, h.Store, r.Partner); err != nil {
		return nil, err
	}
	return h.Store.Unattributed(ctx, r.Partner, limit)
}
