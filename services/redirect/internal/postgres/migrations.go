package postgres

import (
	"embed"
	"io/fs"

	"github.com/linkcredit/linkcredit/pkg/database"
)

//go:embed migrations
var migrationFiles embed.FS

// Schema is the Postgres schema that holds every table of this service.
const Schema = "redirect"

// Migrations returns the forward-only *.up.sql files, applied in name order.
func Migrations() fs.FS { return database.Sub(migrationFiles, "migrations") }
