package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/errtext"
	"github.com/linkcredit/linkcredit/services/reporting/internal/minor"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
	"github.com/linkcredit/linkcredit/services/reporting/internal/session"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets/dashboard.css
var stylesheet []byte

// favicon is the pages' icon: without one every visit logged a 404 for
// /favicon.ico.
//
//go:embed assets/favicon.svg
var favicon []byte

// Reports is what the dashboard reads: the commission report.
type Reports interface {
	Commissions(ctx context.Context, q report.Query, emit func(report.Row) error) error
	Now() time.Time
	// FinanceZone is the zone months are closed in: the dashboard's
	// months are those of statements and closed periods.
	FinanceZone() *time.Location
}

// Config is what the sign-in needs. Zero limits take defaults.
type Config struct {
	Tokens   *httpx.Tokens
	Sessions *session.Manager
	Now      clock.Clock // the sign-in throttle's windows
	Logger   *slog.Logger
	// SignInAttempts failed sign-ins per client in SignInWindow, then 429
	// until the window ends (defaults 10 and 15 minutes).
	SignInAttempts int
	SignInWindow   time.Duration
	// TrustedProxies: a peer in these forwards the client's address in
	// X-Forwarded-For, which the throttle then keys on.
	TrustedProxies []netip.Prefix
}

// maxThrottled bounds the clients the sign-in throttle tracks.
const maxThrottled = 10000

// signInsPerToken bounds the sessions one token opens: at most this many
// sign-ins in signInsWindow on each replica. The session store keeps at
// most session.Config.MaxSessions (10,000) and drops the oldest beyond,
// so without it one finance token could sign in 10,001 times and end
// everyone else's session. At 20 in 15 minutes a token opens at most 960
// in a session's 12 hours on a replica; a team sharing one token signs in
// far less often. Its own window, not SIGNIN_WINDOW: that one may be as
// short as a second, which would let a token through 20 times a second.
const (
	signInsPerToken = 20
	signInsWindow   = 15 * time.Minute
)

// maxTokensThrottled bounds the tokens the per-token limit tracks: only
// configured tokens reach it, a handful.
const maxTokensThrottled = 1000

// Handler serves the dashboard and its sign-in.
type Handler struct {
	reports  Reports
	tokens   *httpx.Tokens
	sessions *session.Manager
	now      clock.Clock
	throttle *throttle[netip.Addr] // failed sign-ins per client
	signIns  *throttle[[32]byte]   // sign-ins per token (its SHA-256)
	trusted  []netip.Prefix
	logger   *slog.Logger
	tmpl     *template.Template
}

// Register adds the dashboard's routes:
//
//	GET  /                        the dashboard: a session, or a bearer token, with the finance scope
//	GET  /assets/dashboard.css    its stylesheet
//	GET  /favicon.svg             its icon, which the pages link to
//	GET  /favicon.ico             the same icon, for browsers that ask there anyway
//	GET  /login                   the sign-in form
//	POST /login                   sign in with a finance token: a session cookie, never the token
//	POST /logout                  revoke the session and clear its cookie
//
// Both POSTs refuse other origins (403); failed sign-ins are throttled
// per client, sign-ins per token (429).
func Register(rt *httpx.Router, reports Reports, cfg Config) {
	if cfg.SignInAttempts <= 0 {
		cfg.SignInAttempts = 10
	}
	if cfg.SignInWindow <= 0 {
		cfg.SignInWindow = 15 * time.Minute
	}
	h := &Handler{reports: reports, tokens: cfg.Tokens, sessions: cfg.Sessions, now: clock.OrSystem(cfg.Now),
		throttle: newThrottle[netip.Addr](cfg.SignInAttempts, cfg.SignInWindow, maxThrottled),
		signIns:  newThrottle[[32]byte](signInsPerToken, signInsWindow, maxTokensThrottled), trusted: cfg.TrustedProxies,
		logger: cfg.Logger, tmpl: template.Must(template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.html"))}
	rt.HandleFunc("GET /{$}", h.dashboard)
	rt.HandleFunc("GET /assets/dashboard.css", asset("text/css; charset=utf-8", stylesheet))
	rt.HandleFunc("GET /favicon.svg", asset("image/svg+xml", favicon))
	rt.HandleFunc("GET /favicon.ico", asset("image/svg+xml", favicon))
	rt.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) { h.login(w, r, http.StatusOK, "") })
	rt.HandleFunc("POST /login", h.signIn)
	rt.HandleFunc("POST /logout", h.signOut)
}

var funcs = template.FuncMap{
	"join": strings.Join,
}

func securityHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer a browser sends
	// "Origin: null" with the page's own form POSTs, which the Origin
	// check must refuse. Other origins still get no Referer.
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Cache-Control", "no-store")
}

// asset serves an embedded file to anyone, cacheable, under the pages'
// security headers: an SVG is a document, and their policy keeps any
// script in it from running.
func asset(contentType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(body)
	}
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request, status int, problem string) {
	challenge(w, status)
	h.render(w, r, status, "login.html", map[string]string{"Problem": problem})
}

// challenge is httpx.Challenge on a 401, the sign-in page's too (the
// page's form signs a browser in).
func challenge(w http.ResponseWriter, status int) {
	if status == http.StatusUnauthorized {
		httpx.Challenge(w)
	}
}

// render writes a page of the dashboard with status, under its security
// headers.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, page any) {
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := h.tmpl.ExecuteTemplate(w, name, page); err != nil {
		h.logger.ErrorContext(r.Context(), "render "+name, "error", err.Error())
	}
}

// signedIn authorizes a page request and returns its sign-out token
// ("" for a bearer token). When it is not signed in, it answers (the
// sign-in page for people, the JSON error for API clients, and clears a
// dead session's cookie) and ok is false.
//
// Every answer of a page, signed in or not, is Cache-Control: no-store.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request) (csrf string, ok bool) {
	w.Header().Set("Cache-Control", "no-store")
	csrf, err := h.authorize(r)
	if err == nil {
		return csrf, true
	}
	if errors.Is(err, errSignedOut) {
		setSessionCookies(w, r, nil, 0)
	}
	if status := errs.HTTPStatus(err); status < 500 && (wantsHTML(r) || r.Header.Get("Accept") == "") {
		h.login(w, r, status, "")
		return "", false
	}
	challenge(w, errs.HTTPStatus(err))
	httpx.WriteError(w, r, h.logger, err)
	return "", false
}

func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) {
	csrf, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		err = errs.New(errs.Invalid, "invalid_query", "the query string is malformed (a bad %-escape or a ';')")
		httpx.WriteError(w, r, h.logger, err)
		return
	}
	page, err := h.build(r.Context(), q)
	page.CSRF = csrf
	// People get the page with its problem; API clients the JSON error.
	if err != nil && (errs.HTTPStatus(err) >= 500 || !wantsHTML(r) && r.Header.Get("Accept") != "") {
		httpx.WriteError(w, r, h.logger, errtext.Bound(err))
		return
	}
	status := http.StatusOK
	if err != nil {
		status = errs.HTTPStatus(err)
	}
	h.render(w, r, status, "dashboard.html", page)
}

// Page is everything the dashboard template shows.
type Page struct {
	From, To, Currency string
	TZ                 string // the finance zone the months are cut in
	Currencies         []string
	AsOf               string
	Problem            string
	Note               string // shown above the figures: what they leave out
	CSRF               string // the sign-out form's token; "" for a bearer token
	Totals             []Figure
	Months             Chart
	Partners           Chart
	Courses            Chart
	EPC                Chart
}

// Figure is one headline number.
type Figure struct{ Label, Value string }

func (h *Handler) build(ctx context.Context, in url.Values) (Page, error) {
	// Months in the finance zone, as statements and closed periods cut
	// them (they were UTC months whatever FINANCE_TIME_ZONE said).
	zone := h.reports.FinanceZone()
	now := h.reports.Now().In(zone)
	start := time.Date(now.Year(), now.Month()-11, 1, 0, 0, 0, 0, time.UTC) // a date: the first month shown
	p := Page{From: start.Format(time.DateOnly), To: start.AddDate(1, 0, 0).Format(time.DateOnly), TZ: zone.String(),
		AsOf: now.Format("2006-01-02 15:04 MST"), Currencies: []string{"USD", "EUR", "GBP", "JPY", "INR", "CAD", "AUD"}}
	// What the page shows back of its parameters is bounded: a date or a
	// currency code is a few characters.
	if v := in.Get("from"); v != "" {
		p.From = bounded(v)
	}
	if v := in.Get("to"); v != "" {
		p.To = bounded(v)
	}
	p.Currency = bounded(strings.ToUpper(in.Get("currency")))
	if p.Currency == "" {
		p.Currency = "USD"
	}
	if !slices.Contains(p.Currencies, p.Currency) && money.IsCurrency(p.Currency) {
		p.Currencies = append(p.Currencies, p.Currency)
	}
	cur := p.Currency
	if err := httpx.RepeatedParameter(in); err != nil {
		// Shown on the page with its form, as any other bad parameter.
		p.Problem = problem(err)
		return p, err
	}
	rows, err := h.collect(ctx, p, cur, now)
	if code, _ := errs.Public(err); code == "missing_fx_rate" {
		// One purchase in a currency without a rate would blank the page
		// for everyone: show the purchases made in the page's currency,
		// and say what is left out and how to bring it in. Nothing is
		// converted, so nothing is mislabelled.
		missing := problem(err)
		var native map[string][]report.Row
		if native, err = h.collect(ctx, p, "", now); err == nil {
			rows = map[string][]report.Row{}
			for g, rs := range native {
				rows[g] = inCurrency(rs, cur)
			}
			p.Note = fmt.Sprintf("%s. The figures below count only purchases made in %s; add the missing rate (PUT /v1/fx-rates) to include the others.",
				sentence(strings.TrimRight(missing, ".")), cur)
		}
	}
	if err != nil {
		p.Problem = problem(err)
		return p, err
	}
	var total report.Row
	for _, r := range rows[""] {
		total.Clicks += r.Clicks
		total.AddMoney(r)
	}
	total.Currency = cur
	epc := "—"
	if v, ok := total.EPC(); ok {
		epc = amount(v, cur)
	}
	p.Totals = []Figure{
		{"Commission earned (approved and paid)", amount(total.Earned(), cur)},
		{"Commission pending", amount(total.Pending, cur)},
		{"Commission reversed", amount(total.Reversed, cur)},
		{"Human clicks", fmt.Sprint(total.Clicks)},
		{"Conversions", fmt.Sprint(total.Conversions)},
		{"Earnings per click", epc},
	}
	p.Months = monthChart(rows["month"], start, p, cur)
	p.Partners = barChart("partners", "Commission by partner", "Partner", rows["partner"], cur, 0, byEarned)
	p.Courses = barChart("courses", "Top courses by commission", "Course", rows["course"], cur, 10, byEarned)
	withClicks := rows["course"][:0:0]
	for _, r := range rows["course"] {
		if r.Clicks > 0 {
			withClicks = append(withClicks, r)
		}
	}
	p.EPC = epcChart(withClicks, cur)
	return p, nil
}

// inCurrency is one row per group of rows in their original currencies
// (one row per group and currency, each with the group's clicks): the
// group's clicks once, and the money of its purchases in currency only.
func inCurrency(rows []report.Row, currency string) []report.Row {
	var out []report.Row
	at := map[string]int{}
	for _, r := range rows {
		k := strings.Join(r.Keys, "\x00")
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, report.Row{Keys: r.Keys, Currency: currency, Clicks: r.Clicks, UniqueClicks: r.UniqueClicks, BotClicks: r.BotClicks})
		}
		if r.Currency == currency {
			out[i].AddMoney(r)
		}
	}
	return out
}

// collect runs the dashboard's four reports (totals, by month, partner
// and course) over p's period, converted into currency ("" for each
// original currency).
func (h *Handler) collect(ctx context.Context, p Page, currency string, now time.Time) (map[string][]report.Row, error) {
	rows := map[string][]report.Row{}
	for _, g := range []string{"", "month", "partner", "course"} {
		v := url.Values{"from": {p.From}, "to": {p.To}, "tz": {p.TZ}}
		if currency != "" {
			v.Set("currency", currency)
		}
		if g != "" {
			v.Set("group_by", g)
		}
		q, err := report.ParseQuery(v, "", now)
		if err != nil {
			return nil, err
		}
		if err := h.reports.Commissions(ctx, q, func(r report.Row) error {
			rows[g] = append(rows[g], r)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// sentence is s with its first letter in upper case.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

func problem(err error) string {
	_, msg := errs.Public(errtext.Bound(err))
	return msg
}

// bounded keeps the first 32 bytes of a parameter, as valid UTF-8.
func bounded(v string) string {
	if len(v) > 32 {
		v = v[:32]
	}
	return strings.ToValidUTF8(v, "")
}

// amount formats an exact total with its currency's decimals, thousands
// grouped: "1,234,567.89 USD".
func amount(m minor.Sum, currency string) string {
	return groupThousands(m.In(currency)) + " " + currency
}

// groupThousands adds commas to the integer part of a decimal string.
func groupThousands(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		return sign + b.String() + "." + frac
	}
	return sign + b.String()
}

// owed is earned and pending commission: a bar's whole length.
func owed(r report.Row) minor.Sum { return r.Earned().Add(r.Pending) }

func byEarned(rows []report.Row) {
	sort.SliceStable(rows, func(i, j int) bool { return owed(rows[i]).Cmp(owed(rows[j])) > 0 })
}
