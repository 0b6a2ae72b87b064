package httptransport

import (
	"strings"
	"testing"
)

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"

func TestPrefersJSON(t *testing.T) {
	tests := []struct {
		name   string
		accept []string // the Accept field lines; nil: none
		want   bool
	}{
		{"none", nil, false},
		{"empty", []string{""}, false},
		{"JSON", []string{"application/json"}, true},
		{"JSON in capitals", []string{"APPLICATION/JSON"}, true},
		{"JSON in mixed case", []string{"Application/Json"}, true},
		{"JSON with a charset", []string{"application/json; charset=utf-8"}, true},
		{"JSON with spaces", []string{" application/json ; q=1 "}, true},
		{"JSON low, HTML", []string{"application/json;q=0.1, text/html"}, false},
		{"JSON, HTML lower", []string{"application/json, text/html;q=0.9"}, true},
		{"HTML, JSON lower", []string{"text/html, application/json;q=0.9"}, false},
		{"JSON and HTML equal", []string{"application/json, text/html"}, false},
		{"anything", []string{"*/*"}, false},
		{"browser", []string{browserAccept}, false},
		{"old browser", []string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, false},
		{"application/*", []string{"application/*"}, true},
		{"application/* and HTML", []string{"application/*, text/html"}, false},
		{"application/* over text/*", []string{"application/*, text/*;q=0.5"}, true},
		{"JSON named, anything equal", []string{"application/json, */*"}, true},
		{"an API client's default", []string{"application/json, text/plain, */*"}, true},
		{"anything, JSON named equal", []string{"*/*, application/json"}, true},
		{"application/* and anything equal", []string{"application/*, */*"}, false},
		{"JSON and text/* equal", []string{"application/json, text/*"}, true},
		{"JSON over anything", []string{"application/json, */*;q=0.8"}, true},
		{"JSON refused", []string{"application/json;q=0"}, false},
		{"JSON refused, application/* not", []string{"application/json;q=0, application/*"}, false},
		{"exact beats wildcard for JSON", []string{"application/*;q=0.2, application/json;q=0.9, text/html;q=0.5"}, true},
		{"exact beats wildcard for HTML", []string{"*/*, text/html;q=0.1, application/json;q=0.5"}, true},
		{"text/html refused, text/* not", []string{"text/*, text/html;q=0, application/json;q=0.5"}, true},
		{"highest of equals", []string{"application/json;q=0.2, application/json;q=0.8, text/html;q=0.5"}, true},
		{"two field lines", []string{"text/html;q=0.5", "application/json"}, true},
		{"JSON only on the second line", []string{"image/png", "APPLICATION/JSON"}, true},
		{"q in capitals", []string{"application/json;Q=0.1, text/html;q=0.05"}, true},
		{"q with three decimals", []string{"application/json;q=0.501, text/html;q=0.5"}, true},
		{"q=1.000", []string{"application/json;q=1.000, text/html;q=0.999"}, true},
		{"q over 1 ignored", []string{"application/json;q=2"}, false},
		{"q=1.5 ignored", []string{"application/json;q=1.5"}, false},
		{"q with four decimals ignored", []string{"application/json;q=0.5001"}, false},
		{"q not a number ignored", []string{"application/json;q=high"}, false},
		{"empty q ignored", []string{"application/json;q="}, false},
		{"bad q ignored, others count", []string{"text/html;q=x, application/json;q=0.5"}, true},
		{"parameter before q", []string{"application/json;v=2;q=0.9, text/html;q=0.8"}, true},
		{"quoted comma in a parameter", []string{`text/html;x="a,application/json", image/png`}, false},
		{"quoted semicolon hides no q", []string{`application/json;x="b;q=0", text/html;q=0.5`}, true},
		{"empty elements", []string{",, ,application/json,,"}, true},
		{"JSON suffix is not JSON", []string{"application/problem+json"}, false},
		{"subtype prefix is not JSON", []string{"application/jsonx"}, false},
		{"no slash", []string{"json"}, false},
		{"only ASCII folds", []string{"application/j\u017fon"}, false},
		{"past 32 ranges", []string{strings.Repeat("image/png,", 32) + "application/json"}, false},
		{"at 32 ranges", []string{strings.Repeat("image/png,", 31) + "application/json"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := prefersJSON(tt.accept); got != tt.want {
				t.Fatalf("prefersJSON(%q) = %v, want %v", tt.accept, got, tt.want)
			}
			if tt.want && !mayPreferJSON(tt.accept) {
				t.Fatalf("mayPreferJSON(%q) = false, yet JSON is preferred", tt.accept)
			}
		})
	}
}

func TestMayPreferJSON(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"", false},
		{browserAccept, false},
		{"*/*", false},
		{"text/html", false},
		{"application/xml", false},
		{"application/json", true},
		{"APPLICATION/JSON", true},
		{"application/*", true},
		{"image/png, Application/Json;q=0.1", true},
		{"applicationjson", false},
		{"text/json", false},
		{"application/", false},
		{"xapplication/json", true}, // a false positive costs only the parse
	}
	for _, tt := range tests {
		if got := mayPreferJSON([]string{tt.accept}); got != tt.want {
			t.Errorf("mayPreferJSON(%q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

// FuzzPrefersJSON: any header is read without panicking, mayPreferJSON
// never misses one that prefers JSON, and the answer does not depend on
// whether the ranges come in one field line or the same ones in two.
func FuzzPrefersJSON(f *testing.F) {
	for _, s := range []string{"", "application/json", "APPLICATION/JSON;q=0.1, text/html", browserAccept, `a/b;x="\",q=1", application/*;q=0.5`,
		"application/json;q=1.0001", "*/*;q=0.8, application/json;q=0.9", ",,,", strings.Repeat("a/b,", 40) + "application/json"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		got := prefersJSON([]string{accept})
		if got && !mayPreferJSON([]string{accept}) {
			t.Fatalf("mayPreferJSON(%q) = false, yet prefersJSON is true", accept)
		}
		// Split at a comma outside quotes: two lines read as one list.
		if first, rest := cut(accept, ','); rest != "" {
			if split := prefersJSON([]string{first, rest}); split != got {
				t.Fatalf("prefersJSON(%q) = %v, but %v as the lines %q and %q", accept, got, split, first, rest)
			}
		}
	})
}

// BenchmarkRememberAcceptBrowser is the hot path's cost of the JSON test:
// a browser's Accept, which is never parsed.
func BenchmarkRememberAcceptBrowser(b *testing.B) {
	accept := []string{browserAccept}
	b.ReportAllocs()
	for b.Loop() {
		if mayPreferJSON(accept) && prefersJSON(accept) {
			b.Fatal("a browser prefers JSON")
		}
	}
}

// BenchmarkContainsBrowser is the test this replaced, for comparison.
func BenchmarkContainsBrowser(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if strings.Contains(browserAccept, "application/json") {
			b.Fatal("a browser prefers JSON")
		}
	}
}
