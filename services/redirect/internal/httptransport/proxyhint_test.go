package httptransport

import (
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// TestProxyHint: the first clicks after start-up say whether the service
// sits behind a proxy TRUSTED_PROXIES does not name; if so, one warning,
// without any address in it.
func TestProxyHint(t *testing.T) {
	type click struct {
		peer   string
		header string // a forwarding header, "" for none
		n      int
	}
	tests := []struct {
		name    string
		trusted string
		clicks  []click
		warn    string // a part of the warning, "" for none
	}{
		{"ingress, nothing trusted", "", []click{{"10.1.2.3:5000", "X-Forwarded-For", 100}}, "TRUSTED_PROXIES is empty"},
		{"loopback proxy", "", []click{{"127.0.0.1:5000", "X-Real-Ip", 100}}, "TRUSTED_PROXIES is empty"},
		{"Forwarded header, IPv6 ULA", "", []click{{"[fd00::7]:5000", "Forwarded", 100}}, "TRUSTED_PROXIES is empty"},
		{"cloud load balancer (RFC 6598)", "", []click{{"100.64.3.4:5000", "X-Forwarded-For", 100}}, "TRUSTED_PROXIES is empty"},
		{"IPv4-mapped peer", "", []click{{"[::ffff:192.168.1.9]:5000", "X-Forwarded-For", 100}}, "TRUSTED_PROXIES is empty"},
		{"proxy outside TRUSTED_PROXIES", "10.9.0.0/16", []click{{"10.1.2.3:5000", "X-Forwarded-For", 100}}, "does not name"},
		{"nine in ten", "", []click{{"10.1.2.3:5000", "X-Forwarded-For", 90}, {"203.0.113.7:5000", "", 10}}, "TRUSTED_PROXIES is empty"},
		{"fewer than nine in ten", "", []click{{"10.1.2.3:5000", "X-Forwarded-For", 89}, {"203.0.113.7:5000", "", 11}}, ""},
		{"trusted proxy", "10.0.0.0/8", []click{{"10.1.2.3:5000", "X-Forwarded-For", 200}}, ""},
		{"visitors on the internet", "", []click{{"203.0.113.7:5000", "", 200}}, ""},
		{"a public peer forwarding", "", []click{{"203.0.113.7:5000", "X-Forwarded-For", 200}}, ""},
		{"local clicks without a proxy", "", []click{{"127.0.0.1:5000", "", 200}}, ""},
		{"a proxy only after the sample", "", []click{{"127.0.0.1:5000", "", 100}, {"10.1.2.3:5000", "X-Forwarded-For", 500}}, ""},
		{"fewer clicks than the sample", "", []click{{"10.1.2.3:5000", "X-Forwarded-For", 99}}, ""},
		{"unparseable peer", "", []click{{"pipe", "X-Forwarded-For", 100}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs testkit.SyncBuffer
			var trusted []netip.Prefix
			if tt.trusted != "" {
				trusted = []netip.Prefix{netip.MustParsePrefix(tt.trusted)}
			}
			h := newProxyHint(trusted, slog.New(slog.NewTextHandler(&logs, nil)))
			var wg sync.WaitGroup
			for _, c := range tt.clicks {
				for range c.n {
					r := httptest.NewRequest("GET", "/c/x", nil)
					r.RemoteAddr = c.peer
					if c.header != "" {
						r.Header.Set(c.header, "198.51.100.77")
					}
					wg.Add(1)
					go func() { defer wg.Done(); h.observe(r) }() // clicks come concurrently
				}
				wg.Wait() // the groups in order: the sample is the first clicks
			}
			got := logs.String()
			if n := strings.Count(got, "level=WARN"); (tt.warn != "") != (n == 1) || n > 1 {
				t.Fatalf("%d warnings, want %v:\n%s", n, tt.warn != "", got)
			}
			if !strings.Contains(got, tt.warn) {
				t.Errorf("the warning lacks %q:\n%s", tt.warn, got)
			}
			for _, addr := range []string{"198.51.100", "10.1.2.3", "127.0.0.1", "192.168", "fd00", "100.64"} {
				if strings.Contains(got, addr) {
					t.Errorf("the log holds an address (%s):\n%s", addr, got)
				}
			}
		})
	}
}

func BenchmarkProxyHintAfterTheSample(b *testing.B) {
	h := newProxyHint(nil, slog.New(slog.DiscardHandler))
	r := httptest.NewRequest("GET", "/c/x", nil)
	for range proxyHintSample {
		h.observe(r)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.observe(r)
	}
}
