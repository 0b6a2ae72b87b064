package adapter

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/money"
)

// Canonical field names.
const (
	FieldOrderID    = "order_id"
	FieldClickID    = "click_id"
	FieldCourseID   = "course_id"
	FieldStatus     = "status"
	FieldSaleAmount = "sale_amount"
	FieldCommission = "commission"
	FieldCurrency   = "currency"
	FieldOccurredAt = "occurred_at"
	FieldEventID    = "event_id"
	FieldReasonCode = "reason_code"
)

var canonicalFields = []string{FieldOrderID, FieldClickID, FieldCourseID, FieldStatus, FieldSaleAmount,
	FieldCommission, FieldCurrency, FieldOccurredAt, FieldEventID, FieldReasonCode}

// Conversion is one partner message in canonical form.
type Conversion struct {
	OrderID    string
	ClickID    string
	CourseID   string
	Status     string // pending, approved or reversed
	RawStatus  string // the partner's own word
	ReasonCode string
	SaleAmount money.Amount
	Commission money.Amount
	OccurredAt time.Time // zero when the partner did not say
	EventID    string    // the partner's event id, when a postback has one
}

// Mapping describes a network's postback format: which of its parameters
// carries each canonical field, what its status words mean, and how a
// publisher sets it up. It is data, stored with the partner as JSON, so a
// network is added or corrected without a code change.
type Mapping struct {
	// Preset names the mapping this one starts from (see Presets); every
	// other member overrides it.
	Preset string `json:"preset,omitempty"`
	// Fields maps canonical field names to the partner's parameter names.
	// In a JSON payload a name may be a dotted path ("data.amount").
	Fields map[string]string `json:"fields,omitempty"`
	// Statuses maps the partner's status words (any case) to pending,
	// approved or reversed.
	Statuses map[string]string `json:"statuses,omitempty"`
	// Defaults are the values of fields a message leaves out. A network
	// that sends no status notifies new transactions, so its preset sets
	// "status": "pending" (a partner may set "approved"). The status
	// default is a canonical status; the others are values as the partner
	// would send them.
	Defaults map[string]string `json:"defaults,omitempty"`
	// Reasons maps the network's decline or correction reasons (any case)
	// to a status; a known reason decides the status over the status word.
	Reasons map[string]string `json:"reasons,omitempty"`
	// JSONParam names a parameter whose value is a JSON object holding the
	// fields (Awin's AwinTransactionPush).
	JSONParam string `json:"json_param,omitempty"`
	// MinorUnits: amounts are integers of the currency's minor unit
	// (cents), not decimal strings.
	MinorUnits bool `json:"minor_units,omitempty"`
	// RoundAmounts: an amount finer than its currency is rounded half to
	// even instead of refused, for a network whose documented amounts carry
	// more places than the currency has (CJ: "7.781" USD).
	RoundAmounts bool `json:"round_amounts,omitempty"`
	// NegativeReverses: the network reports a reversal as a record of
	// negative amounts (CJ's corrections); such a message is reversed and
	// its amounts are taken without the sign.
	NegativeReverses bool `json:"negative_reverses,omitempty"`
	// EventIDPerStatus: the network's event id names a record whose status
	// changes in place (CJ's commissionId moves from new to locked to
	// closed): each status of the record is its own event, keyed by the
	// id and the status word. Without it a record sent again with its new
	// status would be a different body under a used key (409).
	EventIDPerStatus bool `json:"event_id_per_status,omitempty"`
	// StatusOrder lists the network's status words in the order a record
	// moves through them, for a network that gives each of a record's
	// events the same time (CJ's eventDate, the sale's): each later word's
	// event is placed that many microseconds after it, and a reversal
	// after them all, so a late retry of an earlier status (a relay's
	// backlog) never undoes a later one. Events of equal times would
	// otherwise apply in the order they were accepted (contract v1.1).
	StatusOrder []string `json:"status_order,omitempty"`
	// TestEvents mark a delivery the network sends to test the URL (its
	// "send a test" button): a field (a dotted path in a JSON body) and the
	// value, in any case, it has in such a delivery (PartnerStack's
	// {"event":"test"}). One is answered 200 and recorded nowhere, so the
	// network's setup passes; the token is checked first, as for any
	// postback.
	TestEvents map[string]string `json:"test_events,omitempty"`
	// Delivery says how the network sends: "query" (URL parameters, the
	// default) or "json" (a JSON object POSTed as the body).
	Delivery string `json:"delivery,omitempty"`
	// Macros maps canonical field names to the network's macro that fills
	// them ("{Payout}", "!!!commission!!!", "<commissions>"): what the
	// postback URL a publisher pastes into the network's UI is made of.
	Macros map[string]string `json:"macros,omitempty"`
	// ExtraParams are parameters the network requires in that URL beyond
	// the mapped fields, with their macros (Rakuten: is_event=<is_event>).
	ExtraParams map[string]string `json:"extra_params,omitempty"`
	// ClickParam is the parameter of the network's tracking links that
	// carries the publisher's click id through to the postback: a link's
	// destination sets it to {click_id}.
	ClickParam string `json:"click_param,omitempty"`
}

// Deliveries (Mapping.Delivery).
const (
	DeliveryQuery = "query"
	DeliveryJSON  = "json"
)

// Resolve returns m applied over its preset, ready to use. Maps merge key
// by key, a flag set in either is set, any other value set replaces the
// preset's.
func (m Mapping) Resolve() (Mapping, error) {
	name := m.Preset
	if name == "" {
		name = "standard"
	}
	base, ok := presets()[name]
	if !ok {
		return Mapping{}, fmt.Errorf("unknown preset %q (%s)", name, strings.Join(Presets(), ", "))
	}
	or := func(a, b string) string {
		if b != "" {
			return b
		}
		return a
	}
	out := Mapping{
		Preset:           name,
		Fields:           merge(false, base.Fields, m.Fields),
		Statuses:         merge(true, base.Statuses, m.Statuses),
		Defaults:         merge(false, base.Defaults, m.Defaults),
		Reasons:          merge(true, base.Reasons, m.Reasons),
		JSONParam:        or(base.JSONParam, m.JSONParam),
		MinorUnits:       base.MinorUnits || m.MinorUnits,
		RoundAmounts:     base.RoundAmounts || m.RoundAmounts,
		NegativeReverses: base.NegativeReverses || m.NegativeReverses,
		EventIDPerStatus: base.EventIDPerStatus || m.EventIDPerStatus,
		Delivery:         or(or(DeliveryQuery, base.Delivery), m.Delivery),
		Macros:           merge(false, base.Macros, m.Macros),
		TestEvents:       merge(false, base.TestEvents, m.TestEvents),
		StatusOrder:      orList(base.StatusOrder, m.StatusOrder),
		ExtraParams:      merge(false, base.ExtraParams, m.ExtraParams),
		ClickParam:       or(base.ClickParam, m.ClickParam),
	}
	return out, out.validate()
}

// orList is b when it has any word, else a.
func orList(a, b []string) []string {
	if len(b) > 0 {
		return b
	}
	return a
}

// merge copies maps into one, the later winning; words are keyed in lower
// case (status and reason words match in any case).
func merge(words bool, maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			if words {
				k = strings.ToLower(k)
			}
			out[k] = v
		}
	}
	return out
}

func (m Mapping) validate() error {
	known := map[string]bool{}
	for _, f := range canonicalFields {
		known[f] = true
	}
	for _, set := range []struct {
		what   string
		values map[string]string
	}{{"field", m.Fields}, {"default", m.Defaults}, {"macro", m.Macros}} {
		for k, v := range set.values {
			if !known[k] {
				return fmt.Errorf("mapping names unknown %s %q", set.what, k)
			}
			if v == "" {
				return fmt.Errorf("mapping's %s of %q is empty", set.what, k)
			}
			if len(v) > events.MaxPartnerValueBytes {
				return fmt.Errorf("mapping's %s of %q is longer than %d bytes", set.what, k, events.MaxPartnerValueBytes)
			}
		}
	}
	for _, f := range []string{FieldOrderID, FieldCommission} {
		if m.Fields[f] == "" {
			return fmt.Errorf("mapping lacks %q", f)
		}
	}
	status, ok := m.Defaults[FieldStatus]
	switch {
	case m.Fields[FieldStatus] == "" && !ok:
		return fmt.Errorf("mapping lacks %q (a parameter, or a default for a network that sends none)", FieldStatus)
	case ok && !events.ValidStatus(status):
		return fmt.Errorf("default status %q: use pending, approved or reversed", status)
	}
	for _, set := range []struct {
		what  string
		words map[string]string
	}{{"status", m.Statuses}, {"reason", m.Reasons}} {
		for word, status := range set.words {
			if len(word) > events.MaxPartnerValueBytes {
				return fmt.Errorf("%s word %s is longer than %d bytes, the most a partner may send", set.what, show(word), events.MaxPartnerValueBytes)
			}
			if !events.ValidStatus(status) {
				return fmt.Errorf("%s %q maps to %q; use pending, approved or reversed", set.what, word, status)
			}
		}
	}
	if m.Delivery != DeliveryQuery && m.Delivery != DeliveryJSON {
		return fmt.Errorf("delivery %q: use %s or %s", m.Delivery, DeliveryQuery, DeliveryJSON)
	}
	if m.MinorUnits && m.RoundAmounts {
		return fmt.Errorf("minor_units and round_amounts exclude each other")
	}
	for param, macro := range m.ExtraParams {
		if param == "" || macro == "" || param == "token" || len(param)+len(macro) > events.MaxPartnerValueBytes {
			return fmt.Errorf("extra parameter %s: name and macro are required, short, and token is linkcredit's", show(param))
		}
	}
	return nil
}

// Presets lists the preset names.
func Presets() []string {
	var names []string
	for n := range presets() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
