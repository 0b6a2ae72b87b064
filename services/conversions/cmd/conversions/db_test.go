package main

import (
	"database/sql"

	"github.com/linkcredit/linkcredit/pkg/database"
)

func sqlOpen(url string) (*sql.DB, error) { return database.Open(url, database.Pool{MaxOpen: 2}) }
