package dashboard_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/services/reporting/internal/dashboard"
)

// TestFavicon: browsers logged "404 /favicon.ico" on every visit. The
// icon is public (no sign-in), cacheable, under the pages' security
// headers, and every page links to it.
func TestFavicon(t *testing.T) {
	rt := httpx.NewRouter()
	dashboard.Register(rt, nil, dashboard.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for _, tt := range []struct{ method, path string }{
		{"GET", "/favicon.svg"}, {"GET", "/favicon.ico"}, {"HEAD", "/favicon.svg"}, {"HEAD", "/favicon.ico"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			rt.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
			h := w.Result().Header
			if w.Code != http.StatusOK || h.Get("Content-Type") != "image/svg+xml" {
				t.Fatalf("%d %s, want 200 image/svg+xml", w.Code, h.Get("Content-Type"))
			}
			if cc := h.Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=") {
				t.Errorf("Cache-Control %q, want public and cacheable", cc)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("headers %v, want the pages' security headers", h)
			}
			if body := w.Body.String(); tt.method == "GET" && (!strings.HasPrefix(body, "<svg ") || strings.Contains(body, "<script")) {
				t.Errorf("body %q, want a plain SVG icon", body)
			}
		})
	}
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, httptest.NewRequest("GET", "/login", nil))
	if !strings.Contains(w.Body.String(), `<link rel="icon" href="/favicon.svg" type="image/svg+xml">`) {
		t.Errorf("the sign-in page does not link the icon:\n%s", w.Body.String())
	}
}
