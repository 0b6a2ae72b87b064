package database

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"net/url"

	"github.com/lib/pq"
)

//go:embed serviceroles.sql
var serviceRolesSQL string

// ServiceRolesSQL is serviceroles.sql: run as a superuser, it makes a role
// per service that owns the service's schema and nothing else.
func ServiceRolesSQL() string { return serviceRolesSQL }

// ServiceNames are the services that ServiceRolesSQL gives a role, each
// also the name of its schema.
func ServiceNames() []string { return []string{"redirect", "conversions", "reporting"} }

// ServiceRole is the role service signs in as where ServiceRolesSQL has
// been run: "linkcredit_" and the service's name (its schema's).
func ServiceRole(service string) string { return "linkcredit_" + service }

// EnsureServiceRoles runs ServiceRolesSQL on db (as a superuser) and lets
// each role sign in without a password: for a local server that trusts
// loopback (localstack, tests). A deployment sets passwords instead.
func EnsureServiceRoles(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, serviceRolesSQL); err != nil {
		return Classify(fmt.Errorf("database: service roles: %w", err))
	}
	for _, svc := range ServiceNames() {
		if _, err := db.ExecContext(ctx, `ALTER ROLE `+pq.QuoteIdentifier(ServiceRole(svc))+` LOGIN`); err != nil {
			return Classify(fmt.Errorf("database: service role %s: %w", svc, err))
		}
	}
	return nil
}

// EnsureServiceRolesAt is EnsureServiceRoles on the database at dbURL
// (its superuser's URL), for a harness that made that database.
func EnsureServiceRolesAt(ctx context.Context, dbURL string) error {
	db, err := Open(dbURL, Pool{MaxOpen: 1})
	if err != nil {
		return err
	}
	defer db.Close()
	return EnsureServiceRoles(ctx, db)
}

// ServiceURL is dbURL signing in as service's role, without a password:
// for a local server that trusts loopback (localstack, the chaos harness).
func ServiceURL(dbURL, service string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil { // url's error quotes the URL, password and all
		return "", errors.New("database: service url: DATABASE_URL is not a valid URL")
	}
	u.User = url.User(ServiceRole(service))
	return u.String(), nil
}
