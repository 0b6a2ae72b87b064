package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// Issue 14, item 5: partner health. Each delivery is counted by partner,
// hour and outcome; requests naming no partner under one bucket.

type healthWindow struct {
	Accepted, Duplicate, Rejected int64
	RejectedByReason              map[string]int64 `json:"rejected_by_reason"`
}

type partnerHealth struct {
	Partner        string
	LastAcceptedAt *time.Time `json:"last_accepted_at"`
	Silent         bool
	SilentSeconds  *int64       `json:"silent_seconds"`
	Last24h        healthWindow `json:"last_24h"`
	Last7d         healthWindow `json:"last_7d"`
}

type healthReport struct {
	SilentAfter    string `json:"silent_after"`
	Partners       []partnerHealth
	UnknownPartner partnerHealth `json:"unknown_partner"`
}

func getJSON(t *testing.T, url string, v any) error {
	t.Helper()
	r := do(t, "GET", url, nil, "Authorization", "Bearer "+adminToken)
	if r.status != 200 {
		return fmt.Errorf("GET %s = %d %s", url, r.status, r.body)
	}
	return json.Unmarshal([]byte(r.body), v)
}

func TestPartnerHealthAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t)
	s := setup(t, migratedDatabaseURL(t), at)
	fast := map[string]string{"HEALTH_FLUSH_INTERVAL": "50ms", "SILENT_AFTER": "6h"}
	p := s.start(t, fast)
	_, wrongKey := newSecret()

	body := s.conversionBody("H-1", "pending", "1.00")
	check(t, "accepted", sendTo(t, p, "coursera", "msg_h1", body, s.key, at), 202, "", "")
	check(t, "duplicate", sendTo(t, p, "coursera", "msg_h1", body, s.key, at), 200, "", "")
	check(t, "wrong secret", sendTo(t, p, "coursera", "msg_h2", body, wrongKey, at), 401, "invalid_signature", "")
	check(t, "wrong secret again", sendTo(t, p, "coursera", "msg_h3", body, wrongKey, at), 401, "invalid_signature", "")
	check(t, "missing field", sendTo(t, p, "coursera", "msg_h4", []byte(`{"order_id":"H-4"}`), s.key, at), 400, "missing_field", "")
	big := []byte(`{"pad":"` + strings.Repeat("x", 70<<10) + `"}`)
	check(t, "too large", sendTo(t, p, "coursera", "msg_h5", big, s.key, at), 413, "body_too_large", "")
	check(t, "postback, wrong token", do(t, "GET", p.Base+"/v1/postback/coursera?token=wrong-token-0123456789&order_id=x", nil), 401, "invalid_token", "")
	// Refused by StrictQuery before the endpoint: counted by its status.
	// Counted as "http_Bad Request" before, which the table's check
	// refused, and that one row held back every count after it.
	check(t, "postback, malformed query", do(t, "GET", p.Base+"/v1/postback/coursera?token=wrong-token-0123456789&order_id=%ZZ", nil), 400, "invalid_query", "")
	for i := range 5 {
		id := fmt.Sprintf("junk-%d", i)
		check(t, "unknown partner "+id, sendTo(t, p, id, "msg_j", body, s.key, at), 404, "partner_not_found", "")
	}

	var h partnerHealth
	testkit.WaitFor(t, 30*time.Second, func() error {
		if err := getJSON(t, s.p.Base+"/v1/partners/coursera/health", &h); err != nil {
			return err
		}
		if h.Last24h.Accepted != 1 || h.Last24h.Duplicate != 1 || h.Last24h.Rejected != 6 {
			return fmt.Errorf("counts %+v", h.Last24h)
		}
		return nil
	})
	wantReasons := map[string]int64{"invalid_signature": 2, "missing_field": 1, "body_too_large": 1, "http_400": 1}
	for reason, n := range wantReasons {
		if h.Last24h.RejectedByReason[reason] != n || h.Last7d.RejectedByReason[reason] != n {
			t.Errorf("%s: %d in 24 h, %d in 7 d, want %d", reason, h.Last24h.RejectedByReason[reason], h.Last7d.RejectedByReason[reason], n)
		}
	}
	if h.LastAcceptedAt == nil || h.LastAcceptedAt.Sub(at).Abs() > time.Second || h.Silent {
		t.Errorf("last accepted %v (want %v), silent %v", h.LastAcceptedAt, at, h.Silent)
	}

	var all healthReport
	testkit.WaitFor(t, 30*time.Second, func() error { // counts reach the database at the next flush
		all = healthReport{}
		if err := getJSON(t, s.p.Base+"/v1/partner-health", &all); err != nil {
			return err
		}
		if n := all.UnknownPartner.Last24h.RejectedByReason["partner_not_found"]; n != 5 {
			return fmt.Errorf("unknown partners: %d partner_not_found, want 5 (%+v)", n, all.UnknownPartner)
		}
		return nil
	})
	if len(all.Partners) != 1 || all.Partners[0].Partner != "coursera" {
		t.Errorf("partners %+v, want coursera alone", all.Partners)
	}
	// Bounded storage: one row per (partner, hour, outcome), none per junk id.
	db, err := sqlOpen(s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, junk int
	if err := db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE partner LIKE 'junk%') FROM conversions.partner_health`).Scan(&rows, &junk); err != nil {
		t.Fatal(err)
	}
	if junk != 0 || rows != 8 { // accepted, duplicate, 3 reasons, invalid_token, http_400, and _unknown's partner_not_found
		t.Errorf("%d rows, %d for junk ids; want 8 and 0", rows, junk)
	}

	// Errors are the contract's.
	check(t, "unknown partner's health", do(t, "GET", s.p.Base+"/v1/partners/nobody/health", nil, "Authorization", "Bearer "+adminToken), 404, "partner_not_found", "")
	check(t, "no token", do(t, "GET", s.p.Base+"/v1/partner-health", nil), 401, "missing_token", "")

	// Seven hours later (SILENT_AFTER=6h) coursera is silent, in the API
	// and the metrics; nine days later it no longer counts as one that
	// used to send, and its counts have left both windows.
	later := map[string]string{"HEALTH_FLUSH_INTERVAL": "50ms", "SILENT_AFTER": "6h"}
	s.at = at.Add(7 * time.Hour)
	p7 := s.start(t, later)
	if err := getJSON(t, p7.Base+"/v1/partners/coursera/health", &h); err != nil {
		t.Fatal(err)
	}
	if !h.Silent || h.SilentSeconds == nil || *h.SilentSeconds < 7*3600-1 || h.Last24h.Accepted != 1 {
		t.Errorf("7 h later: silent %v for %v s, %d accepted in 24 h", h.Silent, h.SilentSeconds, h.Last24h.Accepted)
	}
	testkit.WaitFor(t, 30*time.Second, func() error {
		m := do(t, "GET", p7.Base+"/metrics", nil).body
		for _, want := range []string{`conversions_partner_silent{partner="coursera"`, `conversions_partner_silence_seconds{partner="coursera"`} {
			line := metricLine(m, want)
			if line == "" {
				return fmt.Errorf("no %s in /metrics", want)
			}
			if strings.HasPrefix(want, "conversions_partner_silent{") && !strings.HasSuffix(line, " 1") {
				return fmt.Errorf("%s, want 1", line)
			}
		}
		if strings.Contains(m, "junk-") || strings.Contains(m, conversion.UnknownPartner) {
			return fmt.Errorf("a partner gauge for an unknown id")
		}
		// The alert rules name only metrics the service exports.
		rules, err := os.ReadFile("../../../../k8s/components/telemetry/partner-health.rules.yaml")
		if err != nil {
			return err
		}
		both := m + do(t, "GET", p.Base+"/metrics", nil).body // p served deliveries
		for _, name := range regexp.MustCompile(`conversions_[a-z_]+`).FindAllString(string(rules), -1) {
			if !strings.Contains(both, name) {
				return fmt.Errorf("the alert rules name %s, which /metrics lacks", name)
			}
		}
		return nil
	})
	s.at = at.Add(9 * 24 * time.Hour)
	p9 := s.start(t, later)
	if err := getJSON(t, p9.Base+"/v1/partners/coursera/health", &h); err != nil {
		t.Fatal(err)
	}
	if h.Silent || h.Last7d.Accepted != 0 || h.Last7d.Rejected != 0 {
		t.Errorf("9 days later: silent %v, 7 d %+v", h.Silent, h.Last7d)
	}
	// The replica started 9 days later pruned the hours past 8 days.
	testkit.WaitFor(t, 30*time.Second, func() error {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM conversions.partner_health`).Scan(&n); err != nil || n != 0 {
			return fmt.Errorf("%d rows left (%v)", n, err)
		}
		return nil
	})
}

// metricLine returns the first line of a /metrics body that starts with
// prefix.
func metricLine(body, prefix string) string {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
