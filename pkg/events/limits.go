package events

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/money"
)

// Limits on what an event may carry (contract v1.1). The edges (redirect,
// conversions) cut, drop or refuse a value before it is hashed, logged or
// recorded; Validate refuses an event beyond them, so one written to Kafka
// by anything else (an old version, a bug, a forged producer) is
// dead-lettered by its consumer, never stored or retried.
const (
	// MaxIDBytes bounds event ids.
	MaxIDBytes = 128
	// MaxCodeBytes and MaxPartnerBytes bound link codes and partner ids.
	MaxCodeBytes    = 64
	MaxPartnerBytes = 64
	// MaxTagBytes bounds placement and each utm_* value, made only of
	// TagChars; anything else is dropped at the edge.
	MaxTagBytes = 64
	// MaxUserAgentBytes: the redirect keeps the first 512 bytes of a
	// User-Agent; a longer one is a bot signal.
	MaxUserAgentBytes = 512
	// MaxRefererBytes: the first 2,048 bytes of a Referer, query dropped.
	MaxRefererBytes = 2048
	// MaxDestinationBytes bounds a destination after its macros are
	// filled (a link's is at most 2,048 bytes before).
	MaxDestinationBytes = 8192
	// MaxPartnerValueBytes bounds what partners send: order id, click id,
	// course id, event id (the idempotency key), raw status, reason code.
	MaxPartnerValueBytes = 128
	// MaxAmountMinor is the schema's ceiling on one amount, in minor
	// units: far above any partner's max_amount (default 1,000,000.00),
	// and low enough that nine million of them still sum within int64.
	MaxAmountMinor = 1_000_000_000_000
)

// PrintableText reports whether s is what a partner's text value (order
// id, click id, course id, event id, raw status, reason code) may be:
// valid UTF-8 without a control character (C0, DEL, C1: U+0000–U+001F,
// U+007F–U+009F), which no network's id holds and which would break a
// CSV cell, a log line or a terminal.
func PrintableText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// TagChars are the bytes a placement or utm_* value may hold.
const TagChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-"

// ValidTag reports whether s is a recordable placement or utm_* value:
// at most MaxTagBytes of TagChars. The empty string is valid (absent).
func ValidTag(s string) bool {
	if len(s) > MaxTagBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTagChar(s[i]) {
			return false
		}
	}
	return true
}

func isTagChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-'
}

// Tag returns s when it is a valid tag, else "" (dropped).
func Tag(s string) string {
	if ValidTag(s) {
		return s
	}
	return ""
}

// CutUserAgent keeps the first MaxUserAgentBytes of ua, whole UTF-8
// characters only, with invalid bytes replaced, and reports whether it
// was longer (a bot signal).
func CutUserAgent(ua string) (string, bool) {
	return cut(ua, MaxUserAgentBytes), len(ua) > MaxUserAgentBytes
}

// CutReferer drops a referer's user information, query, fragment and path
// parameters (";jsessionid=…": like the query, where sessions and tokens
// travel) and keeps its first MaxRefererBytes, whole UTF-8 characters
// only. Browsers never send user information in a Referer; other clients
// may, and a password is not the click's to keep.
func CutReferer(ref string) string {
	if i := strings.Index(ref, "://"); i >= 0 {
		authority := ref[i+3:]
		if j := strings.IndexByte(authority, '/'); j >= 0 { // a password may hold an unencoded ? or #
			authority = authority[:j]
		}
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			ref = ref[:i+3] + ref[i+3+at+1:]
		}
	}
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		ref = ref[:i]
	}
	if strings.IndexByte(ref, ';') >= 0 {
		ref = dropPathParams(ref)
	}
	return cut(ref, MaxRefererBytes)
}

// dropPathParams removes each ";..." up to the next '/', keeping the path
// segments after it.
func dropPathParams(ref string) string {
	var b strings.Builder
	b.Grow(len(ref))
	for {
		i := strings.IndexByte(ref, ';')
		if i < 0 {
			b.WriteString(ref)
			return b.String()
		}
		b.WriteString(ref[:i])
		ref = ref[i:]
		if j := strings.IndexByte(ref, '/'); j >= 0 {
			ref = ref[j:]
		} else {
			ref = ""
		}
	}
}

// cut returns at most max bytes of s as valid UTF-8: invalid bytes become
// U+FFFD first (three bytes each, counted against max), so what is stored
// and what is serialised are the same size.
func cut(s string, max int) string {
	if len(s) <= max && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r) // an invalid byte decodes as utf8.RuneError
	}
	return b.String()
}

type field struct {
	name, value string
	max         int
}

// checkLengths refuses the first field longer than its limit.
func checkLengths(fields ...field) error {
	for _, f := range fields {
		if len(f.value) > f.max {
			return errs.Newf(errs.Invalid, "field_too_long", "%s is %d bytes, more than %d", f.name, len(f.value), f.max)
		}
	}
	return nil
}

// checkAmount refuses an amount beyond MaxAmountMinor either way.
func checkAmount(name string, a money.Amount) error {
	if a.Minor > MaxAmountMinor || a.Minor < -MaxAmountMinor {
		return errs.Newf(errs.Invalid, "amount_too_large", "%s %s %s is beyond the schema's ceiling", name, a.String(), a.Currency)
	}
	return nil
}
