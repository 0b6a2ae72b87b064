package dashboard

import (
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/linkcredit/linkcredit/pkg/httpx"
)

// throttle limits sign-in attempts per client: at most max in a window of
// length window, counted from the first. A client over the limit is
// refused (429) until its window ends, right token or not. Each attempt
// takes a try when it arrives (take), so concurrent requests cannot all
// pass a check made before any of them is counted; a sign-in that
// succeeds gives its try back (refund), so only failures use them up.
// It holds at most maxClients clients; when every slot is taken by a
// window still running, the client whose window started first makes room
// (one still under the limit, while there is one).
// A table full of other addresses' failures never refuses a client that
// has not failed itself: refusing then would let anyone with enough
// addresses (10,000 IPv6 /64s are one /50) lock every finance user out.
// Many addresses guessing at once get more tries that way, against tokens
// of at least 32 characters (httpx.MinTokenLength).
//
// The same throttle, keyed by a token's digest and never refunded,
// limits how many sessions one token opens (signInsPerToken).
type throttle[K comparable] struct {
	max        int
	window     time.Duration
	maxClients int

	mu      sync.Mutex
	clients map[K]*attempts
}

type attempts struct {
	start time.Time
	n     int // tries taken in the window
}

func newThrottle[K comparable](max int, window time.Duration, maxClients int) *throttle[K] {
	return &throttle[K]{max: max, window: window, maxClients: maxClients, clients: map[K]*attempts{}}
}

// take takes a try for client at now and reports whether it had one left,
// and if not, how long until it has: the check and the count are one step.
func (t *throttle[K]) take(client K, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ok, wait := t.allowLocked(client, now); !ok {
		return false, wait
	}
	t.countLocked(client, now)
	return true, 0
}

// refund gives back a try client took at now (a sign-in that succeeded).
func (t *throttle[K]) refund(client K, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.clients[client]
	if !ok || t.ended(a, now) || a.n == 0 {
		return
	}
	if a.n--; a.n == 0 {
		delete(t.clients, client)
	}
}

// ended reports whether a's window is over at now. A reading a little
// before the window's start is in it: a request that read the clock
// before another request created the entry must not start it over (a
// re-check saw that let a client past its limit). One a whole window
// before it (a clock set back) ends it, so no client is locked out for
// ever.
func (t *throttle[K]) ended(a *attempts, now time.Time) bool {
	return !now.Before(a.start.Add(t.window)) || now.Before(a.start.Add(-t.window))
}

func (t *throttle[K]) allowLocked(client K, now time.Time) (bool, time.Duration) {
	a, ok := t.clients[client]
	if !ok {
		return true, 0 // no try of its own
	}
	if t.ended(a, now) {
		delete(t.clients, client)
		return true, 0
	}
	if a.n >= t.max {
		return false, a.start.Add(t.window).Sub(now)
	}
	return true, 0
}

func (t *throttle[K]) countLocked(client K, now time.Time) {
	a, ok := t.clients[client]
	if ok && t.ended(a, now) {
		ok = false
	}
	if !ok {
		if len(t.clients) >= t.maxClients && !t.evict(now) {
			t.evictOldest()
		}
		a = &attempts{start: now}
		t.clients[client] = a
	}
	a.n++
}

// evict drops the clients whose window has ended and reports whether any
// slot is free.
func (t *throttle[K]) evict(now time.Time) bool {
	for c, a := range t.clients {
		if t.ended(a, now) {
			delete(t.clients, c)
		}
	}
	return len(t.clients) < t.maxClients
}

// evictOldest drops the client whose window started first among those
// still under the limit, so that a client the throttle refuses stays
// refused; only when every one is refused does the oldest of all go. A
// scan, run only while the table is full of running windows.
func (t *throttle[K]) evictOldest() {
	var oldest K
	var found bool
	var start time.Time
	var refused bool
	for c, a := range t.clients {
		r := a.n >= t.max
		if !found || (refused && !r) || (r == refused && a.start.Before(start)) {
			oldest, start, refused, found = c, a.start, r, true
		}
	}
	delete(t.clients, oldest)
}

// clientKey is the client a sign-in attempt counts against: the
// connection's peer or, when the peer is a trusted proxy, the nearest
// untrusted address in X-Forwarded-For (as redirect derives a visitor's
// address). IPv6 clients are keyed by their /64, which one host usually
// holds whole.
func clientKey(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ip := httpx.ClientIP(r, trusted)
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}
