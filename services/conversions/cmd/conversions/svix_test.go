package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/conversions/internal/webhook"
)

// Contract v1.1 (issue 14): svix-id, svix-timestamp and svix-signature
// are accepted wherever webhook-id, webhook-timestamp and
// webhook-signature are, with the same rules; with both sets the webhook-*
// one counts.

// TestSvixDocumentedExample sends Svix's documented example over HTTP to a
// service whose clock stands at its timestamp. Source: Svix, "How to
// Verify Webhooks with the Svix Libraries",
// https://docs.svix.com/receiving/verifying-payloads/how (its secret,
// svix-id, svix-timestamp, svix-signature and payload). The signature
// passes; the payload, {"test": 2432232314}, is no conversion, so the
// answer is 400 missing_field where a bad signature would be 401.
func TestSvixDocumentedExample(t *testing.T) {
	t.Parallel()
	const (
		secret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		timestamp = "1614265330"
		signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
		payload   = `{"test": 2432232314}`
	)
	s := setup(t, migratedDatabaseURL(t), time.Unix(1614265330, 0))
	s.putPartner(t, "svixdemo", `{"name":"Svix demo","webhook_secrets":["`+secret+`"],"currency":"USD"}`, 201)
	url := s.p.Base + "/v1/webhooks/svixdemo"
	tests := []struct {
		name    string
		body    string
		headers []string
		status  int
		code    string
	}{
		{"as documented", payload, []string{"svix-id", id, "svix-timestamp", timestamp, "svix-signature", signature}, 400, "missing_field"},
		{"one byte changed", `{"test": 2432232315}`, []string{"svix-id", id, "svix-timestamp", timestamp, "svix-signature", signature}, 401, "invalid_signature"},
		{"another id", payload, []string{"svix-id", id + "x", "svix-timestamp", timestamp, "svix-signature", signature}, 401, "invalid_signature"},
		{"no svix-signature", payload, []string{"svix-id", id, "svix-timestamp", timestamp}, 401, "missing_signature"},
		{"the same under webhook-* names", payload, []string{"webhook-id", id, "webhook-timestamp", timestamp, "webhook-signature", signature}, 400, "missing_field"},
	}
	for _, tt := range tests {
		check(t, tt.name, do(t, "POST", url, []byte(tt.body), tt.headers...), tt.status, tt.code, "")
	}
}

// TestSvixHeaders: a conversion signed under Svix's names is accepted,
// published and deduplicated like any other; the same rules refuse it.
func TestSvixHeaders(t *testing.T) {
	t.Parallel()
	s := setup(t, migratedDatabaseURL(t), testkit.Now(t))
	url := s.p.Base + "/v1/webhooks/coursera"
	ts := strconv.FormatInt(s.at.Unix(), 10)
	stale := strconv.FormatInt(s.at.Add(-6*time.Minute).Unix(), 10)
	body := s.conversionBody("SVIX-1", "pending", "7.35")
	other := s.conversionBody("SVIX-1", "pending", "8.00")
	sign := func(id, ts string, b []byte) string { return webhook.Sign(s.key, id, ts, b) }
	svix := func(id, ts, sig string) []string {
		return []string{"svix-id", id, "svix-timestamp", ts, "svix-signature", sig, "Content-Type", "application/json"}
	}
	tests := []struct {
		name    string
		body    []byte
		headers []string
		status  int
		code    string
	}{
		{"svix-* headers", body, svix("msg_svix_1", ts, sign("msg_svix_1", ts, body)), 202, ""},
		{"the same delivery again", body, svix("msg_svix_1", ts, sign("msg_svix_1", ts, body)), 200, ""},
		{"the same svix-id, another body", other, svix("msg_svix_1", ts, sign("msg_svix_1", ts, other)), 409, "idempotency_conflict"},
		{"the same id under webhook-id", body, []string{"webhook-id", "msg_svix_1", "webhook-timestamp", ts,
			"webhook-signature", sign("msg_svix_1", ts, body)}, 200, ""},
		{"stale", body, svix("msg_svix_2", stale, sign("msg_svix_2", stale, body)), 401, "invalid_timestamp"},
		{"wrong signature", body, svix("msg_svix_3", ts, sign("msg_svix_other", ts, body)), 401, "invalid_signature"},
		{"no svix-id", body, svix("", ts, sign("", ts, body)), 400, "missing_field"},
		{"svix-id too long", body, svix(longID, ts, sign(longID, ts, body)), 422, "field_too_long"},
		{"both sets valid: webhook-* counts", s.conversionBody("SVIX-4", "pending", "1.00"),
			append(svix("msg_svix_4s", ts, sign("msg_svix_4s", ts, s.conversionBody("SVIX-4", "pending", "1.00"))),
				"webhook-id", "msg_svix_4w", "webhook-timestamp", ts, "webhook-signature", sign("msg_svix_4w", ts, s.conversionBody("SVIX-4", "pending", "1.00"))),
			202, ""},
		{"svix-* valid, webhook-* not: webhook-* counts", s.conversionBody("SVIX-5", "pending", "1.00"),
			append(svix("msg_svix_5", ts, sign("msg_svix_5", ts, s.conversionBody("SVIX-5", "pending", "1.00"))),
				"webhook-id", "msg_svix_5", "webhook-timestamp", ts, "webhook-signature", "v1,AAAA"),
			401, "invalid_signature"},
	}
	for _, tt := range tests {
		check(t, tt.name, do(t, "POST", url, tt.body, tt.headers...), tt.status, tt.code, "")
	}
	got := readUntil(t, s.b, 30*time.Second, func(m map[string]received) bool {
		seen := map[string]bool{}
		for _, c := range m {
			seen[c.OrderID] = true
		}
		return seen["SVIX-1"] && seen["SVIX-4"]
	})
	for _, c := range got {
		switch {
		case c.OrderID == "SVIX-1" && c.IdempotencyKey != "msg_svix_1":
			t.Errorf("SVIX-1 keyed %q, want its svix-id", c.IdempotencyKey)
		case c.OrderID == "SVIX-4" && c.IdempotencyKey != "msg_svix_4w":
			t.Errorf("SVIX-4 keyed %q, want the webhook-id", c.IdempotencyKey)
		case c.OrderID == "SVIX-5":
			t.Error("a delivery whose webhook-* set failed was published")
		}
	}
}

// longID is a svix-id one byte longer than an idempotency key may be.
var longID = "msg_" + strings.Repeat("x", 125)
