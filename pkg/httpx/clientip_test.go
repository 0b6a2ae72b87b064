package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
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
		{"empty hop stops at the peer", "10.1.2.3:4000", "203.0.113.9, , 10.9.9.9", "10.1.2.3"},
		{"trailing comma stops at the peer", "10.1.2.3:4000", "203.0.113.9,", "10.1.2.3"},
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

func TestClientIPManyHeaderLines(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.2.3:4000"
	r.Header["X-Forwarded-For"] = []string{"192.0.2.1, 203.0.113.9", "10.9.9.9", "10.8.8.8, 10.7.7.7"}
	if got := httpx.ClientIP(r, trusted).String(); got != "203.0.113.9" {
		t.Fatalf("ClientIP = %s, want 203.0.113.9 (the lines read as one list)", got)
	}
}

// clientIPBySplit is ClientIP's walk of X-Forwarded-For as it was first
// written, joining the lines and splitting them: the fuzz target holds
// the two to the same answer. The peer is ClientIP's without the header.
func clientIPBySplit(r *http.Request, trusted []netip.Prefix) netip.Addr {
	bare := r.Clone(r.Context())
	bare.Header.Del("X-Forwarded-For")
	peer := httpx.ClientIP(bare, trusted)
	if !httpx.InAny(peer, trusted) { // an unreadable peer is 0.0.0.0, never trusted here
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer
		}
		if ip = ip.Unmap().WithZone(""); !httpx.InAny(ip, trusted) {
			return ip
		}
	}
	return peer
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.1.2.3:4000", "203.0.113.9, 10.9.9.9", "")
	f.Add("[::1]:1", "::ffff:1.2.3.4", "10.0.0.1")
	f.Add("10.1.2.3:4000", "203.0.113.9,", ",10.1.1.1")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, remote, xff, xff2 string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header["X-Forwarded-For"] = []string{xff}
		if xff2 != "" {
			r.Header["X-Forwarded-For"] = append(r.Header["X-Forwarded-For"], xff2)
		}
		ip := httpx.ClientIP(r, trusted)
		if !ip.IsValid() {
			t.Fatalf("invalid address for %q %q", remote, xff)
		}
		if want := clientIPBySplit(r, trusted); ip != want {
			t.Fatalf("ClientIP(%q, %q, %q) = %s, splitting gives %s", remote, xff, xff2, ip, want)
		}
	})
}
