package httpx_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/httpx"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		name, remote, xff, want string
	}{
		{"direct peer", "198.51.100.7:4000", "", "198.51.100.7"},
		{"untrusted peer's header is ignored", "198.51.100.7:4000", "203.0.113.9", "198.51.100.7"},
		{"trusted proxy", "10.1.2.3:4000", "203.0.113.9", "203.0.113.9"},
		{"nearest untrusted hop", "10.1.2.3:4000", "192.0.2.1, 203.0.113.9, 10.9.9.9", "203.0.113.9"},
		{"forged garbage stops at the peer", "10.1.2.3:4000", "203.0.113.9, not-an-ip", "10.1.2.3"},
		{"all hops trusted", "10.1.2.3:4000", "10.4.4.4", "10.1.2.3"},
		{"mapped IPv4 peer", "[::ffff:198.51.100.7]:4000", "", "198.51.100.7"},
		{"IPv6 proxy", "[::1]:4000", "2001:db8::5", "2001:db8::5"},
		{"zone dropped", "[fe80::1%eth0]:4000", "", "fe80::1"},
		{"unreadable peer", "garbage", "", "0.0.0.0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			if got := httpx.ClientIP(r, trusted).String(); got != c.want {
				t.Fatalf("ClientIP = %s, want %s", got, c.want)
			}
		})
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.1.2.3:4000", "203.0.113.9, 10.9.9.9")
	f.Add("[::1]:1", "::ffff:1.2.3.4")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		if ip := httpx.ClientIP(r, trusted); !ip.IsValid() {
			t.Fatalf("invalid address for %q %q", remote, xff)
		}
	})
}
