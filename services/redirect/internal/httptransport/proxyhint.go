package httptransport

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"

	"github.com/linkcredit/linkcredit/pkg/httpx"
)

// Behind a load balancer or an ingress that TRUSTED_PROXIES does not name,
// every click's peer is the proxy: all visitors share its address, so one
// rate-limit bucket and one visitor-hash prefix. proxyHint spots that from
// the first clicks after start-up and says so once, in the log.
//
// It looks at the first proxyHintSample clicks: when at least
// proxyHintShare of them came from a private, loopback, link-local or
// carrier-grade NAT peer that TRUSTED_PROXIES does not name, carrying a
// forwarding header (X-Forwarded-For, Forwarded or X-Real-IP), it warns.
// Visitors on the internet have public addresses and send no forwarding
// header; a local test or an internal caller lacks one of the two. After
// the sample it costs one atomic load per click. No address is logged.
type proxyHint struct {
	trusted  []netip.Prefix
	logger   *slog.Logger
	seen     atomic.Int64 // clicks that took a place in the sample
	proxied  atomic.Int64 // of those, the ones that look proxied
	finished atomic.Int64 // of those, the ones counted: the last decides
}

const (
	proxyHintSample = 100
	proxyHintShare  = 0.9
)

// cgnat is the shared address space of RFC 6598 (carrier-grade NAT),
// where cloud load balancers also live; netip calls it neither private
// nor public.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func newProxyHint(trusted []netip.Prefix, logger *slog.Logger) *proxyHint {
	return &proxyHint{trusted: trusted, logger: logger}
}

// observe takes r into the sample while it lasts.
func (h *proxyHint) observe(r *http.Request) {
	if h == nil || h.seen.Load() >= proxyHintSample {
		return
	}
	if h.seen.Add(1) > proxyHintSample {
		return
	}
	if h.looksProxied(r) {
		h.proxied.Add(1)
	}
	if h.finished.Add(1) != proxyHintSample {
		return
	}
	proxied := h.proxied.Load()
	if float64(proxied) < proxyHintShare*proxyHintSample || h.logger == nil {
		return
	}
	msg := "clicks arrive through a proxy and TRUSTED_PROXIES is empty: every visitor gets the proxy's address, so all share one rate-limit bucket and one visitor hash prefix; set TRUSTED_PROXIES to the proxy's network"
	if len(h.trusted) > 0 {
		msg = "clicks arrive through a proxy that TRUSTED_PROXIES does not name: every visitor gets the proxy's address, so all share one rate-limit bucket and one visitor hash prefix; add the proxy's network to TRUSTED_PROXIES"
	}
	h.logger.Warn(msg, "proxied_clicks", proxied, "sampled_clicks", proxyHintSample)
}

func (h *proxyHint) looksProxied(r *http.Request) bool {
	if r.Header.Get("X-Forwarded-For") == "" && r.Header.Get("Forwarded") == "" && r.Header.Get("X-Real-Ip") == "" {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	peer = peer.Unmap()
	if httpx.InAny(peer, h.trusted) {
		return false
	}
	return peer.IsPrivate() || peer.IsLoopback() || peer.IsLinkLocalUnicast() || cgnat.Contains(peer)
}
