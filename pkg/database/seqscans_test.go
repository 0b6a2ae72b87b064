package database_test

import (
	"context"
	"errors"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// TestWithoutSeqScans: the statements fn runs plan with sequential scans
// off; after it the transaction's setting is what it was, on or off, so
// its later statements plan as before; fn's error comes back as is.
func TestWithoutSeqScans(t *testing.T) {
	db := testkit.DB(t)
	ctx := context.Background()
	for _, had := range []string{"on", "off"} {
		t.Run(had, func(t *testing.T) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, `SELECT set_config('enable_seqscan', $1, true)`, had); err != nil {
				t.Fatal(err)
			}
			setting := func() string {
				t.Helper()
				var v string
				if err := tx.QueryRowContext(ctx, `SHOW enable_seqscan`).Scan(&v); err != nil {
					t.Fatal(err)
				}
				return v
			}
			var inside string
			if err := database.WithoutSeqScans(ctx, tx, func() error { inside = setting(); return nil }); err != nil {
				t.Fatal(err)
			}
			if inside != "off" {
				t.Errorf("enable_seqscan inside = %s, want off", inside)
			}
			if now := setting(); now != had {
				t.Errorf("enable_seqscan after = %s, want %s as before", now, had)
			}
		})
	}
	t.Run("fn fails", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		boom := errors.New("boom")
		if err := database.WithoutSeqScans(ctx, tx, func() error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want fn's", err)
		}
	})
}
