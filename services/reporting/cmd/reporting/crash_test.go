package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/pgcluster"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/reporting/internal/kafkatransport"
)

// A reporting process killed in the middle of ingesting, and started
// again, counts every event exactly once: offsets are committed only after
// the database, and what is redelivered is recognised.
func TestKilledMidIngestCountsOnce(t *testing.T) {
	t.Parallel()
	s := setup(t, testkit.Now(t))
	const clicks, convs = 30000, 3000
	const consumers = 3 // INGEST_CONSUMERS, not set: its default
	var batch []any
	for i := 0; i < clicks; i++ {
		batch = append(batch, s.click(fmt.Sprintf("k%06d", i), fmt.Sprintf("link-%d", i%40), "ml-101", time.Duration(i)*time.Second, i%10 == 0, i%3 != 0))
		if len(batch) == 5000 {
			s.publish(t, events.TopicClicks, batch...)
			batch = batch[:0]
		}
	}
	for i := 0; i < convs; i++ {
		batch = append(batch, s.conv(fmt.Sprintf("e%06d", i), fmt.Sprintf("O-%d", i), fmt.Sprintf("k%06d", i*10), "", "approved", "10.00", "1.00", time.Duration(i*10)*time.Second))
	}
	s.publish(t, events.TopicConversions, batch...)

	db, err := database.Open(s.env["DATABASE_URL"], database.Pool{MaxOpen: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := func() (n int) {
		_ = db.QueryRow(`SELECT count(*) FROM reporting.clicks`).Scan(&n)
		return n
	}
	epoch := func() int32 {
		if g := s.kafka.GroupInfo(kafkatransport.GroupID); g != nil {
			return g.Epoch
		}
		return 0
	}
	var startedAt int32 // the group's generation when the process started
	// Kill it twice while it is part-way through: as soon as it stored
	// more (or, on a machine that fast, once it stored everything).
	for round := 0; round < 2; round++ {
		before := stored()
		testkit.WaitFor(t, 60*time.Second, func() error {
			if n := stored(); n == before && n < clicks {
				return fmt.Errorf("no click stored since %d", n)
			}
			return nil
		})
		// Killed once its own consumers make a stable group, not while one
		// of them waits in a JoinGroup: kfake (the test broker) then makes
		// the dead member part of the next generation with partitions and
		// no session timer, and nobody reads those partitions again (about
		// one run in four under -race; Apache Kafka expires such a member
		// after its session timeout). A group that is stable with the
		// previous process's members does not count: its generation must
		// be one after this process started.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		_, err := s.kafka.WaitGroupInfo(ctx, kafkatransport.GroupID, func(g *kfake.GroupInfo) bool {
			return g.State == "Stable" && len(g.Members) == consumers && g.Epoch > startedAt
		})
		cancel()
		if err != nil {
			t.Fatalf("consumer group not stable: %v (%+v)", err, s.kafka.GroupInfo(kafkatransport.GroupID))
		}
		s.p.Kill()
		t.Logf("killed with %d of %d clicks stored", stored(), clicks)
		startedAt = epoch()
		s.start(t) // on the same socket and clock
	}

	want := map[string]any{"partner": "coursera", "clicks": clicks - clicks/10, "bot_clicks": clicks / 10,
		"conversions": convs, "commission_approved": "3000.00"}
	s.waitFor(t, s.month()+"&group_by=partner", oneRow(want))
	var out strings.Builder
	if err := run(t.Context(), clock.Fixed(s.at), []string{"verify"}, func(k string) string { return s.env[k] }, &out, &out); err != nil {
		t.Fatalf("verify after the kills: %v\n%s", err, out.String())
	}
	if n := stored(); n != clicks {
		t.Fatalf("%d clicks stored, want %d", n, clicks)
	}
}

// With Postgres stopped under it, reporting says it is not ready, keeps
// retrying, loses nothing and counts nothing twice once Postgres is back.
func TestPostgresOutageDuringIngest(t *testing.T) {
	cluster := testkit.PostgresCluster(t)
	s := setup(t, testkit.Now(t))
	publishClicks := func(from, n int) {
		var batch []any
		for i := from; i < from+n; i++ {
			batch = append(batch, s.click(fmt.Sprintf("p%06d", i), "ml-101", "ml-101", time.Duration(i)*time.Second, false, true))
		}
		s.publish(t, events.TopicClicks, batch...)
	}
	publishClicks(0, 2000)
	s.waitFor(t, s.month()+"&group_by=partner", oneRow(map[string]any{"clicks": 2000}))

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	publishClicks(2000, 3000) // arrives while the database is down
	testkit.WaitFor(t, 30*time.Second, func() error {
		resp, err := http.Get(s.p.Base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 503 {
			return fmt.Errorf("/readyz = %d with Postgres down, want 503", resp.StatusCode)
		}
		return nil
	})
	// Not a wait for anything: the outage deliberately lasts a while, so
	// the consumer fails and backs off before Postgres is back.
	time.Sleep(time.Second)
	restarted, err := pgcluster.Start(context.Background(), pgcluster.Options{DataDir: cluster.DataDir, Port: cluster.Port, Fast: true})
	if err != nil {
		t.Fatalf("restart postgres: %v", err)
	}
	*cluster = *restarted
	s.waitFor(t, s.month()+"&group_by=partner", oneRow(map[string]any{"clicks": 5000}))
	var out strings.Builder
	if err := run(t.Context(), clock.Fixed(s.at), []string{"verify"}, func(k string) string { return s.env[k] }, &out, &out); err != nil {
		t.Fatalf("verify after the outage: %v\n%s", err, out.String())
	}
}
