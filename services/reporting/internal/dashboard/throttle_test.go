package dashboard

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// allow reports whether client may try at now without taking a try: the
// tests' look at the throttle.
func (t *throttle[K]) allow(client K, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.allowLocked(client, now)
}

// The throttle tracks at most maxClients; when all are in a running
// window, a new client is still allowed (a table full of others'
// failures must not lock out one that has not failed), and its failure
// takes the slot of the client whose window started first.
func TestThrottleBoundedMemory(t *testing.T) {
	th := newThrottle[netip.Addr](2, time.Minute, 3)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }
	for i := range 3 {
		th.take(addr(i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if ok, wait := th.allow(addr(9), t0.Add(time.Second)); !ok {
		t.Fatalf("a 4th client with the table full of running windows: refused, wait %v", wait)
	}
	th.take(addr(9), t0.Add(time.Second))
	if len(th.clients) != 3 {
		t.Fatalf("%d clients tracked, want at most 3", len(th.clients))
	}
	if _, kept := th.clients[addr(0)]; kept {
		t.Fatal("the oldest window was kept over the new client's")
	}
	th.take(addr(9), t0.Add(2*time.Second))
	if ok, wait := th.allow(addr(9), t0.Add(3*time.Second)); ok || wait != 58*time.Second {
		t.Fatalf("after 2 failures: allowed %v, wait %v", ok, wait)
	}
	if ok, _ := th.allow(addr(2), t0.Add(3*time.Second)); !ok {
		t.Fatal("one failure of 2 allowed is refused")
	}
	// A refused client keeps its slot while others under the limit can
	// give theirs: addr(1) (one failure) goes, addr(9) (refused) stays.
	th.take(addr(8), t0.Add(4*time.Second))
	if _, kept := th.clients[addr(1)]; kept {
		t.Fatal("the oldest client under the limit was kept")
	}
	if ok, _ := th.allow(addr(9), t0.Add(5*time.Second)); ok {
		t.Fatal("a refused client was evicted while others under the limit were not")
	}
	// Windows end: a failure with the table full drops the ended ones.
	th.take(addr(7), t0.Add(2*time.Minute))
	if len(th.clients) != 1 {
		t.Fatalf("%d clients kept, want the one failure in a running window", len(th.clients))
	}
	// A clock that goes back does not lock a client out for ever.
	th.take(addr(1), t0)
	th.take(addr(1), t0)
	if ok, _ := th.allow(addr(1), t0.Add(-time.Hour)); !ok {
		t.Fatal("a clock set back keeps the client throttled")
	}
}

// Concurrent tries each take one or are refused: never more than max
// pass, however they interleave (a check and a later count let every
// request that arrived together through).
func TestThrottleTakeIsOneStep(t *testing.T) {
	th := newThrottle[string](20, time.Minute, 10)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var passed atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := th.take("token", now); ok {
				passed.Add(1)
			}
		}()
	}
	wg.Wait()
	if passed.Load() != 20 {
		t.Fatalf("%d of 200 concurrent tries passed, want 20", passed.Load())
	}
	// A refunded try is given back: a sign-in that succeeded uses none.
	th2 := newThrottle[string](1, time.Minute, 10)
	for range 3 {
		if ok, _ := th2.take("client", now); !ok {
			t.Fatal("a refunded try was not given back")
		}
		th2.refund("client", now)
	}
	if len(th2.clients) != 0 {
		t.Fatalf("%d clients kept after every try was refunded", len(th2.clients))
	}
	// A request that read the clock before another created the entry
	// takes its try in the same window, not a fresh one.
	th3 := newThrottle[string](10, time.Minute, 10)
	for range 10 {
		th3.take("client", now.Add(time.Millisecond))
	}
	if ok, _ := th3.take("client", now); ok {
		t.Fatal("a try stamped a millisecond before the window's start started the window over")
	}
}

func TestClientKey(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct{ peer, xff, want string }{
		{"192.0.2.1:5", "", "192.0.2.1"},
		{"192.0.2.1:5", "198.51.100.1", "192.0.2.1"}, // an untrusted peer's header is ignored
		{"10.0.0.1:5", "198.51.100.1, 10.0.0.2", "198.51.100.1"},
		{"10.0.0.1:5", "198.51.100.1, junk", "10.0.0.1"},
		{"10.0.0.1:5", "", "10.0.0.1"},
		{"[2001:db8:1:2:3:4:5:6]:5", "", "2001:db8:1:2::"},
		{"[::ffff:192.0.2.7]:5", "", "192.0.2.7"},
		{"garbage", "", "0.0.0.0"},
	} {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientKey(r, trusted).String(); got != c.want {
			t.Errorf("peer %s, XFF %q: key %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
}

// FuzzClientKey: any peer and X-Forwarded-For yield a valid key, never a
// panic, and an untrusted peer is its own key.
func FuzzClientKey(f *testing.F) {
	f.Add("10.0.0.1:5", "198.51.100.1, 10.0.0.2")
	f.Add("[fe80::1%eth0]:5", "fe80::2%lo, ::ffff:1.2.3.4")
	f.Add("192.0.2.1:1", "")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fe80::/10")}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := &http.Request{RemoteAddr: peer, Header: http.Header{"X-Forwarded-For": {xff}}}
		k := clientKey(r, trusted)
		if !k.IsValid() || k.Zone() != "" {
			t.Fatalf("key %v for %q, %q", k, peer, xff)
		}
	})
}

// FuzzParseForm: any form body is parsed or refused as a 400, never a
// panic; a wanted field never comes back twice.
func FuzzParseForm(f *testing.F) {
	f.Add("token=abc")
	f.Add("token=a&token=b")
	f.Add("token=%zz")
	f.Add("a;b=c")
	f.Add("csrf=" + strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, body string) {
		v, err := parseForm(body, "token", "csrf")
		if err != nil {
			if !errors.Is(err, errs.Invalid) {
				t.Fatalf("parseForm(%q): %v is not a 400", body, err)
			}
			return
		}
		if len(v["token"]) > 1 || len(v["csrf"]) > 1 {
			t.Fatalf("parseForm(%q) = %v", body, v)
		}
	})
}

// FuzzSameOrigin: whatever Origin and Sec-Fetch-Site say, a POST passes
// only when Origin (if any) names the request's own host.
func FuzzSameOrigin(f *testing.F) {
	f.Add("https://dash.example.com", "same-origin")
	f.Add("null", "")
	f.Add("https://dash.example.com.evil", "cross-site")
	f.Add("http://DASH.example.com", "none")
	f.Fuzz(func(t *testing.T, origin, site string) {
		r := &http.Request{Host: "dash.example.com", Header: http.Header{}}
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		if err := sameOrigin(r); err != nil {
			if !errors.Is(err, errs.Forbidden) {
				t.Fatalf("refusal %v is not a 403", err)
			}
			return
		}
		if origin != "" {
			low := strings.ToLower(origin)
			if !strings.HasSuffix(strings.TrimSuffix(low, "/"), "://dash.example.com") {
				t.Fatalf("Origin %q passed for host dash.example.com", origin)
			}
		}
		if site != "" && site != "same-origin" && site != "none" {
			t.Fatalf("Sec-Fetch-Site %q passed", site)
		}
	})
}
