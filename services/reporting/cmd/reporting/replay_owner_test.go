package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// TestReplayBuildsAsTheLiveSchemasOwner: replay run with a superuser's
// URL (as the README's command-line example signs in to make run's
// stack) builds the schema as the live schema's owner, so that the
// service, which migrates as that role, can use it after the switch. It
// built it as the superuser, and reporting then could not start
// ("permission denied for schema reporting"): an outside review found it.
func TestReplayBuildsAsTheLiveSchemasOwner(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	superURL := testkit.DatabaseURL(t)
	if err := database.EnsureServiceRolesAt(ctx, superURL); err != nil {
		t.Fatal(err)
	}
	serviceURL, err := database.ServiceURL(superURL, "reporting")
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Fixed(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	env := map[string]string{"DATABASE_URL": serviceURL, "KAFKA_BROKERS": strings.Join(testkit.Kafka(t), ",")}
	getenv := func(k string) string { return env[k] }
	var out bytes.Buffer
	if err := run(ctx, now, []string{"migrate"}, getenv, &out, io.Discard); err != nil {
		t.Fatalf("migrate as the service: %v\n%s", err, out.String())
	}

	env["DATABASE_URL"] = superURL
	out.Reset()
	if err := run(ctx, now, []string{"replay", "-schema", "reporting_rebuild"}, getenv, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), "identical to the live schema: true") ||
		!strings.Contains(out.String(), "building as linkcredit_reporting") {
		t.Fatalf("replay as the superuser: %v\n%s", err, out.String())
	}
	db, err := database.Open(superURL, database.Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var foreign []string
	rows, err := db.QueryContext(ctx, `
		SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname = 'reporting_rebuild' AND pg_get_userbyid(nspowner) <> 'linkcredit_reporting'
		UNION ALL
		SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'reporting_rebuild' AND pg_get_userbyid(c.relowner) <> 'linkcredit_reporting'
		UNION ALL
		SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'reporting_rebuild' AND pg_get_userbyid(p.proowner) <> 'linkcredit_reporting'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		foreign = append(foreign, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(foreign) > 0 {
		t.Fatalf("the rebuilt schema holds what linkcredit_reporting does not own: %v", foreign)
	}

	// The switch-over of docs/reporting.md, then the service's start-up
	// migration as its own role.
	if _, err := db.ExecContext(ctx, `ALTER SCHEMA reporting RENAME TO reporting_old; ALTER SCHEMA reporting_rebuild RENAME TO reporting`); err != nil {
		t.Fatal(err)
	}
	env["DATABASE_URL"] = serviceURL
	out.Reset()
	if err := run(ctx, now, []string{"migrate"}, getenv, &out, io.Discard); err != nil {
		t.Fatalf("migrate after the switch: %v\n%s", err, out.String())
	}
}
