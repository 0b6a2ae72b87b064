package testkit

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
)

// templates holds the template databases this test binary made or found,
// by name: one per schema and content of its migrations.
var templates templateSet

type templateSet struct {
	mu   sync.Mutex
	made map[string]*templateOnce
}

type templateOnce struct {
	once sync.Once
	err  error
}

// get returns the name of the template database holding schema migrated
// with fsys on the server at admin, making it first if it is not there.
func (s *templateSet) get(admin, schema string, fsys fs.FS) (string, error) {
	sum, err := migrationsSum(fsys)
	if err != nil {
		return "", err
	}
	name := "template_" + schema + "_" + sum
	if len(name) > 63 {
		return "", fmt.Errorf("schema name %q is too long for a template's name", schema)
	}
	s.mu.Lock()
	if s.made == nil {
		s.made = map[string]*templateOnce{}
	}
	o := s.made[name]
	if o == nil {
		o = &templateOnce{}
		s.made[name] = o
	}
	s.mu.Unlock()
	o.once.Do(func() { o.err = makeTemplate(admin, name, schema, fsys) })
	return name, o.err
}

// migrationsSum names the content of fsys's migrations: 12 hex digits of
// a SHA-256 over their names and bytes.
func migrationsSum(fsys fs.FS) (string, error) {
	files, err := fs.Glob(fsys, "*.up.sql")
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", errors.New("no *.up.sql migrations")
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil))[:12], nil
}

// makeTemplate migrates a new database under a name of its own and renames
// it to name once complete, so a server shared by several test binaries
// (DATABASE_URL) never offers half a template: the one that renames first
// wins, the others drop theirs. Nothing stays connected to a template, as
// copying a database needs it idle.
func makeTemplate(admin, name, schema string, fsys fs.FS) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adminDB, err := database.Open(admin, database.Pool{MaxOpen: 1})
	if err != nil {
		return err
	}
	defer adminDB.Close()
	var exists bool
	if err := adminDB.QueryRowContext(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look for %s: %w", name, err)
	}
	if exists {
		return nil
	}
	building := "building_" + strings.ToLower(randomHex(6))
	if _, err := adminDB.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(building)); err != nil {
		return fmt.Errorf("create %s: %w", building, err)
	}
	drop := func() {
		_, _ = adminDB.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(building)+" WITH (FORCE)")
	}
	u, err := databaseURL(admin, building)
	if err != nil {
		drop()
		return err
	}
	db, err := database.Open(u, database.Pool{MaxOpen: 1})
	if err != nil {
		drop()
		return err
	}
	err = database.Migrate(ctx, db, schema, fsys)
	db.Close()
	if err != nil {
		drop()
		return err
	}
	// The migrating session may still be ending on the server; RENAME
	// needs the database idle. WITH (FORCE) on a failed rename's drop
	// takes care of the rest.
	for attempt := 0; ; attempt++ {
		_, err = adminDB.ExecContext(ctx, "ALTER DATABASE "+pq.QuoteIdentifier(building)+" RENAME TO "+pq.QuoteIdentifier(name))
		var pqErr *pq.Error
		switch {
		case err == nil:
			// Nobody connects to it by mistake from now on; copying it
			// needs no connection.
			if _, err := adminDB.ExecContext(ctx, "ALTER DATABASE "+pq.QuoteIdentifier(name)+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
				return fmt.Errorf("mark %s a template: %w", name, err)
			}
			return nil
		case errors.As(err, &pqErr) && pqErr.Code == "42P04": // duplicate_database: another binary won
			drop()
			return nil
		case errors.As(err, &pqErr) && pqErr.Code == "55006" && attempt < 50: // object_in_use
			time.Sleep(100 * time.Millisecond)
		default:
			drop()
			return fmt.Errorf("rename %s to %s: %w", building, name, err)
		}
	}
}
