package visitor

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
)

// SaltStore shares one random salt per UTC day ("2006-01-02") among
// replicas. Salt returns the day's salt; when the store holds none (the
// first replica to ask, or a store that lost its salts), it stores offer
// and returns it, unless another replica stored one first, whose salt then
// wins. Forget deletes the salts of days before the given one.
//
// The store must keep salts where no backup or replica of it holds them
// (redirect's is an unlogged Postgres table), so it may lose them: after
// a database crash or failover it is empty. The hashers then put back
// the salts they hold in memory (see Refresh).
type SaltStore interface {
	Salt(ctx context.Context, day string, offer []byte) ([]byte, error)
	Forget(ctx context.Context, before string) error
}

// Hasher computes visitor hashes.
type Hasher struct {
	store  SaltStore
	logger *slog.Logger

	mu    sync.RWMutex
	days  map[string]*daySalt
	byNum map[int64]*daySalt // the same salts by days since 1970, for the hot path
	local map[string]bool    // days whose salt is local because the store was down
}

type daySalt struct {
	salt []byte
	macs sync.Pool // *hasher
}

type hasher struct {
	mac hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// NewHasher returns a hasher over store. Call Refresh before serving and
// then periodically (Run does both).
func NewHasher(store SaltStore, logger *slog.Logger) *Hasher {
	return &Hasher{store: store, logger: logger, days: map[string]*daySalt{}, byNum: map[int64]*daySalt{}, local: map[string]bool{}}
}

func dayNumber(t time.Time) int64 {
	u := t.Unix()
	if u < 0 {
		return (u - 86399) / 86400
	}
	return u / 86400
}

// Day is the UTC day of t in the store's format.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Refresh makes sure today's and tomorrow's salts are loaded (so midnight
// needs no database), drops older ones from memory and asks the store to
// delete them. It asks the store every time, offering the salt it holds:
//
//   - the store has the same salt: nothing changes;
//   - the store has none (it lost its salts: a Postgres crash or failover
//     empties the unlogged table): the offer is stored, so the first
//     replica to refresh after the loss puts the day's salt back and the
//     others, which hold the same salt, agree with it: hashes do not
//     change;
//   - the store has another salt (a replica that held none, one started
//     after the loss, stored a new one first): this replica adopts it and
//     warns; the day's hashes change once, and all replicas agree again
//     within a refresh.
//
// When the store is unreachable and a day has no salt yet, a local random
// salt is used for it and offered on the next refresh: hashes stay
// private, but replicas may disagree until then, so unique clicks may be
// counted more than once.
func (h *Hasher) Refresh(ctx context.Context, now time.Time) error {
	today, tomorrow := Day(now), Day(now.Add(24*time.Hour))
	var firstErr error
	for _, day := range []string{today, tomorrow} {
		h.mu.RLock()
		held := h.days[day]
		isLocal := h.local[day]
		h.mu.RUnlock()
		var offer []byte
		if held != nil {
			offer = held.salt
		} else {
			offer = make([]byte, 32)
			if _, err := rand.Read(offer); err != nil {
				return err
			}
		}
		salt, err := h.store.Salt(ctx, day, offer)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			if held == nil {
				h.logger.Warn("visitor salt store unavailable; using a local salt for the day", "day", day)
				h.set(day, offer, true)
			}
			continue
		}
		switch {
		case held != nil && bytes.Equal(salt, held.salt):
			if isLocal {
				h.set(day, salt, false) // the local salt became the shared one
			}
		default:
			if held != nil && !isLocal {
				h.logger.Warn("visitor salt changed: the store lost it and another replica stored a new one first; this day's visitor hashes change once", "day", day)
			}
			h.set(day, salt, false)
		}
	}
	h.mu.Lock()
	for day := range h.days {
		if day < today {
			t, _ := time.Parse(time.DateOnly, day)
			delete(h.byNum, dayNumber(t))
			delete(h.days, day)
			delete(h.local, day)
		}
	}
	h.mu.Unlock()
	if err := h.store.Forget(ctx, today); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}

func (h *Hasher) set(day string, salt []byte, local bool) {
	ds := &daySalt{salt: salt}
	ds.macs.New = func() any { return &hasher{mac: hmac.New(sha256.New, ds.salt), buf: make([]byte, 0, 256)} }
	h.mu.Lock()
	h.days[day] = ds
	t, _ := time.Parse(time.DateOnly, day)
	h.byNum[dayNumber(t)] = ds
	h.local[day] = local
	h.mu.Unlock()
}

// Run refreshes salts every minute, for the day now reads, until ctx
// ends. The ticker only sets the pace: its tick time is the system clock's
// and says nothing about the service's day.
func (h *Hasher) Run(ctx context.Context, now clock.Clock) {
	now = clock.OrSystem(now)
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := h.Refresh(ctx, now()); err != nil {
				h.logger.Warn("refresh visitor salts", "error", err.Error())
			}
		}
	}
}

// Truncate keeps the network part of an address: /24 for IPv4 (and
// IPv4-mapped IPv6), /48 for IPv6.
func Truncate(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := 48
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.Prefix(bits)
	return p
}

// Key is the visitor's key for what the service remembers in memory for a
// short while: the unique-click window and the rate limit. It hashes what
// Hash hashes, but under seed (random per process, never stored) instead
// of the day's salt, so it does not change at midnight UTC: a visitor who
// clicks at 23:59:59 and again at 00:00:00 is the same visitor to the
// window and the limit, as they are to a person. It never leaves the
// process, and the window forgets it after at most two windows.
func Key(seed maphash.Seed, ip netip.Addr, userAgent string) uint64 {
	prefix := Truncate(ip)
	addr := prefix.Addr().As16()
	var h maphash.Hash
	h.SetSeed(seed)
	h.Write(addr[:])
	h.WriteByte(byte(prefix.Bits()))
	h.WriteString(userAgent)
	return h.Sum64()
}

// NetworkKey is Key without the User-Agent: the key of the visitor's
// network (its /24 or /48) alone, for the limit that rotating the agent
// cannot escape.
func NetworkKey(seed maphash.Seed, ip netip.Addr) uint64 {
	prefix := Truncate(ip)
	addr := prefix.Addr().As16()
	var h maphash.Hash
	h.SetSeed(seed)
	h.Write(addr[:])
	h.WriteByte(byte(prefix.Bits()))
	return h.Sum64()
}

// Hash returns the visitor hash for ip and user agent at time now: 22
// URL-safe characters (128 bits).
func (h *Hasher) Hash(now time.Time, ip netip.Addr, userAgent string) string {
	var buf [22]byte
	return string(h.AppendHash(buf[:0], now, ip, userAgent))
}

// AppendHash appends the visitor hash to dst.
func (h *Hasher) AppendHash(dst []byte, now time.Time, ip netip.Addr, userAgent string) []byte {
	h.mu.RLock()
	ds := h.byNum[dayNumber(now)]
	h.mu.RUnlock()
	if ds == nil {
		day := Day(now)
		// Not refreshed yet for this day (clock jump, or the very first
		// request): make a local salt rather than hash without one.
		salt := make([]byte, 32)
		_, _ = rand.Read(salt)
		h.set(day, salt, true)
		h.mu.RLock()
		ds = h.days[day]
		h.mu.RUnlock()
	}
	prefix := Truncate(ip)
	addr := prefix.Addr().As16()
	hs := ds.macs.Get().(*hasher)
	hs.buf = append(hs.buf[:0], addr[:]...)
	hs.buf = append(hs.buf, byte(prefix.Bits()), 0)
	hs.buf = append(hs.buf, userAgent...)
	hs.mac.Reset()
	hs.mac.Write(hs.buf)
	out := hs.mac.Sum(hs.sum[:0])
	dst = base64.RawURLEncoding.AppendEncode(dst, out[:16])
	ds.macs.Put(hs)
	return dst
}
