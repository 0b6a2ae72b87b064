package link

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// toURI turns a destination template written as an IRI (RFC 3987) into the
// ASCII URI a Location header can carry (section 3.1 there): a host with
// non-ASCII characters becomes its punycode (IDNA, the lookup profile),
// and every other byte of 0x80 or more is percent-encoded as UTF-8 with
// upper-case hex. A destination that is already ASCII comes back
// unchanged, byte for byte, and so do the macros, which are ASCII. It
// returns what is wrong instead when dest is not UTF-8 or its host is no
// internationalised domain name; whether the result is a valid
// destination is checkDestination's to say.
func toURI(dest string) (uri, problem string) {
	if isASCII(dest) {
		return dest, ""
	}
	if !utf8.ValidString(dest) {
		return "", "must be UTF-8 text"
	}
	var b strings.Builder
	b.Grow(len(dest) + len(dest)/2)
	rest := dest
	// Only an http-like scheme://authority has a host to convert; anything
	// else is percent-encoded whole and refused by checkDestination.
	if i := strings.Index(dest, "://"); i > 0 && isScheme(dest[:i]) {
		b.WriteString(dest[:i+3])
		end := authorityEnd(dest)
		authority := dest[i+3 : end]
		rest = dest[end:]
		host := authority
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			appendEscaped(&b, authority[:at+1]) // user information: refused later
			host = authority[at+1:]
		}
		port := ""
		if j := strings.LastIndexByte(host, ':'); j >= 0 && isDigits(host[j+1:]) {
			host, port = host[:j], host[j:]
		}
		switch {
		case isASCII(host):
			b.WriteString(host)
		case strings.HasPrefix(host, "[") || strings.ContainsAny(host, "{}"):
			// Not a domain name (an IP literal, or a macro, which
			// checkDestination refuses in the host): no IDNA.
			appendEscaped(&b, host)
		default:
			ascii, err := hostProfile.ToASCII(host)
			if err == nil && !hostChars(ascii) {
				// Mapped into a character no host may hold ("／" to "/",
				// "＠" to "@"): a browser refuses it, and here it
				// would move the path or the host.
				err = fmt.Errorf("maps to %q", ascii)
			}
			if err != nil {
				return "", "has the host " + Quote(host) + ", which is not a valid internationalised domain name"
			}
			b.WriteString(ascii)
		}
		b.WriteString(port)
	}
	appendEscaped(&b, rest)
	return b.String(), ""
}

// ASCIIDestination is dest as a Location can carry it: unchanged when it
// is ASCII (every destination stored since IRIs are normalised), else its
// URI (toURI), or unchanged again when it cannot be converted. For links
// stored before destinations were normalised.
func ASCIIDestination(dest string) string {
	if isASCII(dest) {
		return dest
	}
	if uri, problem := toURI(dest); problem == "" {
		return uri
	}
	return dest
}

// hostProfile maps and checks a destination's host as browsers do (UTS
// 46 with the lookup mapping, as idna.Lookup) but without the rules
// browsers do not apply: an underscore, or a hyphen at a label's start or
// end or in its third and fourth places ("r3---sn-abc"), is allowed, in
// ASCII labels and beside non-ASCII ones alike.
var hostProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false),
	idna.StrictDomainName(false), idna.CheckHyphens(false))

// hostChars reports whether host, after IDNA, holds only what a domain
// name's labels hold as browsers take them: letters, digits, '-', '_'
// and the dots between labels.
func hostChars(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return host != ""
}

// appendEscaped writes s with every byte of 0x80 or more percent-encoded.
func appendEscaped(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < utf8.RuneSelf {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xF])
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isScheme reports whether s is a URI scheme: a letter, then letters,
// digits, '+', '-' or '.' (RFC 3986 section 3.1).
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
