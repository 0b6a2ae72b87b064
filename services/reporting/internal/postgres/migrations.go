package postgres

import (
	"embed"
	"errors"
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

// WithoutJIT returns databaseURL with PostgreSQL's JIT compilation off
// for the connections it opens, unless the URL sets jit itself. Reports
// and ingest run statements the planner costs past jit_above_cost
// (thousands of index lookups, sums over tens of thousands of rollup
// rows) that finish in tens of milliseconds, and compiling them took
// longer than that. In make bench's click-to-report part after 800,000
// clicks (issue 15), two alternating pairs: the by-partner report
// answered in 270 and 311 ms with JIT off against 360 and 410 ms with it
// (p50), and a click was in it after 573 and 606 ms against 672 and 737.
func WithoutJIT(databaseURL string) (string, error) {
	return withParam(databaseURL, "jit", "off", false)
}

// ApplicationName is the application_name every session of this
// reporting opens with (WithApplicationName). The attribution lock's
// protocol (attributionLock) trusts a conversion as unraced only while no
// session of the same role and database has another name: a reporting
// from before the protocol (which sets none) takes no lock around its
// clicks, so while one runs, every conversion is stored raced and the
// sweep probes them all. Change it whenever the protocol changes.
const ApplicationName = "linkcredit-reporting/attribution-lock-1"

// WithApplicationName returns databaseURL with application_name set to
// ApplicationName, whatever it had.
func WithApplicationName(databaseURL string) (string, error) {
	return withParam(databaseURL, "application_name", ApplicationName, true)
}

// WithSchema returns databaseURL with its search_path set to schema, so
// the store's unqualified names resolve there.
func WithSchema(databaseURL, schema string) (string, error) {
	return withParam(databaseURL, "search_path", schema, true)
}

// AsRole returns databaseURL acting as role: its sessions' role setting,
// which the server applies at sign-in as SET ROLE would (the signed-in
// role must be allowed to).
func AsRole(databaseURL, role string) (string, error) {
	return withParam(databaseURL, "role", role, true)
}

// withParam returns databaseURL with the query parameter key (a setting
// the driver passes to the server) set to value; when replace is false,
// a value the URL already has stands.
func withParam(databaseURL, key, value string, replace bool) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil { // url's error quotes the URL, password and all
		return "", errors.New("DATABASE_URL is not a valid URL")
	}
	q := u.Query()
	if replace || q.Get(key) == "" {
		q.Set(key, value)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}
