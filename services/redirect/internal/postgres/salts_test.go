package postgres_test

import (
	"bytes"
	"context"
	"database/sql"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/pgcluster"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/redirect/internal/postgres"
	"github.com/linkcredit/linkcredit/services/redirect/internal/visitor"
)

func migrated(t *testing.T, db *sql.DB) {
	t.Helper()
	if err := database.Migrate(context.Background(), db, postgres.Schema, postgres.Migrations()); err != nil {
		t.Fatal(err)
	}
}

func salt(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// TestSaltsTableIsUnlogged: the salts never reach the WAL, so no WAL
// archive, streaming replica or base backup holds one.
func TestSaltsTableIsUnlogged(t *testing.T) {
	db := testkit.DB(t)
	migrated(t, db)
	var persistence string
	if err := db.QueryRow(`SELECT relpersistence::text FROM pg_class WHERE oid = 'redirect.visitor_salts'::regclass`).Scan(&persistence); err != nil {
		t.Fatal(err)
	}
	if persistence != "u" {
		t.Fatalf("redirect.visitor_salts has relpersistence %q, want u (unlogged)", persistence)
	}
}

// TestMigrationDropsLoggedSalts: salts stored before the table became
// unlogged did reach the WAL; the migration drops them instead of
// carrying them over.
func TestMigrationDropsLoggedSalts(t *testing.T) {
	db := testkit.DB(t)
	ctx := context.Background()
	all := postgres.Migrations()
	before := fstest.MapFS{}
	for _, name := range []string{"0001_links.up.sql", "0002_link_placements.up.sql"} {
		b, err := fs.ReadFile(all, name)
		if err != nil {
			t.Fatal(err)
		}
		before[name] = &fstest.MapFile{Data: b}
	}
	if err := database.Migrate(ctx, db, postgres.Schema, before); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO redirect.visitor_salts (day, salt) VALUES ('2026-11-20', $1)`, salt(1)); err != nil {
		t.Fatal(err)
	}
	migrated(t, db)
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM redirect.visitor_salts`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d salts survived the migration (%v), want none", n, err)
	}
}

func TestSaltsStore(t *testing.T) {
	db := testkit.DB(t)
	migrated(t, db)
	ctx := context.Background()
	s := postgres.NewSalts(db)
	steps := []struct {
		day   string
		offer []byte
		want  []byte
	}{
		{"2026-11-20", salt(1), salt(1)}, // none yet: the offer is stored
		{"2026-11-20", salt(2), salt(1)}, // another replica's offer loses
		{"2026-11-21", salt(3), salt(3)},
	}
	for i, st := range steps {
		got, err := s.Salt(ctx, st.day, st.offer)
		if err != nil || !bytes.Equal(got, st.want) {
			t.Fatalf("step %d: Salt(%s) = %x, %v; want %x", i, st.day, got, err, st.want)
		}
	}
	if _, err := s.Salt(ctx, "2026-11-22", []byte("short")); err == nil {
		t.Fatal("a short offer was stored")
	}

	filenode := func() (n int64) {
		t.Helper()
		if err := db.QueryRow(`SELECT pg_relation_filenode('redirect.visitor_salts')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	first := filenode()
	if err := s.Forget(ctx, "2026-11-20"); err != nil {
		t.Fatal(err)
	}
	if filenode() != first {
		t.Fatal("the table was rewritten although nothing was deleted")
	}
	if err := s.Forget(ctx, "2026-11-21"); err != nil {
		t.Fatal(err)
	}
	// The deleted row's bytes went with the old file: the table was
	// rewritten without them.
	if filenode() == first {
		t.Fatal("the table was not rewritten after a salt was deleted")
	}
	var days []string
	rows, err := db.Query(`SELECT day::text FROM redirect.visitor_salts ORDER BY day`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		days = append(days, d)
	}
	if strings.Join(days, ",") != "2026-11-21" {
		t.Fatalf("salts left: %v, want 2026-11-21 only", days)
	}
}

// TestSaltsAfterPostgresCrash crashes a Postgres of its own (an immediate
// shutdown: the next start runs crash recovery, as after a power cut),
// which empties the unlogged salts table. A replica that holds the day's
// salt puts it back, and a replica started afterwards adopts it: the
// day's visitor hashes are the same before and after the crash.
func TestSaltsAfterPostgresCrash(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "redirect-pgcrash-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil { // the server may run as the postgres user
		t.Fatal(err)
	}
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(dir, "data"), Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Stop() })
	open := func(c *pgcluster.Cluster) *sql.DB {
		db, err := database.Open(c.URL("postgres"), database.Pool{MaxOpen: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db := open(cluster)
	migrated(t, db)
	// The salt store is behind a pointer that follows the restarted server.
	store := &movableSalts{Salts: postgres.NewSalts(db)}
	logger := slog.New(slog.DiscardHandler)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	ip, ua := netip.MustParseAddr("203.0.113.77"), "Mozilla/5.0"
	old := visitor.NewHasher(store, logger)
	if err := old.Refresh(ctx, at); err != nil {
		t.Fatal(err)
	}
	before := old.Hash(at, ip, ua)

	crash(t, cluster)
	restarted, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: cluster.DataDir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restarted.Stop() })
	db = open(restarted)
	store.Salts = postgres.NewSalts(db)
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM redirect.visitor_salts`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after the crash the salts table holds %d rows (%v); crash recovery should have emptied it", n, err)
	}

	if err := old.Refresh(ctx, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	fresh := visitor.NewHasher(store, logger)
	if err := fresh.Refresh(ctx, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, got2 := old.Hash(at.Add(time.Hour), ip, ua), fresh.Hash(at.Add(time.Hour), ip, ua); got != before || got2 != before {
		t.Fatalf("hash before the crash %s; after it %s (the old replica) and %s (a new one)", before, got, got2)
	}
}

type movableSalts struct{ *postgres.Salts }

// crash stops the server as a power cut would leave it: SIGQUIT to the
// postmaster is an immediate shutdown, without a checkpoint, and the next
// start runs crash recovery.
func crash(t *testing.T, c *pgcluster.Cluster) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.DataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(time.Minute):
		t.Fatal("postgres did not stop on SIGQUIT")
	}
}
