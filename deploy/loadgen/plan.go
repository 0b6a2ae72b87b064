package loadgen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"time"

	"github.com/linkcredit/linkcredit/pkg/money"
)

// Partner is a partner loadgen registers and then sends conversions as.
type Partner struct {
	ID       string
	Name     string
	Currency string
	// Secret signs webhooks (whsec_…); Token authenticates postbacks.
	Secret, Token string
	// Adapter is a preset name ("impact") whose parameter names postbacks
	// use; empty is the canonical names of the contract.
	Adapter string
}

// Link is a course link loadgen creates.
type Link struct {
	Code, Partner, CourseID, Title string
}

// Destination is where the link sends a visitor, with the click id macro.
func (l Link) Destination() string {
	return "https://www." + l.Partner + ".example/learn/" + l.CourseID + "?clickid={click_id}"
}

// Event is one conversion event as a partner sends it.
type Event struct {
	ID         string    `json:"event_id"` // webhook-id, or event_id of a postback
	Partner    string    `json:"partner"`
	OrderID    string    `json:"order_id"`
	ClickID    string    `json:"click_id"`
	CourseID   string    `json:"course_id"`
	Status     string    `json:"status"`
	Sale       int64     `json:"sale_minor"` // minor units of Currency
	Commission int64     `json:"commission_minor"`
	Currency   string    `json:"currency"`
	OccurredAt time.Time `json:"occurred_at"`
	Postback   bool      `json:"postback,omitempty"`
}

// Order is one conversion: its events, and the order they are sent in
// (indexes into Events; an index twice is a duplicate delivery).
type Order struct {
	Events []Event
	Sends  []int
}

// Mix says how conversions behave. Shares are of conversions.
type Mix struct {
	Approve, Reverse   float64 // the rest stay pending
	Duplicate          float64 // one event delivered twice
	OutOfOrder         float64 // the later event delivered first
	EUR                float64 // in EUR instead of the partner's currency
	Postback           float64 // postback instead of webhook (always for an adapter partner)
	BeforeClickReached float64 // sent right after the 302, before the click reaches reporting
}

// DefaultMix is the mix loadgen sends unless told otherwise.
var DefaultMix = Mix{Approve: 0.6, Reverse: 0.15, Duplicate: 0.05, OutOfOrder: 0.1, EUR: 0.1, Postback: 0.3, BeforeClickReached: 0.05}

// PlanOrder plans conversion n of partner p for a click on link,
// purchased at purchase; a later event (approval, reversal) falls between
// the purchase and now.
func PlanOrder(rng *rand.Rand, run string, n int64, p Partner, link Link, clickID string, purchase, now time.Time, mix Mix) Order {
	currency := p.Currency
	if rng.Float64() < mix.EUR {
		currency = "EUR"
	}
	sale := int64(999 + rng.IntN(19000))              // 9.99 .. 199.98
	commission := sale * int64(10+rng.IntN(21)) / 100 // 10 % .. 30 %
	postback := p.Adapter != "" || rng.Float64() < mix.Postback
	purchase = purchase.UTC().Truncate(time.Second)
	base := Event{Partner: p.ID, OrderID: fmt.Sprintf("%s-o%d", run, n), ClickID: clickID, CourseID: link.CourseID,
		Sale: sale, Commission: commission, Currency: currency, Postback: postback}
	pending := base
	pending.ID, pending.Status, pending.OccurredAt = fmt.Sprintf("%s-e%d-1", run, n), "pending", purchase
	o := Order{Events: []Event{pending}, Sends: []int{0}}
	span := min(now.Sub(purchase), 72*time.Hour)
	later := purchase.Add(time.Second)
	if span > 2*time.Second {
		later = purchase.Add(time.Second + time.Duration(rng.Int64N(int64(span-time.Second))).Truncate(time.Second))
	}
	switch r := rng.Float64(); {
	case r < mix.Approve:
		o.Events = append(o.Events, next(base, run, n, "approved", later))
	case r < mix.Approve+mix.Reverse:
		o.Events = append(o.Events, next(base, run, n, "reversed", later))
	}
	if len(o.Events) == 2 {
		o.Sends = []int{0, 1}
		if rng.Float64() < mix.OutOfOrder {
			o.Sends = []int{1, 0}
		}
	}
	if rng.Float64() < mix.Duplicate {
		o.Sends = append(o.Sends, o.Sends[rng.IntN(len(o.Sends))])
	}
	return o
}

func next(base Event, run string, n int64, status string, at time.Time) Event {
	e := base
	e.ID, e.Status, e.OccurredAt = fmt.Sprintf("%s-e%d-2", run, n), status, at
	return e
}

// amount formats minor units of a currency as the contract's decimal string.
func amount(minor int64, currency string) string {
	c, err := money.LookupCurrency(currency)
	if err != nil {
		return strconv.FormatInt(minor, 10)
	}
	return money.FormatMinor(minor, c.Exponent)
}

// WebhookBody is the canonical JSON body of e.
func (e Event) WebhookBody() []byte {
	b, _ := json.Marshal(map[string]string{ // a map of strings always marshals
		"order_id": e.OrderID, "click_id": e.ClickID, "course_id": e.CourseID, "status": e.Status,
		"sale_amount": amount(e.Sale, e.Currency), "commission": amount(e.Commission, e.Currency),
		"currency": e.Currency, "occurred_at": e.OccurredAt.UTC().Format(time.RFC3339),
	})
	return b
}

// PostbackQuery is the query of e's postback in the parameter names of
// the partner's adapter ("" canonical, or "impact").
func (e Event) PostbackQuery(p Partner) url.Values {
	q := url.Values{"token": {p.Token}}
	sale, commission := amount(e.Sale, e.Currency), amount(e.Commission, e.Currency)
	at := e.OccurredAt.UTC().Format(time.RFC3339)
	switch p.Adapter {
	case "impact":
		statuses := map[string]string{"pending": "PENDING", "approved": "APPROVED", "reversed": "REVERSED"}
		q.Set("action_id", e.OrderID)
		q.Set("subid1", e.ClickID)
		q.Set("status", statuses[e.Status])
		q.Set("amount", sale)
		q.Set("payout", commission)
		q.Set("currency", e.Currency)
		q.Set("event_date", at)
	default:
		q.Set("event_id", e.ID)
		q.Set("order_id", e.OrderID)
		q.Set("click_id", e.ClickID)
		q.Set("course_id", e.CourseID)
		q.Set("status", e.Status)
		q.Set("sale_amount", sale)
		q.Set("commission", commission)
		q.Set("currency", e.Currency)
		q.Set("occurred_at", at)
	}
	return q
}
