package postgres_test

import (
	"context"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
)

func TestWithoutJIT(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"postgres://u@db:5432/linkcredit", "postgres://u@db:5432/linkcredit?jit=off"},
		{"postgres://u@db/linkcredit?sslmode=require", "postgres://u@db/linkcredit?jit=off&sslmode=require"},
		{"postgres://u@db/linkcredit?jit=on", "postgres://u@db/linkcredit?jit=on"}, // the operator's choice stands
	} {
		got, err := postgres.WithoutJIT(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("WithoutJIT(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := postgres.WithoutJIT("postgres://u@db:port/x"); err == nil {
		t.Error("a malformed URL was taken")
	}
}

// TestWithoutJITReachesTheServer: the setting is a startup parameter
// PostgreSQL applies to every connection of the pool.
func TestWithoutJITReachesTheServer(t *testing.T) {
	t.Parallel()
	u, err := postgres.WithoutJIT(testkit.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	db, err := database.Open(u, database.Pool{MaxOpen: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var jit string
	if err := db.QueryRowContext(context.Background(), `SHOW jit`).Scan(&jit); err != nil {
		t.Fatal(err)
	}
	if jit != "off" {
		t.Fatalf("jit = %s through %s", jit, u)
	}
}
