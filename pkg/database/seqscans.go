package database

import (
	"context"
	"database/sql"
	"fmt"
)

// WithoutSeqScans runs fn in tx with sequential scans off for the
// statements fn plans, then puts the transaction's setting back as it
// was (on an error the transaction is rolled back anyway).
//
// It is for statements that probe an index once per key (a LATERAL
// subquery per element of an array): planned while a table or a
// partition is empty, or was analyzed while empty, a scan costs the
// planner no more than the probe, and each key then walks every row
// stored while the statement runs. In make bench one batch of 20,000
// keys ran for minutes so (issue 15). With sequential scans off, the
// index is the plan left, unless another index costs the same: see each
// caller. The setting is PostgreSQL's enable_seqscan, local to tx; a
// prepared statement's cached plan does not follow later settings, so a
// statement run here must be run nowhere else.
func WithoutSeqScans(ctx context.Context, tx *sql.Tx, fn func() error) error {
	var was string
	if err := tx.QueryRowContext(ctx, `SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', 'off', true)`).
		Scan(&was, new(string)); err != nil {
		return fmt.Errorf("sequential scans off: %w", err)
	}
	if err := fn(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `SELECT set_config('enable_seqscan', $1, true)`, was); err != nil {
		return fmt.Errorf("sequential scans back %s: %w", was, err)
	}
	return nil
}
