package httpx

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP is the client's address: the connection's peer or, when the
// peer is a trusted proxy, the nearest untrusted address in
// X-Forwarded-For (read from the right, as each proxy appends the peer it
// saw). A hop that does not parse stops the walk at the peer, so a forged
// header cannot choose the address. An unreadable peer yields 0.0.0.0.
// IPv4-mapped IPv6 addresses are unmapped and zones dropped.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	peer = peer.Unmap().WithZone("")
	if !InAny(peer, trusted) {
		return peer
	}
	// Every X-Forwarded-For line, each a comma-separated list, read as
	// one list from its last hop back, without building it (a click
	// behind a load balancer takes this path).
	lines := r.Header.Values("X-Forwarded-For")
	for l := len(lines) - 1; l >= 0; l-- {
		rest := lines[l]
		for {
			hop := rest
			i := strings.LastIndexByte(rest, ',')
			if i >= 0 {
				hop, rest = rest[i+1:], rest[:i]
			}
			ip, err := netip.ParseAddr(strings.TrimSpace(hop))
			if err != nil {
				return peer
			}
			if ip = ip.Unmap().WithZone(""); !InAny(ip, trusted) {
				return ip
			}
			if i < 0 {
				break
			}
		}
	}
	return peer
}

// InAny reports whether ip is in one of nets.
func InAny(ip netip.Addr, nets []netip.Prefix) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}
