package link

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

func valid() Link {
	return Link{Code: "ml-101", Partner: "coursera", CourseID: "ml-101", Title: "Machine Learning",
		Destination: "https://www.coursera.org/learn/ml?clickid={click_id}", Active: true}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		mut   func(*Link)
		field string // "" = valid
		msg   string
	}{
		{"valid", func(*Link) {}, "", ""},
		{"all macros", func(l *Link) { l.Destination = "https://x.example/{partner}/{course_id}?c={code}&id={click_id}#{code}" }, "", ""},
		{"http ok", func(l *Link) { l.Destination = "http://x.example/" }, "", ""},
		{"host with port", func(l *Link) { l.Destination = "https://x.example:8443/p?id={click_id}" }, "", ""},
		{"64-char code", func(l *Link) { l.Code = strings.Repeat("a", 64) }, "", ""},
		{"empty code", func(l *Link) { l.Code = "" }, "code", "1 to 64"},
		{"long code", func(l *Link) { l.Code = strings.Repeat("a", 65) }, "code", "1 to 64"},
		{"code with slash", func(l *Link) { l.Code = "a/b" }, "code", "A-Z"},
		{"code with dot", func(l *Link) { l.Code = "a.b" }, "code", "A-Z"},
		{"no partner", func(l *Link) { l.Partner = "" }, "partner", "required"},
		{"upper partner", func(l *Link) { l.Partner = "Coursera" }, "partner", "lower-case"},
		{"no course", func(l *Link) { l.CourseID = " " }, "course_id", "required"},
		{"control in course", func(l *Link) { l.CourseID = "a\nb" }, "course_id", "printable"},
		{"long title", func(l *Link) { l.Title = strings.Repeat("t", 301) }, "title", "at most"},
		{"no destination", func(l *Link) { l.Destination = "" }, "destination", "required"},
		{"relative", func(l *Link) { l.Destination = "/learn/ml" }, "destination", "absolute"},
		{"ftp", func(l *Link) { l.Destination = "ftp://x.example/" }, "destination", "http or https"},
		{"javascript", func(l *Link) { l.Destination = "javascript:alert(1)" }, "destination", "http or https"},
		{"no host", func(l *Link) { l.Destination = "https:///path" }, "destination", "host"},
		{"userinfo", func(l *Link) { l.Destination = "https://coursera.org@evil.example/" }, "destination", "user information"},
		{"port 65535", func(l *Link) { l.Destination = "https://x.example:65535/" }, "", ""},
		{"port 99999", func(l *Link) { l.Destination = "https://x.example:99999/" }, "destination", "1 to 65535"},
		{"port 0", func(l *Link) { l.Destination = "https://x.example:0/" }, "destination", "1 to 65535"},
		{"IPv4 host", func(l *Link) { l.Destination = "http://203.0.113.7:8080/p" }, "", ""},
		{"IPv6 host", func(l *Link) { l.Destination = "http://[2001:db8::1]/p" }, "", ""},
		{"a name that ends in a dot", func(l *Link) { l.Destination = "https://x.example./" }, "", ""},
		{"an underscore in a label", func(l *Link) { l.Destination = "https://my_site.example/" }, "", ""},
		{"valid punycode", func(l *Link) { l.Destination = "https://xn--bcher-kva.example/" }, "", ""},
		{"bad punycode", func(l *Link) { l.Destination = "https://xn--zz.example/" }, "destination", "not a valid domain name"},
		{"empty punycode", func(l *Link) { l.Destination = "https://xn--.example/" }, "destination", "not a valid domain name"},
		{"an underscore beside a non-ASCII label", func(l *Link) { l.Destination = "https://my_shop.bücher.example/" }, "", ""},
		{"hyphens in places 3 and 4 beside a non-ASCII label", func(l *Link) { l.Destination = "https://r3---sn-abc.bücher.example/" }, "", ""},
		{"a leading hyphen beside a non-ASCII label", func(l *Link) { l.Destination = "https://-lead.bücher.example/" }, "", ""},
		{"empty label", func(l *Link) { l.Destination = "https://ex_ample..com/" }, "destination", "empty label"},
		// Percent-encoded, a host escapes the IRI checks (a security review
		// found these accepted): browsers decode it, then map it.
		{"percent-encoded ideographic full stop", func(l *Link) { l.Destination = "https://coursera.org%E3%80%82evil.example/" }, "destination", "not percent-encoded"},
		{"percent-encoded full-width full stop", func(l *Link) { l.Destination = "https://coursera.org%EF%BC%8Eevil.example/" }, "destination", "not percent-encoded"},
		{"percent-encoded full-width slash", func(l *Link) { l.Destination = "https://coursera.org%EF%BC%8Fevil.example/" }, "destination", "not a valid domain name"},
		{"percent-encoded full-width at sign", func(l *Link) { l.Destination = "https://coursera.org%EF%BC%A0evil.example/" }, "destination", "not a valid domain name"},
		{"percent-encoded percent sign", func(l *Link) { l.Destination = "https://coursera.org%25evil.example/" }, "destination", "not a valid domain name"},
		{"percent-encoded ASCII letter", func(l *Link) { l.Destination = "https://coursera.%6Frg/" }, "destination", "not a valid URL"},
		{"a character hosts forbid", func(l *Link) { l.Destination = "https://good.example<evil.example/" }, "destination", "not a valid domain name"},
		{"leading dot", func(l *Link) { l.Destination = "https://.example/" }, "destination", "empty label"},
		{"macro in host", func(l *Link) { l.Destination = "https://{partner}.example/" }, "destination", "after the host"},
		{"macro as host", func(l *Link) { l.Destination = "https://{code}/x" }, "destination", "after the host"},
		{"unknown macro", func(l *Link) { l.Destination = "https://x.example/?u={user}" }, "destination", "unknown macro {user}"},
		{"unclosed", func(l *Link) { l.Destination = "https://x.example/?u={click_id" }, "destination", "without a closing"},
		{"stray close", func(l *Link) { l.Destination = "https://x.example/?u=}" }, "destination", "without an opening"},
		{"space", func(l *Link) { l.Destination = "https://x.example/a b" }, "destination", "spaces"},
		{"too long", func(l *Link) { l.Destination = "https://x.example/" + strings.Repeat("a", 2048) }, "destination", "2048"},
		{"filled too long", func(l *Link) {
			l.CourseID = strings.Repeat("é", 64) // 128 bytes, 384 query-escaped
			l.Destination = "https://x.example/?" + strings.Repeat("{course_id}", 180)
		}, "destination", "macros filled"},
		{"filled at the limit", func(l *Link) {
			l.CourseID = strings.Repeat("c", 128)
			l.Destination = "https://x.example/" + strings.Repeat("{course_id}", 63) // 19 + 63*128 = 8083 bytes
		}, "", ""},
		{"placements", func(l *Link) {
			l.Placements = []string{"hero", "sidebar", "Footer_2", "a.b~c-d", strings.Repeat("p", 64)}
		}, "", ""},
		{"no placements", func(l *Link) { l.Placements = []string{} }, "", ""},
		{"32 placements", func(l *Link) { l.Placements = numbered(32) }, "", ""},
		{"33 placements", func(l *Link) { l.Placements = numbered(33) }, "placements", "more than 32"},
		{"empty placement", func(l *Link) { l.Placements = []string{"hero", ""} }, "placements", "entry 2"},
		{"long placement", func(l *Link) { l.Placements = []string{strings.Repeat("p", 65)} }, "placements", "1 to 64"},
		{"placement with space", func(l *Link) { l.Placements = []string{"a b"} }, "placements", "entry 1"},
		{"binary placement", func(l *Link) { l.Placements = []string{"\xff\x00"} }, "placements", "entry 1"},
		{"repeated placement", func(l *Link) { l.Placements = []string{"hero", "side", "hero"} }, "placements", "entry 3 repeats"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := valid()
			tt.mut(&l)
			err := l.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if errs.HTTPStatus(err) != 422 {
				t.Fatalf("Validate = %v, want a 422", err)
			}
			fields := errs.FieldsOf(err)
			if len(fields) != 1 || fields[0].Field != tt.field || !strings.Contains(fields[0].Message, tt.msg) {
				t.Fatalf("fields = %+v, want one on %s mentioning %q", fields, tt.field, tt.msg)
			}
		})
	}
}

func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("p%d", i)
	}
	return out
}

func TestValidateReportsEveryBadField(t *testing.T) {
	err := Link{Code: "bad code", Destination: "nope"}.Validate()
	if got := len(errs.FieldsOf(err)); got != 4 {
		t.Fatalf("%d field errors (%v), want 4: code, partner, course_id, destination", got, err)
	}
}

func TestAppendExpand(t *testing.T) {
	v := Values{ClickID: "01ABC", Code: "ml-101", CourseID: "ml 101/é&x=1", Partner: "coursera"}
	tests := []struct{ dest, want string }{
		{"https://x.example/learn?clickid={click_id}", "https://x.example/learn?clickid=01ABC"},
		{"https://x.example/{course_id}?c={course_id}", "https://x.example/ml%20101%2F%C3%A9&x=1?c=ml+101%2F%C3%A9%26x%3D1"},
		{"https://x.example/p#frag={code}", "https://x.example/p#frag=ml-101"},
		{"https://x.example/{partner}/{code}", "https://x.example/coursera/ml-101"},
		{"https://x.example/plain", "https://x.example/plain"},
	}
	for _, tt := range tests {
		if got := string(AppendExpand(nil, tt.dest, v)); got != tt.want {
			t.Errorf("expand %q = %q, want %q", tt.dest, got, tt.want)
		}
	}
}

// FuzzExpand: for any valid destination and any values, the filled URL
// parses and keeps the destination's scheme and host.
func FuzzExpand(f *testing.F) {
	f.Add("https://www.coursera.org/learn/ml?clickid={click_id}", "a/b?c#d", "x")
	f.Add("https://x.example/{course_id}#{code}", "../../evil", "@evil.example")
	f.Add("http://x.example:80/{partner}", "%2F", "\x00")
	f.Add("https://bücher.example/kurs/é?q=ü&id={click_id}#ß", "ü", "é")
	f.Fuzz(func(t *testing.T, dest, v1, v2 string) {
		l := valid()
		l.Destination = dest
		l, err := l.Normalized()
		if err != nil {
			return
		}
		dest = l.Destination // as stored, and as a click fills it
		out := string(AppendExpand(nil, dest, Values{ClickID: v1, Code: v2, CourseID: v1 + v2, Partner: v2}))
		if !isASCII(out) {
			t.Fatalf("filling %q gave %q, not ASCII", dest, out)
		}
		plain, _, _ := scan(dest)
		want, _ := url.Parse(plain)
		got, err := url.Parse(out)
		if err != nil {
			t.Fatalf("filled %q does not parse: %v", out, err)
		}
		if got.Scheme != want.Scheme || got.Host != want.Host || got.User != nil {
			t.Fatalf("filling %q gave %q: host %q, want %q", dest, out, got.Host, want.Host)
		}
	})
}

func FuzzValidCode(f *testing.F) {
	for _, s := range []string{"ml-101", "", "a/b", strings.Repeat("x", 65), "ÄÖ", "A_b-9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := ValidCode(s)
		want := len(s) >= 1 && len(s) <= 64 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == ""
		if ok != want {
			t.Fatalf("ValidCode(%q) = %v, want %v", s, ok, want)
		}
	})
}
