package conversion

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// memInbox is an InboxPruner over requests received at given times; the
// unpublished ones are never pruned, as the store promises.
type memInbox struct {
	mu          sync.Mutex
	received    map[int]time.Time
	unpublished map[int]bool
	cutoffs     []time.Time
	fail        error
}

func (m *memInbox) PruneInbox(_ context.Context, cutoff time.Time, limit int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cutoffs = append(m.cutoffs, cutoff)
	if m.fail != nil {
		return 0, m.fail
	}
	n := 0
	for id, at := range m.received {
		if n == limit {
			break
		}
		if at.Before(cutoff) && !m.unpublished[id] {
			delete(m.received, id)
			n++
		}
	}
	return n, nil
}

func (m *memInbox) left() map[int]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int]bool{}
	for id := range m.received {
		out[id] = true
	}
	return out
}

func TestRetentionSweep(t *testing.T) {
	at := time.Date(2027, 3, 31, 23, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	inbox := func() *memInbox {
		m := &memInbox{received: map[int]time.Time{}, unpublished: map[int]bool{7: true}}
		for i := range 5 {
			m.received[i] = at.Add(-100*day - time.Duration(i)*time.Minute) // old
		}
		m.received[5] = at.Add(-90*day + time.Second) // just inside 90 days
		m.received[6] = at.Add(-day)                  // recent
		m.received[7] = at.Add(-400 * day)            // old, its event not yet published
		return m
	}
	tests := []struct {
		name    string
		keep    time.Duration
		batch   int
		left    []int
		deleted int
	}{
		{"90 days, batches of 2", 90 * day, 2, []int{5, 6, 7}, 5},
		{"90 days, one batch", 90 * day, 1000, []int{5, 6, 7}, 5},
		{"a year", 365 * day, 2, []int{0, 1, 2, 3, 4, 5, 6, 7}, 0},
		{"0 keeps everything", 0, 2, []int{0, 1, 2, 3, 4, 5, 6, 7}, 0},
	}
	for _, tt := range tests {
		m := inbox()
		r := &Retention{Store: m, Keep: tt.keep, Now: clock.Fixed(at), Batch: tt.batch}
		n, err := r.Sweep(context.Background())
		if err != nil || n != tt.deleted {
			t.Errorf("%s: deleted %d, %v; want %d", tt.name, n, err, tt.deleted)
		}
		left := m.left()
		if len(left) != len(tt.left) {
			t.Errorf("%s: left %v, want %v", tt.name, left, tt.left)
		}
		for _, id := range tt.left {
			if !left[id] {
				t.Errorf("%s: request %d deleted", tt.name, id)
			}
		}
		for _, c := range m.cutoffs {
			if !c.Equal(at.Add(-tt.keep)) {
				t.Errorf("%s: cutoff %s, want the clock's instant less %s", tt.name, c, tt.keep)
			}
		}
	}
}

// TestRetentionRunSweepsAtStartAndSurvivesErrors: the first sweep runs at
// once; a failing store is retried at the next tick, and Run returns nil
// when its context ends.
func TestRetentionRunSweepsAtStartAndSurvivesErrors(t *testing.T) {
	at := time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)
	m := &memInbox{received: map[int]time.Time{1: at.Add(-91 * 24 * time.Hour)}, fail: errors.New("database down")}
	r := &Retention{Store: m, Keep: 90 * 24 * time.Hour, Now: clock.Fixed(at), Interval: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	testkit.WaitFor(t, 10*time.Second, func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if len(m.cutoffs) < 2 {
			return errors.New("no second sweep after a failed one")
		}
		m.fail = nil
		return nil
	})
	testkit.WaitFor(t, 10*time.Second, func() error {
		if len(m.left()) != 0 {
			return errors.New("the old request is still there")
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}
