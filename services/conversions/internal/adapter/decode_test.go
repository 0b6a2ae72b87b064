package adapter

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzPlainString holds plainString to encoding/json: for any JSON value it
// takes, the same string.
func FuzzPlainString(f *testing.F) {
	for _, s := range []string{`"A-1001"`, `"é ✓"`, `"a\"b"`, `"\u00e9"`, `"x\\"`, `12`, `""`, `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var want string
		if !utf8.ValidString(raw) || json.Unmarshal([]byte(raw), &want) != nil {
			return // strictjson refuses the body first
		}
		if got, ok := plainString(json.RawMessage(raw)); ok && got != want {
			t.Fatalf("plainString(%q) = %q, encoding/json %q", raw, got, want)
		}
	})
}
