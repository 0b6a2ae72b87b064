package conversion

import (
	"sync"
	"time"
)

// partnerCache keeps partners ready for a couple of seconds: a webhook
// needs its partner's keys, and reading and opening them per request would
// cost a query and AES work every time. A change made elsewhere is seen
// within the TTL; one made through this service at once (forget).
type partnerCache struct {
	mu      sync.Mutex
	ttl     time.Duration // 0: no caching
	elapsed func() time.Time
	entries map[string]cachedPartner
}

type cachedPartner struct {
	p       *partner
	expires time.Time
}

// newPartnerCache returns a cache that keeps partners for ttl (0: not at
// all). The TTL is elapsed time, not business time, so it runs on the
// monotonic system clock rather than Deps.Now: a service whose business
// clock a test froze still sees other replicas' changes once it passed.
func newPartnerCache(ttl time.Duration) partnerCache {
	return partnerCache{ttl: ttl, elapsed: time.Now, entries: map[string]cachedPartner{}}
}

func (c *partnerCache) get(id string) (*partner, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || !c.elapsed().Before(e.expires) {
		return nil, false
	}
	return e.p, true
}

func (c *partnerCache) put(id string, p *partner) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[id] = cachedPartner{p: p, expires: c.elapsed().Add(c.ttl)}
}

func (c *partnerCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
}
