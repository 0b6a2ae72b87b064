package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/reporting/internal/dashboard"
	"github.com/linkcredit/linkcredit/services/reporting/internal/session"
)

// noRedirects sees a sign-in's 303 and its cookie itself.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// withCookie sends a request as a browser would: a cookie (nil: none),
// no bearer token, the page's own Origin on a POST.
func (s *stack) withCookie(t *testing.T, method, path, form string, cookie *http.Cookie, headers ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, s.p.Base+path, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if method == http.MethodPost {
		req.Header.Set("Origin", s.p.Base)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	r, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, string(b), r.Header}
}

// The running service's sessions: signing in with ADMIN_TOKEN gives a
// finance-only session cookie that opens the dashboard and nothing else
// (no finance API route, no admin route takes a cookie); a cross-origin
// sign-in is refused; sign-out revokes the session.
func TestDashboardSessionsAtInstant(t *testing.T) {
	t.Parallel()
	s := setup(t, testkit.Now(t))
	if r := s.withCookie(t, "POST", "/login", url.Values{"token": {token}}.Encode(), nil, "Origin", "https://evil.example"); r.status != 403 ||
		!strings.Contains(r.body, `"code":"cross_origin"`) {
		t.Fatalf("cross-origin sign-in = %d %s", r.status, r.body)
	}
	r := s.withCookie(t, "POST", "/login", url.Values{"token": {token}}.Encode(), nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("sign in = %d %s", r.status, r.body)
	}
	cookies := (&http.Response{Header: r.header}).Cookies()
	if len(cookies) != 2 || cookies[0].Name != dashboard.CookieName || !cookies[0].Secure ||
		cookies[1].Name != dashboard.LoopbackCookieName || cookies[1].Value != cookies[0].Value || strings.Contains(cookies[0].Value, token) {
		t.Fatalf("sign-in cookies %v", cookies)
	}
	ck := &http.Cookie{Name: cookies[0].Name, Value: cookies[0].Value}
	if _, ok := session.ParseID(ck.Value); !ok {
		t.Fatalf("cookie %q is not a session id", ck.Value)
	}
	page := s.withCookie(t, "GET", "/", "", ck)
	if page.status != 200 || !strings.Contains(page.body, "How purchases fund the catalog") {
		t.Fatalf("dashboard with the session = %d", page.status)
	}
	// A session is not a token: the API routes, finance or admin, want
	// Authorization and answer 401 to the cookie alone.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/reports/commissions?" + s.month(), ""},
		{"GET", "/v1/fx-rates", ""},
		{"PUT", "/v1/fx-rates", `[]`},
		{"POST", "/v1/payouts/remittances", `{}`},
		{"GET", "/v1/periods", ""},
		{"PUT", "/v1/periods/2026-01", `{"status":"open"}`},
	} {
		if r := s.withCookie(t, c.method, c.path, c.body, ck, "Accept", "application/json"); r.status != 401 {
			t.Errorf("%s %s with the session cookie = %d, want 401", c.method, c.path, r.status)
		}
	}
	csrf := page.body[strings.Index(page.body, `name="csrf" value="`)+len(`name="csrf" value="`):]
	csrf = csrf[:strings.IndexByte(csrf, '"')]
	if r := s.withCookie(t, "POST", "/logout", "csrf="+csrf, ck, "Origin", "null"); r.status != 403 {
		t.Fatalf("cross-origin sign-out = %d", r.status)
	}
	if r := s.withCookie(t, "POST", "/logout", "csrf="+csrf, ck); r.status != http.StatusSeeOther {
		t.Fatalf("sign out = %d %s", r.status, r.body)
	}
	if r := s.withCookie(t, "GET", "/", "", ck); r.status != 401 {
		t.Fatalf("the cookie after sign-out = %d, want 401", r.status)
	}
}
