package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/linkcredit/linkcredit/pkg/database"
)

// Salts stores the visitor hash salts in redirect.visitor_salts, an
// UNLOGGED table (migration 0003): its rows never reach the WAL, so no
// WAL archive, streaming replica, point-in-time recovery or base backup
// (pg_basebackup skips unlogged tables) holds a salt. The price: a crash
// or a failover empties the table, and the hashers put back the salts
// they hold (visitor.Hasher.Refresh).
type Salts struct{ db *sql.DB }

// NewSalts returns the store.
func NewSalts(db *sql.DB) *Salts { return &Salts{db: db} }

// Salt returns the day's salt; when the table has none it stores offer,
// unless another replica stores one first. A salt is sent to the server
// only when the table lacks the day's.
func (s *Salts) Salt(ctx context.Context, day string, offer []byte) ([]byte, error) {
	if len(offer) != 32 {
		return nil, fmt.Errorf("visitor salt %s: the offer is %d bytes, not 32", day, len(offer))
	}
	// Read, else insert, else read what a concurrent insert committed
	// (a statement cannot see a row committed after its snapshot).
	for range 3 {
		var salt []byte
		err := s.db.QueryRowContext(ctx, `SELECT salt FROM redirect.visitor_salts WHERE day = $1::date`, day).Scan(&salt)
		if err == nil {
			return salt, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, database.Classify(fmt.Errorf("visitor salt %s: %w", day, err))
		}
		err = s.db.QueryRowContext(ctx, `INSERT INTO redirect.visitor_salts (day, salt) VALUES ($1::date, $2)
			ON CONFLICT (day) DO NOTHING RETURNING salt`, day, offer).Scan(&salt)
		if err == nil {
			return salt, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, database.Classify(fmt.Errorf("visitor salt %s: %w", day, err))
		}
	}
	return nil, fmt.Errorf("visitor salt %s: neither read nor stored after three attempts", day)
}

// Forget deletes the salts of days before the given one. When it deleted
// any (once a day), it rewrites the table (VACUUM FULL, a few rows): a
// plain DELETE leaves the old row's bytes in the table's file until the
// page is reused, which for this table can be weeks.
func (s *Salts) Forget(ctx context.Context, before string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM redirect.visitor_salts WHERE day < $1::date`, before)
	if err != nil {
		return database.Classify(fmt.Errorf("forget visitor salts: %w", err))
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `VACUUM FULL redirect.visitor_salts`); err != nil {
		return database.Classify(fmt.Errorf("rewrite visitor salts: %w", err))
	}
	return nil
}
