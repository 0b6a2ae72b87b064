package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/conversions/internal/adapter"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

var at = time.Date(2026, 12, 31, 22, 0, 0, 0, time.UTC)

// migrated returns a store on a new database with every migration applied
// and the partner "p".
func migrated(t *testing.T) (*Store, *sql.DB) {
	t.Helper()
	db, err := database.Open(testkit.MigratedDatabaseURL(t, Schema, Migrations()), database.Pool{MaxOpen: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := New(db)
	if _, _, err := s.PutPartner(context.Background(), conversion.StoredPartner{ID: "p", Name: "P", Currency: "USD",
		MaxAmount: adapter.DefaultMaxAmount("USD"), UpdatedAt: at}); err != nil {
		t.Fatal(err)
	}
	return s, db
}

// accept stores a request received at received with its event, as the
// service does, and returns its inbox id.
func accept(t *testing.T, s *Store, db *sql.DB, key string, received time.Time) int64 {
	t.Helper()
	in := conversion.InboxEntry{Partner: "p", IdempotencyKey: key, EventID: "ev-" + key, Source: "webhook", Method: "POST",
		BodyHash: []byte(key), Body: []byte(`{}`), ReceivedAt: received, Headers: map[string]string{"user-agent": "t"}}
	build := func(int64) (conversion.OutboxMessage, error) {
		return conversion.OutboxMessage{Topic: "conversions.v1", Key: []byte("p/" + key), Value: []byte(`{"id":"ev-` + key + `"}`)}, nil
	}
	if _, err := s.Accept(context.Background(), in, build); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := db.QueryRow(`SELECT id FROM conversions.inbox WHERE idempotency_key = $1`, key).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func count(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPartnersAreKept: stored requests name their partner without a
// foreign key (migration 0007), so the schema refuses what would orphan
// them: deleting a partner, changing its id, truncating partners.
func TestPartnersAreKept(t *testing.T) {
	s, db := migrated(t)
	accept(t, s, db, "k1", at)
	for _, stmt := range []string{
		`DELETE FROM conversions.partners WHERE id = 'p'`,
		`UPDATE conversions.partners SET id = 'q' WHERE id = 'p'`,
		`TRUNCATE conversions.partners CASCADE`,
	} {
		_, err := db.Exec(stmt)
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) || pqErr.Code != "23001" {
			t.Errorf("%s: %v, want restrict_violation (23001)", stmt, err)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM conversions.partners WHERE id = 'p'`); n != 1 {
		t.Fatalf("partner p: %d rows, want 1", n)
	}
	// Changing anything else of a partner still works (PUT /v1/partners).
	if _, _, err := s.PutPartner(context.Background(), conversion.StoredPartner{ID: "p", Name: "P renamed", Currency: "USD",
		MaxAmount: adapter.DefaultMaxAmount("USD"), UpdatedAt: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

// TestAcceptLinksTheOutboxEventToItsRequest: the one statement that stores
// a request stores its event pointing at it.
func TestAcceptLinksTheOutboxEventToItsRequest(t *testing.T) {
	s, db := migrated(t)
	id := accept(t, s, db, "k1", at)
	if n := count(t, db, `SELECT count(*) FROM conversions.outbox WHERE inbox_id = $1`, id); n != 1 {
		t.Fatalf("%d outbox rows point at request %d, want 1", n, id)
	}
}

func TestPruneInboxNeverDeletesAnUnpublishedRequest(t *testing.T) {
	s, db := migrated(t)
	ctx := context.Background()
	day := 24 * time.Hour
	cutoff := at.Add(-90 * day)
	ids := map[string]int64{}
	for _, k := range []string{"old-1", "old-2", "old-3", "old-parked", "old-waiting", "old-replayed"} {
		ids[k] = accept(t, s, db, k, cutoff.Add(-day))
	}
	ids["at-cutoff"] = accept(t, s, db, "at-cutoff", cutoff)
	ids["recent"] = accept(t, s, db, "recent", at.Add(-day))

	// Publish everything but old-waiting; park old-parked; queue a replay
	// of old-replayed.
	lease, ok, err := s.LeaseOutbox(ctx)
	if err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	defer lease.Close()
	queued, err := lease.Next(ctx, 100)
	if err != nil || len(queued) != 8 {
		t.Fatalf("next: %d, %v", len(queued), err)
	}
	var published []int64
	for _, q := range queued {
		switch q.InboxID {
		case ids["old-waiting"]:
		case ids["old-parked"]:
			if err := lease.Park(ctx, q.ID, "too large", at); err != nil {
				t.Fatal(err)
			}
		default:
			published = append(published, q.ID)
		}
	}
	if err := lease.Published(ctx, published); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, []conversion.OutboxMessage{{Topic: "conversions.v1", Key: []byte("p/r"), Value: []byte(`{}`),
		InboxID: ids["old-replayed"]}}); err != nil {
		t.Fatal(err)
	}

	// Batches of two: old-1, old-2, old-3 go (two statements); nothing else.
	total := 0
	for {
		n, err := s.PruneInbox(ctx, cutoff, 2)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if n < 2 {
			break
		}
	}
	if total != 3 {
		t.Errorf("pruned %d, want 3", total)
	}
	var left []string
	rows, err := db.Query(`SELECT idempotency_key FROM conversions.inbox ORDER BY idempotency_key`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		left = append(left, k)
	}
	rows.Close()
	if want := "at-cutoff old-parked old-replayed old-waiting recent"; strings.Join(left, " ") != want {
		t.Errorf("left %v, want %s", left, want)
	}
	// The schema holds the rule too.
	if _, err := db.Exec(`DELETE FROM conversions.inbox WHERE id = $1`, ids["old-waiting"]); err == nil {
		t.Error("a request whose event waits in the outbox could be deleted")
	}
	if _, err := db.Exec(`DELETE FROM conversions.inbox WHERE id = $1`, ids["old-parked"]); err == nil {
		t.Error("a request whose event is set aside could be deleted")
	}
}

func TestOutboxLease(t *testing.T) {
	s, db := migrated(t)
	ctx := context.Background()
	first := accept(t, s, db, "a", at)
	accept(t, s, db, "b", at)
	// Another replica: its own pool.
	other := New(testkitReopen(t, db))

	lease, ok, err := s.LeaseOutbox(ctx)
	if err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	if _, ok, err := other.LeaseOutbox(ctx); err != nil || ok {
		t.Fatalf("a second replica got the lease too (%v, %v)", ok, err)
	}
	queued, err := lease.Next(ctx, 10)
	if err != nil || len(queued) != 2 || queued[0].InboxID != first || string(queued[0].Key) != "p/a" {
		t.Fatalf("next = %+v, %v", queued, err)
	}
	if err := lease.Park(ctx, queued[0].ID, "[10] Message Size Too Large", at); err != nil {
		t.Fatal(err)
	}
	var reason string
	var parkedAt time.Time
	if err := db.QueryRow(`SELECT reason, parked_at FROM conversions.outbox_parked WHERE id = $1 AND inbox_id = $2`, queued[0].ID, first).
		Scan(&reason, &parkedAt); err != nil || !strings.Contains(reason, "Too Large") || !parkedAt.Equal(at) {
		t.Fatalf("parked: %q at %s, %v", reason, parkedAt, err)
	}
	if rest, err := lease.Next(ctx, 10); err != nil || len(rest) != 1 || string(rest[0].Key) != "p/b" {
		t.Fatalf("after parking, next = %+v, %v", rest, err)
	}
	waiting, _, parked, err := s.OutboxStats(ctx)
	if err != nil || waiting != 1 || parked != 1 {
		t.Fatalf("stats: %d waiting, %d parked, %v", waiting, parked, err)
	}
	// Closing gives the lease up, although the connection goes back to
	// the pool rather than ending its session.
	if err := lease.Close(); err != nil {
		t.Fatal(err)
	}
	l2, ok, err := other.LeaseOutbox(ctx)
	if err != nil || !ok {
		t.Fatalf("after Close, another replica cannot take the lease (%v, %v)", ok, err)
	}
	l2.Close()
}

// testkitReopen opens a second pool on db's database.
func testkitReopen(t *testing.T, db *sql.DB) *sql.DB {
	t.Helper()
	var name string
	if err := db.QueryRow(`SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	var port, user string
	if err := db.QueryRow(`SELECT current_setting('port'), current_user`).Scan(&port, &user); err != nil {
		t.Fatal(err)
	}
	other, err := database.Open(fmt.Sprintf("postgres://%s@127.0.0.1:%s/%s", user, port, name), database.Pool{MaxOpen: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return other
}

// TestMigration0003OnRowsStoredBefore: requests stored before keep only
// the allow-listed headers, and events queued before point at their
// request (a replay at the request it re-decoded).
func TestMigration0003OnRowsStoredBefore(t *testing.T) {
	db := testkit.DB(t)
	ctx := context.Background()
	all := Migrations()
	before := fstest.MapFS{}
	for _, name := range []string{"0001_conversions.up.sql", "0002_partner_max_amount.up.sql"} {
		b, err := fs.ReadFile(all, name)
		if err != nil {
			t.Fatal(err)
		}
		before[name] = &fstest.MapFile{Data: b}
	}
	if err := database.Migrate(ctx, db, Schema, before); err != nil {
		t.Fatal(err)
	}
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(`INSERT INTO conversions.partners (id, name, currency) VALUES ('p', 'P', 'USD')`)
	headers := map[string]string{"content-type": "application/json", "user-agent": "net/1", "webhook-id": "m1",
		"x-forwarded-for": "198.51.100.77, 10.0.0.1", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	h, _ := json.Marshal(headers)
	for i, ev := range []string{"cv_1", "cv_2", "cv_3"} {
		mustExec(`INSERT INTO conversions.inbox (partner, idempotency_key, body_hash, event_id, source, method, headers, body)
			VALUES ('p', $1, '\x00', $2, 'webhook', 'POST', $3, '')`, fmt.Sprint("k", i), ev, string(h))
	}
	mustExec(`INSERT INTO conversions.inbox (partner, idempotency_key, body_hash, event_id, source, method, headers, body)
		VALUES ('p', 'k-null', '\x00', 'cv_null', 'webhook', 'POST', 'null', '')`)
	mustExec(`INSERT INTO conversions.outbox (topic, key, value) VALUES
		('conversions.v1', 'p/1', convert_to('{"id":"cv_1","order_id":"A\u0000"}', 'UTF8')),
		('conversions.v1', 'p/2', convert_to('{"id":"cv_2r","replay_of":"cv_2"}', 'UTF8')),
		('conversions.v1', 'p/x', convert_to('{"id":"cv_unknown"}', 'UTF8'))`)

	if err := database.Migrate(ctx, db, Schema, all); err != nil {
		t.Fatal(err)
	}
	var leaked int
	if err := db.QueryRow(`SELECT count(*) FROM conversions.inbox WHERE headers::text LIKE '%198.51.100%' OR headers ? 'traceparent'
		OR jsonb_typeof(headers) <> 'object'`).Scan(&leaked); err != nil || leaked != 0 {
		t.Fatalf("%d requests still hold a client address, a trace or no object (%v)", leaked, err)
	}
	var kept string
	db.QueryRow(`SELECT headers::text FROM conversions.inbox WHERE event_id = 'cv_1'`).Scan(&kept)
	if kept != `{"user-agent": "net/1", "webhook-id": "m1", "content-type": "application/json"}` {
		t.Errorf("kept %s", kept)
	}
	rows, err := db.Query(`SELECT o.key, coalesce(i.event_id, '') FROM conversions.outbox o LEFT JOIN conversions.inbox i ON i.id = o.inbox_id ORDER BY o.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var links []string
	for rows.Next() {
		var k, ev string
		rows.Scan(&k, &ev)
		links = append(links, k+"->"+ev)
	}
	if got := strings.Join(links, " "); got != "p/1->cv_1 p/2->cv_2 p/x->" {
		t.Errorf("links %s", got)
	}
}

// TestOutboxReclaimReusesItsSpace: once the relay has removed a round of
// events and reclaimed their space, the next round fills that space
// instead of growing the table (and the vacuum refuses nothing: it runs
// outside a transaction, on a connection of the pool); a shrinking
// reclaim gives the free end back.
func TestOutboxReclaimReusesItsSpace(t *testing.T) {
	s, db := migrated(t)
	ctx := context.Background()
	value := []byte(`{"id":"` + strings.Repeat("v", 400) + `"}`)
	lease, ok, err := s.LeaseOutbox(ctx)
	if err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	defer lease.Close()
	size := func() int64 {
		var n int64
		if err := db.QueryRow(`SELECT pg_relation_size('conversions.outbox')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// round queues 1,000 events and relays them all.
	round := func() {
		msgs := make([]conversion.OutboxMessage, 1000)
		for i := range msgs {
			msgs[i] = conversion.OutboxMessage{Topic: "conversions.v1", Key: []byte("p/k"), Value: value}
		}
		if err := s.Enqueue(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		for {
			queued, err := lease.Next(ctx, 500)
			if err != nil {
				t.Fatal(err)
			}
			if len(queued) == 0 {
				return
			}
			ids := make([]int64, len(queued))
			for i, q := range queued {
				ids[i] = q.ID
			}
			if err := lease.Published(ctx, ids); err != nil {
				t.Fatal(err)
			}
		}
	}
	round()
	first := size()
	if err := lease.Reclaim(ctx, false); err != nil {
		t.Fatalf("reclaim: %v", err)
	}
	if got := size(); got != first {
		t.Errorf("reclaim changed the table's size from %d to %d bytes: it should keep the space for the queue to reuse", first, got)
	}
	for range 3 {
		round()
		if err := lease.Reclaim(ctx, false); err != nil {
			t.Fatalf("reclaim: %v", err)
		}
	}
	if got := size(); got > first+first/10 {
		t.Errorf("after three more rounds, each reclaimed, the outbox holds %d bytes against %d after the first: the space was not reused", got, first)
	}
	// Once a backlog has drained, a shrinking reclaim gives the free end
	// of the table back.
	if err := lease.Reclaim(ctx, true); err != nil {
		t.Fatalf("shrinking reclaim: %v", err)
	}
	if got := size(); got >= first {
		t.Errorf("a shrinking reclaim of the empty outbox left %d bytes (%d before)", got, first)
	}
}
