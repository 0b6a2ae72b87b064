package dashboard_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/reporting/internal/dashboard"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
	"github.com/linkcredit/linkcredit/services/reporting/internal/reporting"
	"github.com/linkcredit/linkcredit/services/reporting/internal/session"
)

const (
	adminToken   = "admin-token-0123456789abcdefghijklmnop"
	financeToken = "finance-token-0123456789abcdefghijklmn"
	linksToken   = "links-token-0123456789abcdefghijklmnopq"
)

// testClock is the injected clock, moved by the test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// bench is the dashboard over a real Postgres schema, its clock in the
// test's hands.
type bench struct {
	h        http.Handler
	clock    *testClock
	db       *sql.DB
	sessions *session.Manager
}

func newBench(t *testing.T, at time.Time, scfg session.Config, attempts int) *bench {
	t.Helper()
	u, err := postgres.WithSchema(testkit.MigratedDatabaseURL(t, postgres.Schema, postgres.Migrations()), postgres.Schema)
	if err != nil {
		t.Fatal(err)
	}
	db, err := database.Open(u, database.Pool{MaxOpen: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := database.Migrate(context.Background(), db, postgres.Schema, postgres.Migrations()); err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: at}
	tokens, err := httpx.ParseTokens(adminToken, financeToken+":finance,"+linksToken+":links|partners")
	if err != nil {
		t.Fatal(err)
	}
	sessions := session.NewManager(postgres.NewSessions(db), clk.now, scfg)
	b := &bench{clock: clk, db: db, sessions: sessions}
	b.h = b.handler(tokens, attempts)
	return b
}

// handler is the dashboard over b's database, sessions and clock with
// tokens: the same service restarted with another configuration.
func (b *bench) handler(tokens *httpx.Tokens, attempts int) http.Handler {
	rt := httpx.NewRouter()
	svc := reporting.New(postgres.New(b.db, b.clock.now), b.clock.now)
	dashboard.Register(rt, svc, dashboard.Config{Tokens: tokens, Sessions: b.sessions, Now: b.clock.now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SignInAttempts: attempts,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	return rt
}

// client is where a request comes from: peer address and Host.
type client struct {
	peer, host string
	tls        bool
	headers    []string
}

var (
	remote   = client{peer: "203.0.113.5:40000", host: "dash.example.com", tls: true}
	loopback = client{peer: "127.0.0.1:40000", host: "127.0.0.1:8082"}
)

func (b *bench) do(t *testing.T, c client, method, path, form string, cookies []*http.Cookie, headers ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(form))
	req.RemoteAddr, req.Host = c.peer, c.host
	if c.tls {
		req.TLS = &tls.ConnectionState{}
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", map[bool]string{true: "https://", false: "http://"}[c.tls]+c.host)
	}
	req.Header.Set("Accept", "text/html")
	h := append(append([]string(nil), c.headers...), headers...)
	for i := 0; i+1 < len(h); i += 2 {
		if h[i+1] == "" {
			req.Header.Del(h[i])
		} else {
			req.Header.Set(h[i], h[i+1])
		}
	}
	for _, ck := range cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, req)
	return w.Result()
}

// signIn signs in with token and returns the session cookie (__Host-).
func (b *bench) signIn(t *testing.T, c client, token string) *http.Cookie {
	t.Helper()
	return b.signInCookies(t, c, token)[0]
}

// signInCookies signs in with token and returns the cookies set: the
// __Host- one, and on plain loopback the unprefixed one after it, the
// same session without Secure.
func (b *bench) signInCookies(t *testing.T, c client, token string) []*http.Cookie {
	t.Helper()
	r := b.do(t, c, "POST", "/login", url.Values{"token": {token}}.Encode(), nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Fatalf("sign in = %d %s", r.StatusCode, body(r))
	}
	cs := r.Cookies()
	if len(cs) < 1 || len(cs) > 2 || cs[0].Name != dashboard.CookieName {
		t.Fatalf("sign in set %v", cs)
	}
	if len(cs) == 2 {
		if p := cs[1]; p.Name != dashboard.LoopbackCookieName || p.Value != cs[0].Value || p.Secure || !p.HttpOnly ||
			p.SameSite != http.SameSiteStrictMode || p.Path != "/" || p.Domain != "" || p.MaxAge != cs[0].MaxAge {
			t.Fatalf("the loopback cookie %s beside %s", p, cs[0])
		}
	}
	return cs
}

func body(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// page loads the dashboard with cookie and returns its status and the
// sign-out form's CSRF token.
func (b *bench) page(t *testing.T, c client, cookie *http.Cookie) (int, string) {
	t.Helper()
	r := b.do(t, c, "GET", "/", "", []*http.Cookie{cookie})
	text := body(r)
	m := csrfField.FindStringSubmatch(text)
	if r.StatusCode == 200 && m == nil {
		t.Fatalf("the dashboard has no sign-out form with a CSRF token:\n%.2000s", text)
	}
	if m == nil {
		return r.StatusCode, ""
	}
	return r.StatusCode, m[1]
}

func (b *bench) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(`SELECT count(*) FROM dashboard_sessions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func errorCode(t *testing.T, r *http.Response) string {
	t.Helper()
	var e httpx.ErrorBody
	text := body(r)
	if err := json.Unmarshal([]byte(text), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("not the contract's error shape: %d %s %s", r.StatusCode, r.Header.Get("Content-Type"), text)
	}
	return e.Error.Code
}

// The cookie holds an opaque id, never the token; the database only its
// digest; its attributes follow the contract: __Host-, Secure, HttpOnly,
// SameSite=Strict, Path=/, no Domain, on plain loopback too; there the
// same session also goes in an unprefixed cookie without Secure, for
// browsers that keep no Secure cookie from http://127.0.0.1.
func TestSessionCookieAttributes(t *testing.T) {
	b := newBench(t, testkit.Now(t), session.Config{}, 0)
	for _, tc := range []struct {
		name     string
		c        client
		loopback bool // the unprefixed cookie too
	}{
		{"TLS", remote, false},
		{"plain HTTP, remote", client{peer: "203.0.113.5:1", host: "dash.example.com"}, false},
		{"behind a TLS proxy", client{peer: "10.1.2.3:1", host: "dash.example.com", headers: []string{"X-Forwarded-Proto", "https"}}, false},
		{"plain loopback", loopback, true},
		{"plain loopback by name", client{peer: "[::1]:1", host: "localhost:8082"}, true},
		{"loopback peer, public host", client{peer: "127.0.0.1:1", host: "dash.example.com"}, false},
		{"a mapped port on loopback", client{peer: "172.17.0.1:1", host: "localhost:8082"}, true},
		{"loopback behind a TLS proxy", client{peer: "127.0.0.1:1", host: "127.0.0.1:8082", headers: []string{"X-Forwarded-Proto", "https"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := b.signInCookies(t, tc.c, adminToken)
			ck := cs[0]
			if ck.Name != dashboard.CookieName || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode ||
				ck.Path != "/" || ck.Domain != "" || ck.MaxAge != int((12*time.Hour).Seconds()) || (len(cs) == 2) != tc.loopback {
				t.Errorf("cookies %v", cs)
			}
			if tc.loopback {
				if st, _ := b.page(t, tc.c, &http.Cookie{Name: dashboard.LoopbackCookieName, Value: ck.Value}); st != 200 {
					t.Fatalf("dashboard with the loopback cookie = %d", st)
				}
			}
			id, ok := session.ParseID(ck.Value)
			if !ok || strings.Contains(ck.Value, adminToken) {
				t.Fatalf("cookie value %q is not an opaque session id", ck.Value)
			}
			var stored []byte
			if err := b.db.QueryRow(`SELECT digest FROM dashboard_sessions WHERE digest = $1`, sum(id)).Scan(&stored); err != nil {
				t.Fatalf("no row under the id's digest: %v", err)
			}
			var leaked int
			if err := b.db.QueryRow(`SELECT count(*) FROM dashboard_sessions WHERE position($1::bytea in digest) > 0`, id[:]).Scan(&leaked); err != nil || leaked > 0 {
				t.Fatalf("the table holds the id itself (%v)", err)
			}
			if st, _ := b.page(t, tc.c, ck); st != 200 {
				t.Fatalf("dashboard with the cookie = %d", st)
			}
		})
	}
	// The unprefixed cookie counts only on plain loopback: elsewhere a
	// sibling host could have planted it.
	ck := b.signInCookies(t, loopback, financeToken)[1]
	if st, _ := b.page(t, remote, ck); st != 401 {
		t.Errorf("an unprefixed cookie off loopback = %d, want 401", st)
	}
}

func sum(id session.ID) []byte { d := sha256.Sum256(id[:]); return d[:] }

// A session ends after SESSION_IDLE_TIMEOUT unused and after
// SESSION_MAX_AGE however used, by the injected clock.
func TestSessionExpiryAtInstant(t *testing.T) {
	at := testkit.Now(t)
	b := newBench(t, at, session.Config{IdleTimeout: 30 * time.Minute, MaxAge: 12 * time.Hour}, 0)

	t.Run("idle", func(t *testing.T) {
		ck := b.signIn(t, remote, financeToken)
		b.clock.advance(29 * time.Minute)
		if st, _ := b.page(t, remote, ck); st != 200 {
			t.Fatalf("29 minutes idle = %d", st)
		}
		b.clock.advance(29 * time.Minute) // 58 minutes after sign-in, 29 after last use
		if st, _ := b.page(t, remote, ck); st != 200 {
			t.Fatalf("used 29 minutes ago = %d", st)
		}
		b.clock.advance(30 * time.Minute)
		r := b.do(t, remote, "GET", "/", "", []*http.Cookie{ck})
		if r.StatusCode != 401 || !strings.Contains(body(r), "Sign in") {
			t.Fatalf("30 minutes idle = %d, want 401 and the sign-in form", r.StatusCode)
		}
		if cs := r.Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
			t.Errorf("an expired session's cookie is not cleared: %v", cs)
		}
	})

	t.Run("absolute", func(t *testing.T) {
		ck := b.signIn(t, remote, financeToken)
		for used := time.Duration(0); used < 12*time.Hour-20*time.Minute; used += 20 * time.Minute {
			b.clock.advance(20 * time.Minute)
			if st, _ := b.page(t, remote, ck); st != 200 {
				t.Fatalf("used every 20 minutes, %v after sign-in = %d", used+20*time.Minute, st)
			}
		}
		b.clock.advance(20 * time.Minute) // exactly 12 h
		if st, _ := b.page(t, remote, ck); st != 401 {
			t.Fatalf("12 hours after sign-in, used 20 minutes ago = %d, want 401", st)
		}
	})

	t.Run("swept", func(t *testing.T) {
		b.signIn(t, remote, financeToken)
		live := b.signIn(t, remote, financeToken)
		b.clock.advance(31 * time.Minute)
		live = b.signIn(t, remote, financeToken)
		n, err := b.sessions.Sweep(context.Background())
		if err != nil || n < 2 {
			t.Fatalf("sweep = %d, %v; want at least the 2 idle sessions", n, err)
		}
		if got := b.rows(t); got != 1 {
			t.Fatalf("%d rows after the sweep, want the 1 live session", got)
		}
		if st, _ := b.page(t, remote, live); st != 200 {
			t.Fatalf("the live session after a sweep = %d", st)
		}
	})
}

// The table keeps at most MaxSessions: a flood of sign-ins evicts the
// oldest, never grows it without bound.
func TestSessionTableBounded(t *testing.T) {
	b := newBench(t, testkit.Now(t), session.Config{MaxSessions: 3}, 0)
	var cookies []*http.Cookie
	for range 5 {
		b.clock.advance(time.Second)
		cookies = append(cookies, b.signIn(t, remote, financeToken))
	}
	if n := b.rows(t); n != 3 {
		t.Fatalf("%d sessions kept, want 3", n)
	}
	for i, ck := range cookies {
		want := 200
		if i < 2 {
			want = 401
		}
		if st, _ := b.page(t, remote, ck); st != want {
			t.Errorf("session %d = %d, want %d", i, st, want)
		}
	}
}

// Sign-out deletes the session: a copy of the cookie taken before opens
// nothing afterwards. It needs the page's CSRF token.
func TestLogoutRevokesCopiedCookie(t *testing.T) {
	b := newBench(t, testkit.Now(t), session.Config{}, 0)
	for i, c := range []client{remote, loopback} {
		ck := b.signIn(t, c, financeToken)
		copied := &http.Cookie{Name: ck.Name, Value: ck.Value}
		st, csrf := b.page(t, c, ck)
		if st != 200 || csrf == "" {
			t.Fatalf("dashboard = %d", st)
		}
		for _, bad := range []string{"", "csrf=", "csrf=" + strings.Repeat("A", 43), "csrf=" + csrf + "&csrf=" + csrf} {
			r := b.do(t, c, "POST", "/logout", bad, []*http.Cookie{ck})
			if r.StatusCode != 403 && r.StatusCode != 400 {
				t.Fatalf("sign-out with form %q = %d, want 403 or 400", bad, r.StatusCode)
			}
			errorCode(t, r)
		}
		if st, _ := b.page(t, c, copied); st != 200 {
			t.Fatalf("a refused sign-out ended the session: %d", st)
		}
		r := b.do(t, c, "POST", "/logout", url.Values{"csrf": {csrf}}.Encode(), []*http.Cookie{ck})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
			t.Fatalf("sign out = %d %s", r.StatusCode, body(r))
		}
		cs := r.Cookies()
		if want := 1 + i; len(cs) != want || cs[0].Name != ck.Name { // on loopback the unprefixed one too
			t.Errorf("sign-out clears %v, want %d cookies, the session's first", cs, want)
		}
		for _, cleared := range cs {
			if cleared.MaxAge >= 0 || cleared.Value != "" {
				t.Errorf("sign-out does not clear the cookie: %v", cleared)
			}
		}
		if st, _ := b.page(t, c, copied); st != 401 {
			t.Fatalf("the copied cookie after sign-out = %d, want 401", st)
		}
		var n int
		if err := b.db.QueryRow(`SELECT count(*) FROM dashboard_sessions WHERE digest = $1`, sum(mustID(t, ck.Value))).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the session's row is still there (%d, %v)", n, err)
		}
	}
	// The cookie that held the raw token before sessions is dropped, and
	// opens nothing.
	r := b.do(t, remote, "POST", "/login", url.Values{"token": {financeToken}}.Encode(), []*http.Cookie{{Name: "linkcredit_token", Value: financeToken}})
	var legacyCleared bool
	for _, c := range r.Cookies() {
		legacyCleared = legacyCleared || c.Name == "linkcredit_token" && c.MaxAge < 0
	}
	if r.StatusCode != http.StatusSeeOther || !legacyCleared {
		t.Errorf("sign-in with the old token cookie = %d, cookies %v: the old cookie is not cleared", r.StatusCode, r.Cookies())
	}
	if st, _ := b.page(t, remote, &http.Cookie{Name: "linkcredit_token", Value: financeToken}); st != 401 {
		t.Errorf("the old token cookie opens the dashboard: %d", st)
	}
	// Signed out already, or never signed in: sign-out still clears.
	if r := b.do(t, remote, "POST", "/logout", "", nil); r.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out without a session = %d", r.StatusCode)
	}
}

// A session lives only while the token that opened it is configured with
// the finance scope: the service restarted without the token (or with it
// narrowed to other scopes) ends its sessions at their next use, and
// leaves the sessions of other tokens alone.
func TestSessionEndsWithItsToken(t *testing.T) {
	b := newBench(t, testkit.Now(t), session.Config{}, 0)
	byFinance := b.signIn(t, remote, financeToken)
	byAdmin := b.signIn(t, remote, adminToken)
	for _, ck := range []*http.Cookie{byFinance, byAdmin} {
		if st, _ := b.page(t, remote, ck); st != 200 {
			t.Fatalf("dashboard = %d", st)
		}
	}
	for _, spec := range []string{
		linksToken + ":links|partners",                                     // the finance token taken out
		linksToken + ":links|partners," + financeToken + ":links|partners", // kept, without the finance scope
	} {
		tokens, err := httpx.ParseTokens(adminToken, spec)
		if err != nil {
			t.Fatal(err)
		}
		b.h = b.handler(tokens, 0)
		if st, _ := b.page(t, remote, byFinance); st != 401 {
			t.Fatalf("API_TOKENS=%q: the finance token's session = %d, want 401", spec, st)
		}
		if st, _ := b.page(t, remote, byAdmin); st != 200 {
			t.Fatalf("API_TOKENS=%q: the admin token's session = %d, want 200", spec, st)
		}
	}
	var n int
	if err := b.db.QueryRow(`SELECT count(*) FROM dashboard_sessions WHERE digest = $1`, sum(mustID(t, byFinance.Value))).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the ended session's row is still there (%d, %v)", n, err)
	}
	// The token configured again does not bring its ended session back.
	tokens, _ := httpx.ParseTokens(adminToken, financeToken+":finance")
	b.h = b.handler(tokens, 0)
	if st, _ := b.page(t, remote, byFinance); st != 401 {
		t.Fatalf("the ended session with its token back = %d, want 401", st)
	}
}

func mustID(t *testing.T, s string) session.ID {
	id, ok := session.ParseID(s)
	if !ok {
		t.Fatalf("not an id: %q", s)
	}
	return id
}

// Only a token with the finance scope signs in, and every session is
// finance-only, whatever the token held.
func TestSignInScope(t *testing.T) {
	b := newBench(t, testkit.Now(t), session.Config{}, 0)
	for _, tc := range []struct {
		token  string
		status int
		code   string
	}{
		{linksToken, 403, "insufficient_scope"},
		{"not-a-token-0123456789abcdefghijklmnopq", 401, "invalid_token"},
		{"", 401, "missing_token"},
	} {
		r := b.do(t, remote, "POST", "/login", url.Values{"token": {tc.token}}.Encode(), nil)
		if r.StatusCode != tc.status || len(r.Cookies()) != 0 || !strings.Contains(body(r), "Sign in") {
			t.Errorf("sign-in with %q = %d (cookies %v), want %d and the form", tc.token, r.StatusCode, r.Cookies(), tc.status)
		}
		r = b.do(t, remote, "POST", "/login", url.Values{"token": {tc.token}}.Encode(), nil, "Accept", "application/json")
		if code := errorCode(t, r); r.StatusCode != tc.status || code != tc.code {
			t.Errorf("sign-in with %q, JSON = %d %s, want %d %s", tc.token, r.StatusCode, code, tc.status, tc.code)
		}
	}
	if n := b.rows(t); n != 0 {
		t.Fatalf("refused sign-ins left %d sessions", n)
	}
	b.signIn(t, remote, adminToken)
	b.signIn(t, remote, financeToken)
	var scopes []string
	rows, err := b.db.Query(`SELECT scope FROM dashboard_sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		rows.Scan(&s)
		scopes = append(scopes, s)
	}
	if strings.Join(scopes, ",") != "finance,finance" {
		t.Fatalf("session scopes %v, want finance for the admin and the finance token", scopes)
	}
	// A links token as a bearer header does not open the dashboard either.
	r := b.do(t, remote, "GET", "/", "", nil, "Authorization", "Bearer "+linksToken)
	if r.StatusCode != 403 {
		t.Errorf("dashboard with a links token = %d, want 403", r.StatusCode)
	}
}

// A cross-origin POST to /login or /logout is refused with 403 and the
// contract's error, before anything else happens.
func TestCrossOriginPostsRefused(t *testing.T) {
	b := newBench(t, testkit.Now(t), session.Config{}, 0)
	ck := b.signIn(t, remote, financeToken)
	_, csrf := b.page(t, remote, ck)
	login := url.Values{"token": {financeToken}}.Encode()
	logout := url.Values{"csrf": {csrf}}.Encode()
	for _, h := range [][]string{
		{"Origin", "https://evil.example"},
		{"Origin", "null"},
		{"Origin", "https://dash.example.com.evil.example"},
		{"Origin", "https://sub.dash.example.com"},
		{"Origin", "https://dash.example.com:8443"},
		{"Origin", "ftp://dash.example.com"},
		{"Origin", "https://user@dash.example.com"},
		{"Origin", "https://dash.example.com/path"},
		{"Origin", "%zz"},
		{"Origin", "", "Sec-Fetch-Site", "cross-site"},
		{"Origin", "", "Sec-Fetch-Site", "same-site"},
		{"Sec-Fetch-Site", "cross-site"},
	} {
		for _, path := range []string{"/login", "/logout"} {
			form := login
			if path == "/logout" {
				form = logout
			}
			r := b.do(t, remote, "POST", path, form, []*http.Cookie{ck}, h...)
			if code := errorCode(t, r); r.StatusCode != 403 || code != "cross_origin" {
				t.Errorf("POST %s with %v = %d %s, want 403 cross_origin", path, h, r.StatusCode, code)
			}
			if len(r.Cookies()) != 0 {
				t.Errorf("POST %s with %v set a cookie", path, h)
			}
		}
	}
	if n := b.rows(t); n != 1 {
		t.Fatalf("%d sessions, want only the first: a cross-origin sign-in opened one", n)
	}
	if st, _ := b.page(t, remote, ck); st != 200 {
		t.Fatalf("a cross-origin sign-out ended the session: %d", st)
	}
	// Same origin, by Origin or by Sec-Fetch-Site alone: allowed.
	if r := b.do(t, remote, "POST", "/logout", logout, []*http.Cookie{ck}, "Origin", "", "Sec-Fetch-Site", "same-origin"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin sign-out = %d %s", r.StatusCode, body(r))
	}
}

// Failed sign-ins are throttled per client: after SIGNIN_MAX_ATTEMPTS
// failures a client gets 429 with Retry-After, even with the right
// token, until its window ends; other clients are not affected.
func TestSignInThrottledAtInstant(t *testing.T) {
	b := newBench(t, testkit.Now(t), session.Config{}, 5)
	proxied := func(ip string) client {
		return client{peer: "10.0.0.7:1", host: remote.host, tls: true, headers: []string{"X-Forwarded-For", ip}}
	}
	guesser, other := proxied("198.51.100.9"), proxied("198.51.100.10")
	bad := url.Values{"token": {"guess-0123456789abcdefghijklmnopqrstuv"}}.Encode()
	for i := range 5 {
		if r := b.do(t, guesser, "POST", "/login", bad, nil); r.StatusCode != 401 {
			t.Fatalf("guess %d = %d, want 401", i, r.StatusCode)
		}
		b.clock.advance(time.Minute)
	}
	for _, accept := range []string{"text/html", "application/json"} {
		r := b.do(t, guesser, "POST", "/login", url.Values{"token": {financeToken}}.Encode(), nil, "Accept", accept)
		retry, _ := strconv.Atoi(r.Header.Get("Retry-After"))
		if r.StatusCode != 429 || retry != 10*60 || len(r.Cookies()) != 0 {
			t.Fatalf("the 6th attempt (%s) = %d Retry-After %q, want 429 and 600 s", accept, r.StatusCode, r.Header.Get("Retry-After"))
		}
		if accept == "application/json" && errorCode(t, r) != "too_many_sign_in_attempts" {
			t.Error("wrong code")
		}
	}
	b.signIn(t, other, financeToken) // another client is not held up
	// The guesser's IPv6 neighbour in another /64 is not either; a
	// direct peer is keyed by its own address.
	b.signIn(t, client{peer: "[2001:db8:1::1]:1", host: remote.host, tls: true}, financeToken)
	b.clock.advance(10 * time.Minute)
	b.signIn(t, guesser, financeToken) // the window is over
}

// One token opens at most 20 sessions in a sign-in window, from any
// address: the session table keeps the newest 10,000, so a finance token
// signing in 10,001 times (a security review did, in 21 s) ended every
// other session, the admin's too. Other tokens are not held up, and
// sessions already open stay.
func TestSignInsPerTokenAtInstant(t *testing.T) {
	// Room for the admin's session and 20 more: a 21st sign-in that got
	// through would end the admin's.
	b := newBench(t, testkit.Now(t), session.Config{MaxSessions: 21}, 0)
	victim := b.signIn(t, client{peer: "198.51.100.3:1", host: remote.host, tls: true}, adminToken)
	b.clock.advance(time.Second) // the oldest session, no tie
	for i := range 20 {
		b.signIn(t, client{peer: fmt.Sprintf("203.0.113.%d:1", i+1), host: remote.host, tls: true}, financeToken)
		b.clock.advance(10 * time.Second)
	}
	for _, accept := range []string{"text/html", "application/json"} {
		r := b.do(t, client{peer: "192.0.2.77:1", host: remote.host, tls: true}, "POST", "/login",
			url.Values{"token": {financeToken}}.Encode(), nil, "Accept", accept)
		retry, _ := strconv.Atoi(r.Header.Get("Retry-After"))
		if r.StatusCode != 429 || retry < 1 || retry > 15*60 || len(r.Cookies()) != 0 {
			t.Fatalf("the 21st sign-in (%s) = %d Retry-After %q, want 429", accept, r.StatusCode, r.Header.Get("Retry-After"))
		}
		if accept == "application/json" && errorCode(t, r) != "too_many_sign_ins" {
			t.Error("wrong code")
		}
	}
	if st, _ := b.page(t, remote, victim); st != 200 {
		t.Fatalf("the admin's session = %d after the finance token's sign-ins, want 200", st)
	}
	b.signIn(t, remote, adminToken) // another token is not held up
	b.clock.advance(15 * time.Minute)
	b.signIn(t, remote, financeToken) // the window is over
}

// Every answer of the dashboard's routes is no-store, its JSON errors to
// API clients included (a re-check found a bearer client's 401 and 422
// without it, while the /v1 routes had it).
func TestDashboardAnswersAreNoStore(t *testing.T) {
	b := newBench(t, testkit.Now(t), session.Config{}, 1)
	for _, c := range []struct {
		name, method, path, form string
		headers                  []string
	}{
		{"wrong bearer token", "GET", "/", "", []string{"Authorization", "Bearer nope", "Accept", "application/json"}},
		{"bad query", "GET", "/?from=bad", "", []string{"Authorization", "Bearer " + financeToken, "Accept", "application/json"}},
		{"sign-in refused", "POST", "/login", url.Values{"token": {"wrong-0123456789abcdefghijklmnopqrstuv"}}.Encode(), []string{"Accept", "application/json"}},
		{"sign-in throttled", "POST", "/login", url.Values{"token": {financeToken}}.Encode(), []string{"Accept", "application/json"}},
		{"sign-out without a form", "POST", "/logout", "", []string{"Content-Type", "text/plain", "Accept", "application/json"}},
		{"the page, signed out, for a browser", "GET", "/", "", []string{"Accept", "text/html"}},
	} {
		r := b.do(t, remote, c.method, c.path, c.form, nil, c.headers...)
		if r.StatusCode < 400 || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d with Cache-Control %q, want an error that is no-store", c.name, r.StatusCode, r.Header.Get("Cache-Control"))
		}
		// RFC 9110: a 401 names the scheme that would authenticate.
		if r.StatusCode == 401 && r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
	}
}
