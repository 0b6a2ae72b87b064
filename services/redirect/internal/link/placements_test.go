package link

import (
	"slices"
	"strings"
	"testing"
)

func TestParsePlacements(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"", nil, false},
		{" , ,\t", nil, false},
		{"hero", []string{"hero"}, false},
		{"hero,sidebar", []string{"hero", "sidebar"}, false},
		{"hero, sidebar  footer,", []string{"hero", "sidebar", "footer"}, false},
		{"a;b", []string{"a;b"}, false}, // not a separator: Validate refuses the entry
		{strings.Repeat("p,", 32), slices.Repeat([]string{"p"}, 32), false},
		{strings.Repeat("p,", 33), nil, true},
		{strings.Repeat("p ", 20000), nil, true},
	}
	for _, tt := range tests {
		got, err := ParsePlacements(tt.in)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("ParsePlacements(%.40q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// FuzzParsePlacements: any text parses to at most MaxPlacements non-empty
// entries without a separator in them, or to an error; a list formats and
// parses back to itself.
func FuzzParsePlacements(f *testing.F) {
	for _, s := range []string{"", "hero", "hero, sidebar", ",,a,,b ", "\xff\x00,x", strings.Repeat("a,", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParsePlacements(s)
		if err != nil {
			if got != nil {
				t.Fatalf("error %v with entries %q", err, got)
			}
			return
		}
		if len(got) > MaxPlacements {
			t.Fatalf("%d entries from %q", len(got), s)
		}
		for _, p := range got {
			if p == "" || strings.ContainsAny(p, PlacementSeparators) {
				t.Fatalf("entry %q from %q", p, s)
			}
		}
		again, err := ParsePlacements(FormatPlacements(got))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("%q formats as %q and parses back as %q, %v", got, FormatPlacements(got), again, err)
		}
	})
}
