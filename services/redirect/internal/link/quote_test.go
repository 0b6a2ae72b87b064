package link

import (
	"strconv"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"colour", `"colour"`},
		{strings.Repeat("a", 32), `"` + strings.Repeat("a", 32) + `"`},
		{strings.Repeat("a", 33), `"` + strings.Repeat("a", 32) + `"...`},
		{strings.Repeat("a", 31) + "é" + "x", `"` + strings.Repeat("a", 31) + `"...`}, // not half a character
		{"a\x00\xff\n", `"a\x00\xff\n"`},
		{strings.Repeat("\x80", 40), `"` + strings.Repeat(`\x80`, 29) + `"...`},
		{strings.Repeat("\xff", 1<<20), `"` + strings.Repeat(`\xff`, 32) + `"...`},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%.40q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// FuzzQuote: a quote is short, unquotes to a prefix of its input, and
// says when it cut.
func FuzzQuote(f *testing.F) {
	f.Add("colour")
	f.Add(strings.Repeat("é", 40))
	f.Add("\x00\xff\n\"")
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		body, cut := strings.CutSuffix(q, "...")
		prefix, err := strconv.Unquote(body)
		if err != nil || !strings.HasPrefix(s, prefix) || len(prefix) > MaxQuotedBytes || cut != (len(prefix) < len(s)) {
			t.Fatalf("Quote(%q) = %s", s, q)
		}
		if len(q) > 4*MaxQuotedBytes+5 {
			t.Fatalf("Quote(%q) is %d bytes", s, len(q))
		}
	})
}
