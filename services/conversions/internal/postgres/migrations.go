package postgres

import (
	"embed"
	"io/fs"
)

//go:embed migrations
var migrationFiles embed.FS

// Schema is the Postgres schema that holds every table of this service.
const Schema = "conversions"

// Migrations returns the forward-only *.up.sql files, applied in name order.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}
