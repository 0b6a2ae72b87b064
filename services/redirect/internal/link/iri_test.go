package link

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// TestNormalizedDestination: a destination written as an IRI is stored as
// the ASCII URI a Location header carries (path, query and fragment
// percent-encoded as UTF-8, a non-ASCII host as punycode); an ASCII one is
// stored byte for byte as sent; what cannot be a URI is a 422 on the
// destination.
func TestNormalizedDestination(t *testing.T) {
	tests := []struct {
		name, dest string
		want       string // the stored destination; "" = refused
		msg        string // when refused: part of the message
	}{
		{"ASCII kept", "https://www.coursera.org/learn/ml?clickid={click_id}", "https://www.coursera.org/learn/ml?clickid={click_id}", ""},
		{"ASCII kept byte for byte", "HTTPS://WWW.Example.ORG:443/a%2fb/%c3%a9?Q=%7e&x=y#F", "HTTPS://WWW.Example.ORG:443/a%2fb/%c3%a9?Q=%7e&x=y#F", ""},
		{"ASCII punycode host kept", "https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/", ""},
		{"path, query and macro", "https://x.org/kurs/é?q=ü&id={click_id}", "https://x.org/kurs/%C3%A9?q=%C3%BC&id={click_id}", ""},
		{"fragment", "https://x.org/#schön-{code}", "https://x.org/#sch%C3%B6n-{code}", ""},
		{"four-byte character", "https://x.org/🎓?c={course_id}", "https://x.org/%F0%9F%8E%93?c={course_id}", ""},
		{"no-break space encoded", "https://x.org/a\u00a0b", "https://x.org/a%C2%A0b", ""},
		{"host", "https://bücher.example/kurs", "https://xn--bcher-kva.example/kurs", ""},
		{"host without a path", "https://bücher.example", "https://xn--bcher-kva.example", ""},
		{"host upper case, port, rest", "https://BÜCHER.example:8443/é?x=ü#ß", "https://xn--bcher-kva.example:8443/%C3%A9?x=%C3%BC#%C3%9F", ""},
		{"host in Japanese", "http://例え.テスト/パス", "http://xn--r8jz45g.xn--zckzah/%E3%83%91%E3%82%B9", ""},
		{"ASCII host unchanged beside an IRI path", "https://WWW.Example.org/é", "https://WWW.Example.org/%C3%A9", ""},
		{"an underscore in a non-ASCII label, as browsers take it", "https://bü_cher.example/", "https://xn--b_cher-3ya.example/", ""},
		{"host an IDNA error", "https://xn--zz.bücher.example/", "", "internationalised domain name"},
		{"full-width slash in host", "https://evil．com／x/", "", "internationalised domain name"},
		{"full-width at sign in host", "https://coursera.org＠evil.example/", "", "internationalised domain name"},
		{"joiner in host", "https://b\u200dücher.example/", "", "internationalised domain name"},
		{"host that maps to nothing", "https://\u00ad/", "", "internationalised domain name"},
		{"user information", "https://ü@x.example/", "", "user information"},
		{"IP literal", "https://[::1ü]/", "", "not a valid URL"},
		{"scheme", "httpś://x.example/", "", "not a valid URL"},
		{"macro in a non-ASCII host", "https://{partner}.bücher.example/", "", "after the host"},
		{"not UTF-8", "https://x.org/caf\xe9", "", "UTF-8"},
		{"not UTF-8 in the host", "https://caf\xe9.example/", "", "UTF-8"},
		{"control character in the host", "https://bücher.example\x00/", "", "control characters"},
		{"too long once encoded", "https://x.org/" + strings.Repeat("é", 700), "", "percent-encoded, more than 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := valid()
			l.Destination = tt.dest
			got, err := l.Normalized()
			if tt.want == "" {
				fields := errs.FieldsOf(err)
				if errs.HTTPStatus(err) != 422 || len(fields) != 1 || fields[0].Field != "destination" || !strings.Contains(fields[0].Message, tt.msg) {
					t.Fatalf("Normalized(%q) = %q, %v; want a 422 on destination mentioning %q", tt.dest, got.Destination, err, tt.msg)
				}
				if l.Validate() == nil {
					t.Fatal("Validate passes what Normalized refuses")
				}
				return
			}
			if err != nil || got.Destination != tt.want {
				t.Fatalf("Normalized(%q) = %q, %v; want %q", tt.dest, got.Destination, err, tt.want)
			}
			if got.Code != l.Code || got.CourseID != l.CourseID || got.Title != l.Title || got.Partner != l.Partner {
				t.Fatalf("Normalized changed more than the destination: %+v", got)
			}
			if err := l.Validate(); err != nil {
				t.Fatalf("Validate = %v, Normalized passed", err)
			}
		})
	}
}

// FuzzNormalized: a destination that passes is stored as ASCII, is the
// one sent if that was ASCII, normalises to itself again, keeps an ASCII
// host as sent, and has its path, query and fragment percent-encoded
// byte by byte as sent.
func FuzzNormalized(f *testing.F) {
	for _, s := range []string{
		"https://www.coursera.org/learn/ml?clickid={click_id}",
		"https://x.org/kurs/é?q=ü&id={click_id}",
		"https://bücher.example:8443/é#ß",
		"https://ü@x.example/",
		"https://evil．com／x/",
		"https://[::1]/é",
		"https://caf\xe9.example/",
		"http://例え.テスト/パス?{course_id}",
		"https://x.example/%C3%A9é%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dest string) {
		l := valid()
		l.Destination = dest
		got, err := l.Normalized()
		if err != nil {
			if got.Destination != "" {
				t.Fatalf("refused %q, yet returned %q", dest, got.Destination)
			}
			return
		}
		out := got.Destination
		if !isASCII(out) {
			t.Fatalf("%q stored as %q: not ASCII", dest, out)
		}
		if isASCII(dest) && out != dest {
			t.Fatalf("ASCII %q stored as %q", dest, out)
		}
		again, err := got.Normalized()
		if err != nil || again.Destination != out {
			t.Fatalf("%q normalises to %q, and that to %q, %v", dest, out, again.Destination, err)
		}
		sentRest, outRest := dest[authorityEnd(dest):], out[authorityEnd(out):]
		if want := escapeHigh(sentRest); outRest != want {
			t.Fatalf("%q stored as %q: after the host %q, want %q", dest, out, outRest, want)
		}
		if sentAuth := dest[:authorityEnd(dest)]; isASCII(sentAuth) && out[:authorityEnd(out)] != sentAuth {
			t.Fatalf("%q stored as %q: an ASCII host changed", dest, out)
		}
		if _, err := url.Parse(string(AppendExpand(nil, out, Values{ClickID: "x", Code: "c", CourseID: "é", Partner: "p"}))); err != nil {
			t.Fatalf("%q stored as %q, which fills to no URL: %v", dest, out, err)
		}
	})
}

// escapeHigh is toURI's escaping written the slow way, to check it by.
func escapeHigh(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			fmt.Fprintf(&b, "%%%02X", s[i])
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
