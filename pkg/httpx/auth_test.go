package httpx

import (
	"strings"
	"testing"
)

// The contract's minimum is 32 characters: a token's length is counted in
// characters, and a token that is not UTF-8 has none to count.
func TestParseTokensCountsCharacters(t *testing.T) {
	const scopes = ":finance"
	for _, tt := range []struct {
		name  string
		token string
		says  string // "" accepted
	}{
		{"ASCII, 31", strings.Repeat("a", 31), "must be at least 32 characters"},
		{"ASCII, 32", strings.Repeat("a", 32), ""},
		{"ASCII, 33", strings.Repeat("a", 33), ""},
		{"16 é: 32 bytes, 16 characters", strings.Repeat("é", 16), "must be at least 32 characters"},
		{"31 é: 62 bytes, 31 characters", strings.Repeat("é", 31), "must be at least 32 characters"},
		{"32 é", strings.Repeat("é", 32), ""},
		{"8 emoji: 32 bytes, 8 characters", strings.Repeat("🔑", 8), "must be at least 32 characters"},
		{"31 ASCII and an é", strings.Repeat("a", 31) + "é", ""},
		{"invalid UTF-8, 32 bytes", strings.Repeat("\xff", 32), "must be valid UTF-8"},
		{"a cut é among 40 characters", strings.Repeat("a", 40) + "\xc3", "must be valid UTF-8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct{ admin, spec, names string }{
				{tt.token, "", "ADMIN_TOKEN "},
				{"", tt.token + scopes, "API_TOKENS entry 1: a token "},
			} {
				tokens, err := ParseTokens(c.admin, c.spec)
				if tt.says == "" {
					if err != nil || tokens.scopes(tt.token) == nil {
						t.Fatalf("ParseTokens(%q, %q) = %v, want it accepted", c.admin, c.spec, err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), c.names+tt.says) {
					t.Fatalf("ParseTokens(%q, %q) = %v, want an error saying %q", c.admin, c.spec, err, c.names+tt.says)
				}
				if strings.Contains(err.Error(), tt.token) {
					t.Fatalf("the error repeats the token: %v", err)
				}
			}
		})
	}
}
