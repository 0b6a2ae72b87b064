package adapter

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/pkg/strictjson"
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

// Mapping describes a partner's postback format.
type Mapping struct {
	// Preset names the mapping this one starts from ("standard", "impact",
	// "awin", "everflow"); Fields and Statuses override it.
	Preset string `json:"preset,omitempty"`
	// Fields maps canonical field names to the partner's parameter names.
	Fields map[string]string `json:"fields,omitempty"`
	// Statuses maps the partner's status words (any case) to pending,
	// approved or reversed.
	Statuses map[string]string `json:"statuses,omitempty"`
	// JSONParam names a parameter whose value is a JSON object holding the
	// fields (Awin's AwinTransactionPush).
	JSONParam string `json:"json_param,omitempty"`
}

// Resolve returns m applied over its preset, ready to use.
func (m Mapping) Resolve() (Mapping, error) {
	name := m.Preset
	if name == "" {
		name = "standard"
	}
	base, ok := presets()[name]
	if !ok {
		return Mapping{}, fmt.Errorf("unknown preset %q (standard, impact, awin, everflow)", name)
	}
	out := Mapping{Preset: name, Fields: map[string]string{}, Statuses: map[string]string{}, JSONParam: base.JSONParam}
	for k, v := range base.Fields {
		out.Fields[k] = v
	}
	for k, v := range base.Statuses {
		out.Statuses[strings.ToLower(k)] = v
	}
	for k, v := range m.Fields {
		out.Fields[k] = v
	}
	for k, v := range m.Statuses {
		out.Statuses[strings.ToLower(k)] = v
	}
	if m.JSONParam != "" {
		out.JSONParam = m.JSONParam
	}
	return out, out.validate()
}

func (m Mapping) validate() error {
	known := map[string]bool{}
	for _, f := range canonicalFields {
		known[f] = true
	}
	for k, v := range m.Fields {
		if !known[k] {
			return fmt.Errorf("mapping names unknown field %q", k)
		}
		if v == "" {
			return fmt.Errorf("mapping of %q is empty", k)
		}
	}
	for _, f := range []string{FieldOrderID, FieldStatus, FieldCommission} {
		if m.Fields[f] == "" {
			return fmt.Errorf("mapping lacks %q", f)
		}
	}
	for word, status := range m.Statuses {
		if len(word) > events.MaxPartnerValueBytes {
			return fmt.Errorf("status word %s is longer than %d bytes, the most a partner may send", show(word), events.MaxPartnerValueBytes)
		}
		if !events.ValidStatus(status) {
			return fmt.Errorf("status %q maps to %q; use pending, approved or reversed", word, status)
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

func presets() map[string]Mapping {
	identity := map[string]string{}
	for _, f := range canonicalFields {
		identity[f] = f
	}
	canonical := map[string]string{"pending": "pending", "approved": "approved", "reversed": "reversed"}
	return map[string]Mapping{
		"standard": {Fields: identity, Statuses: canonical},
		// Impact: postback URL macros {ActionId}, {SubId1}, {Payout}, {Amount}, {Status}, ...
		"impact": {
			Fields: map[string]string{FieldOrderID: "ActionId", FieldClickID: "SubId1", FieldCommission: "Payout",
				FieldSaleAmount: "Amount", FieldCurrency: "Currency", FieldStatus: "Status", FieldOccurredAt: "EventDate",
				FieldReasonCode: "ReasonCode", FieldCourseID: "Sku", FieldEventID: "EventId"},
			Statuses: map[string]string{"PENDING": "pending", "APPROVED": "approved", "LOCKED": "approved", "REVERSED": "reversed"},
		},
		// Awin: transaction notifications, also as JSON in the AwinTransactionPush form field.
		"awin": {
			Fields: map[string]string{FieldOrderID: "transactionId", FieldClickID: "clickRef", FieldCommission: "commission",
				FieldSaleAmount: "transactionAmount", FieldCurrency: "transactionCurrency", FieldStatus: "status",
				FieldOccurredAt: "transactionDate", FieldReasonCode: "declineReason"},
			Statuses:  map[string]string{"pending": "pending", "approved": "approved", "declined": "reversed", "deleted": "reversed"},
			JSONParam: "AwinTransactionPush",
		},
		// Everflow: postback macros {transaction_id}, {sub1}, {payout}, {sale_amount}, ...
		"everflow": {
			Fields: map[string]string{FieldOrderID: "transaction_id", FieldClickID: "sub1", FieldCommission: "payout",
				FieldSaleAmount: "sale_amount", FieldCurrency: "currency", FieldStatus: "status",
				FieldOccurredAt: "conversion_unix_timestamp", FieldEventID: "event_id", FieldCourseID: "sub2"},
			Statuses: map[string]string{"pending": "pending", "approved": "approved", "rejected": "reversed", "invalid": "reversed"},
		},
	}
}

// FromParams decodes a postback (query or form) through a resolved mapping
// for partner p. A missing required field is a 400, a bad value a 422
// naming the field (see build for the codes).
func (m Mapping) FromParams(params url.Values, p Partner, now time.Time) (Conversion, error) {
	get := func(field string) (string, bool) {
		name := m.Fields[field]
		if name == "" {
			return "", false
		}
		v, ok := params[name]
		if !ok || len(v) == 0 {
			return "", false
		}
		return strings.TrimSpace(v[0]), true
	}
	if m.JSONParam != "" {
		if raw, ok := params[m.JSONParam]; ok && len(raw) > 0 {
			obj, err := flatJSON([]byte(raw[0]), show(m.JSONParam))
			if err != nil {
				return Conversion{}, err
			}
			get = func(field string) (string, bool) {
				name := m.Fields[field]
				if v, ok := obj[name]; ok && name != "" {
					return strings.TrimSpace(v), true
				}
				return "", false
			}
		}
	}
	return m.build(get, p, now, false)
}

// DecodeWebhook decodes linkcredit's webhook JSON strictly for partner p:
// one object, required fields present, money and ids as strings, values
// valid (see build for the codes). Unknown fields are allowed (they stay
// in the stored raw request).
func (m Mapping) DecodeWebhook(body []byte, p Partner, now time.Time) (Conversion, error) {
	var obj map[string]json.RawMessage
	if err := strictjson.Unmarshal(body, &obj, strictjson.Options{}); err != nil {
		return Conversion{}, err
	}
	if obj == nil {
		return Conversion{}, errs.New(errs.Invalid, "malformed_json", "the body is not a JSON object")
	}
	var f errs.Fields
	values := map[string]string{}
	for _, field := range canonicalFields {
		raw, ok := obj[field]
		if !ok || string(raw) == "null" {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			switch field {
			case FieldSaleAmount, FieldCommission:
				f.Add(field, "must be a decimal string such as \"49.00\", never a JSON number")
			default:
				f.Add(field, "must be a string")
			}
			continue
		}
		values[field] = s
	}
	if err := f.Err("invalid_value"); err != nil {
		return Conversion{}, err
	}
	get := func(field string) (string, bool) { v, ok := values[field]; return v, ok }
	return m.build(get, p, now, true)
}

// flatJSON reads a JSON object of scalars into strings; numbers keep their
// literal text, so "7.35" and 7.35 both become exactly 7.35.
func flatJSON(b []byte, what string) (map[string]string, error) {
	var obj map[string]any
	if err := strictjson.Unmarshal(b, &obj, strictjson.Options{What: what, UseNumber: true}); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errs.Newf(errs.Invalid, "malformed_json", "%s is not a JSON object", what)
	}
	out := map[string]string{}
	for k, v := range obj {
		switch v := v.(type) {
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String()
		case bool:
			out[k] = strconv.FormatBool(v)
		}
	}
	return out, nil
}

// build checks and assembles a conversion. Its refusals, in this order
// (contract v1.1):
//   - 400 missing_field: a required field is absent or empty;
//   - 422 field_too_long: order id, click id, course id, event id, reason
//     code or raw status longer than events.MaxPartnerValueBytes;
//   - 422 invalid_value: any other bad value (unknown status or currency,
//     not an amount, negative, a bad time, a control character);
//   - 422 amount_too_large: sale or commission above the partner's
//     ceiling (Partner.ceiling), or beyond any int64 amount.
//
// Every field error names the partner's own parameter.
func (m Mapping) build(get func(string) (string, bool), p Partner, now time.Time, requireTime bool) (Conversion, error) {
	var missing []string
	need := func(field string) string {
		v, ok := get(field)
		if !ok || v == "" {
			missing = append(missing, m.name(field))
		}
		return v
	}
	orderID, rawStatus := need(FieldOrderID), need(FieldStatus)
	saleRaw, commissionRaw := need(FieldSaleAmount), need(FieldCommission)
	var occurredRaw string
	if requireTime {
		occurredRaw = need(FieldOccurredAt)
	} else {
		occurredRaw, _ = get(FieldOccurredAt)
	}
	if len(missing) > 0 {
		return Conversion{}, errs.Newf(errs.Invalid, "missing_field", "missing %s", strings.Join(missing, ", "))
	}
	c := Conversion{OrderID: orderID, RawStatus: rawStatus}
	c.ClickID, _ = get(FieldClickID)
	c.CourseID, _ = get(FieldCourseID)
	c.ReasonCode, _ = get(FieldReasonCode)
	c.EventID, _ = get(FieldEventID)

	// Lengths first, before any value is looked up, parsed or repeated in
	// a message.
	texts := []struct{ field, v string }{{FieldOrderID, c.OrderID}, {FieldClickID, c.ClickID}, {FieldCourseID, c.CourseID},
		{FieldEventID, c.EventID}, {FieldReasonCode, c.ReasonCode}, {FieldStatus, c.RawStatus}}
	var long errs.Fields
	for _, t := range texts {
		if len(t.v) > events.MaxPartnerValueBytes {
			long.Add(m.name(t.field), "is %d bytes, more than %d", len(t.v), events.MaxPartnerValueBytes)
		}
	}
	if err := long.Err("field_too_long"); err != nil {
		return Conversion{}, err
	}

	var f errs.Fields
	for _, t := range texts {
		// Invalid UTF-8 would travel as U+FFFD, up to three times as long.
		if !utf8.ValidString(t.v) || strings.ContainsAny(t.v, "\x00\r\n") {
			f.Add(m.name(t.field), "must be printable UTF-8 text")
		}
	}
	status, ok := m.Statuses[strings.ToLower(rawStatus)]
	if !ok {
		f.Add(m.name(FieldStatus), "%s is not a known status (%s)", show(rawStatus), strings.Join(m.statusWords(), ", "))
	}
	c.Status = status
	currency, _ := get(FieldCurrency)
	if currency == "" {
		currency = p.Currency
	}
	currency = strings.ToUpper(currency)
	var large errs.Fields
	if !money.IsCurrency(currency) {
		f.Add(m.name(FieldCurrency), "%s is not an ISO 4217 currency", show(currency))
	} else {
		c.SaleAmount = amount(&f, &large, m.name(FieldSaleAmount), saleRaw, currency, p)
		c.Commission = amount(&f, &large, m.name(FieldCommission), commissionRaw, currency, p)
	}
	if occurredRaw != "" {
		t, err := parseTime(occurredRaw)
		switch {
		case err != nil:
			f.Add(m.name(FieldOccurredAt), "%s is not a valid time (RFC 3339, such as 2026-11-20T10:00:00Z)", show(occurredRaw))
		case t.After(now.Add(24 * time.Hour)):
			f.Add(m.name(FieldOccurredAt), "is more than a day in the future")
		case t.Year() < 2000:
			f.Add(m.name(FieldOccurredAt), "is before the year 2000")
		default:
			c.OccurredAt = t.UTC()
		}
	}
	if len(f) > 0 {
		return Conversion{}, append(f, large...).Err("invalid_value")
	}
	if err := large.Err("amount_too_large"); err != nil {
		return Conversion{}, err
	}
	return c, nil
}

func (m Mapping) name(field string) string {
	if n := m.Fields[field]; n != "" {
		return n
	}
	return field
}

func (m Mapping) statusWords() []string {
	var w []string
	for k := range m.Statuses {
		w = append(w, k)
	}
	sort.Strings(w)
	return w
}

// amount parses an exact, non-negative amount within p's ceiling: a bad
// one goes to f, one too large (beyond the ceiling or any int64) to large.
func amount(f, large *errs.Fields, field, raw, currency string, p Partner) money.Amount {
	a, err := parseAmount(raw, currency)
	switch {
	case errors.Is(err, money.ErrOverflow):
		large.Add(field, "%s is above %s", show(raw), p.describeCeiling(currency))
		return money.Amount{}
	case err != nil:
		f.Add(field, "%s", amountProblem(raw, currency, err))
		return money.Amount{}
	case a.IsNegative():
		f.Add(field, "must not be negative")
	}
	// In absolute value: a negative amount is refused above, but if it
	// ever were not, it would be bounded the same way.
	if limit := p.ceiling(); a.Minor > limit || a.Minor < -limit {
		large.Add(field, "%s is above %s", show(raw), p.describeCeiling(currency))
	}
	return a
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04:05.000Z07:00"}

// parseTime reads RFC 3339 (and, from networks, a naive UTC date-time or
// unix seconds). An impossible date such as 2026-02-30 fails.
func parseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if sec, err := strconv.ParseInt(s, 10, 64); err == nil && sec > 0 && sec < 1<<36 {
		return time.Unix(sec, 0), nil
	}
	return time.Time{}, fmt.Errorf("not a time")
}
