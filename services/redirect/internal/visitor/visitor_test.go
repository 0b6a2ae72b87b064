package visitor

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"
)

type memStore struct {
	mu    sync.Mutex
	salts map[string][]byte
	down  bool
}

func (m *memStore) Salt(_ context.Context, day string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, errors.New("store down")
	}
	if m.salts[day] == nil {
		s := make([]byte, 32)
		rand.Read(s)
		m.salts[day] = s
	}
	return m.salts[day], nil
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
