package redirect_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clickid"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/redirect/internal/linktable"
	"github.com/linkcredit/linkcredit/services/redirect/internal/redirect"
	"github.com/linkcredit/linkcredit/services/redirect/internal/visitor"
)

// salts is a visitor.SaltStore in memory.
type salts struct {
	mu    sync.Mutex
	byDay map[string][]byte
}

func (s *salts) Salt(_ context.Context, day string, offer []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byDay[day] == nil {
		s.byDay[day] = offer
	}
	return s.byDay[day], nil
}

func (s *salts) Forget(context.Context, string) error { return nil }

// recorder keeps the clicks it is given.
type recorder struct{ clicks []events.ClickRecorded }

func (r *recorder) Record(_ context.Context, c events.ClickRecorded) error {
	r.clicks = append(r.clicks, c)
	return nil
}

// clickAt is a service whose clock the test sets.
type clickAt struct {
	svc redirect.Service
	rec *recorder
	now time.Time
}

func newClickAt(t *testing.T, at time.Time, cfg redirect.Config) *clickAt {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	table := linktable.New(0)
	if err := table.Put(linktable.Link{Code: "ml-101", Partner: "coursera", CourseID: "ml-101",
		Destination: "https://www.coursera.org/learn/ml?clickid={click_id}", Active: true}); err != nil {
		t.Fatal(err)
	}
	ids, err := clickid.NewSigner([]byte("test-click-id-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	visitors := visitor.NewHasher(&salts{byDay: map[string][]byte{}}, logger)
	if err := visitors.Refresh(context.Background(), at); err != nil {
		t.Fatal(err)
	}
	c := &clickAt{rec: &recorder{}, now: at}
	cfg.Now = func() time.Time { return c.now }
	c.svc = redirect.New(cfg, redirect.Deps{Table: table, IDs: ids, Visitors: visitors, Logger: logger, Recorder: c.rec})
	return c
}

// click is a browser's click from 198.51.100.7 at t.
func (c *clickAt) click(t *testing.T, at time.Time) (events.ClickRecorded, error) {
	t.Helper()
	c.now = at
	resp, err := c.svc.Click(context.Background(), redirect.ClickRequest{Code: "ml-101",
		IP: netip.MustParseAddr("198.51.100.7"), UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"})
	if err != nil {
		return events.ClickRecorded{}, err
	}
	got := c.rec.clicks[len(c.rec.clicks)-1]
	if got.ID != resp.ClickID {
		t.Fatalf("recorded click %s, answered %s", got.ID, resp.ClickID)
	}
	return got, nil
}

// utcDay is the day whose salt a hash at t must use: the visitor salt
// rotates at midnight UTC, whatever zone t is in.
func utcDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// TestClickAcrossTheDay clicks twice, one second apart, around every
// instant of testkit.Instants: across the last second of a month, New
// Year, and daylight-saving changes. The click's time is the clock's, the
// visitor hash changes exactly when the UTC day does, and the unique-click
// window and the rate limit do not start over at midnight.
func TestClickAcrossTheDay(t *testing.T) {
	const window = 30 * time.Minute
	for _, in := range testkit.Instants() {
		for _, pair := range []struct {
			name          string
			first, second time.Time
		}{
			{"second-before", in.At.Add(-time.Second), in.At},
			{"second-after", in.At, in.At.Add(time.Second)},
		} {
			t.Run(in.Name+"/"+pair.name, func(t *testing.T) {
				c := newClickAt(t, pair.first, redirect.Config{UniqueWindow: window, RateLimitPerMinute: 2})
				first, err := c.click(t, pair.first)
				if err != nil {
					t.Fatal(err)
				}
				second, err := c.click(t, pair.second)
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range []struct {
					click events.ClickRecorded
					at    time.Time
				}{{first, pair.first}, {second, pair.second}} {
					if !x.click.OccurredAt.Equal(x.at) || x.click.OccurredAt.Location() != time.UTC {
						t.Errorf("occurred_at %v, want the clock's %v in UTC", x.click.OccurredAt, x.at)
					}
					if idAt, err := clickid.Time(x.click.ID); err != nil || idAt.UnixMilli() != x.at.UnixMilli() {
						t.Errorf("click id %s carries %v (%v), want the clock's %v", x.click.ID, idAt, err, x.at)
					}
				}
				if !first.Unique || second.Unique {
					t.Errorf("unique flags %v then %v one second later, want true then false", first.Unique, second.Unique)
				}
				sameDay := utcDay(pair.first) == utcDay(pair.second)
				if (first.VisitorHash == second.VisitorHash) != sameDay {
					t.Errorf("visitor hashes %s at %s and %s at %s: equal %v, want %v (same UTC day)",
						first.VisitorHash, pair.first.UTC().Format(time.RFC3339), second.VisitorHash,
						pair.second.UTC().Format(time.RFC3339), !sameDay, sameDay)
				}
				if _, err := c.click(t, pair.second); !errors.Is(err, redirect.ErrRateLimited) {
					t.Errorf("third click within a second = %v, want ErrRateLimited (limit 2 a minute)", err)
				}
				later, err := c.click(t, pair.second.Add(window))
				if err != nil {
					t.Fatal(err)
				}
				if !later.Unique {
					t.Error("a click a whole window after the last is not unique")
				}
			})
		}
	}
}
