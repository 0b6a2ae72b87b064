package link

import (
	"strconv"
	"unicode/utf8"
)

// MaxQuotedBytes is how much of a value an error message quotes: enough to
// find the value, never an echo of a large one.
const MaxQuotedBytes = 32

// Quote quotes s for an error message, cut to MaxQuotedBytes (on a whole
// character) with "..." after the quote when it was longer. Invalid UTF-8
// and control characters come out escaped.
func Quote(s string) string {
	if len(s) <= MaxQuotedBytes {
		return strconv.Quote(s)
	}
	cut := MaxQuotedBytes
	for i := 0; i < utf8.UTFMax-1 && !utf8.RuneStart(s[cut]); i++ {
		cut-- // not half a character (invalid bytes are cut anywhere)
	}
	return strconv.Quote(s[:cut]) + "..."
}
