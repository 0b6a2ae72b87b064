package postgres

import (
	"embed"
	"fmt"
	"io/fs"
	"net/url"

	"github.com/linkcredit/linkcredit/pkg/database"
)

//go:embed migrations
var migrationFiles embed.FS

// Schema is the Postgres schema that holds every table of this service.
const Schema = "reporting"

// Migrations returns the forward-only *.up.sql files, applied in name order.
func Migrations() fs.FS { return database.Sub(migrationFiles, "migrations") }

// WithSchema returns databaseURL with its search_path set to schema, so
// the store's unqualified names resolve there.
func WithSchema(databaseURL, schema string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
