package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/clickid"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// The test binary doubles as the redirect binary, so tests can run it as a
// real process and SIGKILL it.
func TestMain(m *testing.M) {
	if os.Getenv("LINKCREDIT_RUN_REDIRECT") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	adminToken = "test-admin-token"
	clickKey   = "test-click-id-key-0123456789"
)

type env map[string]string

func baseEnv(t *testing.T, dbURL string, b *testkit.Broker) env {
	return env{
		"DATABASE_URL": dbURL, "KAFKA_BROKERS": b.Addr, "ADMIN_TOKEN": adminToken,
		"CLICK_ID_KEYS": clickKey, "CLICKLOG_DIR": t.TempDir(), "REDIRECT_ADDR": testkit.FreeAddr(t),
		"RATE_LIMIT_PER_MINUTE": "100000", "LOG_LEVEL": "warn",
	}
}

func start(t *testing.T, e env) *testkit.Process {
	t.Helper()
	return testkit.StartProcess(t, "LINKCREDIT_RUN_REDIRECT", "REDIRECT_ADDR", e)
}

var client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url, body string, headers ...string) response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

func admin(t *testing.T, method, url, body string, headers ...string) response {
	return do(t, method, url, body, append([]string{"Authorization", "Bearer " + adminToken}, headers...)...)
}

func putLink(t *testing.T, base, code, dest string) {
	t.Helper()
	r := admin(t, "PUT", base+"/v1/links/"+code, fmt.Sprintf(`{"partner":"coursera","course_id":"%s","title":"T","destination":%q}`, code, dest))
	if r.status != 201 && r.status != 200 {
		t.Fatalf("PUT %s = %d %s", code, r.status, r.body)
	}
}

// clicks reads clicks.v1 from the start until want ids are seen.
func clicks(t *testing.T, b *testkit.Broker, want map[string]bool, timeout time.Duration) map[string]events.ClickRecorded {
	t.Helper()
	got := map[string]events.ClickRecorded{}
	conn, err := kafka.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(events.TopicClicks)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.Addr}, Topic: events.TopicClicks, Partition: p.ID, MaxWait: 100 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				c, err := events.DecodeClick(m.Value)
				if err != nil {
					t.Errorf("bad event on clicks.v1: %v: %s", err, m.Value)
					continue
				}
				hasTrace := false
				for _, h := range m.Headers {
					hasTrace = hasTrace || (h.Key == "traceparent" && len(h.Value) == 55)
				}
				if !hasTrace {
					t.Errorf("click %s has no W3C traceparent header", c.ID)
				}
				mu.Lock()
				got[c.ID] = c
				done := true
				for id := range want {
					if _, ok := got[id]; !ok {
						done = false
						break
					}
				}
				mu.Unlock()
				if done {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	return got
}

func TestLinkAdminAPI(t *testing.T) {
	b := testkit.RestartableKafka(t)
	p := start(t, baseEnv(t, testkit.DatabaseURL(t), b))

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
		{"money as wrong type", "PUT", "/v1/links/x", `{"partner":1}`, true, 400, "partner must be a string"},
		{"get", "GET", "/v1/links/ml-101", "", true, 200, `"title":"Machine Learning"`},
		{"get unknown", "GET", "/v1/links/none", "", true, 404, "link_not_found"},
		{"list bad limit", "GET", "/v1/links?limit=0", "", true, 422, `"field":"limit"`},
		{"wrong method", "DELETE", "/v1/links/ml-101", "", true, 405, "method_not_allowed"},
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
}

func TestClickRecordsWhatTheContractSays(t *testing.T) {
	b := testkit.RestartableKafka(t)
	e := baseEnv(t, testkit.DatabaseURL(t), b)
	e["INTERNAL_CIDRS"] = "10.0.0.0/8"
	p := start(t, e)
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
	if r := do(t, "GET", p.Base+"/c/nope", "", "Accept", "text/html"); r.status != 404 || !strings.Contains(r.body, "<html") {
		t.Fatalf("HTML 404 = %d %s", r.status, r.body)
	}
	if r := do(t, "GET", p.Base+"/c/nope", "", "Accept", "application/json"); r.status != 404 || !strings.Contains(r.body, `"link_not_found"`) {
		t.Fatalf("JSON 404 = %d %s", r.status, r.body)
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
	if got, _ := json.Marshal(c); strings.Contains(string(got), "127.0.0.1") {
		t.Fatal("the raw IP is in the click event")
	}
}

func TestRateLimit(t *testing.T) {
	b := testkit.RestartableKafka(t)
	e := baseEnv(t, testkit.DatabaseURL(t), b)
	e["RATE_LIMIT_PER_MINUTE"] = "3"
	p := start(t, e)
	putLink(t, p.Base, "x", "https://x.example/")
	for i := range 3 {
		if r := do(t, "GET", p.Base+"/c/x", ""); r.status != 302 {
			t.Fatalf("click %d = %d", i, r.status)
		}
	}
	if r := do(t, "GET", p.Base+"/c/x", "", "Accept", "application/json"); r.status != 429 || !strings.Contains(r.body, "rate_limited") {
		t.Fatalf("4th click = %d %s", r.status, r.body)
	}
}

func TestChangeReachesOtherReplicaWithinASecond(t *testing.T) {
	b := testkit.RestartableKafka(t)
	db := testkit.DatabaseURL(t)
	a := start(t, baseEnv(t, db, b))
	other := start(t, baseEnv(t, db, b))
	putLink(t, a.Base, "live", "https://one.example/")
	deadline := time.Now().Add(time.Second)
	start := time.Now()
	for {
		r := do(t, "GET", other.Base+"/c/live", "")
		if r.status == 302 && r.header.Get("Location") == "https://one.example/" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other replica did not serve the new link within 1s (last: %d)", r.status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("new link live on the other replica after %s", time.Since(start).Round(time.Millisecond))
	putLink(t, a.Base, "live", "https://two.example/")
	deadline = time.Now().Add(time.Second)
	for do(t, "GET", other.Base+"/c/live", "").header.Get("Location") != "https://two.example/" {
		if time.Now().After(deadline) {
			t.Fatal("the other replica did not serve the changed link within 1s")
		}
		time.Sleep(10 * time.Millisecond)
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
	b := testkit.RestartableKafka(t)
	e := baseEnv(t, testkit.DatabaseURL(t), b)
	p := start(t, e)
	putLink(t, p.Base, "k", "https://k.example/?id={click_id}")

	// Kafka is cut while the redirects happen, so at the kill every click
	// is only in the click log; then SIGKILL, no chance to flush anything.
	b.Stop()
	ids := redirects(t, p.Base, 300)
	p.Kill()

	b.Start(t)
	start(t, e) // same click log directory
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
	b := testkit.RestartableKafka(t)
	p := start(t, baseEnv(t, testkit.DatabaseURL(t), b))
	putLink(t, p.Base, "k", "https://k.example/?id={click_id}")
	before := redirects(t, p.Base, 50)

	b.Stop()
	during := redirects(t, p.Base, 200)
	if r := do(t, "GET", p.Base+"/readyz", ""); r.status != 503 || !strings.Contains(r.body, "kafka") {
		t.Fatalf("readyz with Kafka down = %d %s", r.status, r.body)
	}
	metrics := do(t, "GET", p.Base+"/metrics", "").body
	if !strings.Contains(metrics, "redirect_clicklog_unshipped_bytes") {
		t.Fatal("no click log lag metric")
	}
	time.Sleep(2 * time.Second) // an outage of a while: the shipper keeps retrying
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
