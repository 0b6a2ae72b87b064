package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/pgcluster"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/conversions/internal/webhook"
)

// Outages under load: PostgreSQL restarting, Kafka away. The load waits on
// what it needs to see (accepted webhooks, 503s), never for a fixed time.

// loader sends webhooks with unique ids from 8 workers until finish,
// counting the ids answered 2xx and how many answers had each status (0:
// no answer).
type loader struct {
	stop     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
	mu       sync.Mutex
	accepted map[string]bool
	statuses map[int]int
}

func startLoad(t *testing.T, s *stack) *loader {
	l := &loader{stop: make(chan struct{}), accepted: map[string]bool{}, statuses: map[int]int{}}
	for w := range 8 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				id := fmt.Sprintf("load-%d-%d", w, i)
				body := s.conversionBody("L-"+id, "pending", "1.00")
				ts := strconv.FormatInt(s.at.Unix(), 10)
				req, _ := http.NewRequest("POST", s.p.Base+"/v1/webhooks/coursera", bytes.NewReader(body))
				req.Header.Set("webhook-id", id)
				req.Header.Set("webhook-timestamp", ts)
				req.Header.Set("webhook-signature", webhook.Sign(s.key, id, ts, body))
				r, err := http.DefaultClient.Do(req)
				l.mu.Lock()
				if err != nil {
					l.statuses[0]++
				} else {
					io.Copy(io.Discard, r.Body)
					r.Body.Close()
					l.statuses[r.StatusCode]++
					if r.StatusCode/100 == 2 {
						l.accepted[id] = true
					}
				}
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() { l.finish() })
	return l
}

// count returns how many ids were accepted and how many answers had status.
func (l *loader) count(status int) (accepted, withStatus int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accepted), l.statuses[status]
}

// waitAccepted waits until more than n ids were accepted.
func (l *loader) waitAccepted(t *testing.T, n int, why string) {
	t.Helper()
	testkit.WaitFor(t, 60*time.Second, func() error {
		if got, _ := l.count(0); got <= n {
			return fmt.Errorf("%s: %d webhooks accepted, want more than %d", why, got, n)
		}
		return nil
	})
}

// finish stops the workers and returns what they saw.
func (l *loader) finish() (map[string]bool, map[int]int) {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepted, l.statuses
}

func eventIDsFor(accepted map[string]bool) map[string]bool {
	want := map[string]bool{}
	for id := range accepted {
		want["coursera/L-"+id] = true
	}
	return want
}

func assertAllPublished(t *testing.T, s *stack, accepted map[string]bool) {
	t.Helper()
	want := eventIDsFor(accepted)
	got := readUntil(t, s.b, 60*time.Second, func(m map[string]received) bool {
		n := 0
		for _, c := range m {
			if want[c.Partner+"/"+c.OrderID] {
				n++
			}
		}
		return n >= len(want)
	})
	seen := map[string]bool{}
	for _, c := range got {
		seen[c.Partner+"/"+c.OrderID] = true
	}
	for k := range want {
		if !seen[k] {
			db, _ := sqlOpen(s.env["DATABASE_URL"])
			var depth int
			db.QueryRow(`SELECT count(*) FROM conversions.outbox`).Scan(&depth)
			db.Close()
			t.Logf("service logs (tail):\n%s", tail(s.p.Logs(), 3000))
			t.Fatalf("accepted (2xx) event %s is not on conversions.v1 (%d of %d; outbox depth %d)", k, len(seen), len(want), depth)
		}
	}
}

// TestPostgresRestartUnderLoad stops and restarts PostgreSQL while
// webhooks arrive: requests during the outage get 503, and every request
// that got a 2xx reaches conversions.v1.
func TestPostgresRestartUnderLoad(t *testing.T) {
	if os.Getenv("DATABASE_URL") != "" {
		t.Log("DATABASE_URL is set: this test needs the throwaway cluster it can restart; running on it anyway is not possible")
	}
	cluster := testkit.PostgresCluster(t)
	s := setup(t, migratedDatabaseURL(t), testkit.Now(t))
	l := startLoad(t, s)
	l.waitAccepted(t, 0, "before the outage")
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 60*time.Second, func() error {
		if _, n := l.count(503); n == 0 {
			return fmt.Errorf("no 503 while the database is down")
		}
		return nil
	})
	restarted, err := pgcluster.Start(context.Background(), pgcluster.Options{DataDir: cluster.DataDir, Port: cluster.Port, Fast: true})
	if err != nil {
		t.Fatalf("restart postgres: %v", err)
	}
	*cluster = *restarted
	before, _ := l.count(0)
	l.waitAccepted(t, before, "after the restart")
	accepted, statuses := l.finish()
	t.Logf("statuses during the restart: %v", statuses)
	if statuses[0] > 0 {
		t.Logf("service logs:\n%s", s.p.Logs())
	}
	for st := range statuses {
		if st == 500 {
			t.Fatalf("a 500 during the restart: %v; service logs (tail):\n%s", statuses, tail(s.p.Logs(), 3000))
		}
	}
	assertAllPublished(t, s, accepted)
}

// TestBrokerOutageDrains: webhooks are accepted while Kafka is down and
// everything drains when it returns.
func TestBrokerOutageDrains(t *testing.T) {
	t.Parallel()
	s := setup(t, migratedDatabaseURL(t), testkit.Now(t))
	s.b.Stop()
	l := startLoad(t, s)
	l.waitAccepted(t, 100, "while Kafka is down") // more than one relay batch's worth of attempts
	accepted, _ := l.finish()
	if r := do(t, "GET", s.p.Base+"/metrics", nil); !strings.Contains(r.body, "conversions_outbox_depth") {
		t.Fatal("no outbox depth metric")
	}
	s.b.Start(t)
	assertAllPublished(t, s, accepted)
}
