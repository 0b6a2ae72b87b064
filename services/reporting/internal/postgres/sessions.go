package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/services/reporting/internal/session"
)

// Sessions is the dashboard's session store (session.Store) over the
// dashboard_sessions table: digests only, never an id.
type Sessions struct{ db *sql.DB }

// NewSessions returns the session store on db.
func NewSessions(db *sql.DB) *Sessions { return &Sessions{db: db} }

var _ session.Store = (*Sessions)(nil)

// CreateSession stores s and removes the oldest sessions beyond max, so a
// flood of sign-ins cannot grow the table without bound.
func (st *Sessions) CreateSession(ctx context.Context, s session.Session, max int) error {
	err := database.Transact(ctx, st.db, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO dashboard_sessions (digest, scope, token_binding, created_at, idle_expires_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, s.Digest[:], s.Scope, s.Binding[:], s.CreatedAt.UTC(), s.IdleExpiresAt.UTC(),
			s.ExpiresAt.UTC()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE digest IN (
			SELECT digest FROM dashboard_sessions ORDER BY created_at DESC, digest OFFSET $1)`, max)
		return err
	})
	if err != nil {
		return database.Classify(err)
	}
	return nil
}

// TouchSession moves the live session's idle expiry to idleUntil (capped
// by its absolute expiry) and returns it, in one statement.
func (st *Sessions) TouchSession(ctx context.Context, d session.Digest, now, idleUntil time.Time) (session.Session, error) {
	s := session.Session{Digest: d}
	var binding []byte
	err := st.db.QueryRowContext(ctx, `UPDATE dashboard_sessions SET idle_expires_at = LEAST($3::timestamptz, expires_at)
		WHERE digest = $1 AND idle_expires_at > $2 AND expires_at > $2
		RETURNING scope, token_binding, created_at, idle_expires_at, expires_at`, d[:], now.UTC(), idleUntil.UTC()).
		Scan(&s.Scope, &binding, &s.CreatedAt, &s.IdleExpiresAt, &s.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return session.Session{}, session.ErrNotFound
	}
	if err != nil {
		return session.Session{}, database.Classify(err)
	}
	copy(s.Binding[:], binding) // 32 bytes: the table checks it
	return s, nil
}

// DeleteSession removes the session with digest d.
func (st *Sessions) DeleteSession(ctx context.Context, d session.Digest) error {
	if _, err := st.db.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE digest = $1`, d[:]); err != nil {
		return database.Classify(err)
	}
	return nil
}

// DeleteExpiredSessions removes the sessions not live at now.
func (st *Sessions) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := st.db.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE idle_expires_at <= $1 OR expires_at <= $1`, now.UTC())
	if err != nil {
		return 0, database.Classify(err)
	}
	return res.RowsAffected()
}
