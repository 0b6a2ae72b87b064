package adapter

import (
	"net/url"
	"testing"
)

// go test -run '^$' -bench . ./internal/adapter
func BenchmarkDecodeWebhook(b *testing.B) {
	body := []byte(`{"order_id":"A-1001","click_id":"01JD3Z6V7W8X9Y0Z1A2B3C4D5EKTAG0001","status":"pending","sale_amount":"49.00","commission":"7.35","currency":"USD","occurred_at":"2026-11-20T10:00:00Z"}`)
	m := standard(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.DecodeWebhook(body, usd, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeNewWebhook is DecodeWebhook with the arrival checks: no
// member twice, an occurred_at with its offset.
func BenchmarkDecodeNewWebhook(b *testing.B) {
	body := []byte(`{"order_id":"A-1001","click_id":"01JD3Z6V7W8X9Y0Z1A2B3C4D5EKTAG0001","status":"pending","sale_amount":"49.00","commission":"7.35","currency":"USD","occurred_at":"2026-11-20T10:00:00Z"}`)
	m := standard(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.DecodeNewWebhook(body, usd, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFromParams(b *testing.B) {
	m, _ := Mapping{Preset: "impact"}.Resolve()
	params, _ := url.ParseQuery("action_id=1000.4451.2001&subid1=01JD3Z6V7W8X9Y0Z1A2B3C4D5EKTAG0001&payout=7.35&amount=49.00&currency=USD&status=PENDING&event_date=2026-11-20T10:00:00-05:00")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.FromParams(params, usd, now); err != nil {
			b.Fatal(err)
		}
	}
}
