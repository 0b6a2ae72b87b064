// Package database opens PostgreSQL through lib/pq with pool settings, runs
// work in transactions that retry serialization failures, applies a
// service's embedded forward-only migrations under an advisory lock so
// replicas starting together do not race, and classifies driver errors into
// errs kinds (a lost connection is Unavailable, a 503, not a 500).
//
// It holds no SQL of any service; each service embeds its own migrations
// and keeps its tables in a schema of its own.
package database
