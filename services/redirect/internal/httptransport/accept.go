package httptransport

import "strings"

// maxAcceptRanges bounds the list elements prefersJSON reads (net/http
// already bounds the header's size), so its work is bounded however the
// header is made; elements past it are ignored. Browsers send fewer than
// ten.
const maxAcceptRanges = 32

// prefersJSON reports whether the Accept field lines of a request ask for
// JSON rather than HTML: whether the best q-value of the ranges matching
// application/json (application/json, application/*) is above 0 and above
// that of the ranges matching text/html (text/html, text/*, */*). Within
// each side the most specific matching range gives the q-value, as in RFC
// 9110 section 12.5.1 (several ranges equally specific: the highest q).
// Media types compare case-insensitively (ASCII); parameters other than q are
// ignored, and a range with a q that is not a qvalue is ignored whole.
// A tie is HTML (no Accept, "*/*", every browser's header, and
// "text/html, application/json"), but for application/json named itself
// against HTML reached only through a wildcard: an API client's
// "application/json, text/plain, */*" asks for JSON.
func prefersJSON(accept []string) bool {
	json, html := preference{specificity: -1}, preference{specificity: -1}
	n := 0
	for _, line := range accept {
		for ; line != "" && n < maxAcceptRanges; n++ {
			var r string
			r, line = cut(line, ',')
			typ, params, _ := strings.Cut(r, ";")
			typ = strings.Trim(typ, " \t")
			q, ok := qvalue(params)
			if !ok {
				continue
			}
			main, sub, _ := strings.Cut(typ, "/")
			switch {
			case equalFold(main, "application") && equalFold(sub, "json"):
				json.see(2, q)
			case equalFold(main, "application") && sub == "*":
				json.see(1, q)
			case equalFold(main, "text") && equalFold(sub, "html"):
				html.see(2, q)
			case equalFold(main, "text") && sub == "*":
				html.see(1, q)
			case main == "*" && sub == "*":
				html.see(0, q)
			}
		}
	}
	if json.q > 0 && json.q == html.q {
		return json.specificity == 2 && html.specificity < 2
	}
	return json.q > 0 && json.q > html.q
}

// equalFold compares ASCII case-insensitively, as media types and
// parameter names compare: strings.EqualFold would also match "ſ" to "s".
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// preference is the q-value (in thousandths) of the most specific ranges
// seen that match one media type: 2 the type itself, 1 type/*, 0 */*;
// -1 and q 0 while none has.
type preference struct {
	specificity, q int
}

func (p *preference) see(specificity, q int) {
	switch {
	case specificity > p.specificity:
		*p = preference{specificity, q}
	case specificity == p.specificity && q > p.q:
		p.q = q
	}
}

// cut cuts the first element off a list separated by sep (',' between
// media ranges, ';' between parameters), minding quoted strings: a
// parameter value may hold either.
func cut(s string, sep byte) (first, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// qvalue reads the q parameter of a media range's parameters (";a=b;q=0.5"),
// in thousandths: 1000 when there is none; ok false when it is not a
// qvalue ("0" to "1" with at most three decimals, RFC 9110 section 12.4.2).
func qvalue(params string) (q int, ok bool) {
	for params != "" {
		var p string
		p, params = cut(params, ';')
		name, value, _ := strings.Cut(p, "=")
		if !equalFold(strings.Trim(name, " \t"), "q") {
			continue
		}
		return parseQ(strings.Trim(value, " \t"))
	}
	return 1000, true
}

// parseQ reads a qvalue: "0" or "1", optionally with "." and up to three
// digits ("1" only with zeros).
func parseQ(s string) (int, bool) {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	whole := int(s[0]-'0') * 1000
	s = s[1:]
	if s == "" {
		return whole, true
	}
	if s[0] != '.' || len(s) > 4 {
		return 0, false
	}
	frac := 0
	for i, scale := 1, 100; i < len(s); i, scale = i+1, scale/10 {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		frac += int(c-'0') * scale
	}
	if whole == 1000 && frac != 0 {
		return 0, false
	}
	return whole + frac, true
}

// mayPreferJSON is the click's cheap test before prefersJSON: JSON can be
// preferred only when a range names application/json or application/*,
// so a header without "application/j" or "application/*" (any case) is
// HTML without being parsed. Browsers' headers name application/xml and
// the like, and cost a few comparisons.
func mayPreferJSON(accept []string) bool {
	const prefix = "application/"
	for _, s := range accept {
		for i := strings.IndexByte(s, '/'); i >= 0; {
			if i >= len(prefix)-1 && i+1 < len(s) && equalFold(s[i+1-len(prefix):i+1], prefix) {
				if c := s[i+1]; c == 'j' || c == 'J' || c == '*' {
					return true
				}
			}
			j := strings.IndexByte(s[i+1:], '/')
			if j < 0 {
				break
			}
			i += 1 + j
		}
	}
	return false
}
