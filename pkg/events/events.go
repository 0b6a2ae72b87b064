package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	fastjson "github.com/segmentio/encoding/json"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/money"
)

// SchemaVersion is the version of the v1 topics' events. Readers accept any
// event whose version is at most this.
const SchemaVersion = 1

// Event types, the value of "type".
const (
	TypeClickRecorded      = "click.recorded"
	TypeConversionReceived = "conversion.received"
)

// Conversion statuses.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
	StatusReversed = "reversed"
)

// ValidStatus reports whether s is a canonical conversion status.
func ValidStatus(s string) bool {
	return s == StatusPending || s == StatusApproved || s == StatusReversed
}

// Events are placed in the years 2000 to 2099 (UTC): a clock that far off
// is a bug, and reporting keeps a partition per month. The edge that
// accepts an event and the consumer that stores it apply the same bound,
// so nothing answered 2xx is refused later.
var (
	EarliestTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	LatestTime   = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC) // excluded
)

// InYears reports whether t lies within EarliestTime and LatestTime, as an
// instant (its zone does not matter).
func InYears(t time.Time) bool { return !t.Before(EarliestTime) && t.Before(LatestTime) }

// Header carries what every event has.
type Header struct {
	ID            string `json:"id"`
	Type          string `json:"type"`
	SchemaVersion int    `json:"schema_version"`
}

func (h Header) check(wantType string) error {
	switch {
	case h.ID == "":
		return missing("id")
	case h.Type != wantType:
		return errs.Newf(errs.Invalid, "wrong_event_type", "event type %q, want %q", h.Type, wantType)
	case h.SchemaVersion < 1 || h.SchemaVersion > SchemaVersion:
		return errs.Newf(errs.Invalid, "unsupported_schema_version", "schema_version %d is not supported (1..%d)", h.SchemaVersion, SchemaVersion)
	}
	return nil
}

// ClickRecorded is published on clicks.v1 for every redirect a visitor got.
type ClickRecorded struct {
	Header
	// OccurredAt is when the redirect was answered.
	OccurredAt  time.Time `json:"occurred_at"`
	Code        string    `json:"code"`
	Partner     string    `json:"partner"`
	CourseID    string    `json:"course_id"`
	Destination string    `json:"destination"`
	UserAgent   string    `json:"user_agent,omitempty"`
	Referer     string    `json:"referer,omitempty"`
	UTMSource   string    `json:"utm_source,omitempty"`
	UTMMedium   string    `json:"utm_medium,omitempty"`
	UTMCampaign string    `json:"utm_campaign,omitempty"`
	UTMTerm     string    `json:"utm_term,omitempty"`
	UTMContent  string    `json:"utm_content,omitempty"`
	Placement   string    `json:"placement,omitempty"`
	// VisitorHash is a salted hash of the truncated client IP; the salt
	// rotates daily, so it links clicks within a day and never to a person.
	VisitorHash string `json:"visitor_hash"`
	Bot         bool   `json:"bot"`
	// BotReason is a code from redirect's maintained list ("crawler",
	// "unfurler", "headless", "http_library", "prefetch"), empty for humans.
	BotReason string `json:"bot_reason,omitempty"`
	// Unique is false when the same visitor clicked the same link within
	// the unique-click window.
	Unique bool `json:"unique"`
}

// Key spreads clicks evenly: the click id is random in its low bits.
func (c ClickRecorded) Key() []byte { return []byte(c.ID) }

// Validate checks the fields every consumer relies on.
func (c ClickRecorded) Validate() error {
	if err := c.Header.check(TypeClickRecorded); err != nil {
		return err
	}
	switch {
	case c.OccurredAt.IsZero():
		return missing("occurred_at")
	case c.Code == "":
		return missing("code")
	case c.Partner == "":
		return missing("partner")
	}
	if err := checkLengths(field{"id", c.ID, MaxIDBytes}, field{"code", c.Code, MaxCodeBytes},
		field{"partner", c.Partner, MaxPartnerBytes}, field{"course_id", c.CourseID, MaxPartnerValueBytes},
		field{"destination", c.Destination, MaxDestinationBytes}, field{"user_agent", c.UserAgent, MaxUserAgentBytes},
		field{"referer", c.Referer, MaxRefererBytes}, field{"visitor_hash", c.VisitorHash, MaxIDBytes},
		field{"bot_reason", c.BotReason, MaxTagBytes}); err != nil {
		return err
	}
	for _, f := range []field{{"placement", c.Placement, 0}, {"utm_source", c.UTMSource, 0}, {"utm_medium", c.UTMMedium, 0},
		{"utm_campaign", c.UTMCampaign, 0}, {"utm_term", c.UTMTerm, 0}, {"utm_content", c.UTMContent, 0}} {
		if !ValidTag(f.value) {
			return errs.Newf(errs.Invalid, "invalid_tag", "%s is not at most %d bytes of [A-Za-z0-9._~-]", f.name, MaxTagBytes)
		}
	}
	return nil
}

// Conversion sources.
const (
	SourceWebhook  = "webhook"
	SourcePostback = "postback"
	SourceReplay   = "replay"
)

// ConversionReceived is published on conversions.v1 for every partner
// webhook or postback that conversions accepted. Many events make up one
// conversion, (partner, order_id); they are keyed by it, so they stay in
// order on one partition.
type ConversionReceived struct {
	Header
	Partner string `json:"partner"`
	OrderID string `json:"order_id"`
	// ClickID is the click the partner attributes the sale to; empty or
	// unknown leaves the conversion unattributed.
	ClickID string `json:"click_id,omitempty"`
	// CourseID is the course bought, when the partner says so.
	CourseID string `json:"course_id,omitempty"`
	// Status is canonical: pending, approved or reversed.
	Status string `json:"status"`
	// RawStatus and ReasonCode are the partner's own words, kept for audit.
	RawStatus  string `json:"raw_status,omitempty"`
	ReasonCode string `json:"reason_code,omitempty"`
	// SaleAmount and Commission are decimal strings in Currency.
	SaleAmount string `json:"sale_amount"`
	Commission string `json:"commission"`
	Currency   string `json:"currency"`
	// OccurredAt is when the partner says the change happened; events of
	// one conversion apply in this order, not in arrival order.
	OccurredAt time.Time `json:"occurred_at"`
	ReceivedAt time.Time `json:"received_at"`
	// Source is webhook, postback or replay.
	Source string `json:"source"`
	// IdempotencyKey is the webhook-id, or the key derived from a postback.
	IdempotencyKey string `json:"idempotency_key"`
	// ReplayOf is set on an event made by `conversions replay` (a stored
	// request decoded again through fixed adapters): the id of the event
	// it supersedes.
	ReplayOf string `json:"replay_of,omitempty"`
	// AcceptedSeq orders one conversion's events that share an
	// occurred_at: conversions gives each accepted (2xx) request a number
	// that rises in the order it accepted them, and a replay of a stored
	// request keeps the number of the request it decodes again. Kafka
	// offsets cannot serve, as a replay to a new topic changes them.
	// Zero on events written before v1.1; those order after the numbered
	// ones' rank rule (see the ledger).
	AcceptedSeq int64 `json:"accepted_seq,omitempty"`
}

// Key keeps one conversion's events in order on one partition.
func (c ConversionReceived) Key() []byte { return []byte(c.Partner + "/" + c.OrderID) }

// Validate checks the fields every consumer relies on, money included.
func (c ConversionReceived) Validate() error {
	if err := c.Header.check(TypeConversionReceived); err != nil {
		return err
	}
	switch {
	case c.Partner == "":
		return missing("partner")
	case c.OrderID == "":
		return missing("order_id")
	case !ValidStatus(c.Status):
		return errs.Newf(errs.Invalid, "invalid_status", "status %q is not pending, approved or reversed", c.Status)
	case c.OccurredAt.IsZero():
		return missing("occurred_at")
	case c.AcceptedSeq < 0:
		return errs.Newf(errs.Invalid, "invalid_accepted_seq", "accepted_seq %d is negative", c.AcceptedSeq)
	}
	if err := checkLengths(field{"id", c.ID, MaxIDBytes}, field{"partner", c.Partner, MaxPartnerBytes},
		field{"order_id", c.OrderID, MaxPartnerValueBytes}, field{"click_id", c.ClickID, MaxPartnerValueBytes},
		field{"course_id", c.CourseID, MaxPartnerValueBytes}, field{"raw_status", c.RawStatus, MaxPartnerValueBytes},
		field{"reason_code", c.ReasonCode, MaxPartnerValueBytes}, field{"source", c.Source, MaxTagBytes},
		field{"idempotency_key", c.IdempotencyKey, MaxIDBytes}, field{"replay_of", c.ReplayOf, MaxIDBytes}); err != nil {
		return err
	}
	for _, f := range []struct{ name, value string }{{"sale_amount", c.SaleAmount}, {"commission", c.Commission}} {
		a, err := money.Parse(f.value, c.Currency)
		if err != nil {
			return errs.Wrap(errs.Invalid, "invalid_money", f.name+" is not an amount of "+c.Currency, err)
		}
		if err := checkAmount(f.name, a); err != nil {
			return err
		}
	}
	return nil
}

func missing(field string) error {
	return errs.Newf(errs.Invalid, "missing_field", "event has no %s", field)
}

// Marshal encodes an event as its wire JSON (without HTML escaping: a
// destination URL keeps its '&').
func Marshal(e any) ([]byte, error) {
	return AppendMarshal(nil, e)
}

// AppendMarshal appends the wire JSON of e to dst.
func AppendMarshal(dst []byte, e any) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("events: marshal %T: %w", e, err)
	}
	b := buf.Bytes()
	return b[:len(b)-1], nil // Encode's newline
}

// DecodeClick decodes and validates a clicks.v1 message value.
func DecodeClick(b []byte) (ClickRecorded, error) {
	var c ClickRecorded
	if err := decode(b, &c); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// DecodeClickInPlace is DecodeClick into c, without copying: each string
// field without escapes shares b's memory instead of being allocated, and
// c is the caller's (reporting decodes hundreds of thousands of clicks a
// second into a batch's slice). b must not change while c is in use, and
// a string kept longer than b must be cloned (strings.Clone).
func DecodeClickInPlace(b []byte, c *ClickRecorded) error {
	*c = ClickRecorded{}
	if err := decodeWith(b, c, fastjson.ZeroCopy); err != nil {
		return err
	}
	return c.Validate()
}

// DecodeConversion decodes and validates a conversions.v1 message value.
func DecodeConversion(b []byte) (ConversionReceived, error) {
	var c ConversionReceived
	if err := decode(b, &c); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// decode is strict about syntax and fast: consumers decode every event
// (segmentio's decoder is a drop-in for encoding/json, about 7x faster on
// a click here). Trailing data after the object is refused.
func decode(b []byte, v any) error { return decodeWith(b, v, 0) }

// decodeWith is decode with the decoder's flags: fastjson.Unmarshal is
// Parse with none, and refuses what follows the value the same way.
//
// What segmentio's decoder refuses is read again by encoding/json, which
// defines the events, before it is called malformed: the two differ on a
// few inputs, such as a time in a form other than RFC 3339's fixed one
// ("…T0:00:00,5Z", which encoding/json takes and segmentio's fast path
// refuses), and an event encoding/json reads must not be dead-lettered.
// Only a message that is refused takes the second read.
func decodeWith(b []byte, v any, flags fastjson.ParseFlags) error {
	rest, err := fastjson.Parse(b, v, flags)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("invalid character %q after top-level value", rest[0])
	}
	if err != nil {
		reflect.ValueOf(v).Elem().SetZero() // what the first read left
		if json.Unmarshal(b, v) == nil {
			return nil
		}
		return errs.Wrap(errs.Invalid, "malformed_event", "event is not valid JSON of its type", err)
	}
	return nil
}
