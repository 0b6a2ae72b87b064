package adapter

import (
	"bytes"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/pkg/rfc3339"
	"github.com/linkcredit/linkcredit/pkg/strictjson"
)

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
			obj, _, err := flatJSON([]byte(raw[0]), show(m.JSONParam))
			if err != nil {
				return Conversion{}, err
			}
			get = obj.getter(m)
		}
	}
	return m.build(get, p, now, false)
}

// CheckRepeated refuses a parameter the mapping reads that comes more
// than once with different values (?order_id=A&order_id=B): which one the
// network meant is not defined, so it is a malformed postback (400),
// never a guess. The same value again (a mapping that gives two fields
// one parameter, whose postback URL repeats it) is no doubt. With the
// mapping's JSON parameter present, the fields come from it and only it
// is checked. Checked on arrival only: FromParams takes the first, so a
// stored postback replays as it was read.
func (m Mapping) CheckRepeated(params url.Values) error {
	var names []string
	if m.JSONParam != "" && len(params[m.JSONParam]) > 0 {
		names = []string{m.JSONParam}
	} else {
		for _, name := range m.Fields {
			names = append(names, name)
		}
		sort.Strings(names) // the same error whatever the map's order
	}
	for _, name := range names {
		if err := SingleValue(params, name); err != nil {
			return err
		}
	}
	return nil
}

// SingleValue is a 400 repeated_parameter when params give name more than
// once with different values, else nil.
func SingleValue(params url.Values, name string) error {
	vs := params[name]
	for _, v := range vs[min(1, len(vs)):] {
		if v != vs[0] {
			return errs.Newf(errs.Invalid, "repeated_parameter", "%s is given %d times with different values", show(name), len(vs))
		}
	}
	return nil
}

// CheckJSONTypes refuses a JSON postback (body, when not nil, else the
// mapping's JSON parameter in params) in which a field the mapping reads
// is an object, an array or true/false: a wrong JSON type is a malformed
// postback, 400 malformed_json naming the partner's field, as everywhere
// in the API. Networks write amounts and ids as JSON numbers too (Awin's
// transactionId, PartnerStack's amount), so a number is no wrong type
// here, and null is a field left out. Checked on arrival only, as
// CheckRepeated: FromJSON and FromParams skip such a value, so a postback
// stored before this check replays as it was read.
func (m Mapping) CheckJSONTypes(params url.Values, body []byte) error {
	what := "the body"
	if body == nil {
		raw := params[m.JSONParam]
		if m.JSONParam == "" || len(raw) == 0 {
			return nil
		}
		body, what = []byte(raw[0]), show(m.JSONParam)
	}
	_, kinds, err := flatJSON(body, what)
	if err != nil {
		return err
	}
	if err := repeatedKey(body, what); err != nil {
		return err
	}
	var f errs.Fields
	for _, field := range canonicalFields { // a fixed order: the same error every time
		name := m.Fields[field]
		if kind, ok := kinds[name]; ok && name != "" {
			f.Add(name, "must be a string or a number, not %s", kind)
		}
	}
	return wrongType(f, what)
}

// IsTest reports whether a postback (body, when not nil, else params and
// the mapping's JSON parameter) is one of the network's test deliveries
// (TestEvents).
func (m Mapping) IsTest(params url.Values, body []byte) bool {
	if len(m.TestEvents) == 0 {
		return false
	}
	get := func(name string) string { return params.Get(name) }
	if body == nil && m.JSONParam != "" && params.Get(m.JSONParam) != "" {
		body = []byte(params.Get(m.JSONParam))
	}
	if body != nil {
		obj, _, err := flatJSON(body, "the body")
		if err != nil {
			return false
		}
		get = func(name string) string { return obj[name] }
	}
	for field, value := range m.TestEvents {
		if strings.EqualFold(strings.TrimSpace(get(field)), value) {
			return true
		}
	}
	return false
}

// repeatedKey refuses JSON that gives a key twice in one object, 400
// malformed_json: encoding/json would keep the last, and which the partner
// meant is not defined (a repeated postback parameter is refused alike).
func repeatedKey(body []byte, what string) error {
	if path, ok := strictjson.RepeatedKey(body); ok {
		return errs.Newf(errs.Invalid, strictjson.Code, "%s gives %s more than once in one object: which value is meant is not defined", what, show(path))
	}
	return nil
}

// FromJSON decodes a postback whose body is one JSON object (PartnerStack's
// postbacks, a CJ commission record) through a resolved mapping for
// partner p: nested objects are reached by dotted names ("data.amount"),
// numbers keep their literal text. Errors as FromParams; on arrival,
// CheckJSONTypes comes first.
func (m Mapping) FromJSON(body []byte, p Partner, now time.Time) (Conversion, error) {
	obj, _, err := flatJSON(body, "the body")
	if err != nil {
		return Conversion{}, err
	}
	return m.build(obj.getter(m), p, now, false)
}

// DecodeWebhook decodes linkcredit's webhook JSON strictly for partner p:
// one object, required fields present, money and ids as strings, values
// valid (see build for the codes). A field of the wrong JSON type (a
// number, true/false, an object or an array where a string belongs) is a
// malformed body, 400 malformed_json naming every such field, as the admin
// APIs answer; null is a field left out. Unknown fields are allowed (they
// stay in the stored raw request).
func (m Mapping) DecodeWebhook(body []byte, p Partner, now time.Time) (Conversion, error) {
	return m.decodeWebhook(body, p, now, false)
}

// DecodeNewWebhook is DecodeWebhook with the checks a webhook passes on
// arrival, which DecodeWebhook cannot grow (it replays stored webhooks,
// which must decode as they did): no member given twice (400
// malformed_json: encoding/json keeps the last, and which the partner
// meant is not defined), and an occurred_at that states its offset from
// UTC (422 invalid_value: the contract's times are RFC 3339, and one
// without an offset, taken as UTC, could move a purchase into another day
// or month). Networks' own formats keep their documented times without an
// offset (Awin's transactionDate is UTC): only linkcredit's webhook is
// held to it.
func (m Mapping) DecodeNewWebhook(body []byte, p Partner, now time.Time) (Conversion, error) {
	return m.decodeWebhook(body, p, now, true)
}

func (m Mapping) decodeWebhook(body []byte, p Partner, now time.Time, arrival bool) (Conversion, error) {
	var obj map[string]json.RawMessage
	if err := strictjson.Unmarshal(body, &obj, strictjson.Options{}); err != nil {
		return Conversion{}, err
	}
	if obj == nil {
		return Conversion{}, errs.New(errs.Invalid, strictjson.Code, "the body is not a JSON object")
	}
	if arrival {
		if key, ok := strictjson.RepeatedMember(body); ok {
			return Conversion{}, errs.Newf(errs.Invalid, strictjson.Code,
				"the body gives %s more than once: which value is meant is not defined", show(key))
		}
	}
	var f errs.Fields
	values := map[string]string{}
	for _, field := range canonicalFields {
		raw, ok := obj[field]
		if !ok || string(raw) == "null" {
			continue
		}
		s, ok := plainString(raw)
		if !ok {
			if err := json.Unmarshal(raw, &s); err != nil {
				kind := jsonKind(raw)
				switch field {
				case FieldSaleAmount, FieldCommission:
					f.Add(field, "must be a decimal string such as \"49.00\", not %s", kind)
				default:
					f.Add(field, "must be a string, not %s", kind)
				}
				continue
			}
		}
		if arrival && isBlank(s) {
			continue // only spaces: as good as missing (400 missing_field when required)
		}
		values[field] = s
	}
	if err := wrongType(f, "the body"); err != nil {
		return Conversion{}, err
	}
	if occurred := values[FieldOccurredAt]; arrival && withoutOffset(occurred) {
		f.Add(FieldOccurredAt, "%s does not say its offset from UTC: send RFC 3339, such as 2026-11-20T10:00:00Z", show(occurred))
		return Conversion{}, f.Err("invalid_value")
	}
	get := func(field string) (string, bool) { v, ok := values[field]; return v, ok }
	return m.build(get, p, now, true)
}

// withoutOffset reports whether s is a date-time parseTime takes that
// states no offset from UTC ("2026-11-20T10:00:00"). A unix time is
// unambiguous, and what parseTime refuses is build's to refuse.
func withoutOffset(s string) bool {
	if s == "" || allDigits(s) {
		return false
	}
	if _, err := rfc3339.Parse(s); err == nil {
		return false
	}
	if _, ok := parseJSDate(s); ok { // "… GMT+0000 (UTC)" states its offset
		return false
	}
	_, err := parseTime(s)
	return err == nil
}

// plainString is the value of raw, a JSON value that strictjson decoded
// (so valid UTF-8 and valid JSON), when it is a string without escapes:
// its bytes between the quotes, as encoding/json would decode them. A
// webhook's fields are such strings; anything else is left to
// encoding/json.
func plainString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' || bytes.IndexByte(raw, '\\') >= 0 {
		return "", false
	}
	return string(raw[1 : len(raw)-1]), true
}

// wrongType is nil without problems, else the 400 malformed_json of a
// JSON value of the wrong type, worded as strictjson words one for the
// admin APIs and naming every field.
func wrongType(f errs.Fields, what string) error {
	if len(f) == 0 {
		return nil
	}
	parts := make([]string, len(f))
	for i, fe := range f {
		parts[i] = "field " + show(fe.Field) + " " + fe.Message
	}
	e := errs.Newf(errs.Invalid, strictjson.Code, "%s is not valid JSON for this request: %s", what, strings.Join(parts, "; "))
	e.Fields = f
	return e
}

// jsonKind names the JSON type of a valid JSON value.
func jsonKind(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "null"
	}
	return "a number"
}

// isBlank reports whether s is not empty but holds only white space.
func isBlank(s string) bool { return s != "" && strings.TrimSpace(s) == "" }

// flat is a JSON object's scalars by dotted path.
type flat map[string]string

func (obj flat) getter(m Mapping) func(string) (string, bool) {
	return func(field string) (string, bool) {
		name := m.Fields[field]
		if v, ok := obj[name]; ok && name != "" {
			return strings.TrimSpace(v), true
		}
		return "", false
	}
}

// flatJSON reads a JSON object into its scalars by dotted path ("data.key"
// for {"data":{"key":…}}); numbers keep their literal text, so "7.35" and
// 7.35 both become exactly 7.35. Arrays and nulls are left out. kinds
// names, by the same paths, the values that are neither a string nor a
// number (an object, an array, true or false), for CheckJSONTypes.
func flatJSON(b []byte, what string) (out flat, kinds map[string]string, err error) {
	var obj map[string]any
	if err := strictjson.Unmarshal(b, &obj, strictjson.Options{What: what, UseNumber: true}); err != nil {
		return nil, nil, err
	}
	if obj == nil {
		return nil, nil, errs.Newf(errs.Invalid, strictjson.Code, "%s is not a JSON object", what)
	}
	out, kinds = flat{}, map[string]string{}
	var walk func(prefix string, obj map[string]any)
	walk = func(prefix string, obj map[string]any) {
		for k, v := range obj {
			switch v := v.(type) {
			case string:
				out[prefix+k] = v
			case json.Number:
				out[prefix+k] = v.String()
			case bool:
				out[prefix+k] = strconv.FormatBool(v)
				kinds[prefix+k] = "true or false"
			case map[string]any:
				kinds[prefix+k] = "an object"
				walk(prefix+k+".", v)
			case []any:
				kinds[prefix+k] = "an array"
			}
		}
	}
	walk("", obj)
	return out, kinds, nil
}

// build checks and assembles a conversion. Its refusals, in this order
// (contract v1.1):
//   - 400 missing_field: a required field is absent or empty (one with a
//     default in the mapping is not required);
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
	value := func(field string) (string, bool) {
		if v, ok := get(field); ok && v != "" {
			return v, true
		}
		if d, ok := m.Defaults[field]; ok && field != FieldStatus {
			return d, true
		}
		return "", false
	}
	need := func(field string) string {
		v, ok := value(field)
		if !ok {
			missing = append(missing, m.name(field))
		}
		return v
	}
	orderID := need(FieldOrderID)
	rawStatus, hasStatus := get(FieldStatus)
	defaultStatus, hasDefault := m.Defaults[FieldStatus]
	if rawStatus == "" && !hasDefault {
		missing = append(missing, m.name(FieldStatus))
	}
	hasStatus = hasStatus && rawStatus != ""
	saleRaw, commissionRaw := need(FieldSaleAmount), need(FieldCommission)
	var occurredRaw string
	if requireTime {
		occurredRaw = need(FieldOccurredAt)
	} else {
		occurredRaw, _ = value(FieldOccurredAt)
	}
	if len(missing) > 0 {
		return Conversion{}, errs.Newf(errs.Invalid, "missing_field", "missing %s", strings.Join(missing, ", "))
	}
	c := Conversion{OrderID: orderID, RawStatus: rawStatus}
	c.ClickID, _ = value(FieldClickID)
	c.CourseID, _ = value(FieldCourseID)
	c.ReasonCode, _ = value(FieldReasonCode)
	c.EventID, _ = value(FieldEventID)

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
		if !events.PrintableText(t.v) {
			f.Add(m.name(t.field), "must be printable UTF-8 text, without control characters")
		}
	}
	status := defaultStatus
	if hasStatus {
		var ok bool
		if status, ok = m.Statuses[strings.ToLower(rawStatus)]; !ok {
			f.Add(m.name(FieldStatus), "%s is not a known status (%s)", show(rawStatus), strings.Join(m.statusWords(), ", "))
		}
	}
	if s, ok := m.Reasons[strings.ToLower(c.ReasonCode)]; ok && c.ReasonCode != "" {
		status = s
	}
	currency, _ := value(FieldCurrency)
	if currency == "" {
		currency = p.Currency
	}
	currency = strings.ToUpper(currency)
	var large errs.Fields
	if !money.IsCurrency(currency) {
		f.Add(m.name(FieldCurrency), "%s is not an ISO 4217 currency", show(currency))
	} else {
		var saleNegative, commissionNegative bool
		c.SaleAmount, saleNegative = m.amount(&f, &large, FieldSaleAmount, saleRaw, currency, p)
		c.Commission, commissionNegative = m.amount(&f, &large, FieldCommission, commissionRaw, currency, p)
		if saleNegative || commissionNegative {
			status = events.StatusReversed
		}
	}
	c.Status = status
	if occurredRaw != "" {
		t, err := parseTime(occurredRaw)
		switch {
		case err != nil:
			f.Add(m.name(FieldOccurredAt), "%s is not a valid time (RFC 3339, such as 2026-11-20T10:00:00Z)", show(occurredRaw))
		case t.After(now.Add(24 * time.Hour)):
			f.Add(m.name(FieldOccurredAt), "is more than a day in the future")
		case !events.InYears(t): // as an instant: 2000-01-01T00:30:00+01:00 is in 1999
			f.Add(m.name(FieldOccurredAt), "is outside the years 2000 to 2099 (UTC)")
		default:
			c.OccurredAt = t.UTC().Add(m.statusStep(rawStatus, status))
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

// statusStep is how far StatusOrder places an event of the raw status
// word after its record's time: a microsecond for each word before it, and
// after them all for a reversal.
func (m Mapping) statusStep(raw, status string) time.Duration {
	if len(m.StatusOrder) == 0 {
		return 0
	}
	rank := len(m.StatusOrder)
	if status != events.StatusReversed {
		rank = 0
		for i, w := range m.StatusOrder {
			if strings.EqualFold(w, raw) {
				rank = i
			}
		}
	}
	return time.Duration(rank) * time.Microsecond
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
