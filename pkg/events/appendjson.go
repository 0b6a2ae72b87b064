package events

import (
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the click's wire JSON to dst without reflection. It
// produces exactly the bytes Marshal does (a test and a fuzz target hold
// it to that); the redirect hot path uses it because it is several times
// faster and allocates nothing.
func (c *ClickRecorded) AppendJSON(dst []byte) []byte {
	dst = c.Header.appendJSON(dst)
	dst = append(dst, `,"occurred_at":`...)
	dst = appendTime(dst, c.OccurredAt)
	dst = append(dst, `,"code":`...)
	dst = appendString(dst, c.Code)
	dst = append(dst, `,"partner":`...)
	dst = appendString(dst, c.Partner)
	dst = append(dst, `,"course_id":`...)
	dst = appendString(dst, c.CourseID)
	dst = append(dst, `,"destination":`...)
	dst = appendString(dst, c.Destination)
	for _, f := range [...]struct {
		key, value string
	}{
		{`,"user_agent":`, c.UserAgent}, {`,"referer":`, c.Referer},
		{`,"utm_source":`, c.UTMSource}, {`,"utm_medium":`, c.UTMMedium}, {`,"utm_campaign":`, c.UTMCampaign},
		{`,"utm_term":`, c.UTMTerm}, {`,"utm_content":`, c.UTMContent}, {`,"placement":`, c.Placement},
	} {
		dst = appendOptional(dst, f.key, f.value)
	}
	dst = append(dst, `,"visitor_hash":`...)
	dst = appendString(dst, c.VisitorHash)
	dst = append(dst, `,"bot":`...)
	dst = strconv.AppendBool(dst, c.Bot)
	dst = appendOptional(dst, `,"bot_reason":`, c.BotReason)
	dst = append(dst, `,"unique":`...)
	dst = strconv.AppendBool(dst, c.Unique)
	return append(dst, '}')
}

// appendJSON opens an event's object with its header fields.
func (h *Header) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, h.ID)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, h.Type)
	dst = append(dst, `,"schema_version":`...)
	return strconv.AppendInt(dst, int64(h.SchemaVersion), 10)
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

const hex = "0123456789abcdef"

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain8 reports whether the 8 bytes of s need no escaping: each is
// printable ASCII (0x20 to 0x7f) and none is '"' or '\\'. A byte-wise
// test over one word: v has a zero byte exactly when
// (v - ones) &^ v & highs != 0, and, with every byte below 0x80, a byte
// below n when (w - n*ones) &^ w & highs != 0.
func plain8(s string) bool {
	_ = s[7]
	w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	if w&highs != 0 {
		return false
	}
	control := (w - 0x20*ones) &^ w & highs
	quote := w ^ '"'*ones
	backslash := w ^ '\\'*ones
	return control|(quote-ones)&^quote&highs|(backslash-ones)&^backslash&highs == 0
}

// appendString quotes s as encoding/json does with HTML escaping off:
// invalid UTF-8 becomes U+FFFD, control characters and the JavaScript line
// separators U+2028 and U+2029 are escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight plain bytes at a time: user agents, referers and
		// destinations are mostly printable ASCII.
		if i+8 <= len(s) && plain8(s[i:i+8]) {
			i += 8
			continue
		}
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendJSON appends the conversion's wire JSON to dst without reflection:
// exactly the bytes Marshal produces, its errors included (a test and a
// fuzz target hold it to that). conversions builds each accepted event
// twice (to cut it around its acceptance number), on every webhook.
func (c *ConversionReceived) AppendJSON(dst []byte) ([]byte, error) {
	if !plainJSONTime(c.OccurredAt) || !plainJSONTime(c.ReceivedAt) {
		return AppendMarshal(dst, *c) // its words for a time JSON cannot carry
	}
	dst = c.Header.appendJSON(dst)
	dst = append(dst, `,"partner":`...)
	dst = appendString(dst, c.Partner)
	dst = append(dst, `,"order_id":`...)
	dst = appendString(dst, c.OrderID)
	dst = appendOptional(dst, `,"click_id":`, c.ClickID)
	dst = appendOptional(dst, `,"course_id":`, c.CourseID)
	dst = append(dst, `,"status":`...)
	dst = appendString(dst, c.Status)
	dst = appendOptional(dst, `,"raw_status":`, c.RawStatus)
	dst = appendOptional(dst, `,"reason_code":`, c.ReasonCode)
	dst = append(dst, `,"sale_amount":`...)
	dst = appendString(dst, c.SaleAmount)
	dst = append(dst, `,"commission":`...)
	dst = appendString(dst, c.Commission)
	dst = append(dst, `,"currency":`...)
	dst = appendString(dst, c.Currency)
	dst = append(dst, `,"occurred_at":`...)
	dst = appendTime(dst, c.OccurredAt)
	dst = append(dst, `,"received_at":`...)
	dst = appendTime(dst, c.ReceivedAt)
	dst = append(dst, `,"source":`...)
	dst = appendString(dst, c.Source)
	dst = append(dst, `,"idempotency_key":`...)
	dst = appendString(dst, c.IdempotencyKey)
	dst = appendOptional(dst, `,"replay_of":`, c.ReplayOf)
	if c.AcceptedSeq != 0 {
		dst = append(dst, `,"accepted_seq":`...)
		dst = strconv.AppendInt(dst, c.AcceptedSeq, 10)
	}
	return append(dst, '}'), nil
}

// appendOptional appends a field tagged omitempty: key and value, unless
// the value is empty.
func appendOptional(dst []byte, key, value string) []byte {
	if value == "" {
		return dst
	}
	return appendString(append(dst, key...), value)
}

// plainJSONTime reports whether encoding/json writes t as RFC 3339 without
// an error: a four-digit year and a zone offset under 24 hours.
func plainJSONTime(t time.Time) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	_, offset := t.Zone()
	return offset > -24*3600 && offset < 24*3600
}

// AppendStringMap appends m as a JSON object, its keys in order: what
// encoding/json writes with HTML escaping off, without reflection (message
// and request headers, stored as jsonb on every webhook).
func AppendStringMap(dst []byte, m map[string]string) []byte {
	if m == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, m[k])
	}
	return append(dst, '}')
}
