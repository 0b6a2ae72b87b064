package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// Issue 14: partner health as the ledger sees it, and settlement files as
// networks export them (dry run by default).
func TestPartnerHealthAndSettlementFilesAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t)
	s := setup(t, at)
	recent := func(c events.ConversionReceived, ago time.Duration) events.ConversionReceived {
		c.OccurredAt, c.ReceivedAt = at.Add(-ago).UTC().Truncate(time.Second), at.Add(-ago).UTC().Truncate(time.Second)
		return c
	}
	s.publish(t, events.TopicClicks, s.click("c-1", "ml", "ml-101", time.Hour, false, true))
	s.publish(t, events.TopicConversions,
		s.conv("e-1", "A-1", "c-1", "ml-101", "approved", "49.00", "7.35", 2*time.Hour),        // joins c-1
		s.conv("e-2", "A-2", "typo-1", "ml-101", "pending", "10.00", "1.50", 3*time.Hour),      // an unknown click
		recent(s.conv("e-3", "A-3", "", "ml-101", "pending", "20.00", "3.00", 0), 2*time.Hour), // no click id, today
		recent(s.conv("e-4", "A-4", "{clickid}", "ml-101", "pending", "20.00", "3.00", 0), 3*24*time.Hour))

	type unattributed struct {
		Conversions []struct {
			OrderID    string `json:"order_id"`
			ClickID    string `json:"click_id"`
			Commission string
		}
	}
	var u unattributed
	testkit.WaitFor(t, 30*time.Second, func() error {
		r := s.do(t, "GET", "/v1/partners/coursera/unattributed", "")
		if r.status != 200 {
			return fmt.Errorf("unattributed = %d %s", r.status, r.body)
		}
		u = unattributed{}
		json.Unmarshal([]byte(r.body), &u)
		// A-1 is listed until its click arrives (the topics are read
		// independently), A-4 not until it is ingested: wait for both.
		listed := map[string]bool{}
		for _, c := range u.Conversions {
			listed[c.OrderID] = true
		}
		if len(u.Conversions) != 3 || listed["A-1"] || !listed["A-4"] {
			return fmt.Errorf("%d unattributed conversions: %s", len(u.Conversions), r.body)
		}
		return nil
	})
	got := map[string]string{}
	for _, c := range u.Conversions {
		got[c.OrderID] = c.ClickID
	}
	if got["A-2"] != "typo-1" || got["A-3"] != "" || got["A-4"] != "{clickid}" || len(got) != 3 {
		t.Errorf("unattributed %+v, want A-2 typo-1, A-3 none, A-4 the unexpanded macro", got)
	}
	if u.Conversions[0].OrderID != "A-3" || u.Conversions[0].Commission != "3.00" {
		t.Errorf("latest first: %+v", u.Conversions[0])
	}
	if r := s.do(t, "GET", "/v1/partners/coursera/unattributed?limit=1", ""); !strings.Contains(r.body, `"A-3"`) || strings.Contains(r.body, `"A-4"`) {
		t.Errorf("limit=1: %s", r.body)
	}
	for q, status := range map[string]int{"/v1/partners/nobody/unattributed": 404, "/v1/partners/coursera/unattributed?limit=0": 422,
		"/v1/partners/coursera/unattributed?limit=x": 422} {
		if r := s.do(t, "GET", q, ""); r.status != status || !strings.Contains(r.body, `"error"`) {
			t.Errorf("%s = %d %s, want %d", q, r.status, r.body, status)
		}
	}

	r := s.do(t, "GET", "/v1/partner-activity", "")
	var act struct {
		Partners []map[string]any
	}
	json.Unmarshal([]byte(r.body), &act)
	if r.status != 200 || len(act.Partners) != 1 {
		t.Fatalf("partner activity = %d %s", r.status, r.body)
	}
	if err := want(act.Partners[0], map[string]any{"partner": "coursera", "conversions_24h": 1.0, "conversions_7d": 2.0,
		"no_click_id_7d": 1.0, "unknown_click_id_7d": 1.0}); err != nil {
		t.Errorf("partner activity: %v (%s)", err, r.body)
	}
	if r := s.do(t, "GET", "/partners/health", "", "Accept", "text/html"); r.status != 200 || !strings.Contains(r.body, `<th scope="row">coursera</th>`) {
		t.Errorf("dashboard panel = %d %.400s", r.status, r.body)
	}
	if r := s.do(t, "GET", "/", "", "Accept", "text/html"); r.status != 200 || !strings.Contains(r.body, `<a href="/partners/health">Partner health</a>`) {
		t.Errorf("the dashboard's main page does not link to the partner health page: %d %.400s", r.status, r.body)
	}
	if r := s.do(t, "GET", "/partners/health", "", "Authorization", "", "Accept", "text/html"); r.status != 401 || strings.Contains(r.body, "coursera") {
		t.Errorf("panel without a session = %d", r.status)
	}

	// Settlement files: Awin's transactions export, a dry run by default.
	month := monthOf(s.day).Format("2006-01")
	awin := "id,publisher_id,sale_amount,commission,date,commission_status,validation_date,extra,type,site_name,URL,decline_reason\n" +
		"A-1,1,49.00,7.35,20/" + monthOf(s.day).Format("01/2006") + " 10:00,approved,,o1,Sale,x,https://x.example,\n" + // matches
		"A-2,1,10.00,1.60,20/" + monthOf(s.day).Format("01/2006") + " 11:00,declined,,o2,Sale,x,https://x.example,cancelled\n" // status and commission differ
	testkit.WaitFor(t, 30*time.Second, func() error { // A-1, attributed, may reach the ledger after the others
		r = s.do(t, "POST", "/v1/payouts/settlements/coursera?format=awin&currency=USD&month="+month, awin, "Content-Type", "text/csv")
		if r.status != 200 || strings.Contains(r.body, `"id"`) || !strings.Contains(r.body, `"dry_run":true`) ||
			strings.Contains(r.body, `"missing_in_ledger"`) {
			return fmt.Errorf("awin dry run = %d %s", r.status, r.body)
		}
		return nil
	})
	for _, w := range []string{`"kind":"status","ledger":"pending","line":3,"order_id":"A-2","partner":"reversed"`,
		`"kind":"commission","ledger":"1.50 USD","line":3,"order_id":"A-2","partner":"1.60 USD"`, `"commission":"7.35","currency":"USD","date":"` + s.day.Format("2006-01-02") + `T10:00:00Z"`} {
		if !strings.Contains(r.body, w) {
			t.Errorf("awin dry run lacks %s: %s", w, r.body)
		}
	}
	if strings.Contains(r.body, `"order_id":"A-1","partner"`) {
		t.Errorf("A-1 matches, yet a difference names it: %s", r.body)
	}
	// Stored and applied only when asked (settlement_apply_test.go tests the apply).
	if r := s.do(t, "POST", "/v1/payouts/settlements/coursera?format=awin&currency=USD&dry_run=false&month="+month, awin); r.status != 201 || !strings.Contains(r.body, `"id"`) {
		t.Errorf("stored import = %d %s", r.status, r.body)
	}
	generic := "Ref,Amount,State\nA-1,\"7,35\",ok\n"
	if r := s.do(t, "POST", "/v1/payouts/settlements/coursera?format=generic&order_id_column=Ref&commission_column=Amount&status_column=State&status_map=ok:approved&currency=USD&month="+month, generic); r.status != 200 || !strings.Contains(r.body, `"order_id":"A-1","status":"approved"`) {
		t.Errorf("generic = %d %s", r.status, r.body)
	}
	for name, c := range map[string]struct {
		query, body string
		status      int
	}{
		"unknown format":          {"format=shareasale&currency=USD", awin, 400},
		"generic without mapping": {"format=generic&currency=USD", generic, 422},
		"no currency":             {"format=awin", awin, 422},
		"bad dry_run":             {"format=awin&currency=USD&dry_run=maybe", awin, 400},
		"impact file as awin":     {"format=awin&currency=USD", "Action Id,Payout\n1,1.00\n", 400},
	} {
		if r := s.do(t, "POST", "/v1/payouts/settlements/coursera?month="+month+"&"+c.query, c.body); r.status != c.status || !strings.Contains(r.body, `"error"`) {
			t.Errorf("%s = %d %s, want %d", name, r.status, r.body, c.status)
		}
	}
}
