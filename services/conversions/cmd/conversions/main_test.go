package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/pgcluster"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/conversions/internal/webhook"
)

func TestMain(m *testing.M) {
	if os.Getenv("LINKCREDIT_RUN_CONVERSIONS") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	adminToken    = "test-admin-token"
	postbackToken = "pb-token-0123456789abcdef"
)

var secretsKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))

func newSecret() (string, []byte) {
	key := make([]byte, 32)
	rand.Read(key)
	return "whsec_" + base64.StdEncoding.EncodeToString(key), key
}

type stack struct {
	p      *testkit.Process
	b      *testkit.Broker
	env    map[string]string
	secret string
	key    []byte
}

func setup(t *testing.T, dbURL string) *stack {
	t.Helper()
	b := testkit.RestartableKafka(t)
	env := map[string]string{"DATABASE_URL": dbURL, "KAFKA_BROKERS": b.Addr, "ADMIN_TOKEN": adminToken,
		"SECRETS_KEY": secretsKey, "CONVERSIONS_ADDR": testkit.FreeAddr(t), "LOG_LEVEL": "warn"}
	s := &stack{b: b, env: env}
	s.p = testkit.StartProcess(t, "LINKCREDIT_RUN_CONVERSIONS", "CONVERSIONS_ADDR", env)
	s.secret, s.key = newSecret()
	s.putPartner(t, "coursera", fmt.Sprintf(`{"name":"Coursera","webhook_secrets":[%q],"postback_token":%q,"currency":"USD"}`, s.secret, postbackToken), 201)
	return s
}

type resp struct {
	status int
	body   string
	header http.Header
}

func do(t *testing.T, method, url string, body []byte, headers ...string) resp {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, string(b), r.Header}
}

func (s *stack) putPartner(t *testing.T, id, body string, want int) resp {
	t.Helper()
	r := do(t, "PUT", s.p.Base+"/v1/partners/"+id, []byte(body), "Authorization", "Bearer "+adminToken)
	if want != 0 && r.status != want {
		t.Fatalf("PUT partner %s = %d %s, want %d", id, r.status, r.body, want)
	}
	return r
}

func conversionBody(order, status, commission string) []byte {
	return []byte(fmt.Sprintf(`{"order_id":%q,"click_id":"c-1","status":%q,"sale_amount":"49.00","commission":%q,"currency":"USD","occurred_at":"2026-11-20T10:00:00Z"}`, order, status, commission))
}

// send delivers a webhook signed with key at time ts.
func (s *stack) send(t *testing.T, partner, id string, body []byte, key []byte, ts time.Time, extra ...string) resp {
	t.Helper()
	tsStr := strconv.FormatInt(ts.Unix(), 10)
	sig := webhook.Sign(key, id, tsStr, body)
	h := append([]string{"webhook-id", id, "webhook-timestamp", tsStr, "webhook-signature", sig, "Content-Type", "application/json"}, extra...)
	return do(t, "POST", s.p.Base+"/v1/webhooks/"+partner, body, h...)
}

func TestPartnerAPI(t *testing.T) {
	s := setup(t, testkit.DatabaseURL(t))
	second, _ := newSecret()
	r := s.putPartner(t, "coursera", fmt.Sprintf(`{"name":"Coursera Inc","webhook_secrets":[%q,%q],"currency":"USD"}`, s.secret, second), 200)
	if strings.Contains(r.body, "whsec_") || !strings.Contains(r.body, `"webhook_secrets":2`) || !strings.Contains(r.body, `"postback_token_set":true`) {
		t.Fatalf("PUT answer leaks or loses secrets: %s", r.body)
	}
	g := do(t, "GET", s.p.Base+"/v1/partners/coursera", nil, "Authorization", "Bearer "+adminToken)
	if g.status != 200 || strings.Contains(g.body, "whsec_") || strings.Contains(g.body, postbackToken) {
		t.Fatalf("GET partner = %d %s", g.status, g.body)
	}
	tests := []struct {
		name, id, body string
		status         int
		contains       string
	}{
		{"three secrets", "x", fmt.Sprintf(`{"name":"X","currency":"USD","webhook_secrets":[%q,%q,%q]}`, s.secret, s.secret, s.secret), 422, "at most two"},
		{"bad secret", "x", `{"name":"X","currency":"USD","webhook_secrets":["secret"]}`, 422, "whsec_"},
		{"bad currency", "x", `{"name":"X","currency":"EURO"}`, 422, "currency"},
		{"unknown adapter", "x", `{"name":"X","currency":"USD","adapter":"cj"}`, 422, "unknown preset"},
		{"short token", "x", `{"name":"X","currency":"USD","postback_token":"short"}`, 422, "postback_token"},
		{"bad id", "Bad", `{"name":"X","currency":"USD"}`, 422, "partner"},
		{"malformed", "x", `{"name":`, 400, "malformed_json"},
	}
	for _, tt := range tests {
		if r := s.putPartner(t, tt.id, tt.body, 0); r.status != tt.status || !strings.Contains(r.body, tt.contains) {
			t.Errorf("%s: %d %s", tt.name, r.status, r.body)
		}
	}
	if r := do(t, "PUT", s.p.Base+"/v1/partners/x", []byte(`{}`)); r.status != 401 {
		t.Errorf("no token: %d", r.status)
	}
	if r := do(t, "GET", s.p.Base+"/v1/partners/nobody", nil, "Authorization", "Bearer "+adminToken); r.status != 404 {
		t.Errorf("unknown partner: %d", r.status)
	}
	// The database holds no secret in a readable form.
	dump := dbDump(t, s.env["DATABASE_URL"])
	if strings.Contains(dump, s.secret) || strings.Contains(dump, strings.TrimPrefix(s.secret, "whsec_")) || strings.Contains(dump, postbackToken) ||
		strings.Contains(dump, hex.EncodeToString([]byte(s.secret))[:40]) || strings.Contains(dump, hex.EncodeToString(s.key)[:40]) ||
		strings.Contains(dump, hex.EncodeToString([]byte(postbackToken))) {
		t.Fatal("a secret is readable in the database")
	}
}

func dbDump(t *testing.T, dbURL string) string {
	t.Helper()
	db, err := sqlOpen(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out string
	if err := db.QueryRow(`SELECT string_agg(row_to_json(p)::text, ' ') FROM conversions.partners p`).Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out // bytea appears hex-encoded: the test also looks for the hex of the secrets
}

func TestWebhookStatusCodes(t *testing.T) {
	s := setup(t, testkit.DatabaseURL(t))
	now := time.Now()
	body := conversionBody("A-1", "pending", "7.35")
	wrongSecret, wrongKey := newSecret()
	_ = wrongSecret

	if r := s.send(t, "coursera", "msg_1", body, s.key, now); r.status != 202 || !strings.Contains(r.body, `"accepted"`) {
		t.Fatalf("first delivery = %d %s", r.status, r.body)
	}
	if r := s.send(t, "coursera", "msg_1", body, s.key, now); r.status != 200 || !strings.Contains(r.body, `"duplicate"`) {
		t.Fatalf("identical replay = %d %s", r.status, r.body)
	}
	if r := s.send(t, "coursera", "msg_1", conversionBody("A-1", "pending", "8.00"), s.key, now); r.status != 409 {
		t.Fatalf("same id, other body = %d %s", r.status, r.body)
	}
	flipped := append([]byte(nil), body...)
	tsStr := strconv.FormatInt(now.Unix(), 10)
	goodSig := webhook.Sign(s.key, "msg_2", tsStr, body)
	flipped[10] ^= 1

	tests := []struct {
		name   string
		r      func() resp
		status int
		code   string
	}{
		{"missing signature", func() resp {
			return do(t, "POST", s.p.Base+"/v1/webhooks/coursera", body, "webhook-id", "m", "webhook-timestamp", tsStr)
		}, 401, "missing_signature"},
		{"wrong secret", func() resp { return s.send(t, "coursera", "msg_3", body, wrongKey, now) }, 401, "invalid_signature"},
		{"one changed byte", func() resp {
			return do(t, "POST", s.p.Base+"/v1/webhooks/coursera", flipped, "webhook-id", "msg_2", "webhook-timestamp", tsStr, "webhook-signature", goodSig)
		}, 401, "invalid_signature"},
		{"stale", func() resp { return s.send(t, "coursera", "msg_4", body, s.key, now.Add(-6*time.Minute)) }, 401, "invalid_timestamp"},
		{"future", func() resp { return s.send(t, "coursera", "msg_5", body, s.key, now.Add(6*time.Minute)) }, 401, "invalid_timestamp"},
		{"several signatures", func() resp {
			return do(t, "POST", s.p.Base+"/v1/webhooks/coursera", body, "webhook-id", "msg_2", "webhook-timestamp", tsStr,
				"webhook-signature", webhook.Sign(wrongKey, "msg_2", tsStr, body)+" "+goodSig)
		}, 202, ""},
		{"unknown partner", func() resp { return s.send(t, "nobody", "msg_6", body, s.key, now) }, 404, "partner_not_found"},
		{"malformed json", func() resp { return s.send(t, "coursera", "msg_7", []byte(`{"order_id":`), s.key, now) }, 400, "malformed_json"},
		{"missing field", func() resp {
			return s.send(t, "coursera", "msg_8", []byte(`{"order_id":"A","status":"pending","commission":"1.00","occurred_at":"2026-11-20T10:00:00Z"}`), s.key, now)
		}, 400, "missing_field"},
		{"negative money", func() resp {
			return s.send(t, "coursera", "msg_9", conversionBody("A-2", "pending", "-1.00"), s.key, now)
		}, 422, "invalid_value"},
		{"money as number", func() resp {
			return s.send(t, "coursera", "msg_10", bytes.Replace(body, []byte(`"7.35"`), []byte(`7.35`), 1), s.key, now)
		}, 422, "invalid_value"},
		{"unknown currency", func() resp {
			return s.send(t, "coursera", "msg_11", bytes.Replace(body, []byte(`"USD"`), []byte(`"XXY"`), 1), s.key, now)
		}, 422, "invalid_value"},
		{"unknown status", func() resp { return s.send(t, "coursera", "msg_12", conversionBody("A-3", "paid", "1.00"), s.key, now) }, 422, "invalid_value"},
		{"impossible date", func() resp {
			return s.send(t, "coursera", "msg_13", bytes.Replace(body, []byte("2026-11-20"), []byte("2026-02-30"), 1), s.key, now)
		}, 422, "invalid_value"},
		{"too large", func() resp {
			big := append(bytes.TrimSuffix(body, []byte("}")), []byte(`,"pad":"`+strings.Repeat("x", 70<<10)+`"}`)...)
			return s.send(t, "coursera", "msg_14", big, s.key, now)
		}, 413, "too_large"},
		{"no webhook-id", func() resp { return s.send(t, "coursera", "", body, s.key, now) }, 400, "missing_field"},
	}
	for _, tt := range tests {
		r := tt.r()
		if r.status != tt.status || !strings.Contains(r.body, tt.code) {
			t.Errorf("%s: %d %s, want %d %s", tt.name, r.status, r.body, tt.status, tt.code)
		}
	}

	// Rotation: with two secrets active, either signs.
	newSec, newKey := newSecret()
	s.putPartner(t, "coursera", fmt.Sprintf(`{"name":"Coursera","webhook_secrets":[%q,%q],"currency":"USD"}`, s.secret, newSec), 200)
	time.Sleep(2100 * time.Millisecond) // the partner cache's TTL
	if r := s.send(t, "coursera", "msg_rot_old", conversionBody("R-1", "pending", "1.00"), s.key, now); r.status != 202 {
		t.Fatalf("old secret during rotation = %d %s", r.status, r.body)
	}
	if r := s.send(t, "coursera", "msg_rot_new", conversionBody("R-2", "pending", "1.00"), newKey, now); r.status != 202 {
		t.Fatalf("new secret during rotation = %d %s", r.status, r.body)
	}
}

func TestFiftyParallelDeliveriesGiveOne202(t *testing.T) {
	s := setup(t, testkit.DatabaseURL(t))
	body := conversionBody("P-1", "approved", "5.00")
	now := time.Now()
	var wg sync.WaitGroup
	statuses := make(chan int, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- s.send(t, "coursera", "msg_parallel", body, s.key, now).status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[202] != 1 || count[200] != 49 {
		t.Fatalf("statuses %v, want one 202 and 49 200", count)
	}
}

func TestPostbacks(t *testing.T) {
	s := setup(t, testkit.DatabaseURL(t))
	s.putPartner(t, "awin", fmt.Sprintf(`{"name":"Awin","postback_token":%q,"currency":"GBP","adapter":"awin"}`, postbackToken), 201)
	base := s.p.Base + "/v1/postback/coursera?token=" + postbackToken
	q := "&order_id=PB-1&click_id=c&status=pending&sale_amount=10.00&commission=1.50&currency=USD"
	if r := do(t, "GET", base+q, nil); r.status != 202 {
		t.Fatalf("postback = %d %s", r.status, r.body)
	}
	if r := do(t, "GET", base+q, nil); r.status != 200 {
		t.Fatalf("repeated postback (derived key) = %d %s", r.status, r.body)
	}
	if r := do(t, "GET", base+q+"&event_id=ev-1", nil); r.status != 202 {
		t.Fatalf("postback with event id = %d %s", r.status, r.body)
	}
	if r := do(t, "GET", base+strings.Replace(q, "1.50", "2.50", 1)+"&event_id=ev-1", nil); r.status != 409 {
		t.Fatalf("event id reused with other values = %d %s", r.status, r.body)
	}
	if r := do(t, "GET", s.p.Base+"/v1/postback/coursera?order_id=x", nil); r.status != 401 {
		t.Fatalf("no token = %d", r.status)
	}
	if r := do(t, "GET", s.p.Base+"/v1/postback/coursera?token=wrong-token-0123456789"+q, nil); r.status != 401 {
		t.Fatalf("wrong token = %d", r.status)
	}
	if r := do(t, "GET", base+"&order_id=x&status=pending&sale_amount=1.00&commission=abc", nil); r.status != 422 {
		t.Fatalf("bad money = %d %s", r.status, r.body)
	}
	// A form POST, Awin's JSON-in-a-field.
	push := `{"transactionId":9001,"clickRef":"c9","commission":3.2,"transactionAmount":40,"transactionCurrency":"GBP","status":"approved","transactionDate":"2026-11-19T08:30:00"}`
	form := url.Values{"token": {postbackToken}, "AwinTransactionPush": {push}}
	if r := do(t, "POST", s.p.Base+"/v1/postback/awin", []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded"); r.status != 202 {
		t.Fatalf("awin form = %d %s", r.status, r.body)
	}
	got := conversions(t, s.b, 3, 20*time.Second)
	var awin *events.ConversionReceived
	for i := range got {
		if got[i].Partner == "awin" {
			awin = &got[i]
		}
		if strings.Contains(string(mustJSON(got[i])), postbackToken) {
			t.Fatal("the postback token reached Kafka")
		}
	}
	if awin == nil || awin.OrderID != "9001" || awin.Commission != "3.20" || awin.Currency != "GBP" || awin.Status != "approved" {
		t.Fatalf("awin event %+v", awin)
	}
	if dump := inboxDump(t, s.env["DATABASE_URL"]); strings.Contains(dump, postbackToken) {
		t.Fatal("the postback token is stored in the inbox")
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func inboxDump(t *testing.T, dbURL string) string {
	db, err := sqlOpen(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out string
	db.QueryRow(`SELECT coalesce(string_agg(query || headers::text || encode(body, 'escape'), ' '), '') FROM conversions.inbox`).Scan(&out)
	return out
}

// conversions reads conversions.v1 until n events arrived.
func conversions(t *testing.T, b *testkit.Broker, n int, timeout time.Duration) []events.ConversionReceived {
	t.Helper()
	return readUntil(t, b, timeout, func(got map[string]events.ConversionReceived) bool { return len(got) >= n })
}

func readUntil(t *testing.T, b *testkit.Broker, timeout time.Duration, done func(map[string]events.ConversionReceived) bool) []events.ConversionReceived {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := kafka.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(events.TopicConversions)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]events.ConversionReceived{}
	var order []string
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.Addr}, Topic: events.TopicConversions, Partition: p.ID,
				MaxWait: 100 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				c, err := events.DecodeConversion(m.Value)
				if err != nil {
					t.Errorf("bad event: %v: %s", err, m.Value)
					continue
				}
				if kafkaHeader(m, "traceparent") == "" {
					t.Errorf("event %s has no traceparent", c.ID)
				}
				mu.Lock()
				if _, seen := got[c.ID]; !seen {
					order = append(order, c.ID)
				}
				got[c.ID] = c
				if done(got) {
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	out := make([]events.ConversionReceived, 0, len(order))
	for _, id := range order {
		out = append(out, got[id])
	}
	return out
}

func kafkaHeader(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestTraceContextReachesKafka(t *testing.T) {
	s := setup(t, testkit.DatabaseURL(t))
	traceID := "4bf92f3577b34da6a3ce929d0e0e4736"
	r := s.send(t, "coursera", "msg_trace", conversionBody("T-1", "pending", "1.00"), s.key, time.Now(),
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if r.status != 202 {
		t.Fatal(r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{s.b.Addr}, Topic: events.TopicConversions, Partition: partitionOf(t, s.b, "coursera/T-1"), MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	for {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			t.Fatal("event not found")
		}
		if string(m.Key) == "coursera/T-1" {
			if !strings.Contains(kafkaHeader(m, "traceparent"), traceID) {
				t.Fatalf("traceparent %q does not carry the webhook's trace", kafkaHeader(m, "traceparent"))
			}
			return
		}
	}
}

// partitionOf finds the partition kafka-go's Hash balancer picks for key.
func partitionOf(t *testing.T, b *testkit.Broker, key string) int {
	conn, err := kafka.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(events.TopicConversions)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int, len(parts))
	for i := range parts {
		ids[i] = i
	}
	return (&kafka.Hash{}).Balance(kafka.Message{Key: []byte(key)}, ids...)
}

// load sends webhooks with unique ids until stop closes, returning the ids
// answered 2xx and how many got each status.
func load(t *testing.T, s *stack, stop <-chan struct{}) (map[string]bool, map[int]int) {
	accepted := map[string]bool{}
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("load-%d-%d", w, i)
				body := conversionBody("L-"+id, "pending", "1.00")
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				req, _ := http.NewRequest("POST", s.p.Base+"/v1/webhooks/coursera", bytes.NewReader(body))
				req.Header.Set("webhook-id", id)
				req.Header.Set("webhook-timestamp", ts)
				req.Header.Set("webhook-signature", webhook.Sign(s.key, id, ts, body))
				r, err := http.DefaultClient.Do(req)
				mu.Lock()
				if err != nil {
					statuses[0]++
				} else {
					io.Copy(io.Discard, r.Body)
					r.Body.Close()
					statuses[r.StatusCode]++
					if r.StatusCode/100 == 2 {
						accepted[id] = true
					}
				}
				mu.Unlock()
			}
		}()
	}
	<-stop
	wg.Wait()
	return accepted, statuses
}

func eventIDsFor(accepted map[string]bool) map[string]bool {
	want := map[string]bool{}
	for id := range accepted {
		want["coursera/L-"+id] = true
	}
	return want
}

func assertAllPublished(t *testing.T, s *stack, accepted map[string]bool) {
	t.Helper()
	want := eventIDsFor(accepted)
	got := readUntil(t, s.b, 60*time.Second, func(m map[string]events.ConversionReceived) bool {
		n := 0
		for _, c := range m {
			if want[c.Partner+"/"+c.OrderID] {
				n++
			}
		}
		return n >= len(want)
	})
	seen := map[string]bool{}
	for _, c := range got {
		seen[c.Partner+"/"+c.OrderID] = true
	}
	for k := range want {
		if !seen[k] {
			db, _ := sqlOpen(s.env["DATABASE_URL"])
			var depth int
			db.QueryRow(`SELECT count(*) FROM conversions.outbox`).Scan(&depth)
			db.Close()
			t.Logf("service logs (tail):\n%s", tail(s.p.Logs(), 3000))
			t.Fatalf("accepted (2xx) event %s is not on conversions.v1 (%d of %d; outbox depth %d)", k, len(seen), len(want), depth)
		}
	}
}

// TestPostgresRestartUnderLoad stops and restarts PostgreSQL while
// webhooks arrive: requests during the outage get 503, and every request
// that got a 2xx reaches conversions.v1.
func TestPostgresRestartUnderLoad(t *testing.T) {
	if os.Getenv("DATABASE_URL") != "" {
		t.Log("DATABASE_URL is set: this test needs the throwaway cluster it can restart; running on it anyway is not possible")
	}
	cluster := testkit.PostgresCluster(t)
	s := setup(t, testkit.DatabaseURL(t))
	stop := make(chan struct{})
	type result struct {
		accepted map[string]bool
		statuses map[int]int
	}
	done := make(chan result)
	go func() { a, st := load(t, s, stop); done <- result{a, st} }()
	time.Sleep(time.Second)
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	restarted, err := pgcluster.Start(context.Background(), pgcluster.Options{DataDir: cluster.DataDir, Port: cluster.Port, Fast: true})
	if err != nil {
		t.Fatalf("restart postgres: %v", err)
	}
	*cluster = *restarted
	time.Sleep(2 * time.Second)
	close(stop)
	res := <-done
	t.Logf("statuses during the restart: %v", res.statuses)
	if res.statuses[0] > 0 {
		t.Logf("service logs:\n%s", s.p.Logs())
	}
	if res.statuses[503] == 0 {
		t.Error("no 503 while the database was down")
	}
	for st := range res.statuses {
		if st == 500 {
			t.Fatalf("a 500 during the restart: %v", res.statuses)
		}
	}
	assertAllPublished(t, s, res.accepted)
}

// TestBrokerOutageDrains: webhooks are accepted while Kafka is down and
// everything drains when it returns.
func TestBrokerOutageDrains(t *testing.T) {
	s := setup(t, testkit.DatabaseURL(t))
	s.b.Stop()
	stop := make(chan struct{})
	done := make(chan map[string]bool)
	go func() { a, _ := load(t, s, stop); done <- a }()
	time.Sleep(2 * time.Second)
	close(stop)
	accepted := <-done
	if len(accepted) == 0 {
		t.Fatal("nothing accepted while Kafka was down")
	}
	if r := do(t, "GET", s.p.Base+"/metrics", nil); !strings.Contains(r.body, "conversions_outbox_depth") {
		t.Fatal("no outbox depth metric")
	}
	s.b.Start(t)
	assertAllPublished(t, s, accepted)
}

func TestReplayRedecodesThroughTheCurrentMapping(t *testing.T) {
	db := testkit.DatabaseURL(t)
	s := setup(t, db)
	// A network whose word for approved the mapping does not know yet.
	s.putPartner(t, "net", fmt.Sprintf(`{"name":"Net","postback_token":%q,"currency":"USD","mapping":{"statuses":{"ok":"pending"}}}`, postbackToken), 201)
	q := "/v1/postback/net?token=" + postbackToken + "&order_id=N-1&status=ok&sale_amount=10.00&commission=1.00"
	if r := do(t, "GET", s.p.Base+q, nil); r.status != 202 {
		t.Fatal(r.body)
	}
	// The mapping was wrong: "ok" means approved. Fix it, then replay.
	s.putPartner(t, "net", `{"name":"Net","currency":"USD","mapping":{"statuses":{"ok":"approved"}}}`, 200)
	var out bytes.Buffer
	env := func(k string) string { return s.env[k] }
	if err := run(context.Background(), []string{"replay", "-partner", "net"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "queued 1 events") {
		t.Fatalf("replay said %q", out.String())
	}
	got := conversions(t, s.b, 2, 20*time.Second)
	var original, replayed *events.ConversionReceived
	for i := range got {
		if got[i].Partner != "net" {
			continue
		}
		if got[i].ReplayOf == "" {
			original = &got[i]
		} else {
			replayed = &got[i]
		}
	}
	if original == nil || replayed == nil || replayed.ReplayOf != original.ID || replayed.Status != "approved" ||
		original.Status != "pending" || replayed.Source != events.SourceReplay || replayed.ID == original.ID {
		t.Fatalf("original %+v\nreplayed %+v", original, replayed)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
