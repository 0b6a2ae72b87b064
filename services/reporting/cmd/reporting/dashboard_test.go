package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/reporting/internal/dashboard"
	"github.com/linkcredit/linkcredit/services/reporting/internal/session"
)

// repoRoot is the directory holding go.work.
func repoRoot(t *testing.T) string {
	dir, _ := os.Getwd()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d
		}
	}
	t.Fatal("no go.work above " + dir)
	return ""
}

// browserTools finds Chromium and axe-core. Both are installed by
// `make test-deps` (apt chromium, npm axe-core); CI runs it, so a missing
// tool fails the test rather than skipping it.
func browserTools(t *testing.T) (chromium, axe string) {
	if os.Getenv("LINKCREDIT_SKIP_BROWSER") == "1" {
		t.Skip("LINKCREDIT_SKIP_BROWSER=1")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				chromium = p
				break
			}
		}
	}
	if chromium == "" {
		t.Fatal("Chromium not found: run `make test-deps` (apt-get install chromium) or set CHROMIUM")
	}
	axe = os.Getenv("AXE_CORE_JS")
	if axe == "" {
		axe = filepath.Join(repoRoot(t), ".cache", "npm", "node_modules", "axe-core", "axe.min.js")
	}
	if _, err := os.Stat(axe); err != nil {
		t.Fatalf("axe-core not found at %s: run `make test-deps` (npm install axe-core) or set AXE_CORE_JS", axe)
	}
	return chromium, axe
}

func browser(t *testing.T, chromium string) context.Context {
	// Not t.TempDir: Chromium may still be writing its profile when the
	// test's cleanups run, and that must not fail the test.
	profile, err := os.MkdirTemp("", "linkcredit-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

type violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  int    `json:"nodes"`
}

// TestDashboardInBrowser signs in to the dashboard in headless Chromium,
// checks its charts and tables, keyboard use and the page with JavaScript
// off, runs axe-core, saves a screenshot (DASHBOARD_SCREENSHOT, or a
// temp file), then checks the session cookie, signs out and finds a copy
// of the cookie refused.
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	chromium, axePath := browserTools(t)
	s := setup(t, testkit.Now(t))
	total := s.seed(t)
	s.waitFor(t, s.month()+"&group_by=partner", oneRow(total))
	// Six months up to the seeded one; with no range the dashboard shows
	// the twelve months up to the running one, which include it.
	months := "/?" + span(monthOf(s.day).AddDate(0, -5, 0), monthOf(s.day).AddDate(0, 1, 0))
	axe, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t, chromium)
	// Nothing the pages load is missing: every visit logged "404
	// /favicon.ico" before the pages had an icon.
	var mu sync.Mutex
	var missing, icons []string
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok {
			mu.Lock()
			defer mu.Unlock()
			if e.Response.Status == http.StatusNotFound {
				missing = append(missing, e.Response.URL)
			}
			if strings.Contains(e.Response.URL, "/favicon.") {
				icons = append(icons, fmt.Sprintf("%s %d", e.Response.URL, e.Response.Status))
			}
		}
	})
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if len(missing) > 0 {
			t.Errorf("the browser got 404 for %v", missing)
		}
		t.Logf("icons loaded: %v", icons)
	})

	// Signed out: the sign-in form, not the figures.
	var title string
	if err := chromedp.Run(ctx, chromedp.Navigate(s.p.Base+months), chromedp.Title(&title)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(title, "Sign in") {
		t.Fatalf("signed out, the page is %q", title)
	}
	var body, focused string
	var tables int
	if err := chromedp.Run(ctx,
		chromedp.SendKeys("#token", token, chromedp.ByQuery),
		chromedp.Submit("#token", chromedp.ByQuery),
		chromedp.WaitVisible("#months-heading", chromedp.ByQuery),
		chromedp.Navigate(s.p.Base+months),
		chromedp.WaitVisible("#months-heading", chromedp.ByQuery),
		chromedp.Text("main", &body, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("table").length`, &tables),
		chromedp.KeyEvent(kb.Tab),
		chromedp.Evaluate(`document.activeElement.textContent`, &focused),
	); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Commission funding by month", "coursera", "ml-101", "4.20 USD", "7.00 USD", "Top courses by earnings per click"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q:\n%s", want, body)
		}
	}
	if tables != 4 {
		t.Errorf("%d tables, want one under each of the 4 charts", tables)
	}
	if !strings.Contains(focused, "Skip to the figures") {
		t.Errorf("first Tab focuses %q, want the skip link", focused)
	}

	var result string
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(string(axe), nil),
		chromedp.Evaluate(`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(
			r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}))))`, &result,
			func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
	); err != nil {
		t.Fatal(err)
	}
	var violations []violation
	if err := json.Unmarshal([]byte(result), &violations); err != nil {
		t.Fatalf("axe result %q: %v", result, err)
	}
	for _, v := range violations {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("accessibility: %s (%s, %d nodes): %s", v.ID, v.Impact, v.Nodes, v.Help)
		} else {
			t.Logf("accessibility, minor: %s (%s): %s", v.ID, v.Impact, v.Help)
		}
	}

	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatal(err)
	}
	shot := os.Getenv("DASHBOARD_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "dashboard.png")
	}
	if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))

	// JavaScript off: the same figures, since nothing needs it.
	noJS := browser(t, chromium)
	var noJSBody string
	if err := chromedp.Run(noJS,
		emulation.SetScriptExecutionDisabled(true),
		chromedp.Navigate(s.p.Base+"/login"),
		chromedp.SendKeys("#token", token, chromedp.ByQuery),
		chromedp.Submit("#token", chromedp.ByQuery),
		chromedp.WaitVisible("#months-heading", chromedp.ByQuery),
		chromedp.Text("main", &noJSBody, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(noJSBody, "coursera") {
		t.Errorf("with JavaScript off the dashboard lacks its figures:\n%s", noJSBody)
	}

	// The session: a __Host-, Secure, HttpOnly, SameSite=Strict cookie
	// holding an opaque id, which Chromium keeps from plain HTTP on
	// loopback (beside it the unprefixed loopback cookie, for browsers
	// that do not), and which sign-out revokes: a copy taken before opens
	// nothing afterwards.
	var cookies []*network.Cookie
	var script string
	if err := chromedp.Run(ctx,
		chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			cookies, err = network.GetCookies().WithURLs([]string{s.p.Base + "/"}).Do(ctx)
			return err
		}),
		chromedp.Evaluate(`document.cookie`, &script),
	); err != nil {
		t.Fatal(err)
	}
	held := map[string]*network.Cookie{}
	for _, c := range cookies {
		held[c.Name] = c
	}
	c, plain := held[dashboard.CookieName], held[dashboard.LoopbackCookieName]
	if len(cookies) != 2 || c == nil || plain == nil || plain.Value != c.Value || plain.Secure {
		t.Fatalf("the browser holds %v, want the session's __Host- cookie and the loopback one", cookies)
	}
	if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" || !c.Secure ||
		strings.Contains(c.Value, token) || script != "" {
		t.Errorf("session cookie %+v; visible to scripts: %q", c, script)
	}
	if _, ok := session.ParseID(c.Value); !ok {
		t.Errorf("the cookie holds %q, not an opaque session id", c.Value)
	}
	copied := &http.Cookie{Name: c.Name, Value: c.Value}
	if r := s.withCookie(t, "GET", "/", "", copied); r.status != 200 {
		t.Fatalf("the copied cookie before sign-out = %d", r.status)
	}
	var after string
	if err := chromedp.Run(ctx,
		chromedp.Click("#sign-out", chromedp.ByQuery),
		chromedp.WaitVisible("#token", chromedp.ByQuery),
		chromedp.Title(&after),
		chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			cookies, err = network.GetCookies().WithURLs([]string{s.p.Base + "/"}).Do(ctx)
			return err
		}),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(after, "Sign in") || len(cookies) != 0 {
		t.Errorf("after sign-out: page %q, cookies %v", after, cookies)
	}
	if r := s.withCookie(t, "GET", "/", "", copied); r.status != 401 || strings.Contains(r.body, "coursera") {
		t.Fatalf("the copied cookie after sign-out = %d, want 401", r.status)
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(s.p.Base+months), chromedp.Title(&after)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(after, "Sign in") {
		t.Errorf("signed out, the dashboard shows %q", after)
	}
}

// One purchase in a currency with no rate into the dashboard's does not
// blank the page for everyone (found by an acceptance check): it shows the
// purchases made in the page's currency, every click, and a note naming
// the missing rate. Nothing is converted, so nothing is mislabelled.
func TestDashboardWithoutARateAtInstant(t *testing.T) {
	t.Parallel()
	s := setup(t, testkit.Now(t).Truncate(time.Millisecond))
	humanClicks := func(body string) string {
		i := strings.Index(body, "Human clicks")
		return body[max(i, 0):min(len(body), max(i, 0)+120)]
	}
	// A click whose only purchase is in JPY: the click still counts
	// (found in review: it was dropped with the JPY row).
	s.publish(t, events.TopicClicks, s.click("c1", "ml-101", "ml-101", 9*time.Hour, false, true))
	s.publish(t, events.TopicConversions, s.convIn("jpy-1", "coursera", "J-1", "c1", "approved", "1000", "100", "JPY", s.day.Add(10*time.Hour)))
	s.waitFor(t, s.month()+"&group_by=partner", oneRow(map[string]any{"clicks": 1, "conversions": 1, "currency": "JPY"}))
	r := s.do(t, "GET", "/", "", "Accept", "text/html")
	if r.status != 200 || !strings.Contains(r.body, "count only purchases made in USD") || !strings.Contains(r.body, "JPY") ||
		strings.Contains(r.body, "cannot be shown") || !strings.Contains(humanClicks(r.body), `<span class="value">1<`) {
		t.Fatalf("dashboard without a JPY rate = %d: %s\n%.3000s", r.status, humanClicks(r.body), r.body)
	}
	s.publish(t, events.TopicConversions, s.convIn("usd-1", "coursera", "U-1", "", "approved", "100.00", "12.34", "USD", s.day.Add(11*time.Hour)))
	s.waitFor(t, s.month()+"&group_by=partner", func(r reportJSON) error {
		if len(r.Rows) != 2 {
			return fmt.Errorf("%d rows, want 2", len(r.Rows))
		}
		return nil
	})
	if r := s.do(t, "GET", "/", "", "Accept", "text/html"); !strings.Contains(r.body, "count only purchases made in USD") ||
		!strings.Contains(r.body, "12.34 USD") || !strings.Contains(humanClicks(r.body), `<span class="value">1<`) {
		t.Fatalf("dashboard with a USD purchase, without a JPY rate: %s\n%.3000s", humanClicks(r.body), r.body)
	}
	if r := s.do(t, "PUT", "/v1/fx-rates", `[{"date":"`+monthOf(s.day).AddDate(0, -1, 0).Format(time.DateOnly)+`","base":"USD","quote":"JPY","rate":"100"}]`); r.status != 200 {
		t.Fatalf("rate = %d %s", r.status, r.body)
	}
	if r := s.do(t, "GET", "/", "", "Accept", "text/html"); r.status != 200 || strings.Contains(r.body, "count only purchases") ||
		!strings.Contains(r.body, "13.34 USD") {
		t.Fatalf("dashboard with the rate = %d:\n%.3000s", r.status, r.body)
	}
}

// The dashboard's months are the finance zone's, as statements and closed
// months cut them: a purchase at 22:00 UTC on a month's last day is in the
// next month in Asia/Kolkata (from a check of times: the dashboard cut
// UTC months whatever FINANCE_TIME_ZONE said).
func TestDashboardMonthsInTheFinanceZoneAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t).Truncate(time.Millisecond)
	s := setup(t, at)
	s.p.Term(t)
	s.env["FINANCE_TIME_ZONE"] = "Asia/Kolkata"
	s.start(t)
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	local := at.In(kolkata)
	running := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, kolkata) // its first instant there
	bought := running.Add(time.Hour)                                          // the day before, in UTC
	s.publishAt(t, at, events.TopicConversions, s.convIn("k1", "coursera", "K-1", "", "approved", "100.00", "12.34", "USD", bought))
	s.waitFor(t, span(monthOf(bought), monthOf(bought).AddDate(0, 1, 0))+"&group_by=partner", oneRow(map[string]any{"commission_approved": "12.34"}))
	row := func(month string) string { return `<tr><th scope="row">` + month + `</th><td>` }
	r := s.do(t, "GET", "/", "", "Accept", "text/html")
	month := running.Format("2006-01")
	if i := strings.Index(r.body, row(month)); r.status != 200 || i < 0 || !strings.HasPrefix(r.body[i+len(row(month)):], "12.34") ||
		!strings.Contains(r.body, "(Asia/Kolkata, the finance time zone)") {
		t.Fatalf("dashboard = %d, want 12.34 earned in %s (Kolkata's month):\n%.4000s", r.status, month, r.body)
	}
}
