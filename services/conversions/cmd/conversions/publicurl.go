package main

import (
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/linkcredit/linkcredit/pkg/config"
)

// publicBaseURL reads PUBLIC_BASE_URL: the scheme, host and optional path
// prefix networks reach this service at (behind a proxy, its public name),
// without query or fragment, since postback paths and parameters follow
// it. Unset, it is the listen address addr (CONVERSIONS_ADDR) over http
// (listenBaseURL), so the postback URLs a local service gives out reach
// it; "" when addr names no port yet (an inherited socket fd:N, or port
// 0), for the caller to take the bound listener's address instead.
func publicBaseURL(env *config.Reader, addr string) string {
	v := env.URL("PUBLIC_BASE_URL", listenBaseURL(addr), "https", "http")
	if v == "" {
		return ""
	}
	if u, err := url.Parse(v); err == nil && (u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil) {
		env.Fail("PUBLIC_BASE_URL", u.Redacted(), "must be scheme://host[/prefix], without credentials, query or fragment")
	}
	return strings.TrimRight(v, "/")
}

// listenBaseURL is http://addr for a host:port listen address. A listener
// on every address (":8081", "0.0.0.0:8081", "[::]:8081") is reached on
// loopback: 127.0.0.1, or [::1] for "::". An IPv6 host is bracketed. It is
// "" for an address without a port to name (fd:N, port 0, not host:port).
func listenBaseURL(addr string) string {
	if strings.HasPrefix(addr, "fd:") { // an inherited socket (httpx.Listen)
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n <= 0 {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	// url.URL brackets an IPv6 host (JoinHostPort) and escapes a zone's %.
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}).String()
}
