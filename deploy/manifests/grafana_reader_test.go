//go:build !race

package manifests

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// TestComposeGrafanaReader: Grafana's "Ledger" data source signs in as
// grafana_reader, which deploy/compose/postgres/grafana-reader.sh makes
// when compose's postgres volume is first initialised, never as the
// owner (a superuser in the postgres image, whose COPY ... TO PROGRAM is
// a shell in its container). The script, run against a real PostgreSQL as
// the owner, gives the reader SELECT on reporting's tables, those created
// after it included, and nothing else; run again, it changes nothing.
func TestComposeGrafanaReader(t *testing.T) {
	p, env := loadComposeWithExample(t)
	pg, grafana := p.Services["postgres"], p.Services["grafana"]
	mounted := false
	for _, v := range pg.Volumes {
		mounted = mounted || (v.Target == "/docker-entrypoint-initdb.d" && filepath.Base(v.Source) == "postgres" && v.ReadOnly)
	}
	if !mounted {
		t.Error("postgres does not mount deploy/compose/postgres read-only on /docker-entrypoint-initdb.d")
	}
	if pg.Environment["GRAFANA_DB_PASSWORD"] == nil || grafana.Environment["GRAFANA_DB_PASSWORD"] == nil {
		t.Error("postgres and grafana must both get GRAFANA_DB_PASSWORD")
	}
	if _, ok := grafana.Environment["POSTGRES_PASSWORD"]; ok {
		t.Error("grafana gets the owner's POSTGRES_PASSWORD")
	}
	ds, err := os.ReadFile(filepath.Join(root, "deploy/compose/grafana/provisioning/datasources/datasources.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ds), "user: grafana_reader") || !strings.Contains(string(ds), "$GRAFANA_DB_PASSWORD") {
		t.Error("the Ledger data source does not sign in as grafana_reader with GRAFANA_DB_PASSWORD")
	}

	ctx := context.Background()
	dbURL := testkit.DatabaseURL(t)
	owner, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	t.Cleanup(func() {
		_, _ = owner.ExecContext(ctx, `DROP OWNED BY grafana_reader`)
		_, _ = owner.ExecContext(ctx, `DROP ROLE IF EXISTS grafana_reader`)
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	runScript := func() {
		t.Helper()
		cmd := exec.Command("sh", filepath.Join(root, "deploy/compose/postgres/grafana-reader.sh"))
		cmd.Env = append(os.Environ(), "PGHOST="+u.Hostname(), "PGPORT="+u.Port(), "POSTGRES_USER="+u.User.Username(),
			"POSTGRES_DB="+strings.TrimPrefix(u.Path, "/"), "GRAFANA_DB_PASSWORD="+env["GRAFANA_DB_PASSWORD"])
		if pw, ok := u.User.Password(); ok { // DATABASE_URL's server
			cmd.Env = append(cmd.Env, "PGPASSWORD="+pw)
		}
		if mode := u.Query().Get("sslmode"); mode != "" {
			cmd.Env = append(cmd.Env, "PGSSLMODE="+mode)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("grafana-reader.sh: %v\n%s", err, out)
		}
	}
	runScript()
	// What the owner's migrations do after it: tables in reporting and
	// elsewhere.
	for _, q := range []string{
		`CREATE TABLE reporting.ledger_entries (amount_minor bigint)`,
		`INSERT INTO reporting.ledger_entries VALUES (735)`,
		`CREATE SCHEMA conversions`,
		`CREATE TABLE conversions.partners (secret text)`,
	} {
		if _, err := owner.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	runScript() // again: no error, nothing else changes

	ru := *u
	ru.User = url.UserPassword("grafana_reader", env["GRAFANA_DB_PASSWORD"])
	reader, err := sql.Open("postgres", ru.String())
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	var sum int64
	if err := reader.QueryRowContext(ctx, `SELECT sum(amount_minor) FROM reporting.ledger_entries`).Scan(&sum); err != nil || sum != 735 {
		t.Fatalf("the reader cannot read reporting's tables: %d %v", sum, err)
	}
	var timeout string
	if err := reader.QueryRowContext(ctx, `SHOW statement_timeout`).Scan(&timeout); err != nil || timeout != "30s" {
		t.Errorf("the reader's statement_timeout = %q (%v), want 30s", timeout, err)
	}
	for _, q := range []string{
		`INSERT INTO reporting.ledger_entries VALUES (1)`,
		`DELETE FROM reporting.ledger_entries`,
		`CREATE TABLE reporting.mine (x int)`,
		`SELECT * FROM conversions.partners`,
		`COPY (SELECT 1) TO PROGRAM 'true'`,
		`CREATE ROLE someone`,
	} {
		var pqErr *pq.Error
		if _, err := reader.ExecContext(ctx, q); !errors.As(err, &pqErr) || pqErr.Code != "42501" {
			t.Errorf("grafana_reader: %s: %v, want insufficient_privilege (42501)", q, err)
		}
	}
}
