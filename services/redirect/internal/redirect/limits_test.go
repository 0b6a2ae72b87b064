package redirect_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/services/redirect/internal/redirect"
)

// TestNetworkLimitCatchesAgentRotation: each visitor (truncated IP and
// User-Agent) has its limit, and each network (the /24 or /48 alone) a
// higher one that rotating the User-Agent cannot escape. Clicks a
// visitor's own limit refuses do not use up its network's.
func TestNetworkLimitCatchesAgentRotation(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	type click struct {
		ip, ua string
		want   error
	}
	steps := func(n int, ip, ua string, want error) []click {
		out := make([]click, n)
		for i := range out {
			agent := ua
			if ua == "" {
				agent = fmt.Sprintf("Mozilla/5.0 rotated/%d", i)
			}
			out[i] = click{ip, agent, want}
		}
		return out
	}
	cat := func(parts ...[]click) (out []click) {
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name   string
		clicks []click
	}{
		{"one agent: the visitor's limit", cat(
			steps(3, "198.51.100.7", "Mozilla/5.0 A", nil),
			steps(1, "198.51.100.7", "Mozilla/5.0 A", redirect.ErrRateLimited))},
		{"rotating agents: the network's limit", cat(
			steps(5, "198.51.100.7", "", nil),
			steps(2, "198.51.100.99", "", redirect.ErrNetworkRateLimited), // the same /24
			steps(1, "198.51.101.7", "", nil))},                           // another /24
		{"IPv6: the /48", cat(
			steps(5, "2001:db8:1:2::1", "", nil),
			steps(1, "2001:db8:1:ffff::9", "", redirect.ErrNetworkRateLimited),
			steps(1, "2001:db8:2::1", "", nil))},
		{"a visitor's refused clicks spare its network", cat(
			steps(3, "198.51.100.7", "Mozilla/5.0 A", nil),
			steps(20, "198.51.100.7", "Mozilla/5.0 A", redirect.ErrRateLimited),
			steps(2, "198.51.100.8", "", nil), // 3 + 2: the network's 5
			steps(1, "198.51.100.9", "", redirect.ErrNetworkRateLimited))},
		{"IPv4-mapped IPv6 is its IPv4 network", cat(
			steps(5, "::ffff:198.51.100.7", "", nil),
			steps(1, "198.51.100.1", "", redirect.ErrNetworkRateLimited))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClickAt(t, at, redirect.Config{RateLimitPerMinute: 3, RateLimitPerIPPerMinute: 5})
			for i, cl := range tt.clicks {
				_, err := c.svc.Click(context.Background(), redirect.ClickRequest{Code: "ml-101",
					IP: netip.MustParseAddr(cl.ip), UserAgent: cl.ua})
				if !errors.Is(err, cl.want) || (cl.want == nil && err != nil) {
					t.Fatalf("click %d from %s (%s) = %v, want %v", i, cl.ip, cl.ua, err, cl.want)
				}
			}
			// A minute later both limits have room again.
			c.now = at.Add(2 * time.Minute)
			if _, err := c.svc.Click(context.Background(), redirect.ClickRequest{Code: "ml-101",
				IP: netip.MustParseAddr(tt.clicks[0].ip), UserAgent: tt.clicks[0].ua}); err != nil {
				t.Fatalf("a click two minutes later = %v", err)
			}
		})
	}
}
