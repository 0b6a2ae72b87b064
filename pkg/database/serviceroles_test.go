package database_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"testing"
	"testing/fstest"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// TestServiceRoles: ServiceRolesSQL, run as a superuser on a database an
// earlier release made (each service's schema and objects owned by the
// one role all services shared), hands each schema and everything in it to
// its service's role; each role then migrates and writes its own schema
// and is refused everything else. Run again, it changes nothing.
func TestServiceRoles(t *testing.T) {
	ctx := context.Background()
	dbURL := testkit.DatabaseURL(t)
	owner, err := database.Open(dbURL, database.Pool{MaxOpen: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	// What an earlier release left: reporting's tables (a partitioned one,
	// an identity column, a sequence of its own, a trigger function, an
	// enum) and conversions' inbox, all the owner's.
	old := fstest.MapFS{"0001_old.up.sql": {Data: []byte(`
CREATE TYPE outcome AS ENUM ('ok', 'refused');
CREATE TABLE ledger (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, amount_minor bigint NOT NULL, outcome outcome NOT NULL DEFAULT 'ok');
CREATE SEQUENCE ingest_seq AS bigint;
CREATE TABLE clicks (id text NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE clicks_2026_12 PARTITION OF clicks FOR VALUES FROM ('2026-12-01') TO ('2027-01-01');
CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'append only'; END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger FOR EACH ROW EXECUTE FUNCTION append_only();`)}}
	if err := database.Migrate(ctx, owner, "reporting", old); err != nil {
		t.Fatal(err)
	}
	inbox := fstest.MapFS{"0001_inbox.up.sql": {Data: []byte(`CREATE TABLE inbox (id bigint PRIMARY KEY, body text NOT NULL);`)}}
	if err := database.Migrate(ctx, owner, "conversions", inbox); err != nil {
		t.Fatal(err)
	}

	for range 2 { // the second run changes nothing
		if err := database.EnsureServiceRoles(ctx, owner); err != nil {
			t.Fatal(err)
		}
	}
	var strays []string
	rows, err := owner.QueryContext(ctx, `
SELECT n.nspname || ' ' || c.relname || ' ' || pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('redirect', 'conversions', 'reporting') AND pg_get_userbyid(c.relowner) <> 'linkcredit_' || n.nspname
UNION ALL SELECT n.nspname || ' ' || p.proname || ' ' || pg_get_userbyid(p.proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname IN ('redirect', 'conversions', 'reporting') AND pg_get_userbyid(p.proowner) <> 'linkcredit_' || n.nspname
UNION ALL SELECT n.nspname || ' ' || t.typname || ' ' || pg_get_userbyid(t.typowner) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname IN ('redirect', 'conversions', 'reporting') AND pg_get_userbyid(t.typowner) <> 'linkcredit_' || n.nspname
UNION ALL SELECT nspname || ' (schema) ' || pg_get_userbyid(nspowner) FROM pg_namespace
WHERE nspname IN ('redirect', 'conversions', 'reporting') AND pg_get_userbyid(nspowner) <> 'linkcredit_' || nspname`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		strays = append(strays, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(strays) > 0 {
		t.Errorf("not owned by their service's role: %q", strays)
	}
	var super, createRole, createDB bool
	if err := owner.QueryRowContext(ctx, `SELECT bool_or(rolsuper), bool_or(rolcreaterole), bool_or(rolcreatedb) FROM pg_roles
		WHERE rolname IN ('linkcredit_redirect', 'linkcredit_conversions', 'linkcredit_reporting')`).Scan(&super, &createRole, &createDB); err != nil {
		t.Fatal(err)
	}
	if super || createRole || createDB {
		t.Errorf("a service role is superuser %v, may create roles %v, databases %v", super, createRole, createDB)
	}

	as := func(service string) *sql.DB {
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(database.ServiceRole(service)) // the test server trusts loopback
		db, err := database.Open(u.String(), database.Pool{MaxOpen: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	redirect, reporting := as("redirect"), as("reporting")

	// Each migrates and writes its own schema: redirect's new, made by
	// the roles' script; reporting's handed over.
	links := fstest.MapFS{"0001_links.up.sql": {Data: []byte(`CREATE TABLE links (code text PRIMARY KEY);`)}}
	if err := database.Migrate(ctx, redirect, "redirect", links); err != nil {
		t.Fatalf("redirect migrates its schema: %v", err)
	}
	more := fstest.MapFS{"0001_old.up.sql": old["0001_old.up.sql"], "0002_more.up.sql": {Data: []byte(`
ALTER TABLE ledger ADD COLUMN note text;
CREATE TABLE clicks_2027_01 PARTITION OF clicks FOR VALUES FROM ('2027-01-01') TO ('2027-02-01');`)}}
	if err := database.Migrate(ctx, reporting, "reporting", more); err != nil {
		t.Fatalf("reporting migrates its handed-over schema: %v", err)
	}
	for _, q := range []struct {
		db   *sql.DB
		stmt string
	}{
		{redirect, `INSERT INTO redirect.links VALUES ('c1')`},
		{reporting, `INSERT INTO reporting.ledger (amount_minor) VALUES (100)`},
		{reporting, `INSERT INTO reporting.clicks VALUES ('k', '2026-12-24')`},
		{reporting, `SELECT nextval('reporting.ingest_seq')`},
		{reporting, `CREATE TEMP TABLE batch (id text)`},
		{reporting, `CREATE SCHEMA reporting_rebuild`}, // reporting replay
	} {
		if _, err := q.db.ExecContext(ctx, q.stmt); err != nil {
			t.Errorf("%s: %v", q.stmt, err)
		}
	}
	// And nothing else.
	for _, q := range []struct {
		db   *sql.DB
		stmt string
	}{
		{redirect, `SELECT * FROM conversions.inbox`},
		{redirect, `INSERT INTO reporting.ledger (amount_minor) VALUES (1)`},
		{redirect, `CREATE TABLE conversions.mine (x int)`},
		{redirect, `CREATE SCHEMA redirect_extra`},
		{redirect, `CREATE TABLE public.mine (x int)`},
		{redirect, `COPY (SELECT 1) TO PROGRAM 'true'`},
		{redirect, `CREATE ROLE intruder`},
		{redirect, `ALTER ROLE linkcredit_redirect SUPERUSER`},
		{reporting, `SELECT * FROM redirect.links`},
		{reporting, `DROP TABLE conversions.inbox`},
	} {
		_, err := q.db.ExecContext(ctx, q.stmt)
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) || pqErr.Code != "42501" { // insufficient_privilege
			t.Errorf("%s: err = %v, want permission denied", q.stmt, err)
		}
	}
}
