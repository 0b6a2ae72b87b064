package pgcluster

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testDir is a directory of the test's own for a cluster (the postgres
// user, when the test runs as root, can enter it), removed at cleanup,
// and a context bounding the test.
func testDir(t *testing.T) (string, context.Context) {
	t.Helper()
	base, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o711); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return base, ctx
}

// TestStartStopRestartKeepsData runs a cluster of its own (not testkit's):
// initdb, write, stop, start again on the same directory, read.
func TestStartStopRestartKeepsData(t *testing.T) {
	base, ctx := testDir(t)
	dir := filepath.Join(base, "data")

	c, err := Start(ctx, Options{DataDir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	execSQL(t, c.URL("postgres"), `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('hello')`)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}

	c, err = Start(ctx, Options{DataDir: dir, Fast: true})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer c.Stop()
	db, _ := sql.Open("postgres", c.URL("postgres"))
	defer db.Close()
	var v string
	if err := db.QueryRow(`SELECT v FROM kept`).Scan(&v); err != nil || v != "hello" {
		t.Fatalf("after restart: %q, %v", v, err)
	}
}

func TestBinDirHonoursPGBIN(t *testing.T) {
	t.Setenv("PG_BIN", "/opt/pg/bin")
	if dir, err := BinDir(); err != nil || dir != "/opt/pg/bin" {
		t.Fatalf("BinDir = %q, %v", dir, err)
	}
}

func execSQL(t *testing.T, url, q string) {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q); err != nil {
		t.Fatal(err)
	}
}

// TestSeededClustersAreCopiesOfOneInitdb: clusters started with a SeedDir
// run initdb once, into the seed, and are each a copy of it: they start,
// and what one stores the other does not see.
func TestSeededClustersAreCopiesOfOneInitdb(t *testing.T) {
	base, ctx := testDir(t)
	seeds := filepath.Join(base, "seeds")
	var clusters []*Cluster
	for _, name := range []string{"a", "b"} {
		c, err := Start(ctx, Options{DataDir: filepath.Join(base, name), Fast: true, SeedDir: seeds})
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		defer c.Stop()
		clusters = append(clusters, c)
	}
	made, err := os.ReadDir(seeds)
	if err != nil {
		t.Fatal(err)
	}
	if len(made) != 1 || !made[0].IsDir() {
		t.Fatalf("seeds = %v, want the one seed and nothing left of building it", made)
	}
	execSQL(t, clusters[0].URL("postgres"), `CREATE TABLE only_in_a (v text)`)
	db, _ := sql.Open("postgres", clusters[1].URL("postgres"))
	defer db.Close()
	var exists bool
	if err := db.QueryRow(`SELECT to_regclass('only_in_a') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("the clusters share their data (exists=%v, err=%v)", exists, err)
	}
	if _, err := os.Stat(filepath.Join(seeds, made[0].Name(), "postmaster.pid")); err == nil {
		t.Fatal("a server runs on the seed itself")
	}
}

// TestSeedTroubleFallsBackToInitdb: a seed directory that is not this
// user's own starts the cluster with initdb instead; a seed whose files a
// cleaner of old temporary files removed is made again.
func TestSeedTroubleFallsBackToInitdb(t *testing.T) {
	base, ctx := testDir(t)
	notADir := filepath.Join(base, "seeds-file")
	if err := os.WriteFile(notADir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Start(ctx, Options{DataDir: filepath.Join(base, "a"), Fast: true, SeedDir: notADir})
	if err != nil {
		t.Fatalf("seeds not a directory: %v", err)
	}
	c.Stop()

	seeds := filepath.Join(base, "seeds")
	c, err = Start(ctx, Options{DataDir: filepath.Join(base, "b"), Fast: true, SeedDir: seeds})
	if err != nil {
		t.Fatal(err)
	}
	c.Stop()
	made, err := os.ReadDir(seeds)
	if err != nil || len(made) != 1 {
		t.Fatalf("seeds = %v, %v", made, err)
	}
	seed := filepath.Join(seeds, made[0].Name())
	// What a cleaner of old files leaves: the directories, no files.
	err = filepath.WalkDir(seed, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			err = os.Remove(p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err = Start(ctx, Options{DataDir: filepath.Join(base, "c"), Fast: true, SeedDir: seeds})
	if err != nil {
		t.Fatalf("after the seed's files were removed: %v", err)
	}
	defer c.Stop()
	if _, err := os.Stat(filepath.Join(seed, "PG_VERSION")); err != nil {
		t.Fatalf("the seed was not made again: %v", err)
	}
}

// TestStartLeavesAForeignDirectoryAlone: a DataDir that holds files but no
// cluster is refused, with or without a seed, and its files stay.
func TestStartLeavesAForeignDirectoryAlone(t *testing.T) {
	base, ctx := testDir(t)
	for _, seeds := range []string{"", filepath.Join(base, "seeds")} {
		dir := filepath.Join(base, "notes"+filepath.Base(seeds))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		mine := filepath.Join(dir, "mine.txt")
		if err := os.WriteFile(mine, []byte("keep me"), 0o644); err != nil {
			t.Fatal(err)
		}
		if c, err := Start(ctx, Options{DataDir: dir, Fast: true, SeedDir: seeds}); err == nil {
			c.Stop()
			t.Fatalf("seeds %q: started in a directory of other files", seeds)
		}
		if b, err := os.ReadFile(mine); err != nil || string(b) != "keep me" {
			t.Fatalf("seeds %q: the directory's file is gone or changed: %q, %v", seeds, b, err)
		}
	}
}
