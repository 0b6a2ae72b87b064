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
	"maps"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/conversions/internal/webhook"
)

// runFlag makes the re-executed test binary serve instead of testing.
const runFlag = "LINKCREDIT_RUN_CONVERSIONS"

// TestMain serves when testkit.Start re-executed this binary as the
// service, on testkit.ChildClock: frozen at the test's instant when it
// gave one. Both env hooks (runFlag, testkit.NowVar) exist only in the test
// binary; the production binary's main runs on the system clock and reads
// neither.
func TestMain(m *testing.M) {
	if os.Getenv(runFlag) == "1" {
		os.Exit(realMain(testkit.ChildClock()))
	}
	os.Exit(m.Run())
}

const (
	adminToken    = "test-admin-token-0123456789abcdefghij"
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
	at     time.Time // the service's clock is frozen here
	secret string
	key    []byte
}

// setup starts a broker and the service, its clock frozen at at (take it
// from testkit.Now), and creates the partner coursera.
func setup(t *testing.T, dbURL string, at time.Time) *stack {
	t.Helper()
	b := testkit.RestartableKafka(t)
	env := map[string]string{"DATABASE_URL": dbURL, "KAFKA_BROKERS": b.Addr, "ADMIN_TOKEN": adminToken,
		"SECRETS_KEY": secretsKey, "LOG_LEVEL": "warn"}
	s := &stack{b: b, env: env, at: at}
	s.p = s.start(t, nil)
	s.secret, s.key = newSecret()
	s.putPartner(t, "coursera", fmt.Sprintf(`{"name":"Coursera","webhook_secrets":[%q],"postback_token":%q,"currency":"USD"}`, s.secret, postbackToken), 201)
	return s
}

// start starts a replica of the service on its own port, on the stack's
// database, broker and instant; extra overrides its environment.
func (s *stack) start(t *testing.T, extra map[string]string) *testkit.Process {
	t.Helper()
	env := maps.Clone(s.env)
	maps.Copy(env, extra)
	return testkit.Start(t, testkit.ProcessConfig{Flag: runFlag, AddrVar: "CONVERSIONS_ADDR", Listener: testkit.Listen(t), Env: env, Now: s.at})
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

// occurred is the occurred_at of the stack's conversions: an hour before
// its instant, so never in the service's future.
func (s *stack) occurred() time.Time { return s.at.Add(-time.Hour).UTC().Truncate(time.Second) }

func (s *stack) conversionBody(order, status, commission string) []byte {
	return []byte(fmt.Sprintf(`{"order_id":%q,"click_id":"c-1","status":%q,"sale_amount":"49.00","commission":%q,"currency":"USD","occurred_at":%q}`,
		order, status, commission, s.occurred().Format(time.RFC3339)))
}

// send delivers a webhook signed with key at time ts.
func (s *stack) send(t *testing.T, partner, id string, body []byte, key []byte, ts time.Time, extra ...string) resp {
	t.Helper()
	return sendTo(t, s.p, partner, id, body, key, ts, extra...)
}

// sendTo delivers a webhook to the process p.
func sendTo(t *testing.T, p *testkit.Process, partner, id string, body []byte, key []byte, ts time.Time, extra ...string) resp {
	t.Helper()
	tsStr := strconv.FormatInt(ts.Unix(), 10)
	sig := webhook.Sign(key, id, tsStr, body)
	h := append([]string{"webhook-id", id, "webhook-timestamp", tsStr, "webhook-signature", sig, "Content-Type", "application/json"}, extra...)
	return do(t, "POST", p.Base+"/v1/webhooks/"+partner, body, h...)
}

func TestPartnerAPI(t *testing.T) {
	t.Parallel()
	s := setup(t, migratedDatabaseURL(t), testkit.Now(t))
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
		{"unknown adapter", "x", `{"name":"X","currency":"USD","adapter":"shareasale"}`, 422, "unknown preset"},
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

// TestWebhookStatusCodesAtInstant: the timestamp tolerance and the
// occurred_at limits are measured from the service's clock.
func TestWebhookStatusCodesAtInstant(t *testing.T) {
	t.Parallel()
	now := testkit.Now(t)
	s := setup(t, migratedDatabaseURL(t), now)
	body := s.conversionBody("A-1", "pending", "7.35")
	withOccurred := func(at string) []byte {
		return bytes.Replace(body, []byte(s.occurred().Format(time.RFC3339)), []byte(at), 1)
	}
	wrongSecret, wrongKey := newSecret()
	_ = wrongSecret

	if r := s.send(t, "coursera", "msg_1", body, s.key, now); r.status != 202 || !strings.Contains(r.body, `"accepted"`) {
		t.Fatalf("first delivery = %d %s", r.status, r.body)
	}
	if r := s.send(t, "coursera", "msg_1", body, s.key, now); r.status != 200 || !strings.Contains(r.body, `"duplicate"`) {
		t.Fatalf("identical replay = %d %s", r.status, r.body)
	}
	if r := s.send(t, "coursera", "msg_1", s.conversionBody("A-1", "pending", "8.00"), s.key, now); r.status != 409 {
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
		// webhook-timestamp is whole seconds, the frozen clock may not be;
		// they are compared in whole seconds: 301 s before or after is out,
		// exactly 300 s before or after is in.
		{"stale by a second", func() resp { return s.send(t, "coursera", "msg_4b", body, s.key, now.Add(-301*time.Second)) }, 401, "invalid_timestamp"},
		{"ahead by a second too many", func() resp { return s.send(t, "coursera", "msg_5c", body, s.key, now.Add(301*time.Second)) }, 401, "invalid_timestamp"},
		{"old, within tolerance", func() resp {
			return s.send(t, "coursera", "msg_4c", s.conversionBody("A-4c", "pending", "1.00"), s.key, now.Add(-299*time.Second))
		}, 202, ""},
		{"old, at the edge of tolerance", func() resp {
			return s.send(t, "coursera", "msg_4d", s.conversionBody("A-4d", "pending", "1.00"), s.key, now.Add(-300*time.Second))
		}, 202, ""},
		{"ahead, within tolerance", func() resp {
			return s.send(t, "coursera", "msg_5b", s.conversionBody("A-5b", "pending", "1.00"), s.key, now.Add(300*time.Second))
		}, 202, ""},
		{"several signatures", func() resp {
			return do(t, "POST", s.p.Base+"/v1/webhooks/coursera", body, "webhook-id", "msg_2", "webhook-timestamp", tsStr,
				"webhook-signature", webhook.Sign(wrongKey, "msg_2", tsStr, body)+" "+goodSig)
		}, 202, ""},
		{"unknown partner", func() resp { return s.send(t, "nobody", "msg_6", body, s.key, now) }, 404, "partner_not_found"},
		{"malformed json", func() resp { return s.send(t, "coursera", "msg_7", []byte(`{"order_id":`), s.key, now) }, 400, "malformed_json"},
		{"missing field", func() resp {
			return s.send(t, "coursera", "msg_8", []byte(`{"order_id":"A","status":"pending","commission":"1.00","occurred_at":"2026-01-20T10:00:00Z"}`), s.key, now)
		}, 400, "missing_field"},
		{"negative money", func() resp {
			return s.send(t, "coursera", "msg_9", s.conversionBody("A-2", "pending", "-1.00"), s.key, now)
		}, 422, "invalid_value"},
		// A wrong JSON type is a malformed body, as in the admin APIs.
		{"money as number", func() resp {
			return s.send(t, "coursera", "msg_10", bytes.Replace(body, []byte(`"7.35"`), []byte(`7.35`), 1), s.key, now)
		}, 400, "malformed_json"},
		{"sale amount as number", func() resp {
			return s.send(t, "coursera", "msg_10b", bytes.Replace(s.conversionBody("A-10b", "pending", "7.35"), []byte(`"49.00"`), []byte(`49.00`), 1), s.key, now)
		}, 400, "malformed_json"},
		{"unknown currency", func() resp {
			return s.send(t, "coursera", "msg_11", bytes.Replace(body, []byte(`"USD"`), []byte(`"XXY"`), 1), s.key, now)
		}, 422, "invalid_value"},
		{"unknown status", func() resp {
			return s.send(t, "coursera", "msg_12", s.conversionBody("A-3", "paid", "1.00"), s.key, now)
		}, 422, "invalid_value"},
		{"impossible date", func() resp { return s.send(t, "coursera", "msg_13", withOccurred("2026-02-30T10:00:00Z"), s.key, now) }, 422, "invalid_value"},
		// Taken as UTC, a time without its offset could move a purchase
		// into another day or month.
		{"a time without its offset", func() resp {
			return s.send(t, "coursera", "msg_13d", withOccurred(s.occurred().Format("2006-01-02T15:04:05")), s.key, now)
		}, 422, "offset from UTC"},
		{"a time with an offset", func() resp {
			return s.send(t, "coursera", "msg_13e", withOccurred(s.occurred().In(time.FixedZone("", 5*3600+1800)).Format(time.RFC3339)), s.key, now)
		}, 202, ""},
		// Which of two values the partner meant is not defined.
		{"a key given twice", func() resp {
			return s.send(t, "coursera", "msg_13f", bytes.Replace(s.conversionBody("A-13f", "pending", "1.00"), []byte(`{`), []byte(`{"order_id":"A-13g",`), 1), s.key, now)
		}, 400, `\"order_id\" more than once`},
		{"occurred more than a day ahead", func() resp {
			return s.send(t, "coursera", "msg_13b", withOccurred(now.Add(25*time.Hour).UTC().Format(time.RFC3339)), s.key, now)
		}, 422, "occurred_at"},
		{"occurred later today, the clock of a partner ahead", func() resp {
			return s.send(t, "coursera", "msg_13c", withOccurred(now.Add(23*time.Hour).UTC().Format(time.RFC3339)), s.key, now)
		}, 202, ""},
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

	// Rotation: with two secrets active, either signs. The change went
	// through this replica, which forgets its cached partner at once (other
	// replicas: TestPartnerChangeReachesOtherReplicas).
	newSec, newKey := newSecret()
	s.putPartner(t, "coursera", fmt.Sprintf(`{"name":"Coursera","webhook_secrets":[%q,%q],"currency":"USD"}`, s.secret, newSec), 200)
	if r := s.send(t, "coursera", "msg_rot_old", s.conversionBody("R-1", "pending", "1.00"), s.key, now); r.status != 202 {
		t.Fatalf("old secret during rotation = %d %s", r.status, r.body)
	}
	if r := s.send(t, "coursera", "msg_rot_new", s.conversionBody("R-2", "pending", "1.00"), newKey, now); r.status != 202 {
		t.Fatalf("new secret during rotation = %d %s", r.status, r.body)
	}
}

// TestPartnerChangeReachesOtherReplicas: a replica that caches partners
// sees a change made through another within its PARTNER_CACHE_TTL; one
// with PARTNER_CACHE_TTL=0 at once.
func TestPartnerChangeReachesOtherReplicas(t *testing.T) {
	t.Parallel()
	s := setup(t, migratedDatabaseURL(t), testkit.Now(t))
	uncached := s.start(t, map[string]string{"PARTNER_CACHE_TTL": "0"})
	if r := s.send(t, "coursera", "msg_warm", s.conversionBody("W-1", "pending", "1.00"), s.key, s.at); r.status != 202 {
		t.Fatalf("warming the cache = %d %s", r.status, r.body) // s.p now holds coursera with the old secret
	}
	newSec, newKey := newSecret()
	if r := do(t, "PUT", uncached.Base+"/v1/partners/coursera", []byte(fmt.Sprintf(`{"name":"Coursera","webhook_secrets":[%q],"currency":"USD"}`, newSec)),
		"Authorization", "Bearer "+adminToken); r.status != 200 {
		t.Fatalf("PUT partner = %d %s", r.status, r.body)
	}
	if r := sendTo(t, uncached, "coursera", "msg_new_uncached", s.conversionBody("W-2", "pending", "1.00"), newKey, s.at); r.status != 202 {
		t.Fatalf("new secret on the replica without a cache = %d %s", r.status, r.body)
	}
	if r := sendTo(t, uncached, "coursera", "msg_old_uncached", s.conversionBody("W-3", "pending", "1.00"), s.key, s.at); r.status != 401 {
		t.Fatalf("retired secret on the replica without a cache = %d %s", r.status, r.body)
	}
	// The caching replica accepts the new secret once its copy expired (2 s
	// by default); the deadline only bounds a hang.
	n := 0
	testkit.WaitFor(t, 30*time.Second, func() error {
		n++
		id := fmt.Sprintf("msg_new_cached_%d", n)
		if r := s.send(t, "coursera", id, s.conversionBody("W-4-"+id, "pending", "1.00"), newKey, s.at); r.status != 202 {
			return fmt.Errorf("new secret on the caching replica = %d %s", r.status, r.body)
		}
		return nil
	})
}

func TestFiftyParallelDeliveriesGiveOne202(t *testing.T) {
	t.Parallel()
	now := testkit.Now(t)
	s := setup(t, migratedDatabaseURL(t), now)
	body := s.conversionBody("P-1", "approved", "5.00")
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
	t.Parallel()
	s := setup(t, migratedDatabaseURL(t), testkit.Now(t))
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
	// A retry is recognised by what it says, however it is written: a
	// parameter the adapter does not read, an amount written otherwise.
	for _, retry := range []string{q + "&attempt=2", strings.Replace(q, "10.00", "10", 1), q + "&event_id=ev-1&cb=17"} {
		if r := do(t, "GET", base+retry, nil); r.status != 200 {
			t.Fatalf("a retry written otherwise (%s) = %d %s", retry, r.status, r.body)
		}
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
	// A form POST, Awin's JSON-in-a-field. Awin's notifications carry no
	// status (a "status" member is not Awin's and is ignored): pending.
	push := fmt.Sprintf(`{"transactionId":9001,"clickRef":"c9","commission":3.2,"transactionAmount":40,"transactionCurrency":"GBP","status":"approved","transactionDate":%q}`,
		s.occurred().Format("2006-01-02T15:04:05"))
	twice := url.Values{"token": {postbackToken}, "AwinTransactionPush": {strings.Replace(push, `"clickRef":"c9"`, `"clickRef":"c9","clickRef":"c10"`, 1)}}
	if r := do(t, "POST", s.p.Base+"/v1/postback/awin", []byte(twice.Encode()), "Content-Type", "application/x-www-form-urlencoded"); r.status != 400 ||
		!strings.Contains(r.body, "more than once") {
		t.Fatalf("awin form with a key given twice = %d %s", r.status, r.body)
	}
	form := url.Values{"token": {postbackToken}, "AwinTransactionPush": {push}}
	if r := do(t, "POST", s.p.Base+"/v1/postback/awin", []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded"); r.status != 202 {
		t.Fatalf("awin form = %d %s", r.status, r.body)
	}
	got := conversions(t, s.b, 3, 20*time.Second)
	var awin *received
	for i := range got {
		if got[i].Partner == "awin" {
			awin = &got[i]
		}
		if strings.Contains(string(mustJSON(got[i])), postbackToken) {
			t.Fatal("the postback token reached Kafka")
		}
	}
	if awin == nil || awin.OrderID != "9001" || awin.Commission != "3.20" || awin.Currency != "GBP" || awin.Status != "pending" {
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

// TestTraceContextReachesKafka: the event carries the trace of the
// request that accepted it, one the service started: a caller's own
// traceparent on a public route (webhooks, postbacks) is ignored
// (platform.PublicPrefixes), so it can neither force sampling nor join
// our traces to its own.
func TestTraceContextReachesKafka(t *testing.T) {
	t.Parallel()
	s := setup(t, migratedDatabaseURL(t), testkit.Now(t))
	traceID := "4bf92f3577b34da6a3ce929d0e0e4736"
	r := s.send(t, "coursera", "msg_trace", s.conversionBody("T-1", "pending", "1.00"), s.key, s.at,
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
			if tp := kafkaHeader(m, "traceparent"); tp == "" || strings.Contains(tp, traceID) {
				t.Fatalf("traceparent %q: want the service's own trace, not the caller's %s", tp, traceID)
			}
			return
		}
	}
}

// TestReplayRedecodesThroughTheCurrentMappingAtInstant: a replay keeps the
// original's times (received_at, and occurred_at when the postback named
// none), whatever the clock says when it runs.
func TestReplayRedecodesThroughTheCurrentMappingAtInstant(t *testing.T) {
	t.Parallel()
	db := migratedDatabaseURL(t)
	s := setup(t, db, testkit.Now(t))
	// A network whose word for approved the mapping does not know yet.
	s.putPartner(t, "net", fmt.Sprintf(`{"name":"Net","postback_token":%q,"currency":"USD","mapping":{"statuses":{"ok":"pending"}}}`, postbackToken), 201)
	q := "/v1/postback/net?token=" + postbackToken + "&order_id=N-1&status=ok&sale_amount=10.00&commission=1.00"
	if r := do(t, "GET", s.p.Base+q, nil); r.status != 202 {
		t.Fatal(r.body)
	}
	// The mapping was wrong: "ok" means approved. Fix it, then replay, a
	// day later.
	s.putPartner(t, "net", `{"name":"Net","currency":"USD","mapping":{"statuses":{"ok":"approved"}}}`, 200)
	var out bytes.Buffer
	env := func(k string) string { return s.env[k] }
	if err := run(context.Background(), clock.Fixed(s.at.Add(24*time.Hour)), []string{"replay", "-partner", "net"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "queued 1 events") {
		t.Fatalf("replay said %q", out.String())
	}
	if want := s.at.Add(24 * time.Hour).UTC().Format("20060102T150405"); !strings.Contains(out.String(), "replay "+want) {
		t.Fatalf("replay run not named after the clock (%s): %q", want, out.String())
	}
	got := conversions(t, s.b, 2, 20*time.Second)
	var original, replayed *received
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
	at := s.at.UTC().Truncate(time.Microsecond)
	if !original.ReceivedAt.Equal(at) || !replayed.ReceivedAt.Equal(at) || !original.OccurredAt.Equal(at) || !replayed.OccurredAt.Equal(at) {
		t.Fatalf("times: original received %s occurred %s, replayed received %s occurred %s; want all %s",
			original.ReceivedAt, original.OccurredAt, replayed.ReceivedAt, replayed.OccurredAt, at)
	}
}

// TestEventTimesAtInstant: a service whose clock stands at an instant
// stamps that instant everywhere: received_at in the event and the inbox,
// the default occurred_at, the Kafka timestamp, the partner's created_at.
func TestEventTimesAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t)
	s := setup(t, migratedDatabaseURL(t), at)
	if r := s.send(t, "coursera", "msg_times", s.conversionBody("E-1", "pending", "1.00"), s.key, at); r.status != 202 {
		t.Fatalf("webhook = %d %s", r.status, r.body)
	}
	q := "/v1/postback/coursera?token=" + postbackToken + "&order_id=E-2&status=pending&sale_amount=10.00&commission=1.00"
	if r := do(t, "GET", s.p.Base+q, nil); r.status != 202 {
		t.Fatalf("postback = %d %s", r.status, r.body)
	}
	want := at.UTC().Truncate(time.Microsecond) // the database keeps microseconds
	got := conversions(t, s.b, 2, 30*time.Second)
	for _, c := range got {
		occurred := want // a postback without a time happened when it arrived
		if c.OrderID == "E-1" {
			occurred = s.occurred()
		}
		if !c.ReceivedAt.Equal(want) || !c.OccurredAt.Equal(occurred) || !c.KafkaTime.Equal(at.Truncate(time.Millisecond)) {
			t.Errorf("%s: received_at %s, occurred_at %s, Kafka time %s; want %s, %s, %s", c.OrderID,
				c.ReceivedAt, c.OccurredAt, c.KafkaTime, want, occurred, at.Truncate(time.Millisecond))
		}
	}
	db, err := sqlOpen(s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	var first, last time.Time
	if err := db.QueryRow(`SELECT count(*), min(received_at), max(received_at) FROM conversions.inbox`).Scan(&n, &first, &last); err != nil {
		t.Fatal(err)
	}
	if n != 2 || !first.Equal(want) || !last.Equal(want) {
		t.Errorf("inbox: %d rows received from %s to %s, want 2 at %s", n, first, last, want)
	}
	var p struct {
		CreatedAt time.Time `json:"created_at"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	r := do(t, "GET", s.p.Base+"/v1/partners/coursera", nil, "Authorization", "Bearer "+adminToken)
	if err := json.Unmarshal([]byte(r.body), &p); err != nil || !p.CreatedAt.Equal(want) || !p.UpdatedAt.Equal(want) {
		t.Errorf("partner = %s (%v), want created and updated at %s", r.body, err, want)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
