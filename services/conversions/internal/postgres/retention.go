package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/linkcredit/linkcredit/pkg/database"
)

// pruneSQL deletes the oldest stored requests received before $1, at most
// $2, whose events have been published: neither waiting in the outbox nor
// set aside. SKIP LOCKED lets replicas sweep at the same time without
// waiting on each other's rows. The foreign keys from outbox and
// outbox_parked hold the same rule if an event is queued for a request
// between the check and the delete (a replay): then the statement fails
// and the next sweep tries again.
const pruneSQL = `
	DELETE FROM conversions.inbox WHERE id IN (
		SELECT i.id FROM conversions.inbox i
		WHERE i.received_at < $1
		  AND NOT EXISTS (SELECT 1 FROM conversions.outbox o WHERE o.inbox_id = i.id)
		  AND NOT EXISTS (SELECT 1 FROM conversions.outbox_parked p WHERE p.inbox_id = i.id)
		ORDER BY i.received_at
		LIMIT $2
		FOR UPDATE OF i SKIP LOCKED)`

// PruneInbox implements conversion.InboxPruner.
func (s *Store) PruneInbox(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	res, err := s.db.ExecContext(ctx, pruneSQL, cutoff, limit)
	if err != nil {
		return 0, database.Classify(fmt.Errorf("prune inbox before %s: %w", cutoff.UTC().Format(time.RFC3339), err))
	}
	n, err := res.RowsAffected()
	return int(n), err
}
