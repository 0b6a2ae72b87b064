package testkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/pgcluster"
)

// server is the test binary's one Postgres: its admin URL, or why it could
// not be had. Process-wide on purpose, so one cluster serves every test.
var server struct {
	once     sync.Once
	adminURL string
	cluster  *pgcluster.Cluster
	err      error
}

func adminURL() (string, error) {
	server.once.Do(func() {
		if u := os.Getenv("DATABASE_URL"); u != "" {
			server.adminURL = u
			return
		}
		sweepStaleDirs()
		dir, err := os.MkdirTemp("", "linkcredit-pg-")
		if err != nil {
			server.err = err
			return
		}
		// The server may run as the postgres user: let it enter.
		if err := os.Chmod(dir, 0o711); err != nil {
			server.err = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			server.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(dir, "data"), Fast: true, SeedDir: seedDir()})
		if err != nil {
			server.err = err
			return
		}
		server.cluster = c
		server.adminURL = c.URL("postgres")
	})
	return server.adminURL, server.err
}

// sweepStaleDirs removes the clusters of test binaries that are gone: their
// server died with them (Pdeathsig), their directory did not.
func sweepStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "linkcredit-pg-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(dir)
		}
	}
}

// DatabaseURL returns the URL of a new, empty database that is dropped when
// the test ends.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, mustAdminURL(t), "")
}

// MigratedDatabaseURL returns the URL of a new database that already holds
// schema migrated with the *.up.sql files of fsys, dropped when the test
// ends. The migrations run once per server into a template database named
// after their content; each test's database is a copy of it, which costs
// the server a fraction of migrating again. (A service started on it still
// runs Migrate, and finds every file applied.) Tests of migrating itself
// take DatabaseURL.
func MigratedDatabaseURL(t testing.TB, schema string, fsys fs.FS) string {
	t.Helper()
	admin := mustAdminURL(t)
	tmpl, err := templates.get(admin, schema, fsys)
	if err != nil {
		t.Fatalf("testkit: template database for %s: %v", schema, err)
	}
	return newDatabase(t, admin, tmpl)
}

// mustAdminURL is adminURL, failing the test without a server.
func mustAdminURL(t testing.TB) string {
	t.Helper()
	admin, err := adminURL()
	if err != nil {
		t.Fatalf("testkit: no PostgreSQL for integration tests: %v\n(set DATABASE_URL to use an existing server)", err)
	}
	return admin
}

// databaseURL is the URL of the database name on the server at admin.
func databaseURL(admin, name string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// newDatabase creates a database on the server at admin, a copy of
// template if one is named, that is dropped when the test ends, and
// returns its URL.
func newDatabase(t testing.TB, admin, template string) string {
	t.Helper()
	adminDB, err := database.Open(admin, database.Pool{MaxOpen: 2})
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	defer adminDB.Close()

	name := "test_" + strings.ToLower(randomHex(6))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	create := "CREATE DATABASE " + pq.QuoteIdentifier(name)
	if template != "" {
		create += " TEMPLATE " + pq.QuoteIdentifier(template)
	}
	if _, err := adminDB.ExecContext(ctx, create); err != nil {
		t.Fatalf("testkit: create database: %v", err)
	}
	t.Cleanup(func() {
		db, err := database.Open(admin, database.Pool{MaxOpen: 1})
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)")
	})
	u, err := databaseURL(admin, name)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return u
}

// DB opens a pool on a new, empty database, closed when the test ends.
func DB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := database.Open(DatabaseURL(t), database.Pool{MaxOpen: 10})
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// PostgresCluster returns the test binary's own cluster, for tests that stop
// and restart the server; it fails the test when DATABASE_URL is in use.
func PostgresCluster(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	if _, err := adminURL(); err != nil {
		t.Fatalf("testkit: %v", err)
	}
	if server.cluster == nil {
		t.Fatal("testkit: this test controls the server itself and needs the throwaway cluster; unset DATABASE_URL")
	}
	return server.cluster
}

// OwnPostgres starts a cluster for this test alone, for tests that freeze
// or stop the server while other tests of the binary use the shared one.
// It is stopped (thawed first, should the test have frozen it) and removed
// when the test ends. It ignores DATABASE_URL: a server that a test
// signals must be one it started.
func OwnPostgres(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	sweepStaleDirs()
	dir, err := os.MkdirTemp("", "linkcredit-pg-")
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The server may run as the postgres user: let it enter.
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatalf("testkit: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatalf("testkit: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(dir, "data"), Fast: true, SeedDir: seedDir()})
	if err != nil {
		t.Fatalf("testkit: no PostgreSQL of its own for this test: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Thaw()
		_ = c.Stop()
	})
	return c
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("testkit: random: %v", err))
	}
	return hex.EncodeToString(b)
}

// Freeze stops every process of c (SIGSTOP: connections are accepted and
// nothing answers) until c.Thaw or the end of the test. Its thaw is
// registered now, after the services the test started, so it runs
// before their shutdown, whatever fails in between.
func Freeze(t testing.TB, c *pgcluster.Cluster) {
	t.Helper()
	if err := c.Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Thaw() })
}

// seedDir keeps the initialised clusters that every test binary's cluster
// is copied from (pgcluster.Options.SeedDir), one per server build. Each
// user has its own: a seed's files belong to whoever made them.
func seedDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("linkcredit-initdb-seeds-%d", os.Geteuid()))
}
