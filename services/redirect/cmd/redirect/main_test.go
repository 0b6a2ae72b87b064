package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clickid"
	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/redirect/internal/postgres"
	"github.com/linkcredit/linkcredit/services/redirect/internal/visitor"
)

func TestLinkAdminAPI(t *testing.T) {
	t.Parallel()
	b := testkit.RestartableKafka(t)
	p := start(t, testkit.Listen(t), baseEnv(t, migratedDatabaseURL(t), b))

	body := `{"partner":"coursera","course_id":"ml-101","title":"Machine Learning","destination":"https://www.coursera.org/learn/ml?clickid={click_id}","active":true}`
	tests := []struct {
		name, method, path, body string
		auth                     bool
		status                   int
		contains                 string
	}{
		{"no token", "PUT", "/v1/links/ml-101", body, false, 401, "missing_token"},
		{"create", "PUT", "/v1/links/ml-101", body, true, 201, `"created_at"`},
		{"replace", "PUT", "/v1/links/ml-101", body, true, 200, `"code":"ml-101"`},
		{"invalid", "PUT", "/v1/links/bad", `{"partner":"x","course_id":"c","destination":"https://{code}.evil.example/"}`, true, 422, `"field":"destination"`},
		{"bad code", "PUT", "/v1/links/has.dot", body, true, 422, `"field":"code"`},
		{"code mismatch", "PUT", "/v1/links/other", `{"code":"ml-101","partner":"x","course_id":"c","destination":"https://x.example/"}`, true, 422, "differs"},
		{"unknown field", "PUT", "/v1/links/x", `{"partner":"x","course_id":"c","destination":"https://x.example/","colour":"red"}`, true, 400, "unknown field"},
		{"malformed", "PUT", "/v1/links/x", `{"partner":`, true, 400, "malformed_json"},
		{"money as wrong type", "PUT", "/v1/links/x", `{"partner":1}`, true, 400, "must be a string"},
		{"get", "GET", "/v1/links/ml-101", "", true, 200, `"title":"Machine Learning"`},
		{"get unknown", "GET", "/v1/links/none", "", true, 404, "link_not_found"},
		{"list bad limit", "GET", "/v1/links?limit=0", "", true, 422, `"field":"limit"`},
		{"wrong method", "DELETE", "/v1/links/ml-101", "", true, 405, "method_not_allowed"},
		{"no allow-list", "GET", "/v1/links/ml-101", "", true, 200, `"placements":[]`},
		{"allow-list", "PUT", "/v1/links/pl", `{"partner":"x","course_id":"c","destination":"https://x.example/","placements":["hero","sidebar"]}`, true, 201, `"placements":["hero","sidebar"]`},
		{"get allow-list", "GET", "/v1/links/pl", "", true, 200, `"placements":["hero","sidebar"]`},
		{"bad placement", "PUT", "/v1/links/pl", `{"partner":"x","course_id":"c","destination":"https://x.example/","placements":["hero","a b"]}`, true, 422, `"field":"placements"`},
		{"too many placements", "PUT", "/v1/links/pl", `{"partner":"x","course_id":"c","destination":"https://x.example/","placements":[` +
			strings.TrimSuffix(strings.Repeat(`"p",`, 33), ",") + `]}`, true, 422, "more than 32"},
		{"placements as a string", "PUT", "/v1/links/pl", `{"partner":"x","course_id":"c","destination":"https://x.example/","placements":"hero"}`, true, 400, "placements"},
		{"destination too long filled", "PUT", "/v1/links/pl", `{"partner":"x","course_id":"` + strings.Repeat("%", 128) +
			`","destination":"https://x.example/?` + strings.Repeat("{course_id}", 30) + `"}`, true, 422, "macros filled"},
	}
	for _, tt := range tests {
		var r response
		if tt.auth {
			r = admin(t, tt.method, p.Base+tt.path, tt.body)
		} else {
			r = do(t, tt.method, p.Base+tt.path, tt.body)
		}
		if r.status != tt.status || !strings.Contains(r.body, tt.contains) {
			t.Errorf("%s: %s %s = %d %s, want %d containing %s", tt.name, tt.method, tt.path, r.status, r.body, tt.status, tt.contains)
		}
	}

	// Import: NDJSON with bad rows reported by line, then CSV.
	ndjson := `{"code":"a1","partner":"edx","course_id":"c1","destination":"https://edx.example/c1?cid={click_id}"}
{"code":"a2","partner":"edx","course_id":"c2","destination":"ftp://edx.example/"}
not json
{"code":"a3","partner":"udemy","course_id":"c3","destination":"https://udemy.example/c3","active":false}
`
	r := admin(t, "POST", p.Base+"/v1/links:import", ndjson, "Content-Type", "application/x-ndjson")
	var res struct {
		Rows, Created, Updated, Failed int
		Errors                         []struct {
			Line           int
			Field, Message string
		}
	}
	if err := json.Unmarshal([]byte(r.body), &res); err != nil || r.status != 200 {
		t.Fatalf("import = %d %s", r.status, r.body)
	}
	if res.Rows != 4 || res.Created != 2 || res.Failed != 2 || len(res.Errors) != 2 ||
		res.Errors[0].Line != 2 || res.Errors[0].Field != "destination" || res.Errors[1].Line != 3 {
		t.Fatalf("import result %+v", res)
	}
	csv := "code,partner,course_id,title,destination,active\na1,edx,c1,\"Title, with comma\",https://edx.example/new,true\nb1,edx,c9,T,https://edx.example/b1,\n"
	r = admin(t, "POST", p.Base+"/v1/links:import", csv, "Content-Type", "text/csv")
	if !strings.Contains(r.body, `"created":1`) || !strings.Contains(r.body, `"updated":1`) {
		t.Fatalf("csv import = %d %s", r.status, r.body)
	}
	if r := admin(t, "POST", p.Base+"/v1/links:import", "  \n"); r.status != 400 {
		t.Fatalf("empty import = %d %s", r.status, r.body)
	}
	if r := admin(t, "POST", p.Base+"/v1/links:import", "code,partner\nx,y\n", "Content-Type", "text/csv"); r.status != 400 || !strings.Contains(r.body, "lacks") {
		t.Fatalf("bad header import = %d %s", r.status, r.body)
	}

	// Allow-lists come in with feeds too: a JSON array, or a CSV column.
	r = admin(t, "POST", p.Base+"/v1/links:import", `{"code":"p1","partner":"edx","course_id":"c1","destination":"https://edx.example/","placements":["hero"]}
{"code":"p2","partner":"edx","course_id":"c2","destination":"https://edx.example/","placements":["hero","bad value"]}`, "Content-Type", "application/x-ndjson")
	if !strings.Contains(r.body, `"created":1`) || !strings.Contains(r.body, `"field":"placements"`) {
		t.Fatalf("NDJSON import with placements = %d %s", r.status, r.body)
	}
	r = admin(t, "POST", p.Base+"/v1/links:import", "code,partner,course_id,destination,placements\np3,udemy,c3,https://u.example/,\"hero, sidebar\"\n", "Content-Type", "text/csv")
	if !strings.Contains(r.body, `"created":1`) {
		t.Fatalf("CSV import with placements = %d %s", r.status, r.body)
	}
	for code, want := range map[string]string{"p1": `"placements":["hero"]`, "p3": `"placements":["hero","sidebar"]`} {
		if r := admin(t, "GET", p.Base+"/v1/links/"+code, ""); !strings.Contains(r.body, want) {
			t.Errorf("imported %s = %s, want %s", code, r.body, want)
		}
	}

	// Paging by partner.
	var page struct {
		Links      []struct{ Code string }
		NextCursor string `json:"next_cursor"`
	}
	json.Unmarshal([]byte(admin(t, "GET", p.Base+"/v1/links?partner=edx&limit=1", "").body), &page)
	if len(page.Links) != 1 || page.Links[0].Code != "a1" || page.NextCursor != "a1" {
		t.Fatalf("page 1 = %+v", page)
	}
	json.Unmarshal([]byte(admin(t, "GET", p.Base+"/v1/links?partner=edx&limit=1&cursor=a1", "").body), &page)
	if len(page.Links) != 1 || page.Links[0].Code != "b1" {
		t.Fatalf("page 2 = %+v", page)
	}
	// Imported links are live at once.
	if r := do(t, "GET", p.Base+"/c/b1", ""); r.status != 302 {
		t.Fatalf("imported link = %d", r.status)
	}
	if r := do(t, "GET", p.Base+"/c/a3", ""); r.status != 404 {
		t.Fatalf("inactive imported link = %d", r.status)
	}

	// A code on two rows of a feed: each row counts once, the last wins.
	for _, tt := range []struct{ name, contentType, feed string }{
		{"NDJSON", "application/x-ndjson", `{"code":"d1","partner":"udemy","course_id":"first","destination":"https://u.example/1"}
{"code":"d1","partner":"udemy","course_id":"last","destination":"https://u.example/2"}
`},
		{"CSV", "text/csv", "code,partner,course_id,destination\nd2,udemy,first,https://u.example/1\nd2,udemy,last,https://u.example/2\n"},
	} {
		r := admin(t, "POST", p.Base+"/v1/links:import", tt.feed, "Content-Type", tt.contentType)
		if r.status != 200 || !strings.Contains(r.body, `"rows":2,"created":1,"updated":1,"failed":0,"errors":[]`) {
			t.Errorf("%s import of a code twice = %d %s", tt.name, r.status, r.body)
		}
	}
	for _, code := range []string{"d1", "d2"} {
		if r := admin(t, "GET", p.Base+"/v1/links/"+code, ""); !strings.Contains(r.body, `"course_id":"last"`) {
			t.Errorf("%s after the import = %s, want the last row's", code, r.body)
		}
	}

	// A destination written as an IRI is stored, answered and redirected
	// to as its ASCII URI.
	const iri, uri = "https://bücher.example/kurs/é?q=ü&id={click_id}", "https://xn--bcher-kva.example/kurs/%C3%A9?q=%C3%BC&id="
	r = admin(t, "PUT", p.Base+"/v1/links/iri", `{"partner":"udemy","course_id":"c","destination":"`+iri+`"}`)
	if r.status != 201 || !strings.Contains(r.body, `"destination":"`+uri+`{click_id}"`) {
		t.Fatalf("PUT of an IRI = %d %s", r.status, r.body)
	}
	if r := admin(t, "GET", p.Base+"/v1/links/iri", ""); !strings.Contains(r.body, `"destination":"`+uri+`{click_id}"`) {
		t.Fatalf("GET of an IRI link = %s", r.body)
	}
	if r := do(t, "GET", p.Base+"/c/iri", ""); r.status != 302 || r.header.Get("Location") != uri+r.header.Get("X-Click-Id") {
		t.Fatalf("click on an IRI link = %d, Location %q", r.status, r.header.Get("Location"))
	}
	if r := admin(t, "PUT", p.Base+"/v1/links/iri", `{"partner":"udemy","course_id":"c","destination":"https://evil\uff0ecom\uff0fx/"}`); r.status != 422 ||
		!strings.Contains(r.body, "internationalised domain name") {
		t.Fatalf("PUT of a host that is no IDN = %d %s", r.status, r.body)
	}
}

// TestClickRecordsWhatTheContractSaysAtInstant runs the service frozen at
// the test's instant: every click happened then, in its Kafka timestamp
// and its click id too, and its visitor hash is the one under the salt of
// that instant's UTC day, with the next day's salt already in the store.
// (A frozen clock cannot cross midnight: the visitor package's and the
// redirect package's tests cover the day boundary.)
func TestClickRecordsWhatTheContractSaysAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t)
	b := testkit.RestartableKafka(t)
	dbURL := migratedDatabaseURL(t)
	e := baseEnv(t, dbURL, b)
	e["INTERNAL_CIDRS"] = "10.0.0.0/8"
	p := startAt(t, testkit.Listen(t), e, at)
	putLink(t, p.Base, "ml-101", "https://www.coursera.org/learn/{course_id}?clickid={click_id}&p={partner}")
	signer, _ := clickid.NewSigner([]byte(clickKey))

	browser := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
	r := do(t, "GET", p.Base+"/c/ml-101?utm_source=news&utm_medium=email&utm_campaign=nov&utm_term=ml&utm_content=a&placement=hero",
		"", "User-Agent", browser, "Referer", "https://catalog.example/ml")
	id := r.header.Get("X-Click-Id")
	if r.status != 302 || r.header.Get("Cache-Control") != "no-store" || signer.Verify(id) != nil {
		t.Fatalf("click = %d %v", r.status, r.header)
	}
	if want := "https://www.coursera.org/learn/ml-101?clickid=" + id + "&p=coursera"; r.header.Get("Location") != want {
		t.Fatalf("Location %q, want %q", r.header.Get("Location"), want)
	}
	second := do(t, "GET", p.Base+"/c/ml-101", "", "User-Agent", browser).header.Get("X-Click-Id")
	bot := do(t, "GET", p.Base+"/c/ml-101", "", "User-Agent", "Slackbot-LinkExpanding 1.0").header.Get("X-Click-Id")
	prefetch := do(t, "GET", p.Base+"/c/ml-101", "", "User-Agent", browser, "Sec-Purpose", "prefetch").header.Get("X-Click-Id")

	// Not billable: HEAD, no-track, unknown codes.
	if r := do(t, "HEAD", p.Base+"/c/ml-101", ""); r.status != 302 || r.header.Get("X-Click-Id") != "" {
		t.Fatalf("HEAD = %d %v", r.status, r.header)
	}
	if r := do(t, "GET", p.Base+"/c/ml-101?no-track", ""); r.status != 302 || r.header.Get("X-Click-Id") != "" {
		t.Fatalf("no-track = %d %v", r.status, r.header)
	}
	if r := do(t, "GET", p.Base+"/c/nope", "", "Accept", "text/html"); r.status != 404 || !strings.Contains(r.body, "<html") ||
		r.header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(r.header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("HTML 404 = %d %v %s", r.status, r.header, r.body)
	}
	if r := do(t, "GET", p.Base+"/c/nope", "", "Accept", "application/json"); r.status != 404 || !strings.Contains(r.body, `"link_not_found"`) {
		t.Fatalf("JSON 404 = %d %s", r.status, r.body)
	}
	if r := do(t, "GET", p.Base+"/c/nope", "", "Accept", "APPLICATION/JSON"); r.status != 404 || !strings.Contains(r.body, `"link_not_found"`) {
		t.Fatalf("JSON 404 for APPLICATION/JSON = %d %s", r.status, r.body)
	}
	if r := do(t, "GET", p.Base+"/c/nope", "", "Accept", "application/json;q=0.1, text/html"); r.status != 404 || !strings.Contains(r.body, "<html") {
		t.Fatalf("HTML 404 for a client preferring HTML = %d %s", r.status, r.body)
	}
	if r := do(t, "GET", p.Base+"/c/bad%2Fcode", ""); r.status != 404 || r.header.Get("Location") != "" {
		t.Fatalf("bad code = %d %v", r.status, r.header)
	}

	want := map[string]bool{id: true, second: true, bot: true, prefetch: true}
	got := clicks(t, b, want, 20*time.Second)
	if len(got) != 4 {
		t.Fatalf("clicks.v1 has %d clicks, want exactly 4 (HEAD and no-track are not billable): %v", len(got), got)
	}
	c := got[id]
	if c.Code != "ml-101" || c.Partner != "coursera" || c.CourseID != "ml-101" || c.UserAgent != browser ||
		c.Referer != "https://catalog.example/ml" || c.UTMSource != "news" || c.UTMMedium != "email" ||
		c.UTMCampaign != "nov" || c.UTMTerm != "ml" || c.UTMContent != "a" || c.Placement != "hero" ||
		c.Bot || !c.Unique || len(c.VisitorHash) != 22 || strings.Contains(c.VisitorHash, "127.0.0") {
		t.Fatalf("click event %+v", c)
	}
	if got[second].Unique || got[second].VisitorHash != c.VisitorHash {
		t.Fatalf("the same visitor's second click is unique: %+v", got[second])
	}
	if !got[bot].Bot || got[bot].BotReason != "unfurler" || !got[prefetch].Bot || got[prefetch].BotReason != "prefetch" {
		t.Fatalf("bot verdicts: %+v / %+v", got[bot], got[prefetch])
	}
	if got, _ := json.Marshal(c.ClickRecorded); strings.Contains(string(got), "127.0.0.1") {
		t.Fatal("the raw IP is in the click event")
	}

	for id, c := range got {
		if !c.OccurredAt.Equal(at) || c.KafkaTime.UnixMilli() != at.UnixMilli() {
			t.Errorf("click %s occurred at %v, Kafka time %v; want the service's clock, %v", id, c.OccurredAt, c.KafkaTime, at)
		}
		if idAt, err := clickid.Time(id); err != nil || idAt.UnixMilli() != at.UnixMilli() {
			t.Errorf("click id %s carries %v (%v), want %v", id, idAt, err, at)
		}
	}
	db, err := database.Open(dbURL, database.Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var days []string
	rows, err := db.Query(`SELECT day::text FROM redirect.visitor_salts ORDER BY day`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		days = append(days, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{visitor.Day(at), visitor.Day(at.Add(24 * time.Hour))}; !slices.Equal(days, want) {
		t.Errorf("visitor salts for %v, want today's and tomorrow's at %s: %v", days, at.Format(time.RFC3339), want)
	}
	salts := visitor.NewHasher(postgres.NewSalts(db), slog.New(slog.DiscardHandler))
	if err := salts.Refresh(context.Background(), at); err != nil {
		t.Fatal(err)
	}
	if want := salts.Hash(at, netip.MustParseAddr("127.0.0.1"), browser); c.VisitorHash != want {
		t.Errorf("visitor hash %s, want %s under the salt of %s", c.VisitorHash, want, visitor.Day(at))
	}
}

// TestRateLimit: a visitor (IP /24 and User-Agent) gets
// RATE_LIMIT_PER_MINUTE clicks a minute; rotating the User-Agent gets it
// no further than RATE_LIMIT_PER_IP_PER_MINUTE for its /24.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	b := testkit.RestartableKafka(t)
	e := baseEnv(t, migratedDatabaseURL(t), b)
	e["RATE_LIMIT_PER_MINUTE"] = "3"
	e["RATE_LIMIT_PER_IP_PER_MINUTE"] = "5"
	p := start(t, testkit.Listen(t), e)
	putLink(t, p.Base, "x", "https://x.example/")
	for i := range 3 {
		if r := do(t, "GET", p.Base+"/c/x", "", "User-Agent", "Mozilla/5.0 A"); r.status != 302 {
			t.Fatalf("click %d = %d", i, r.status)
		}
	}
	if r := do(t, "GET", p.Base+"/c/x", "", "User-Agent", "Mozilla/5.0 A", "Accept", "application/json"); r.status != 429 ||
		!strings.Contains(r.body, "rate_limited") || !strings.Contains(r.body, "visitor") || r.header.Get("Retry-After") != "60" {
		t.Fatalf("4th click = %d %v %s", r.status, r.header, r.body)
	}
	// A browser is told the same wait as an API client (it was 60 s
	// against 5 s).
	if r := do(t, "GET", p.Base+"/c/x", "", "User-Agent", "Mozilla/5.0 A", "Accept", "text/html"); r.status != 429 ||
		r.header.Get("Retry-After") != "60" {
		t.Fatalf("5th click, from a browser = %d %v", r.status, r.header)
	}
	for i := range 2 { // 3 + 2: the network's 5
		if r := do(t, "GET", p.Base+"/c/x", "", "User-Agent", fmt.Sprintf("Mozilla/5.0 rotated/%d", i)); r.status != 302 {
			t.Fatalf("rotated click %d = %d", i, r.status)
		}
	}
	r := do(t, "GET", p.Base+"/c/x", "", "User-Agent", "Mozilla/5.0 rotated/99", "Accept", "application/json")
	if r.status != 429 || !strings.Contains(r.body, "rate_limited") || !strings.Contains(r.body, "network") || r.header.Get("Retry-After") == "" {
		t.Fatalf("a click past the network's limit = %d %v %s", r.status, r.header, r.body)
	}
	metrics := do(t, "GET", p.Base+"/metrics", "").body
	for _, limit := range []string{"visitor", "network"} {
		if !strings.Contains(metrics, `limit="`+limit+`"`) {
			t.Errorf("no refusals by the %s limit in /metrics", limit)
		}
	}
	// The series alert RedirectNetworkRateLimited reads
	// (k8s/components/telemetry/pipeline.rules.yaml).
	if !regexp.MustCompile(`(?m)^redirect_clicks_total\{[^}]*limit="network"[^}]*outcome="rate_limited"[^}]*\} 1$`).MatchString(metrics) {
		t.Errorf("no redirect_clicks_total{limit=\"network\",outcome=\"rate_limited\"} 1 in /metrics:\n%s", metrics)
	}
}

// TestProxyWarning: behind a proxy TRUSTED_PROXIES does not name (here
// clicks from loopback carrying X-Forwarded-For), the service says so
// once, early; with the proxy trusted, or without forwarding headers, it
// says nothing.
func TestProxyWarning(t *testing.T) {
	t.Parallel()
	b := testkit.RestartableKafka(t)
	db := migratedDatabaseURL(t)
	const warning = "clicks arrive through a proxy"
	tests := []struct {
		name, trusted string
		headers       []string
		warn          bool
	}{
		{"untrusted proxy", "", []string{"X-Forwarded-For", "198.51.100.77"}, true},
		{"trusted proxy", "127.0.0.0/8", []string{"X-Forwarded-For", "198.51.100.77"}, false},
		{"no proxy", "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := baseEnv(t, db, b)
			e["TRUSTED_PROXIES"] = tt.trusted
			p := start(t, testkit.Listen(t), e)
			putLink(t, p.Base, "k", "https://k.example/")
			for i := range 150 {
				if r := do(t, "GET", p.Base+"/c/k", "", tt.headers...); r.status != 302 {
					t.Fatalf("click %d = %d", i, r.status)
				}
			}
			if !tt.warn {
				// The sample's last click was answered after the decision.
				if strings.Contains(p.Logs(), warning) {
					t.Fatalf("a proxy warning without a proxy:\n%s", p.Logs())
				}
				return
			}
			testkit.WaitFor(t, 30*time.Second, func() error {
				if n := strings.Count(p.Logs(), warning); n != 1 {
					return fmt.Errorf("%d proxy warnings, want 1", n)
				}
				return nil
			})
			if strings.Contains(p.Logs(), "198.51.100.77") {
				t.Fatal("the log holds a visitor's address")
			}
		})
	}
}

// TestChangeReachesOtherReplica: a link written through one replica is
// served by another without a restart, pushed by NOTIFY. It usually takes
// milliseconds (logged); the deadline only bounds a hang, so a slow
// machine or -race cannot fail it.
func TestChangeReachesOtherReplica(t *testing.T) {
	t.Parallel()
	b := testkit.RestartableKafka(t)
	db := migratedDatabaseURL(t)
	a := start(t, testkit.Listen(t), baseEnv(t, db, b))
	other := start(t, testkit.Listen(t), baseEnv(t, db, b))
	serves := func(dest string) func() error {
		return func() error {
			r := do(t, "GET", other.Base+"/c/live", "")
			if r.status != 302 || r.header.Get("Location") != dest {
				return fmt.Errorf("the other replica answers %d to %q, want 302 to %s", r.status, r.header.Get("Location"), dest)
			}
			return nil
		}
	}
	for _, dest := range []string{"https://one.example/", "https://two.example/"} {
		putLink(t, a.Base, "live", dest)
		began := time.Now()
		testkit.WaitFor(t, 30*time.Second, serves(dest))
		t.Logf("%s live on the other replica after %s", dest, time.Since(began).Round(time.Millisecond))
	}
}

func redirects(t *testing.T, base string, n int) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for i := range n {
		r := do(t, "GET", fmt.Sprintf("%s/c/k?utm_content=%d", base, i), "", "User-Agent", "Mozilla/5.0")
		if r.status != 302 || r.header.Get("X-Click-Id") == "" {
			t.Fatalf("redirect %d = %d %s", i, r.status, r.body)
		}
		ids[r.header.Get("X-Click-Id")] = true
	}
	return ids
}

// TestKilledRightAfterRedirectsLosesNoClick SIGKILLs the service right
// after N redirects; every click reaches clicks.v1 after the restart.
func TestKilledRightAfterRedirectsLosesNoClick(t *testing.T) {
	t.Parallel()
	b := testkit.RestartableKafka(t)
	e := baseEnv(t, migratedDatabaseURL(t), b)
	ln := testkit.Listen(t)
	p := start(t, ln, e)
	putLink(t, p.Base, "k", "https://k.example/?id={click_id}")

	// Kafka is cut while the redirects happen, so at the kill every click
	// is only in the click log; then SIGKILL, no chance to flush anything.
	b.Stop()
	ids := redirects(t, p.Base, 300)
	p.Kill()

	b.Start(t)
	start(t, ln, e) // same address, same click log directory
	got := clicks(t, b, ids, 30*time.Second)
	for id := range ids {
		if _, ok := got[id]; !ok {
			t.Fatalf("click %s was answered with 302 and is not on clicks.v1 (%d of %d arrived)", id, len(got), len(ids))
		}
	}
}

// TestBrokerOutageDrains: redirects go on while the broker is down, the
// click log grows, readiness says Kafka is down, and everything drains
// once the broker is back, without a restart.
func TestBrokerOutageDrains(t *testing.T) {
	t.Parallel()
	b := testkit.RestartableKafka(t)
	p := start(t, testkit.Listen(t), baseEnv(t, migratedDatabaseURL(t), b))
	putLink(t, p.Base, "k", "https://k.example/?id={click_id}")
	before := redirects(t, p.Base, 50)

	b.Stop()
	during := redirects(t, p.Base, 200)
	if r := do(t, "GET", p.Base+"/readyz", ""); r.status != 503 || !strings.Contains(r.body, "kafka") {
		t.Fatalf("readyz with Kafka down = %d %s", r.status, r.body)
	}
	metrics := do(t, "GET", p.Base+"/metrics", "").body
	// The click log's gauges, by the names the alerts (pipeline.rules.yaml) read.
	for _, name := range []string{"redirect_clicklog_unshipped_bytes", "redirect_clicklog_oldest_unshipped_age_seconds", "redirect_clicklog_budget_used_ratio"} {
		if !regexp.MustCompile(`(?m)^` + name + `[{ ]`).MatchString(metrics) {
			t.Errorf("no %s in /metrics:\n%s", name, metrics)
		}
	}
	// An outage of a while: the broker comes back once the shipper has
	// failed and retried, however long that takes on this machine.
	testkit.WaitFor(t, time.Minute, func() error {
		if n := counter(do(t, "GET", p.Base+"/metrics", "").body, "redirect_clicklog_ship_errors_total"); n < 2 {
			return fmt.Errorf("%v failed publishes so far, want a retry", n)
		}
		return nil
	})
	b.Start(t)

	all := map[string]bool{}
	for id := range before {
		all[id] = true
	}
	for id := range during {
		all[id] = true
	}
	got := clicks(t, b, all, 30*time.Second)
	for id := range all {
		if _, ok := got[id]; !ok {
			t.Fatalf("click %s missing after the broker came back (%d of %d)", id, len(got), len(all))
		}
	}
	p.Term(t)
}
