package linktable

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func mk(i int, active bool) Link {
	return Link{Code: fmt.Sprintf("code-%d", i), Partner: []string{"coursera", "edx", "udemy"}[i%3],
		CourseID: fmt.Sprintf("course-%d", i), Destination: fmt.Sprintf("https://p.example/c/%d?clickid={click_id}", i), Active: active,
		Placements: []string{"", "hero", "hero,sidebar,footer"}[i%3]}
}

func TestAllowsPlacement(t *testing.T) {
	tests := []struct {
		list, p string
		want    bool
	}{
		{"", "anything", true},
		{"", "", true},
		{"hero", "hero", true},
		{"hero", "her", false},
		{"hero", "hero2", false},
		{"hero,sidebar,footer", "sidebar", true},
		{"hero,sidebar,footer", "footer", true},
		{"hero,sidebar,footer", "side", false},
		{"hero,sidebar,footer", "hero,sidebar", false},
		{"hero,sidebar", "", false},
	}
	for _, tt := range tests {
		if got := (Link{Placements: tt.list}).AllowsPlacement(tt.p); got != tt.want {
			t.Errorf("%q allows %q = %v, want %v", tt.list, tt.p, got, tt.want)
		}
	}
}

func TestPutGetReplaceGrow(t *testing.T) {
	tab := New(0)
	const n = 50000
	for i := range n {
		if err := tab.Put(mk(i, true)); err != nil {
			t.Fatal(err)
		}
	}
	if tab.Len() != n {
		t.Fatalf("Len = %d", tab.Len())
	}
	for i := range n {
		got, ok := tab.Get(fmt.Sprintf("code-%d", i))
		if !ok || got != mk(i, true) {
			t.Fatalf("Get(%d) = %+v, %v", i, got, ok)
		}
	}
	if _, ok := tab.Get("missing"); ok {
		t.Fatal("found a missing code")
	}
	// Replace every link several times: compaction must keep them all.
	for round := range 5 {
		for i := range n {
			l := mk(i, round%2 == 0)
			l.Destination += fmt.Sprintf("&r=%d", round)
			tab.Put(l)
		}
	}
	if tab.Len() != n {
		t.Fatalf("Len after replacing = %d", tab.Len())
	}
	got, _ := tab.Get("code-7")
	if got.Active != true || got.Destination != mk(7, true).Destination+"&r=4" {
		t.Fatalf("after replacing: %+v", got)
	}
}

func TestViewsSurviveUpdates(t *testing.T) {
	tab := New(0)
	tab.Put(mk(1, true))
	view, _ := tab.Get("code-1")
	for i := range 200000 { // enough replaced bytes to force compactions
		l := mk(1, true)
		l.Destination = fmt.Sprintf("https://p.example/%d", i)
		tab.Put(l)
	}
	if view != mk(1, true) {
		t.Fatalf("an old view changed: %+v", view)
	}
}

func TestTooLong(t *testing.T) {
	tab := New(0)
	l := mk(1, true)
	l.Code = string(make([]byte, 256))
	if err := tab.Put(l); err != ErrTooLong {
		t.Fatalf("err = %v", err)
	}
	l = mk(1, true)
	l.Placements = string(make([]byte, 65536))
	if err := tab.Put(l); err != ErrTooLong {
		t.Fatalf("placements: err = %v", err)
	}
}

func TestConcurrentReadersAndWriter(t *testing.T) {
	tab := New(0)
	for i := range 1000 {
		tab.Put(mk(i, true))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if l, ok := tab.Get(fmt.Sprintf("code-%d", i%1000)); !ok || l.Partner == "" {
					t.Error("a link vanished during writes")
					return
				}
			}
		}()
	}
	for i := range 100000 {
		tab.Put(mk(i%5000, true))
	}
	close(stop)
	wg.Wait()
}

// TestMemoryForAMillionLinks logs the heap a million catalog-like links
// take; the target (RSS under 200 MB) is checked by the benchmark run, not
// asserted here.
func TestMemoryForAMillionLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a million links")
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	tab := New(1_000_000)
	for i := range 1_000_000 {
		tab.Put(Link{Code: fmt.Sprintf("c%07d", i), Partner: "coursera", CourseID: fmt.Sprintf("course-%07d", i),
			Destination: fmt.Sprintf("https://www.coursera.org/learn/course-%07d?clickid={click_id}&utm_source=catalog", i), Active: true})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("1,000,000 links: %.1f MB mapped off the heap, heap grew %.1f MB", float64(tab.Bytes())/1e6, float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1e6)
	runtime.KeepAlive(tab)
}

func BenchmarkGet(b *testing.B) {
	tab := New(100000)
	codes := make([]string, 100000)
	for i := range codes {
		tab.Put(mk(i, true))
		codes[i] = fmt.Sprintf("code-%d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tab.Get(codes[i%len(codes)])
			i++
		}
	})
}

// Partners are interned with an index per record: more than 65,536 of
// them (a 16-bit index wrapped there, and links of a new partner read back
// as an old one's) each read back as their own, and a compaction keeps
// only those a live link names.
func TestManyPartners(t *testing.T) {
	const n = 70_000
	tb := New(n)
	dest := "https://partner.example/course?ref=" + strings.Repeat("x", 300)
	for i := range n {
		if err := tb.Put(Link{Code: fmt.Sprintf("c%d", i), Partner: fmt.Sprintf("p%d", i), Destination: dest, Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		l, ok := tb.Get(fmt.Sprintf("c%d", i))
		if want := fmt.Sprintf("p%d", i); !ok || l.Partner != want {
			t.Fatalf("link c%d: partner %q, want %q", i, l.Partner, want)
		}
	}
	// Every link moves to one partner, twice: the replaced records are
	// waste enough for a compaction, which forgets the 70,000 others.
	for range 2 {
		for i := range n {
			if err := tb.Put(Link{Code: fmt.Sprintf("c%d", i), Partner: "coursera", Destination: dest, Active: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tb.mu.RLock()
	partners := len(tb.partners)
	tb.mu.RUnlock()
	if partners > 1+n/2 {
		t.Errorf("%d partners interned after every link moved to one: compaction kept the unused", partners)
	}
	for i := range n {
		if l, ok := tb.Get(fmt.Sprintf("c%d", i)); !ok || l.Partner != "coursera" || l.Destination != dest {
			t.Fatalf("link c%d after compaction: %+v", i, l)
		}
	}
}

// The chunks a compaction replaced are unmapped once no reader can hold a
// view into them, though nothing is written to the table again: an import
// that compacted it once left them mapped, twice the table's size, until
// the next compaction (from a limits check: 1.5 GB resident after
// importing 255 MiB of links).
func TestRetiredChunksAreUnmappedWithoutAnotherWrite(t *testing.T) {
	tb := New(0)
	tb.retireAfter = time.Second // longer than the writes take, so the last retired wait for the timer
	big := strings.Repeat("d", 4000)
	const rounds = 3 // the third replaces more than the links' size: a compaction
	for round := range rounds {
		for i := range 6000 {
			l := mk(i, true)
			l.Destination = fmt.Sprintf("https://p.example/%d/%s", round, big)
			if err := tb.Put(l); err != nil {
				t.Fatal(err)
			}
		}
	}
	tb.mu.RLock()
	retired, mapped, live := len(tb.retired), len(tb.chunks)*chunkSize, tb.live
	tb.mu.RUnlock()
	if retired == 0 || mapped > 5*live/2 {
		t.Fatalf("%d retired mappings, %d bytes of chunks for %d live: no compaction", retired, mapped, live)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		tb.mu.RLock()
		left, pending := len(tb.retired), tb.sweepPending
		tb.mu.RUnlock()
		if left == 0 && !pending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d retired mappings still mapped (of %d)", left, retired)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 6000 {
		if l, ok := tb.Get(fmt.Sprintf("code-%d", i)); !ok || !strings.HasPrefix(l.Destination, fmt.Sprintf("https://p.example/%d/", rounds-1)) {
			t.Fatalf("code-%d: %v after the sweep", i, ok)
		}
	}
}
