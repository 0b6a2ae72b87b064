package e2e

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func call(t *testing.T, method, url, body string, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestMoneyTrail follows one purchase through the three binaries: a link,
// a click on it, the partner's signed webhook naming the click id, and the
// report that joins them, timing how long each takes to reach the report.
func TestMoneyTrail(t *testing.T) {
	e := newStackEnv(t)
	s := e.start(t)
	defer func() { _ = s.stop(t, syscall.SIGTERM) }()
	auth := []string{"Authorization", "Bearer e2e-admin-token-0123456789abcdefghijk"}

	if code, _, body := call(t, "PUT", "http://"+e.redirect+"/v1/links/ml-101",
		`{"partner":"coursera","course_id":"ml-101","title":"Machine Learning","destination":"https://www.coursera.org/learn/ml?clickid={click_id}","active":true}`,
		auth...); code != 201 {
		t.Fatalf("PUT link = %d %s", code, body)
	}
	key := make([]byte, 32)
	rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	if code, _, body := call(t, "PUT", "http://"+e.conversions+"/v1/partners/coursera",
		fmt.Sprintf(`{"name":"Coursera","webhook_secrets":[%q],"currency":"USD"}`, secret), auth...); code != 201 {
		t.Fatalf("PUT partner = %d %s", code, body)
	}

	code, header, _ := call(t, "GET", "http://"+e.redirect+"/c/ml-101?placement=hero&utm_source=newsletter", "",
		"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) e2e")
	clickID := header.Get("X-Click-Id")
	if code != 302 || clickID == "" || !strings.Contains(header.Get("Location"), clickID) {
		t.Fatalf("click = %d %v", code, header)
	}
	clicked := time.Now()
	// The range is explicit, around the click's day: a default range is
	// the running month, which can turn over between the click and the
	// report.
	report := "http://" + e.reporting + "/v1/reports/commissions?group_by=partner,course,link,placement" +
		"&from=" + clicked.UTC().AddDate(0, 0, -1).Format(time.DateOnly) + "&to=" + clicked.UTC().AddDate(0, 0, 2).Format(time.DateOnly)
	clickSeen := waitReport(t, report, auth, func(row map[string]any) bool { return fmt.Sprint(row["clicks"]) == "1" })
	t.Logf("click to report: %v", clickSeen.Sub(clicked).Round(time.Millisecond))

	body := fmt.Sprintf(`{"order_id":"A-1001","click_id":%q,"course_id":"ml-101","status":"approved","sale_amount":"49.00","commission":"7.35","currency":"USD","occurred_at":%q}`,
		clickID, time.Now().UTC().Format(time.RFC3339))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("msg_e2e_1." + ts + "." + body))
	sig := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	code, _, answer := call(t, "POST", "http://"+e.conversions+"/v1/webhooks/coursera", body,
		"webhook-id", "msg_e2e_1", "webhook-timestamp", ts, "webhook-signature", sig, "Content-Type", "application/json")
	if code != 202 {
		t.Fatalf("webhook = %d %s", code, answer)
	}
	accepted := time.Now()
	seen := waitReport(t, report, auth, func(row map[string]any) bool {
		return fmt.Sprint(row["conversions"]) == "1" && row["commission_approved"] == "7.35" && row["link"] == "ml-101" &&
			row["placement"] == "hero" && fmt.Sprint(row["direct_conversions"]) == "1" && row["epc"] == "7.35"
	})
	t.Logf("webhook to report, attributed to its click: %v", seen.Sub(accepted).Round(time.Millisecond))

	code, _, page := call(t, "GET", "http://"+e.reporting+"/", "", append(auth, "Accept", "text/html")...)
	if code != 200 || !strings.Contains(page, "How purchases fund the catalog") || !strings.Contains(page, "7.35 USD") {
		t.Fatalf("dashboard = %d %.300s", code, page)
	}

	statusOrderAsSent(t, e, auth)
}

// statusOrderAsSent is issue 11's probe, through the binaries: impact.com
// resends an action's EventDate on every status change, so six actions
// whose changes all carry one timestamp must end in the status sent last
// (contract v1.1, "Status order"), whatever their event ids sort as.
func statusOrderAsSent(t *testing.T, e *stackEnv, auth []string) {
	t.Helper()
	const token = "impact-postback-token-0123456789abcdef"
	if code, _, body := call(t, "PUT", "http://"+e.conversions+"/v1/partners/udemy",
		fmt.Sprintf(`{"name":"Udemy","currency":"USD","postback_token":%q,"adapter":"impact"}`, token), auth...); code != 201 {
		t.Fatalf("PUT partner = %d %s", code, body)
	}
	eventDate := time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Format(time.RFC3339)
	// Commissions are powers of two, so each status's sum names the
	// actions that ended in it.
	sent := []struct {
		action   string
		payout   string
		statuses []string
	}{
		{"I-1", "1.00", []string{"PENDING", "APPROVED"}},
		{"I-2", "2.00", []string{"PENDING", "APPROVED", "REVERSED"}},
		{"I-3", "4.00", []string{"PENDING"}},
		{"I-4", "8.00", []string{"APPROVED", "REVERSED"}},
		{"I-5", "16.00", []string{"REVERSED", "APPROVED"}},
		{"I-6", "32.00", []string{"APPROVED", "PENDING"}},
	}
	for _, a := range sent {
		for _, status := range a.statuses {
			url := "http://" + e.conversions + "/v1/postback/udemy?token=" + token + "&action_id=" + a.action +
				"&status=" + status + "&payout=" + a.payout + "&amount=100.00&currency=USD&event_date=" + eventDate
			if code, _, body := call(t, "GET", url, ""); code != 202 {
				t.Fatalf("postback %s %s = %d %s", a.action, status, code, body)
			}
		}
	}
	// Out of time order: I-7's approval, half an hour after its
	// purchase, arrives before the purchase; occurred_at decides, not
	// arrival, so it ends approved (a ledger applying events as they came
	// passed every other end-to-end check).
	later := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second).Format(time.RFC3339)
	for _, ev := range []struct{ status, at string }{{"APPROVED", later}, {"PENDING", eventDate}} {
		url := "http://" + e.conversions + "/v1/postback/udemy?token=" + token + "&action_id=I-7&status=" + ev.status +
			"&payout=64.00&amount=100.00&currency=USD&event_date=" + ev.at
		if code, _, body := call(t, "GET", url, ""); code != 202 {
			t.Fatalf("postback I-7 %s = %d %s", ev.status, code, body)
		}
	}
	day := time.Now().UTC()
	report := "http://" + e.reporting + "/v1/reports/commissions?group_by=partner" +
		"&from=" + day.AddDate(0, 0, -2).Format(time.DateOnly) + "&to=" + day.AddDate(0, 0, 2).Format(time.DateOnly)
	waitReport(t, report, auth, func(row map[string]any) bool {
		return row["partner"] == "udemy" && fmt.Sprint(row["conversions"]) == "7" && row["commission_approved"] == "81.00" &&
			row["commission_reversed"] == "10.00" && row["commission_pending"] == "36.00"
	})
}

func waitReport(t *testing.T, url string, auth []string, ok func(map[string]any) bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		code, _, body := call(t, "GET", url, "", auth...)
		last = body
		var rep struct {
			Rows []map[string]any `json:"rows"`
		}
		if code == 200 && json.Unmarshal([]byte(body), &rep) == nil {
			for _, row := range rep.Rows {
				if ok(row) {
					return time.Now()
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the report never showed it: %s", last)
	return time.Time{}
}
