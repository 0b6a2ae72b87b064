package link

import (
	"fmt"
	"github.com/linkcredit/linkcredit/pkg/clickid"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on a link's fields.
const (
	MaxCodeLen        = 64
	MaxPartnerLen     = 64
	MaxCourseIDLen    = 128
	MaxTitleLen       = 300
	MaxDestinationLen = 2048
	// MaxPlacements bounds a link's placement allow-list: reports group
	// clicks by placement, so a link has at most this many placement keys
	// (plus "other").
	MaxPlacements = 32
)

// Link is a course link: /c/{Code} sends visitors to Destination.
type Link struct {
	Code        string `json:"code"`
	Partner     string `json:"partner"`
	CourseID    string `json:"course_id"`
	Title       string `json:"title"`
	Destination string `json:"destination"`
	Active      bool   `json:"active"`
	// Placements allow-lists the placements a click on this link may
	// record; a click with any other valid placement records "other"
	// (contract v1.1). Empty: any valid placement is recorded as sent.
	Placements []string  `json:"placements"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// CodeIfValid is s when it is a valid code, else "": what an error report
// may name a row by, never echoing whatever was sent.
func CodeIfValid(s string) string {
	if !ValidCode(s) {
		return ""
	}
	return s
}

// ValidCode reports whether s matches [A-Za-z0-9_-]{1,64}.
func ValidCode(s string) bool {
	if len(s) == 0 || len(s) > MaxCodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidPartner reports whether s is a partner id: lower-case letters,
// digits, '_', '-' and '.', starting with a letter or digit, at most 64.
func ValidPartner(s string) bool {
	if len(s) == 0 || len(s) > MaxPartnerLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '-' && c != '.') {
			return false
		}
	}
	return true
}

// Validate checks every field and reports each bad one (422). A
// destination with non-ASCII characters (an IRI) is valid when Normalized
// can make it a URI: store what Normalized returns, never l as it came.
func (l Link) Validate() error {
	_, err := l.Normalized()
	return err
}

// Normalized returns l as it is stored and served, its destination an
// ASCII URI (see toURI; an ASCII destination is kept as sent), or
// Validate's error with every bad field.
func (l Link) Normalized() (Link, error) {
	var f errs.Fields
	if !ValidCode(l.Code) {
		f.Add("code", "must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'")
	}
	if l.Partner == "" {
		f.Add("partner", "is required")
	} else if !ValidPartner(l.Partner) {
		f.Add("partner", "must be 1 to 64 lower-case letters, digits, '_', '-' or '.', starting with a letter or digit")
	}
	switch {
	case strings.TrimSpace(l.CourseID) == "":
		f.Add("course_id", "is required")
	case len(l.CourseID) > MaxCourseIDLen:
		f.Add("course_id", "must be at most %d bytes", MaxCourseIDLen)
	case !events.PrintableText(l.CourseID):
		f.Add("course_id", "must be printable UTF-8 text")
	}
	if len(l.Title) > MaxTitleLen {
		f.Add("title", "must be at most %d bytes", MaxTitleLen)
	} else if !events.PrintableText(l.Title) {
		f.Add("title", "must be printable UTF-8 text")
	}
	if dest, msg := checkDestination(l.Destination); msg != "" {
		f.Add("destination", "%s", msg)
	} else {
		l.Destination = dest
		if n := l.filledLen(); n > events.MaxDestinationBytes {
			f.Add("destination", "is %d bytes with its macros filled, more than a click may carry (%d)", n, events.MaxDestinationBytes)
		}
	}
	if msg := checkPlacements(l.Placements); msg != "" {
		f.Add("placements", "%s", msg)
	}
	if err := f.Err("invalid_link"); err != nil {
		return Link{}, err
	}
	return l, nil
}

// filledLen is the length of the destination as a click records it: every
// value but the click id is the link's own, and click ids have one length.
func (l Link) filledLen() int {
	id := strings.Repeat("0", clickid.Length) // escapes to itself, like a real one
	return len(AppendExpand(nil, l.Destination, Values{ClickID: id, Code: l.Code, CourseID: l.CourseID, Partner: l.Partner}))
}

// checkPlacements returns what is wrong with an allow-list, or "". The
// offending entry is named by position, not echoed.
func checkPlacements(p []string) string {
	if len(p) > MaxPlacements {
		return fmt.Sprintf("lists %d placements, more than %d", len(p), MaxPlacements)
	}
	for i, s := range p {
		if s == "" || !events.ValidTag(s) {
			return fmt.Sprintf("entry %d must be 1 to %d characters of A-Z, a-z, 0-9, '.', '_', '~' or '-'", i+1, events.MaxTagBytes)
		}
		for _, prev := range p[:i] {
			if prev == s {
				return fmt.Sprintf("entry %d repeats %q", i+1, s)
			}
		}
	}
	return ""
}

// checkDestination returns a destination template as an ASCII URI
// (toURI), or what is wrong with it.
func checkDestination(sent string) (dest, problem string) {
	switch {
	case sent == "":
		return "", "is required"
	case len(sent) > MaxDestinationLen:
		return "", "must be at most 2048 bytes"
	}
	for i := 0; i < len(sent); i++ {
		if c := sent[i]; c <= ' ' || c == 0x7f {
			return "", "must not contain spaces or control characters (percent-encode them)"
		}
	}
	dest, msg := toURI(decodeHost(sent))
	switch {
	case msg != "":
		return "", msg
	case len(dest) > MaxDestinationLen:
		return "", fmt.Sprintf("is %d bytes with its non-ASCII characters percent-encoded, more than %d", len(dest), MaxDestinationLen)
	}
	if msg := checkURI(dest); msg != "" {
		return "", msg
	}
	return dest, ""
}

// checkURI returns what is wrong with an ASCII destination template, or "".
func checkURI(dest string) string {
	// Macros are checked, then replaced by a neutral value so the URL can
	// be parsed as the visitor would receive it.
	plain, firstMacro, msg := scan(dest)
	if msg != "" {
		return msg
	}
	u, err := url.Parse(plain)
	if err != nil {
		return "is not a valid URL"
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "must be an absolute http or https URL"
	}
	if u.Host == "" || u.Hostname() == "" {
		return "must name a host"
	}
	if u.User != nil {
		return "must not contain user information (user@host)"
	}
	if u.Opaque != "" {
		return "must be an absolute http or https URL"
	}
	if firstMacro >= 0 && firstMacro < authorityEnd(dest) {
		return "macros may only appear after the host (in the path, query or fragment)"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "has the port " + Quote(p) + ": a port is 1 to 65535"
		}
	}
	return checkHost(u.Hostname())
}

// checkHost returns what is wrong with a destination's host, or "": an IP
// address, or a domain name whose labels are not empty and, where written
// in punycode (xn--), decode to a valid internationalised label (IDNA's
// lookup profile). Other ASCII labels are taken as browsers take them
// (an underscore included).
func checkHost(host string) string {
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	// url.Parse has percent-decoded the host. A non-ASCII host written as
	// it is was converted to ASCII before this (toURI), so what is left is
	// percent-encoded: browsers decode it and apply UTS 46, which can read
	// another host than the one shown ("coursera.org%E3%80%82evil.example"
	// is coursera.org.evil.example), or a character no host holds.
	if !hostChars(host) {
		return "has the host " + Quote(host) + ", which is not a valid domain name (write a non-ASCII host as it is, not percent-encoded)"
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") { // "x.example." is fully qualified
		switch {
		case label == "":
			return "has the host " + Quote(host) + ", which has an empty label"
		case len(label) >= 4 && strings.EqualFold(label[:4], "xn--"):
			// "xn--" alone decodes to nothing, without an error here,
			// which UTS 46 (and browsers) refuse too.
			if u, err := hostProfile.ToUnicode(label); err != nil || u == "" || len(label) == 4 {
				return "has the host " + Quote(host) + ", which is not a valid domain name"
			}
		}
	}
	return ""
}

// authorityEnd is the index where scheme://host[:port] ends.
func authorityEnd(dest string) int {
	i := strings.Index(dest, "://")
	if i < 0 {
		return 0
	}
	rest := dest[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		return i + 3 + j
	}
	return len(dest)
}

// scan checks the macros of a template and returns it with each replaced
// by "x", and the index of the first macro (-1 if none).
func scan(dest string) (plain string, firstMacro int, problem string) {
	var b strings.Builder
	firstMacro = -1
	for i := 0; i < len(dest); {
		switch dest[i] {
		case '{':
			end := strings.IndexByte(dest[i:], '}')
			if end < 0 {
				return "", 0, "has a '{' without a closing '}'"
			}
			name := dest[i+1 : i+end]
			if _, ok := macroNames[name]; !ok {
				macro := "{" + name + "}"
				if len(macro) > MaxQuotedBytes || !events.PrintableText(macro) {
					macro = Quote(macro) // never an echo of a long template
				}
				return "", 0, "uses the unknown macro " + macro + "; known: {click_id}, {code}, {course_id}, {partner}"
			}
			if firstMacro < 0 {
				firstMacro = i
			}
			b.WriteByte('x')
			i += end + 1
		case '}':
			return "", 0, "has a '}' without an opening '{'"
		default:
			b.WriteByte(dest[i])
			i++
		}
	}
	return b.String(), firstMacro, ""
}

// Macro names a destination may use.
const (
	MacroClickID  = "click_id"
	MacroCode     = "code"
	MacroCourseID = "course_id"
	MacroPartner  = "partner"
)

var macroNames = map[string]struct{}{MacroClickID: {}, MacroCode: {}, MacroCourseID: {}, MacroPartner: {}}

// Values fill the macros of a destination.
type Values struct {
	ClickID, Code, CourseID, Partner string
}

// AppendExpand appends dest with its macros filled to dst. Values standing
// in the path are path-escaped; in the query or fragment, query-escaped. A
// destination that passed Validate cannot change host this way.
func AppendExpand(dst []byte, dest string, v Values) []byte {
	inQuery := false
	for i := 0; i < len(dest); {
		c := dest[i]
		if c == '?' || c == '#' {
			inQuery = true
		}
		if c != '{' {
			j := i + 1
			for j < len(dest) && dest[j] != '{' && dest[j] != '?' && dest[j] != '#' {
				j++
			}
			dst = append(dst, dest[i:j]...)
			i = j
			continue
		}
		end := strings.IndexByte(dest[i:], '}')
		if end < 0 { // not a valid template: copy the rest unchanged
			return append(dst, dest[i:]...)
		}
		var val string
		switch dest[i+1 : i+end] {
		case MacroClickID:
			val = v.ClickID
		case MacroCode:
			val = v.Code
		case MacroCourseID:
			val = v.CourseID
		case MacroPartner:
			val = v.Partner
		}
		if inQuery {
			dst = append(dst, url.QueryEscape(val)...)
		} else {
			dst = append(dst, url.PathEscape(val)...)
		}
		i += end + 1
	}
	return dst
}

// decodeHost gives dest with a percent-encoded host written as it is
// (b%C3%BCcher.example: bücher.example, which toURI then makes punycode)
// when it decodes to an internationalised name that IDNA maps to itself,
// as browsers would read it; any other percent-encoded host (one that
// maps to another, "coursera.org%E3%80%82evil.example") is left for
// checkHost to refuse.
func decodeHost(dest string) string {
	i := strings.Index(dest, "://")
	if i <= 0 || !isScheme(dest[:i]) {
		return dest
	}
	end := authorityEnd(dest)
	start := i + 3
	if at := strings.LastIndexByte(dest[start:end], '@'); at >= 0 {
		start += at + 1
	}
	hostEnd := end
	if j := strings.LastIndexByte(dest[start:end], ':'); j >= 0 && isDigits(dest[start+j+1:end]) {
		hostEnd = start + j
	}
	host := dest[start:hostEnd]
	if !strings.Contains(host, "%") || strings.HasPrefix(host, "[") {
		return dest
	}
	dec, err := url.PathUnescape(host)
	if err != nil || isASCII(dec) || !utf8.ValidString(dec) {
		return dest
	}
	ascii, err := hostProfile.ToASCII(dec)
	if err != nil || !hostChars(ascii) {
		return dest
	}
	if back, err := hostProfile.ToUnicode(ascii); err != nil || !strings.EqualFold(back, dec) {
		return dest
	}
	return dest[:start] + dec + dest[hostEnd:]
}
