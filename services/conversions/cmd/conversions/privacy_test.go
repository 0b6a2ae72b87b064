package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/conversions/internal/httptransport"
)

// Issue 12 item 4: no visitor address reaches the inbox, and the inbox
// keeps requests for INBOX_RETENTION, never one whose event is unpublished.

// clientIPHeaders are headers in which proxies, CDNs and load balancers
// pass on the client's address.
var clientIPHeaders = []string{"X-Forwarded-For", "Forwarded", "X-Real-IP", "CF-Connecting-IP", "True-Client-IP",
	"X-Client-IP", "X-Cluster-Client-IP", "Fastly-Client-IP", "X-Original-Forwarded-For", "X-ProxyUser-Ip", "Client-IP"}

func TestInboxKeepsNoClientAddress(t *testing.T) {
	t.Parallel()
	s := setup(t, migratedDatabaseURL(t), testkit.Now(t))
	var extra []string
	for _, h := range clientIPHeaders {
		v := "198.51.100.77, 10.0.0.1"
		if h == "Forwarded" {
			v = "for=198.51.100.77;proto=https"
		}
		extra = append(extra, h, v)
	}
	extra = append(extra, "User-Agent", "pixel/1.0", "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if r := s.send(t, "coursera", "msg_ip", s.conversionBody("IP-1", "pending", "1.00"), s.key, s.at, extra...); r.status != 202 {
		t.Fatalf("webhook = %d %s", r.status, r.body)
	}
	q := "/v1/postback/coursera?token=" + postbackToken + "&order_id=IP-2&status=pending&sale_amount=10.00&commission=1.00"
	if r := do(t, "GET", s.p.Base+q, nil, extra...); r.status != 202 {
		t.Fatalf("postback = %d %s", r.status, r.body)
	}
	db := openDB(t, s)
	rows, err := db.Query(`SELECT headers FROM conversions.inbox`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	allowed := map[string]bool{}
	for _, h := range httptransport.AuditHeaders {
		allowed[strings.ToLower(h)] = true
	}
	n := 0
	for rows.Next() {
		n++
		var raw []byte
		var h map[string]string
		if err := rows.Scan(&raw); err != nil || json.Unmarshal(raw, &h) != nil {
			t.Fatalf("headers %s: %v", raw, err)
		}
		if strings.Contains(string(raw), "198.51.100") {
			t.Errorf("a client address is stored: %s", raw)
		}
		for k := range h {
			if !allowed[k] {
				t.Errorf("stored %s, which is not on the allow-list", k)
			}
		}
		if h["user-agent"] != "pixel/1.0" {
			t.Errorf("headers %s: the user agent is not kept", raw)
		}
	}
	if n != 2 {
		t.Fatalf("%d stored requests, want 2", n)
	}
}

func openDB(t *testing.T, s *stack) *sql.DB {
	t.Helper()
	db, err := sqlOpen(s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// startAt starts a replica whose clock stands at at.
func (s *stack) startAt(t *testing.T, at time.Time, extra map[string]string) *testkit.Process {
	t.Helper()
	env := maps.Clone(s.env)
	maps.Copy(env, extra)
	return testkit.Start(t, testkit.ProcessConfig{Flag: runFlag, AddrVar: "CONVERSIONS_ADDR", Listener: testkit.Listen(t), Env: env, Now: at})
}

func inboxKeys(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT idempotency_key FROM conversions.inbox ORDER BY idempotency_key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		rows.Scan(&k)
		keys = append(keys, k)
	}
	return keys
}

func outboxDepth(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM conversions.outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInboxRetentionAtInstant: a replica whose clock stands 91 days after
// two requests deletes the one whose event was published (the default
// retention is 90 days) and keeps the one whose event waits in the outbox
// while Kafka is down, until it is published.
func TestInboxRetentionAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t)
	s := setup(t, migratedDatabaseURL(t), at)
	db := openDB(t, s)
	if r := s.send(t, "coursera", "msg_published", s.conversionBody("R-1", "approved", "1.00"), s.key, at); r.status != 202 {
		t.Fatalf("webhook = %d %s", r.status, r.body)
	}
	testkit.WaitFor(t, 30*time.Second, func() error {
		if n := outboxDepth(t, db); n != 0 {
			return fmt.Errorf("%d events not yet published", n)
		}
		return nil
	})
	s.b.Stop()
	if r := s.send(t, "coursera", "msg_waiting", s.conversionBody("R-2", "approved", "1.00"), s.key, at); r.status != 202 {
		t.Fatalf("webhook while Kafka is down = %d %s", r.status, r.body)
	}
	if n := outboxDepth(t, db); n != 1 {
		t.Fatalf("outbox holds %d events, want the one Kafka has not taken", n)
	}

	later := at.Add(91 * 24 * time.Hour)
	s.startAt(t, later, nil) // sweeps at start
	testkit.WaitFor(t, 30*time.Second, func() error {
		if keys := inboxKeys(t, db); !slices.Equal(keys, []string{"msg_waiting"}) {
			return fmt.Errorf("inbox holds %v, want only msg_waiting", keys)
		}
		return nil
	})

	s.b.Start(t)
	testkit.WaitFor(t, 60*time.Second, func() error {
		if n := outboxDepth(t, db); n != 0 {
			return fmt.Errorf("%d events not yet published", n)
		}
		return nil
	})
	s.startAt(t, later, nil)
	testkit.WaitFor(t, 30*time.Second, func() error {
		if keys := inboxKeys(t, db); len(keys) != 0 {
			return fmt.Errorf("inbox still holds %v once its event was published", keys)
		}
		return nil
	})
}

func TestParseRetention(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * day, true},
		{"7d", 7 * day, true},
		{"3650d", 3650 * day, true},
		{"2160h", 90 * day, true},
		{" 30d ", 30 * day, true},
		{"0", 0, true},
		{"6d", 0, false},
		{"167h", 0, false},
		{"3651d", 0, false},
		{"90s", 0, false},
		{"-90d", 0, false},
		{"+90d", 0, false},
		{"090d", 0, false},
		{"90 d", 0, false},
		{"d", 0, false},
		{"90days", 0, false},
		{"1e3d", 0, false},
		{"99999999999999999999d", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseRetention(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseRetention(%q) = %s, %v; want %s, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseRetention(f *testing.F) {
	for _, s := range []string{"90d", "2160h", "0", "7d", "1h", "-1d", "3650d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseRetention(s)
		if err != nil {
			return
		}
		if d != 0 && (d < minRetention || d > maxRetention) {
			t.Fatalf("parseRetention(%q) = %s, outside [%s, %s]", s, d, minRetention, maxRetention)
		}
	})
}

// TestRetentionConfigRefusedAtStart: a retention that would delete what a
// partner may still retry stops start-up with the variable named.
func TestRetentionConfigRefusedAtStart(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"1h", "90", "forever"} {
		env := map[string]string{"ADMIN_TOKEN": adminToken, "SECRETS_KEY": secretsKey, "INBOX_RETENTION": v}
		err := run(context.Background(), clock.Fixed(time.Unix(0, 0)), nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "INBOX_RETENTION") {
			t.Errorf("INBOX_RETENTION=%s: %v, want a refusal naming it", v, err)
		}
		if errors.Is(err, context.Canceled) {
			t.Fatal("it started")
		}
	}
}
