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
	"slices"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// TestComposePostgresRoles: no service signs in as POSTGRES_USER (a
// superuser in the postgres image, whose COPY ... TO PROGRAM is a shell in
// its container). deploy/compose/postgres/10-service-roles.sh, run when
// compose's postgres volume is first initialised, gives each service a
// role of its own (pkg/database/serviceroles.sql, mounted beside it), the
// owner of its schema alone, which its DATABASE_URL names; Grafana's
// "Ledger" data source signs in as grafana_reader, which
// 20-grafana-reader.sh makes. The scripts, run in the image's order
// against a real PostgreSQL as the owner, let each service sign in as its
// role and give the reader SELECT on reporting's tables, those reporting
// creates after it included, and nothing else; run again, they change
// nothing.
func TestComposePostgresRoles(t *testing.T) {
	p, env := loadComposeWithExample(t)
	pg, grafana := p.Services["postgres"], p.Services["grafana"]
	mounted, rolesSQL := false, false
	for _, v := range pg.Volumes {
		mounted = mounted || (v.Target == "/docker-entrypoint-initdb.d" && filepath.Base(v.Source) == "postgres" && v.ReadOnly)
		rolesSQL = rolesSQL || (v.Target == "/linkcredit/service-roles.sql" &&
			strings.HasSuffix(filepath.ToSlash(v.Source), "pkg/database/serviceroles.sql") && v.ReadOnly)
	}
	if !mounted {
		t.Error("postgres does not mount deploy/compose/postgres read-only on /docker-entrypoint-initdb.d")
	}
	if !rolesSQL {
		t.Error("postgres does not mount pkg/database/serviceroles.sql read-only on /linkcredit/service-roles.sql")
	}
	if pg.Environment["GRAFANA_DB_PASSWORD"] == nil || grafana.Environment["GRAFANA_DB_PASSWORD"] == nil {
		t.Error("postgres and grafana must both get GRAFANA_DB_PASSWORD")
	}
	if _, ok := grafana.Environment["POSTGRES_PASSWORD"]; ok {
		t.Error("grafana gets the owner's POSTGRES_PASSWORD")
	}
	passwordVar := map[string]string{}
	for _, svc := range services {
		passwordVar[svc] = strings.ToUpper(svc) + "_DB_PASSWORD"
		if pg.Environment[passwordVar[svc]] == nil {
			t.Errorf("postgres does not get %s", passwordVar[svc])
		}
		envOf := p.Services[svc].Environment
		for name, v := range envOf {
			if v != nil && strings.Contains(*v, env["POSTGRES_PASSWORD"]) {
				t.Errorf("%s's %s holds the owner's POSTGRES_PASSWORD", svc, name)
			}
		}
		if envOf["DATABASE_URL"] == nil {
			t.Fatalf("%s has no DATABASE_URL", svc)
		}
		u, err := url.Parse(*envOf["DATABASE_URL"])
		if err != nil {
			t.Fatal(err)
		}
		_, inURL := u.User.Password()
		if u.User.Username() != "linkcredit_"+svc || inURL || envOf["PGPASSWORD"] == nil || *envOf["PGPASSWORD"] != env[passwordVar[svc]] {
			t.Errorf("%s must sign in as linkcredit_%s with PGPASSWORD from %s, the URL holding no password", svc, svc, passwordVar[svc])
		}
		if _, ok := envOf["CLICK_ID_KEYS"]; ok != (svc == "redirect") {
			t.Errorf("%s gets CLICK_ID_KEYS: %v (only redirect signs click ids)", svc, ok)
		}
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
		for _, role := range []string{"grafana_reader", "linkcredit_redirect", "linkcredit_conversions", "linkcredit_reporting"} {
			_, _ = owner.ExecContext(ctx, `DROP OWNED BY `+role)
			_, _ = owner.ExecContext(ctx, `DROP ROLE IF EXISTS `+role)
		}
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	scripts, err := filepath.Glob(filepath.Join(root, "deploy/compose/postgres/*"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(scripts) // the image runs them in name order
	runScripts := func() {
		t.Helper()
		for _, script := range scripts {
			if filepath.Ext(script) != ".sh" {
				t.Fatalf("%s: the image would run it, and this test does not", script)
			}
			cmd := exec.Command("sh", script)
			cmd.Env = append(os.Environ(), "PGHOST="+u.Hostname(), "PGPORT="+u.Port(), "POSTGRES_USER="+u.User.Username(),
				"POSTGRES_DB="+strings.TrimPrefix(u.Path, "/"), "GRAFANA_DB_PASSWORD="+env["GRAFANA_DB_PASSWORD"],
				"SERVICE_ROLES_SQL="+filepath.Join(root, "pkg/database/serviceroles.sql"))
			for _, v := range passwordVar {
				cmd.Env = append(cmd.Env, v+"="+env[v])
			}
			if pw, ok := u.User.Password(); ok { // DATABASE_URL's server
				cmd.Env = append(cmd.Env, "PGPASSWORD="+pw)
			}
			if mode := u.Query().Get("sslmode"); mode != "" {
				cmd.Env = append(cmd.Env, "PGSSLMODE="+mode)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", filepath.Base(script), err, out)
			}
		}
	}
	runScripts()
	as := func(role, password string) *sql.DB {
		ru := *u
		ru.User = url.UserPassword(role, password)
		db, err := sql.Open("postgres", ru.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	for _, svc := range services {
		var user string
		if err := as("linkcredit_"+svc, env[passwordVar[svc]]).QueryRowContext(ctx, `SELECT current_user`).Scan(&user); err != nil {
			t.Errorf("%s cannot sign in as its role: %v", svc, err)
		}
	}
	// What reporting's migrations do after it, as reporting's role; and a
	// table elsewhere.
	reportingDB := as("linkcredit_reporting", env["REPORTING_DB_PASSWORD"])
	for _, q := range []string{
		`CREATE TABLE reporting.ledger_entries (amount_minor bigint)`,
		`INSERT INTO reporting.ledger_entries VALUES (735)`,
	} {
		if _, err := reportingDB.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := as("linkcredit_conversions", env["CONVERSIONS_DB_PASSWORD"]).ExecContext(ctx,
		`CREATE TABLE conversions.partners (secret text)`); err != nil {
		t.Fatal(err)
	}
	runScripts() // again: no error, nothing else changes

	reader := as("grafana_reader", env["GRAFANA_DB_PASSWORD"])
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
