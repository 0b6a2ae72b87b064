package visitor

import (
	"bytes"
	"context"
	"errors"
	"hash/maphash"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

type memStore struct {
	mu    sync.Mutex
	salts map[string][]byte
	down  bool
}

func (m *memStore) Salt(_ context.Context, day string, offer []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, errors.New("store down")
	}
	if len(offer) != 32 {
		return nil, errors.New("offer is not 32 bytes")
	}
	if m.salts[day] == nil {
		m.salts[day] = bytes.Clone(offer)
	}
	return m.salts[day], nil
}

// lose empties the store, as a Postgres crash or failover empties an
// unlogged table.
func (m *memStore) lose() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.salts)
}

func (m *memStore) Forget(_ context.Context, before string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := range m.salts {
		if d < before {
			delete(m.salts, d)
		}
	}
	return nil
}

var logger = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestTruncate(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"203.0.113.77", "203.0.113.0/24"},
		{"::ffff:203.0.113.77", "203.0.113.0/24"},
		{"2001:db8:1234:5678::1", "2001:db8:1234::/48"},
	}
	for _, tt := range tests {
		if got := Truncate(netip.MustParseAddr(tt.ip)).String(); got != tt.want {
			t.Errorf("Truncate(%s) = %s, want %s", tt.ip, got, tt.want)
		}
	}
}

func TestHashLinksADayAndNoMore(t *testing.T) {
	store := &memStore{salts: map[string][]byte{}}
	a, b := NewHasher(store, logger), NewHasher(store, logger) // two replicas
	day1 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	ctx := context.Background()
	a.Refresh(ctx, day1)
	b.Refresh(ctx, day1)
	ua := "Mozilla/5.0"
	ip := netip.MustParseAddr("203.0.113.77")
	h1 := a.Hash(day1, ip, ua)
	if len(h1) != 22 {
		t.Fatalf("hash %q", h1)
	}
	if b.Hash(day1.Add(time.Hour), netip.MustParseAddr("203.0.113.5"), ua) != h1 {
		t.Fatal("same /24 and agent on the same day hash differently across replicas")
	}
	if a.Hash(day1, netip.MustParseAddr("203.0.114.77"), ua) == h1 {
		t.Fatal("another /24 hashes the same")
	}
	if a.Hash(day1, ip, "curl/8") == h1 {
		t.Fatal("another agent hashes the same")
	}
	// The next day's salt was fetched in advance: midnight needs no store.
	store.down = true
	day2 := day1.Add(24 * time.Hour)
	if a.Hash(day2, ip, ua) == h1 {
		t.Fatal("the hash did not change with the day")
	}
	if a.Hash(day2, ip, ua) != b.Hash(day2, ip, ua) {
		t.Fatal("replicas disagree on the next day although it was prefetched")
	}
	// Old salts are forgotten.
	store.down = false
	a.Refresh(ctx, day2)
	if _, ok := store.salts[Day(day1)]; ok {
		t.Fatal("yesterday's salt is still stored")
	}
}

func TestStoreDownStillHashes(t *testing.T) {
	store := &memStore{salts: map[string][]byte{}, down: true}
	h := NewHasher(store, logger)
	now := time.Now()
	if err := h.Refresh(context.Background(), now); err == nil {
		t.Fatal("Refresh hid the store failure")
	}
	if got := h.Hash(now, netip.MustParseAddr("198.51.100.1"), "x"); len(got) != 22 {
		t.Fatalf("hash %q", got)
	}
	// When the store returns, the shared salt replaces the local one.
	store.down = false
	h.Refresh(context.Background(), now)
	other := NewHasher(store, logger)
	other.Refresh(context.Background(), now)
	if h.Hash(now, netip.MustParseAddr("198.51.100.1"), "x") != other.Hash(now, netip.MustParseAddr("198.51.100.1"), "x") {
		t.Fatal("the local salt was not replaced by the shared one")
	}
}

func BenchmarkHash(b *testing.B) {
	h := NewHasher(&memStore{salts: map[string][]byte{}}, logger)
	now := time.Now()
	h.Refresh(context.Background(), now)
	ip := netip.MustParseAddr("203.0.113.77")
	buf := make([]byte, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		buf = h.AppendHash(buf[:0], now, ip, "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36")
	}
}

// TestDayIsUTC: the salt's day is the UTC date, in whatever zone the
// clock's reading is: midnight in Berlin or Chicago changes nothing.
func TestDayIsUTC(t *testing.T) {
	tests := []struct{ at, want string }{
		{"2026-11-30T23:59:59Z", "2026-11-30"},
		{"2026-12-01T00:00:00Z", "2026-12-01"},
		{"2026-12-31T23:59:59Z", "2026-12-31"},
		{"2027-01-01T00:00:00Z", "2027-01-01"},
		{"2026-11-30T23:59:59+01:00", "2026-11-30"}, // Berlin, the last second of November
		{"2026-12-01T00:30:00+01:00", "2026-11-30"}, // Berlin's December, still November in UTC
		{"2026-11-30T18:30:00-06:00", "2026-12-01"}, // Chicago's November, already December in UTC
		{"2026-10-25T02:30:00+02:00", "2026-10-25"}, // Berlin's autumn change, before it
		{"2026-10-25T02:30:00+01:00", "2026-10-25"}, // and the same wall time an hour later
		{"2027-03-14T03:30:00-05:00", "2027-03-14"}, // Chicago's spring change
		{"2026-11-01T01:30:00-05:00", "2026-11-01"}, // Chicago's autumn change
		{"2026-10-31T19:30:00-05:00", "2026-11-01"}, // Chicago's Halloween evening
	}
	for _, tt := range tests {
		at, err := time.Parse(time.RFC3339, tt.at)
		if err != nil {
			t.Fatal(err)
		}
		if got := Day(at); got != tt.want {
			t.Errorf("Day(%s) = %s, want %s", tt.at, got, tt.want)
		}
	}
}

// TestSaltOnInstants runs two replicas at each of testkit.Instants: a
// visitor's hash holds for the whole UTC day around the instant (local
// midnights included) and changes at the next midnight UTC, whose salt
// Refresh fetched in advance, so the replicas agree on it with the store
// down; the next Refresh forgets the day that ended.
func TestSaltOnInstants(t *testing.T) {
	ctx := context.Background()
	ip, ua := netip.MustParseAddr("203.0.113.77"), "Mozilla/5.0"
	for _, in := range testkit.Instants() {
		t.Run(in.Name, func(t *testing.T) {
			at := in.At
			store := &memStore{salts: map[string][]byte{}}
			a, b := NewHasher(store, logger), NewHasher(store, logger)
			for _, h := range []*Hasher{a, b} {
				if err := h.Refresh(ctx, at); err != nil {
					t.Fatal(err)
				}
			}
			store.down = true // from here on only what Refresh prepared
			u := at.UTC()
			dayStart := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
			next := dayStart.AddDate(0, 0, 1)
			l := at // the local midnights of the instant's own zone
			localMidnight := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, l.Location())

			want := a.Hash(at, ip, ua)
			if b.Hash(at, ip, ua) != want {
				t.Fatal("two replicas hash the same visitor differently")
			}
			for _, probe := range []time.Time{dayStart, next.Add(-time.Nanosecond), at.Add(-time.Second), at.Add(time.Second),
				localMidnight, localMidnight.Add(-time.Second), localMidnight.AddDate(0, 0, 1), localMidnight.AddDate(0, 0, 1).Add(-time.Second)} {
				if Day(probe) != Day(at) {
					continue // another UTC day: checked below for the next one
				}
				if got := a.Hash(probe, ip, ua); got != want {
					t.Errorf("hash at %s = %s, at %s = %s: the same UTC day hashes differently",
						probe.Format(time.RFC3339Nano), got, at.Format(time.RFC3339), want)
				}
			}
			tomorrow := a.Hash(next, ip, ua)
			if tomorrow == want {
				t.Errorf("the hash did not change at %s", next.Format(time.RFC3339))
			}
			if b.Hash(next, ip, ua) != tomorrow || a.local[Day(next)] {
				t.Errorf("the salt of %s was not fetched in advance at %s", Day(next), at.Format(time.RFC3339))
			}

			store.down = false
			if err := a.Refresh(ctx, next); err != nil {
				t.Fatal(err)
			}
			if a.Hash(next.Add(time.Hour), ip, ua) != tomorrow {
				t.Error("a refresh changed the salt of a day in progress")
			}
			a.mu.RLock()
			_, kept := a.days[Day(at)]
			a.mu.RUnlock()
			if _, stored := store.salts[Day(at)]; kept || stored {
				t.Errorf("the salt of %s outlived its day (memory %v, store %v)", Day(at), kept, stored)
			}
		})
	}
}

// TestKeyOutlivesTheDay: the in-memory visitor key is the same on both
// sides of midnight UTC, where the visitor hash changes.
func TestKeyOutlivesTheDay(t *testing.T) {
	seed := maphash.MakeSeed()
	ip, ua := netip.MustParseAddr("203.0.113.77"), "Mozilla/5.0"
	k := Key(seed, ip, ua)
	if Key(seed, netip.MustParseAddr("203.0.113.5"), ua) != k {
		t.Error("the same /24 and agent have different keys")
	}
	if Key(seed, netip.MustParseAddr("203.0.114.77"), ua) == k || Key(seed, ip, "curl/8") == k {
		t.Error("another /24 or agent has the same key")
	}
}

// TestStoreLosesSalts: the salt store keeps salts where no backup holds
// them, so a database crash or failover empties it. Replicas that hold
// the day's salt put it back and hashes do not change; a replica started
// after the loss that stores a new salt first makes every replica adopt
// it within a refresh: the day's hashes change once, and replicas agree.
func TestStoreLosesSalts(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	ip, ua := netip.MustParseAddr("203.0.113.77"), "Mozilla/5.0"
	tests := []struct {
		name string
		// first refreshes first after the loss: an old replica (index 0 or
		// 1) or a new one (2), started after the loss.
		first   int
		changed bool // the day's hash changed
	}{
		{"an old replica refreshes first", 0, false},
		{"a new replica refreshes first", 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &memStore{salts: map[string][]byte{}}
			old := []*Hasher{NewHasher(store, logger), NewHasher(store, logger)}
			for _, h := range old {
				if err := h.Refresh(ctx, at); err != nil {
					t.Fatal(err)
				}
			}
			before := old[0].Hash(at, ip, ua)
			tomorrowBefore := old[0].Hash(at.Add(24*time.Hour), ip, ua)

			store.lose()
			all := append(old, NewHasher(store, logger))
			order := []int{tt.first}
			for i := range all {
				if i != tt.first {
					order = append(order, i)
				}
			}
			for _, i := range order {
				if err := all[i].Refresh(ctx, at.Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			after := all[0].Hash(at, ip, ua)
			for i, h := range all {
				if got := h.Hash(at.Add(time.Hour), ip, ua); got != after {
					t.Errorf("replica %d hashes %s, replica 0 %s: replicas disagree after the loss", i, got, after)
				}
				if h.local[Day(at)] {
					t.Errorf("replica %d still holds a local salt", i)
				}
			}
			if (after != before) != tt.changed {
				t.Errorf("hash before the loss %s, after %s; want changed = %v", before, after, tt.changed)
			}
			if got := all[1].Hash(at.Add(24*time.Hour), ip, ua); (got != tomorrowBefore) != tt.changed {
				t.Errorf("tomorrow's hash before the loss %s, after %s; want changed = %v", tomorrowBefore, got, tt.changed)
			}
			if len(store.salts) != 2 {
				t.Errorf("the store holds %d salts after the refreshes, want today's and tomorrow's", len(store.salts))
			}
		})
	}
}

// TestLocalSaltIsOffered: a replica that hashed with a local salt while
// the store was down offers it when the store returns; stored first, it
// becomes the day's shared salt and the replica's hashes do not change.
func TestLocalSaltIsOffered(t *testing.T) {
	ctx := context.Background()
	store := &memStore{salts: map[string][]byte{}, down: true}
	h := NewHasher(store, logger)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("198.51.100.1")
	if err := h.Refresh(ctx, at); err == nil {
		t.Fatal("Refresh hid the store failure")
	}
	local := h.Hash(at, ip, "x")
	store.down = false
	if err := h.Refresh(ctx, at); err != nil {
		t.Fatal(err)
	}
	other := NewHasher(store, logger)
	if err := other.Refresh(ctx, at); err != nil {
		t.Fatal(err)
	}
	if h.Hash(at, ip, "x") != local || other.Hash(at, ip, "x") != local || h.local[Day(at)] {
		t.Fatal("the local salt was not offered and shared")
	}
}

func TestNetworkKeyIgnoresTheAgent(t *testing.T) {
	seed := maphash.MakeSeed()
	k := NetworkKey(seed, netip.MustParseAddr("203.0.113.77"))
	tests := []struct {
		ip   string
		same bool
	}{
		{"203.0.113.5", true},
		{"::ffff:203.0.113.200", true},
		{"203.0.114.77", false},
		{"2001:db8:1234:5678::1", false},
	}
	for _, tt := range tests {
		if got := NetworkKey(seed, netip.MustParseAddr(tt.ip)) == k; got != tt.same {
			t.Errorf("NetworkKey(%s) same as 203.0.113.77's: %v, want %v", tt.ip, got, tt.same)
		}
	}
	v6 := NetworkKey(seed, netip.MustParseAddr("2001:db8:1234:5678::1"))
	if NetworkKey(seed, netip.MustParseAddr("2001:db8:1234:ffff::2")) != v6 {
		t.Error("the same /48 has different network keys")
	}
}
