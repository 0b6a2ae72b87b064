package httpx

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) ErrorDetail {
	t.Helper()
	var body ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q is not the contract's JSON: %v", rec.Body.String(), err)
	}
	if rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("Content-Type = %q", rec.Header().Get("Content-Type"))
	}
	return body.Error
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		err        error
		status     int
		code       string
		retryAfter bool
	}{
		{errs.New(errs.Unprocessable, "invalid_destination", "destination must be https"), 422, "invalid_destination", false},
		{errs.New(errs.Unavailable, "", "database down"), 503, "unavailable", true},
		{errs.New(errs.RateLimited, "", "slow down"), 429, "rate_limited", true},
		{errors.New("pq: secret detail"), 500, "internal", false},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		WriteError(rec, httptest.NewRequest("GET", "/", nil), nil, tt.err)
		if rec.Code != tt.status {
			t.Errorf("%v: status %d, want %d", tt.err, rec.Code, tt.status)
		}
		got := decodeError(t, rec)
		if got.Code != tt.code || got.Message == "" || strings.Contains(got.Message, "secret") {
			t.Errorf("%v: body %+v", tt.err, got)
		}
		if (rec.Header().Get("Retry-After") != "") != tt.retryAfter {
			t.Errorf("%v: Retry-After = %q", tt.err, rec.Header().Get("Retry-After"))
		}
	}
}

// A request whose client hung up fails with its context's cancellation:
// that is a 499 with nothing logged, not a 500 for the error log and the
// alerts. A cancellation while the request's own context lives (a
// shutdown of some inner work) is still a server error.
func TestWriteErrorClientGone(t *testing.T) {
	var logged strings.Builder
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	err := fmt.Errorf("load partner: %w", context.Canceled)
	rec := httptest.NewRecorder()
	WriteError(rec, gone, logger, err)
	if rec.Code != StatusClientClosedRequest || logged.Len() != 0 {
		t.Errorf("client gone: status %d, logged %q; want 499 and nothing", rec.Code, logged.String())
	}
	rec = httptest.NewRecorder()
	WriteErrorCtx(ctx, rec, logger, err)
	if rec.Code != StatusClientClosedRequest || logged.Len() != 0 {
		t.Errorf("client gone (go-kit): status %d, logged %q; want 499 and nothing", rec.Code, logged.String())
	}
	rec = httptest.NewRecorder()
	WriteError(rec, httptest.NewRequest("GET", "/", nil), logger, err)
	if rec.Code != 500 || logged.Len() == 0 {
		t.Errorf("canceled with the client there: status %d, logged %q; want 500, logged", rec.Code, logged.String())
	}
}

func TestReadBodyLimits(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		limit  int64
		status int
	}{
		{"fits", "12345", 5, 0},
		{"one over", "123456", 5, 413},
		{"empty", "", 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			r.ContentLength = -1 // chunked: the limit must hold without a length
			_, err := ReadBody(r, tt.limit)
			if tt.status == 0 && err != nil || tt.status != 0 && errs.HTTPStatus(err) != tt.status {
				t.Fatalf("err = %v, want status %d", err, tt.status)
			}
		})
	}
	r := httptest.NewRequest("POST", "/", strings.NewReader("x"))
	r.ContentLength = 1 << 30
	if _, err := ReadBody(r, 10); errs.HTTPStatus(err) != 413 {
		t.Fatalf("declared length over limit: err = %v", err)
	}
}

func TestUnmarshalStrict(t *testing.T) {
	type body struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	tests := []struct {
		in   string
		ok   bool
		want string
	}{
		{`{"name":"a","n":1}`, true, ""},
		{`{"name":"a","extra":1}`, false, "unknown field"},
		{`{"name":1}`, false, `field "name" must be a string`},
		{`{"name":"a"} {}`, false, "data after its JSON value"},
		{`{"name":"a","n":1}}`, false, "data after its JSON value"},
		{`{"name":"a"}]`, false, "data after its JSON value"},
		{"{\"name\":\"a\"} \n\t", true, ""},
		{``, false, "empty"},
		{`{`, false, "not valid JSON"},
	}
	for _, tt := range tests {
		var b body
		err := UnmarshalStrict([]byte(tt.in), &b)
		if tt.ok != (err == nil) {
			t.Errorf("%q: err = %v", tt.in, err)
			continue
		}
		if err != nil && (!errors.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%q: err = %v, want Invalid mentioning %q", tt.in, err, tt.want)
		}
	}
}

func TestRouterAnswersJSONForUnknownRoutesAndMethods(t *testing.T) {
	rt := NewRouter()
	rt.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })
	tests := []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v1/things/1", 204, ""},
		{"GET", "/nope", 404, "not_found"},
		{"DELETE", "/v1/things/1", 405, "method_not_allowed"},
		// Not a redirect to the clean path (http.ServeMux's 307).
		{"GET", "/v1//things/1", 404, "not_found"},
		{"GET", "/v1/things/./1", 404, "not_found"},
		{"GET", "/v1/nope/../things/1", 404, "not_found"},
		{"GET", "//v1/things/1", 404, "not_found"},
		// An escaped slash or dots inside a segment are the segment's.
		{"GET", "/v1/things/..%2F..%2Fetc", 204, ""},
		{"GET", "/v1/things/a%2F..", 204, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.status {
			t.Fatalf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.status)
		}
		if tt.code != "" {
			if got := decodeError(t, rec); got.Code != tt.code {
				t.Fatalf("%s %s code %q", tt.method, tt.path, got.Code)
			}
		}
	}
}

func TestAuth(t *testing.T) {
	const admin, fin, links = "admin-secret-0123456789abcdefghij", "fin-token-0123456789abcdefghijklm", "links-token-0123456789abcdefghijk"
	tokens, err := ParseTokens(admin, fin+":finance, "+links+":links")
	if err != nil {
		t.Fatal(err)
	}
	h := tokens.Require(ScopeFinance, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	tests := []struct {
		header string
		status int
		code   string
	}{
		{"", 401, "missing_token"},
		{"Basic abc", 401, "missing_token"},
		{"Bearer ", 401, "missing_token"},
		{"Bearer wrong", 401, "invalid_token"},
		{"Bearer " + links, 403, "insufficient_scope"},
		{"Bearer " + fin, 200, ""},
		{"Bearer " + admin, 200, ""},
		// RFC 9110 §11.1: the auth-scheme is case-insensitive.
		{"bearer " + fin, 200, ""},
		{"BEARER " + fin, 200, ""},
		{"bEaReR " + fin, 200, ""},
		{"bearer " + links, 403, "insufficient_scope"},
		{"bearer wrong", 401, "invalid_token"},
		{"bearer ", 401, "missing_token"},
		{"Bearer   " + fin + "  ", 200, ""}, // spaces around the token, as before
		// The token itself is not case-folded, and nothing else is loosened.
		{"Bearer " + strings.ToUpper(fin), 401, "invalid_token"},
		{"Bearer\t" + fin, 401, "missing_token"},
		{"Bearer" + fin, 401, "missing_token"},
		{"Bearer:" + fin, 401, "missing_token"},
		{"Bearerx " + fin, 401, "missing_token"},
		{"Token " + fin, 401, "missing_token"},
		{"Basic " + fin, 401, "missing_token"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tt.status {
			t.Fatalf("%q: status %d, want %d", tt.header, rec.Code, tt.status)
		}
		if tt.code != "" {
			if got := decodeError(t, rec); got.Code != tt.code {
				t.Fatalf("%q: code %q, want %q", tt.header, got.Code, tt.code)
			}
		}
		if tt.status == 401 && rec.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("%q: 401 without WWW-Authenticate", tt.header)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("%q: %d with Cache-Control %q, want no-store", tt.header, rec.Code, cc)
		}
	}
	for _, bad := range []struct{ admin, spec, says string }{
		{"", "broken", "token:scope"},
		{"short-admin-token", "", "ADMIN_TOKEN must be at least 32"},
		{admin, fin + ":finance,short:links", "API_TOKENS entry 2"},
		{admin, fin + ":finace", `API_TOKENS entry 1: unknown scope "finace"`},
		{admin, fin + ":finance|", `API_TOKENS entry 1: unknown scope ""`},
	} {
		_, err := ParseTokens(bad.admin, bad.spec)
		if err == nil || !strings.Contains(err.Error(), bad.says) || strings.Contains(err.Error(), "short") {
			t.Errorf("ParseTokens(%q, %q) = %v, want an error saying %q without the token", bad.admin, bad.spec, err, bad.says)
		}
	}
}

func TestHealth(t *testing.T) {
	down := errors.New("dial tcp 10.1.2.3:5432: connection refused")
	rt := NewRouter()
	Health{Checks: map[string]Check{
		"postgres": func(context.Context) error { return nil },
		"kafka":    func(context.Context) error { return down },
	}}.Register(rt)
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 {
		t.Fatalf("healthz = %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	rt.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"kafka":"failing"`) || strings.Contains(rec.Body.String(), "10.1.2.3") ||
		rec.Header().Get("Retry-After") == "" {
		t.Fatalf("readyz = %d %s (Retry-After %q)", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	// The contract's error object too, for a client that reads every
	// non-2xx answer that way.
	if got := decodeError(t, rec); got.Code != "not_ready" || got.Message != "not ready: kafka failing" {
		t.Fatalf("readyz error = %+v", got)
	}

	slow := NewRouter()
	Health{Timeout: 50 * time.Millisecond, Checks: map[string]Check{
		"postgres": func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
	}}.Register(slow)
	rec = httptest.NewRecorder()
	slow.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 {
		t.Fatalf("a hanging check gave %d", rec.Code)
	}
}

// A socket handed over as a descriptor ("fd:N") is served as is: the port
// a supervisor or test bound is never free in between.
func TestListenOnInheritedSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := Listen(fmt.Sprintf("fd:%d", f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if got.Addr().String() != ln.Addr().String() {
		t.Fatalf("listening on %s, want %s", got.Addr(), ln.Addr())
	}
	for _, bad := range []string{"fd:x", "fd:1", "fd:99999"} {
		if _, err := Listen(bad); err == nil {
			t.Errorf("Listen(%q) succeeded", bad)
		}
	}
}

// A panic answers the contract's 500 and logs no address or raw path.
func TestRecover(t *testing.T) {
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	rt := NewRouter()
	rt.HandleFunc("GET /boom/{x}", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
	req := httptest.NewRequest("GET", "/boom/visitor-chosen-secret", nil)
	req.RemoteAddr = "198.51.100.77:5555"
	rec := httptest.NewRecorder()
	Recover(logger, rt).ServeHTTP(rec, req)
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"code":"internal"`) {
		t.Fatalf("panic answered %d %s", rec.Code, rec.Body)
	}
	if l := logs.String(); !strings.Contains(l, "kaboom") || !strings.Contains(l, "GET /boom/{x}") ||
		strings.Contains(l, "198.51.100.77") || strings.Contains(l, "visitor-chosen-secret") {
		t.Fatalf("log line: %s", l)
	}
}

// A session's binding names its token only with the session's key: not
// the token's digest, another for another session, and Binds answers for
// configured tokens and their scopes only (a token listed twice has the
// scopes of its last entry, as for a bearer token).
func TestBinding(t *testing.T) {
	const admin, finance, links = "admin-0123456789abcdefghijklmnopqrstu", "finance-0123456789abcdefghijklmnopqrs", "links-0123456789abcdefghijklmnopqrstuv"
	tokens, err := ParseTokens(admin, finance+":finance,"+links+":links")
	if err != nil {
		t.Fatal(err)
	}
	key, other := []byte("session-one-0123456789abcdefghijk"), []byte("session-two-0123456789abcdefghijk")
	digest := sha256.Sum256([]byte(finance))
	if b := Binding(key, finance); b == digest || b == Binding(key, links) || b == Binding(other, finance) {
		t.Fatal("the binding is the token's digest, or the same for two tokens or two sessions")
	}
	for _, c := range []struct {
		token, scope string
		want         bool
	}{
		{finance, ScopeFinance, true},
		{admin, ScopeFinance, true}, // every scope
		{links, ScopeFinance, false},
		{links, ScopeLinks, true},
		{"someone-else-0123456789abcdefghijklmn", ScopeFinance, false},
	} {
		if got := tokens.Binds(key, Binding(key, c.token), c.scope); got != c.want {
			t.Errorf("Binds(Binding(%.8s…), %s) = %v, want %v", c.token, c.scope, got, c.want)
		}
	}
	if tokens.Binds(other, Binding(key, finance), ScopeFinance) {
		t.Error("a binding binds under another session's key")
	}
	if tokens.Binds(key, [32]byte{}, ScopeFinance) {
		t.Error("the zero binding binds")
	}
	twice, _ := ParseTokens("", finance+":finance,"+finance+":links")
	if twice.Binds(key, Binding(key, finance), ScopeFinance) || twice.Authorize(bearer(finance), ScopeFinance) == nil {
		t.Error("a token listed twice: Binds and Authorize disagree with its last entry")
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		want   string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"BeArEr abc", "abc", true},
		{"Bearer   abc  ", "abc", true},
		{"Bearer aBc", "aBc", true}, // the token keeps its case
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"bearer    ", "", false},
		{"Bearerabc", "", false},
		{"Bearer\tabc", "", false},
		{" Bearer abc", "", false},
		{"Basic abc", "", false},
		{"Bear abc", "", false},
		{"Bearer\u00e9abc", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.header != "" {
			r.Header["Authorization"] = []string{tt.header}
		}
		got, ok := BearerToken(r)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%q: BearerToken = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

func bearer(token string) *http.Request {
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// TestRouterUncleanUnder: a GET or HEAD of an unclean path under the
// prefix goes to its handler, never to a route the cleaned path names;
// other methods and other prefixes keep the router's JSON 404.
func TestRouterUncleanUnder(t *testing.T) {
	rt := NewRouter()
	rt.HandleFunc("GET /v1/things", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	rt.UncleanUnder("/c/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/c//x", http.StatusTeapot},
		{"HEAD", "/c/./x", http.StatusTeapot},
		{"GET", "/c/../v1/things", http.StatusTeapot},
		{"POST", "/c//x", http.StatusNotFound},
		{"GET", "//v1/things", http.StatusNotFound},
		{"GET", "/v1/things", http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(tt.method, "http://example.test/", nil)
		r.URL.Path = tt.path
		rt.ServeHTTP(rec, r)
		if rec.Code != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, rec.Code, tt.status)
		}
	}
}
