package httptransport

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// clientIPHeaders are headers proxies, CDNs and load balancers use for the
// client's address. None may reach the inbox.
var clientIPHeaders = []string{"X-Forwarded-For", "Forwarded", "X-Real-IP", "CF-Connecting-IP", "True-Client-IP",
	"X-Client-IP", "X-Cluster-Client-IP", "Fastly-Client-IP", "X-Original-Forwarded-For", "X-ProxyUser-Ip",
	"X-Envoy-External-Address", "X-Azure-ClientIP", "Akamai-Client-IP", "X-Appengine-User-IP", "Client-IP", "Via"}

func TestAuditKeepsOnlyTheAllowList(t *testing.T) {
	r := httptest.NewRequest("POST", "/v1/webhooks/p", nil)
	for _, h := range clientIPHeaders {
		r.Header.Set(h, "198.51.100.77, 10.0.0.1")
	}
	r.Header.Set("Authorization", "Bearer secret-token")
	r.Header.Set("Cookie", "s=1")
	r.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "Svix-Webhooks/1.0")
	r.Header.Set("Webhook-Id", "msg_1")
	r.Header.Set("Svix-Signature", "v1,abc")
	got := audit(r)
	want := map[string]string{"content-type": "application/json", "user-agent": "Svix-Webhooks/1.0", "webhook-id": "msg_1", "svix-signature": "v1,abc"}
	if len(got) != len(want) {
		t.Fatalf("audit = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("audit[%s] = %q, want %q", k, got[k], v)
		}
	}
	for k, v := range got {
		if strings.Contains(v, "198.51.100.77") {
			t.Errorf("a client address is kept under %s", k)
		}
	}
}

func TestAuditBoundsValues(t *testing.T) {
	tests := []struct {
		name, in string
		want     func(string) bool
	}{
		{"long", strings.Repeat("a", 10<<10), func(s string) bool { return len(s) == maxAuditValue }},
		{"not UTF-8", "agent \xff\xfe", func(s string) bool { return utf8.ValidString(s) && strings.HasPrefix(s, "agent ") }},
		{"cut inside a rune", strings.Repeat("a", maxAuditValue-1) + "é", func(s string) bool { return utf8.ValidString(s) }},
		{"invalid bytes grow when replaced", strings.Repeat("0\xff", maxAuditValue), func(s string) bool {
			return utf8.ValidString(s) && len(s) <= maxAuditValue
		}},
		{"NUL", "a\x00b", func(s string) bool { return s == "ab" }},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header["User-Agent"] = []string{tt.in} // as a client sent it, unchecked
		if got := audit(r)["user-agent"]; !tt.want(got) {
			t.Errorf("%s: kept %q", tt.name, got)
		}
	}
}

// TestMigrationCutsToTheSameList: migration 0003 cut rows stored before
// the allow-list to the list audit keeps.
func TestMigrationCutsToTheSameList(t *testing.T) {
	b, err := os.ReadFile("../postgres/migrations/0003_inbox_privacy_retention.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)ARRAY\[(.*?)\]::text\[\]`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no allow-list in migration 0003")
	}
	var inMigration []string
	for _, q := range regexp.MustCompile(`'([^']*)'`).FindAllSubmatch(m[1], -1) {
		inMigration = append(inMigration, string(q[1]))
	}
	var kept []string
	for _, h := range AuditHeaders {
		kept = append(kept, strings.ToLower(h))
	}
	slices.Sort(inMigration)
	slices.Sort(kept)
	if !slices.Equal(inMigration, kept) {
		t.Fatalf("migration keeps %v, audit keeps %v", inMigration, kept)
	}
}

func TestSignedHeaders(t *testing.T) {
	tests := []struct {
		name                string
		headers             []string
		prefix, id, ts, sig string
	}{
		{"standard", []string{"webhook-id", "w1", "webhook-timestamp", "100", "webhook-signature", "v1,w"}, "webhook", "w1", "100", "v1,w"},
		{"svix", []string{"svix-id", "s1", "svix-timestamp", "200", "svix-signature", "v1,s"}, "svix", "s1", "200", "v1,s"},
		{"svix, any case", []string{"SVIX-ID", "s1", "Svix-Timestamp", "200", "svix-SIGNATURE", "v1,s"}, "svix", "s1", "200", "v1,s"},
		{"both: webhook-* win", []string{"svix-id", "s1", "svix-timestamp", "200", "svix-signature", "v1,s",
			"webhook-id", "w1", "webhook-timestamp", "100", "webhook-signature", "v1,w"}, "webhook", "w1", "100", "v1,w"},
		{"never mixed: one webhook-* header picks the set", []string{"webhook-id", "w1", "svix-timestamp", "200", "svix-signature", "v1,s"},
			"webhook", "w1", "", ""},
		{"svix without a signature", []string{"svix-id", "s1", "svix-timestamp", "200"}, "svix", "s1", "200", ""},
		{"none", nil, "webhook", "", "", ""},
	}
	for _, tt := range tests {
		h := http.Header{}
		for i := 0; i+1 < len(tt.headers); i += 2 {
			h.Set(tt.headers[i], tt.headers[i+1])
		}
		prefix, id, ts, sig := signedHeaders(h)
		if prefix != tt.prefix || id != tt.id || ts != tt.ts || sig != tt.sig {
			t.Errorf("%s: %s %q %q %q, want %s %q %q %q", tt.name, prefix, id, ts, sig, tt.prefix, tt.id, tt.ts, tt.sig)
		}
	}
}

func TestDecodeWebhookReadsEitherSet(t *testing.T) {
	r := httptest.NewRequest("POST", "/v1/webhooks/acme", bytes.NewReader([]byte(`{}`)))
	r.SetPathValue("partner", "acme")
	r.Header.Set("svix-id", "msg_1")
	r.Header.Set("svix-timestamp", "1614265330")
	r.Header.Set("svix-signature", "v1,x")
	r.Header.Set("X-Forwarded-For", "198.51.100.77")
	got, err := decodeWebhook(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	req := got.(conversion.WebhookRequest)
	if req.HeaderPrefix != "svix" || req.ID != "msg_1" || req.Timestamp != "1614265330" || req.Signature != "v1,x" || req.Partner != "acme" {
		t.Fatalf("request %+v", req)
	}
	if _, ok := req.Headers["x-forwarded-for"]; ok || req.Headers["svix-id"] != "msg_1" {
		t.Fatalf("audit headers %v", req.Headers)
	}
}

func TestPutPartnerRefusesOtherEncodings(t *testing.T) {
	for name, body := range map[string]string{
		"Latin-1":          "{\"name\":\"Caf\xe9\",\"currency\":\"EUR\"}",
		"UTF-16 with BOM":  "\xff\xfe{\x00}\x00",
		"overlong UTF-8":   "{\"name\":\"\xc0\xaf\",\"currency\":\"EUR\"}",
		"lone surrogate":   "{\"name\":\"\xed\xa0\x80\",\"currency\":\"EUR\"}",
		"trailing garbage": `{"name":"X","currency":"EUR"}}`,
	} {
		r := httptest.NewRequest("PUT", "/v1/partners/p", strings.NewReader(body))
		_, err := decodePutPartner(context.Background(), r)
		if code, _ := errs.Public(err); err == nil || code != "malformed_json" || errs.HTTPStatus(err) != http.StatusBadRequest {
			t.Errorf("%s: %v, want 400 malformed_json", name, err)
		}
	}
}

// FuzzAudit: whatever the headers, the record is the allow-list only, in
// valid UTF-8 without NUL, each value bounded.
func FuzzAudit(f *testing.F) {
	f.Add("User-Agent", "curl/8", "X-Forwarded-For", "198.51.100.77")
	f.Add("Svix-Id", "msg\x00\xff", "Webhook-Signature", strings.Repeat("v1,x ", 300))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header[http.CanonicalHeaderKey(k1)] = []string{v1}
		r.Header[http.CanonicalHeaderKey(k2)] = []string{v2}
		for k, v := range audit(r) {
			if !slices.ContainsFunc(AuditHeaders, func(h string) bool { return strings.ToLower(h) == k }) {
				t.Fatalf("kept %q", k)
			}
			if len(v) > maxAuditValue || !utf8.ValidString(v) || strings.Contains(v, "\x00") {
				t.Fatalf("kept %q: %q", k, v)
			}
		}
	})
}

// FuzzSignedHeaders: a set is chosen whole and its values are the
// request's own.
func FuzzSignedHeaders(f *testing.F) {
	f.Add("w", "", "", "s", "1", "v1,x")
	f.Add("", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, wid, wts, wsig, sid, sts, ssig string) {
		h := http.Header{}
		set := func(k, v string) {
			if v != "" {
				h[http.CanonicalHeaderKey(k)] = []string{v}
			}
		}
		set("webhook-id", wid)
		set("webhook-timestamp", wts)
		set("webhook-signature", wsig)
		set("svix-id", sid)
		set("svix-timestamp", sts)
		set("svix-signature", ssig)
		prefix, id, ts, sig := signedHeaders(h)
		webhookSet := wid != "" || wts != "" || wsig != ""
		switch {
		case webhookSet && (prefix != "webhook" || id != wid || ts != wts || sig != wsig):
			t.Fatalf("webhook-* present, got %s %q %q %q", prefix, id, ts, sig)
		case !webhookSet && (sid != "" || sts != "" || ssig != "") && (prefix != "svix" || id != sid || ts != sts || sig != ssig):
			t.Fatalf("svix-* only, got %s %q %q %q", prefix, id, ts, sig)
		}
	})
}
