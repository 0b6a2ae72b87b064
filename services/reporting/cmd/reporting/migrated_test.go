package main

import (
	"testing"

	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
)

// migratedDatabaseURL is a new database that already holds the service's
// schema, copied from a template (testkit.MigratedDatabaseURL): the service
// still migrates at start and finds nothing left to do.
func migratedDatabaseURL(t *testing.T) string {
	t.Helper()
	return testkit.MigratedDatabaseURL(t, postgres.Schema, postgres.Migrations())
}
