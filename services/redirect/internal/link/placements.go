package link

import (
	"fmt"
	"strings"
)

// PlacementSeparators split a placement list written as text (a CSV
// column): commas, spaces or both, as in "hero, sidebar". None of them can
// be part of a placement.
const PlacementSeparators = ", \t"

// ParsePlacements splits a placement list written as text. It checks only
// the count (so a long field costs no more than MaxPlacements+1 entries);
// Validate checks each entry. "" is the empty list.
func ParsePlacements(s string) ([]string, error) {
	var out []string
	for s != "" {
		s = strings.TrimLeft(s, PlacementSeparators)
		if s == "" {
			break
		}
		end := strings.IndexAny(s, PlacementSeparators)
		if end < 0 {
			end = len(s)
		}
		if len(out) == MaxPlacements {
			return nil, fmt.Errorf("placements: more than %d", MaxPlacements)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out, nil
}

// FormatPlacements writes a list as ParsePlacements reads it.
func FormatPlacements(p []string) string { return strings.Join(p, ",") }
