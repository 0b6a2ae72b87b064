package httptransport_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/clickid"
)

// TestClickErrorsByAccept: a click on an unknown link answers the
// contract's JSON to an API client whose Accept prefers JSON to HTML, in
// any spelling, and an HTML page to a browser, to a client that takes
// anything, and where HTML is preferred or as good (prefersJSON).
func TestClickErrorsByAccept(t *testing.T) {
	h := handler(t)
	for _, tt := range []struct {
		accept   string
		wantJSON bool
	}{
		{"application/json", true},
		{"APPLICATION/JSON", true},
		{"application/json; charset=utf-8", true},
		{"application/json, text/html;q=0.9", true},
		{"application/*", true},
		{"application/json;q=0.1, text/html", false},
		{"text/html, application/json;q=0.9", false},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false},
		{"*/*", false},
		{"", false},
	} {
		t.Run(tt.accept, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/c/missing", nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			ct := w.Header().Get("Content-Type")
			if w.Code != http.StatusNotFound {
				t.Fatalf("status %d, want 404", w.Code)
			}
			if gotJSON := strings.HasPrefix(ct, "application/json"); gotJSON != tt.wantJSON {
				t.Fatalf("Content-Type %q for Accept %q, want JSON %v", ct, tt.accept, tt.wantJSON)
			}
			if !tt.wantJSON && !strings.Contains(w.Body.String(), "<!doctype html>") {
				t.Fatalf("body %q is not the HTML page", w.Body.String())
			}
		})
	}
}

// TestClickIDVerifies: the click id in the answer (which shares its
// string with the visitor hash) is whole and verifies with the key.
func TestClickIDVerifies(t *testing.T) {
	h := handler(t)
	req := httptest.NewRequest(http.MethodGet, "/c/c42", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	id := w.Header().Get("X-Click-Id")
	if w.Code != http.StatusFound || len(id) != clickid.Length {
		t.Fatalf("status %d, click id %q", w.Code, id)
	}
	ids, _ := clickid.NewSigner([]byte("bench-key-0123456789abcdef"))
	if err := ids.Verify(id); err != nil {
		t.Fatalf("click id %q: %v", id, err)
	}
	if loc := w.Header().Get("Location"); !strings.Contains(loc, "clickid="+id+"&") {
		t.Fatalf("Location %q does not carry the click id %q whole", loc, id)
	}
}

// TestClickPathsAroundACode: a slash after the code (a mail client or a
// CMS adds one) is the same link; any other path under /c/ is a link that
// does not exist, answered as one: the HTML page for a browser, the
// contract's JSON for an API client, never the router's JSON to a browser.
func TestClickPathsAroundACode(t *testing.T) {
	h := handler(t)
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/c/c42", http.StatusFound},
		{"/c/c42/", http.StatusFound},
		{"/c/", http.StatusNotFound},
		{"/c", http.StatusNotFound},
		{"/c/c42/more", http.StatusNotFound},
		{"/c/missing/", http.StatusNotFound},
	} {
		for _, accept := range []string{"text/html", "application/json"} {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.Header.Set("Accept", accept)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tt.status {
				t.Fatalf("%s (%s): %d, want %d", tt.path, accept, w.Code, tt.status)
			}
			if tt.status != http.StatusNotFound {
				continue
			}
			ct, body := w.Header().Get("Content-Type"), w.Body.String()
			if accept == "text/html" && (!strings.HasPrefix(ct, "text/html") || !strings.Contains(body, "Link not found")) ||
				accept == "application/json" && !strings.Contains(body, `"code":"link_not_found"`) {
				t.Fatalf("%s (%s): %s %q", tt.path, accept, ct, body)
			}
		}
	}
}
