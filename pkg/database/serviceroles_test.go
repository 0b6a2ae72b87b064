package database_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
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
	// enum, a range and its multirange, an aggregate) and conversions'
	// inbox, all the owner's.
	old := fstest.MapFS{"0001_old.up.sql": {Data: []byte(`
CREATE TYPE outcome AS ENUM ('ok', 'refused');
CREATE TYPE share AS RANGE (subtype = float8);
CREATE AGGREGATE total(bigint) (sfunc = int8pl, stype = bigint);
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
	redirect, conversions, reporting := as("redirect"), as("conversions"), as("reporting")
	for svc, db := range map[string]*sql.DB{"redirect": redirect, "conversions": conversions, "reporting": reporting} {
		var user, path string
		if err := db.QueryRowContext(ctx, `SELECT current_user, current_setting('search_path')`).Scan(&user, &path); err != nil {
			t.Fatal(err)
		}
		if user != database.ServiceRole(svc) || path != svc {
			t.Errorf("%s signs in as %q with search_path %q, want %q and %q", svc, user, path, database.ServiceRole(svc), svc)
		}
	}

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
	// Reporting may create schemas (replay), so nothing it makes may come
	// before pg_catalog's functions on another role's path (CVE-2018-1058):
	// a schema named after redirect's role, readable by it, with an
	// unnest(text[]) that matches better than pg_catalog's polymorphic one.
	for _, q := range []string{
		`CREATE SCHEMA linkcredit_redirect`,
		`CREATE FUNCTION linkcredit_redirect.unnest(text[]) RETURNS SETOF text LANGUAGE sql AS $$ SELECT 'hijacked' $$`,
		`GRANT USAGE ON SCHEMA linkcredit_redirect TO linkcredit_redirect`,
		`CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE sql AS $$ SELECT 'hijacked' $$`,
	} {
		db := reporting
		if strings.Contains(q, "public.") {
			db = owner // the database's owner may create in public
		}
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var got string
	if err := redirect.QueryRowContext(ctx, `SELECT u FROM unnest(ARRAY['a']::text[]) AS u`).Scan(&got); err != nil || got != "a" {
		t.Errorf("redirect's unnest gave %q (%v): a function another role made ran in its session", got, err)
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

// TestServiceNamesMatchTheSQL: the roles EnsureServiceRoles lets sign in
// are the ones serviceroles.sql makes.
func TestServiceNamesMatchTheSQL(t *testing.T) {
	m := regexp.MustCompile(`FOREACH svc IN ARRAY ARRAY\[([^\]]*)\]`).FindStringSubmatch(database.ServiceRolesSQL())
	if m == nil {
		t.Fatal("serviceroles.sql: no FOREACH svc IN ARRAY ARRAY[...]")
	}
	var inSQL []string
	for _, s := range strings.Split(m[1], ",") {
		inSQL = append(inSQL, strings.Trim(strings.TrimSpace(s), "'"))
	}
	if !slices.Equal(inSQL, database.ServiceNames()) {
		t.Errorf("serviceroles.sql makes roles for %q, ServiceNames is %q", inSQL, database.ServiceNames())
	}
	raw, err := os.ReadFile("serviceroles.sql")
	if err != nil || string(raw) != database.ServiceRolesSQL() {
		t.Errorf("the embedded SQL is not serviceroles.sql (%v)", err)
	}
}
