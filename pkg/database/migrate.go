package database

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"github.com/lib/pq"
)

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Migrate applies the *.up.sql files of fsys, in name order, to schema.
// Each file runs in its own transaction with search_path set to the schema
// alone (and pg_catalog: not public, where the database's owner may put
// functions that would then run as the migrating role), and is recorded with its checksum in schema.schema_migrations. Migrations
// are forward-only: a file already applied is never run again, and a file
// whose content changed after it was applied stops start-up.
//
// A session-level advisory lock, keyed by the schema, serialises replicas
// that start at the same time.
func Migrate(ctx context.Context, db *sql.DB, schema string, fsys fs.FS) (err error) {
	defer func() {
		if err != nil {
			err = Classify(fmt.Errorf("database: migrate %s: %w", schema, err))
		}
	}()
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("bad schema name %q", schema)
	}
	files, err := fs.Glob(fsys, "*.up.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)

	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	key := lockKey(schema)
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer func() {
		// A fresh context: the unlock must happen even when ctx ended.
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
	}()

	q := pq.QuoteIdentifier(schema)
	// Only a missing schema is created: a service's own role owns its
	// schema (ServiceRolesSQL) and may not create schemas, and CREATE
	// SCHEMA IF NOT EXISTS checks that right before it looks.
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+q); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+q+`.schema_migrations (
		version    text PRIMARY KEY,
		checksum   text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	applied := map[string]string{}
	rows, err := conn.QueryContext(ctx, `SELECT version, checksum FROM `+q+`.schema_migrations`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var v, sum string
		if err := rows.Scan(&v, &sum); err != nil {
			rows.Close()
			return err
		}
		applied[v] = sum
	}
	if err := rows.Close(); err != nil {
		return err
	}

	for _, name := range files {
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		sum := checksum(body)
		version := strings.TrimSuffix(name, ".up.sql")
		if prev, ok := applied[version]; ok {
			if prev != sum {
				return fmt.Errorf("migration %s was edited after it was applied (forward-only: add a new file)", name)
			}
			continue
		}
		if err := applyOne(ctx, conn, q, version, sum, string(body)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func applyOne(ctx context.Context, conn *sql.Conn, schema, version, sum, body string) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL search_path TO `+schema); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+schema+`.schema_migrations (version, checksum) VALUES ($1, $2)`, version, sum); err != nil {
		return err
	}
	return tx.Commit()
}

// Sub returns the directory dir of an embedded file system: each service
// embeds its migrations directory and hands Migrate its contents.
func Sub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(fmt.Sprintf("database: %s: %v", dir, err)) // a build-time layout error
	}
	return sub
}

func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("linkcredit.migrate." + schema))
	return int64(h.Sum64())
}

func checksum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
