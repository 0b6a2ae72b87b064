package httptransport

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/services/reporting/internal/reporting"
)

// The journal's actor is the same whatever case the client spells the
// auth-scheme in (RFC 9110 §11.1), and never takes the scheme for the token.
func TestWithActor(t *testing.T) {
	const admin, fin = "admin-secret-0123456789abcdefghij", "fin-token-0123456789abcdefghijklm"
	tokens, err := httpx.ParseTokens(admin, fin+":finance")
	if err != nil {
		t.Fatal(err)
	}
	fingerprint := func(token string) string {
		sum := sha256.Sum256([]byte(token))
		return hex.EncodeToString(sum[:8])
	}
	tests := []struct {
		header string
		want   string
	}{
		{"Bearer " + admin, "admin:" + fingerprint(admin)},
		{"bearer " + admin, "admin:" + fingerprint(admin)},
		{"BEARER  " + admin, "admin:" + fingerprint(admin)},
		{"Bearer " + fin, "finance:" + fingerprint(fin)},
		{"bearer " + fin, "finance:" + fingerprint(fin)},
		{"", "finance"},
		{"Basic " + fin, "finance"},
	}
	for _, tt := range tests {
		var got string
		h := withActor(tokens, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			got = reporting.ActorOf(r.Context())
		}))
		r := httptest.NewRequest("GET", "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != tt.want {
			t.Errorf("%q: actor %q, want %q", tt.header, got, tt.want)
		}
	}
}
