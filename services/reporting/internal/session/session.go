package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
)

// ErrNotFound is what a Store answers for an id with no live session:
// never issued, expired (idle or absolute) or revoked.
var ErrNotFound = errors.New("session: no live session")

// Session is one signed-in browser.
type Session struct {
	Digest Digest
	Scope  string // always finance: an all-scope token signs in to a finance-only session
	// Binding is the token that opened the session, as httpx.Binding
	// keeps it (keyed by the id): the session lives only while that token
	// is configured.
	Binding   [32]byte
	CreatedAt time.Time // signed in
	// IdleExpiresAt moves forward with each use, never past ExpiresAt.
	IdleExpiresAt time.Time
	ExpiresAt     time.Time // absolute: CreatedAt + MaxAge
}

// Store keeps sessions by digest.
type Store interface {
	// CreateSession stores s, keeping at most max sessions: the oldest
	// beyond that are removed.
	CreateSession(ctx context.Context, s Session, max int) error
	// TouchSession returns the session with digest d that is live at now
	// (IdleExpiresAt after now), its idle expiry moved to idleUntil (capped
	// by its ExpiresAt); ErrNotFound when there is none.
	TouchSession(ctx context.Context, d Digest, now, idleUntil time.Time) (Session, error)
	// DeleteSession removes the session with digest d, if any.
	DeleteSession(ctx context.Context, d Digest) error
	// DeleteExpiredSessions removes every session not live at now and
	// returns how many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)
}

// Config are a Manager's limits. Zero fields take defaults.
type Config struct {
	IdleTimeout time.Duration // default 30m: unused this long, a session ends
	MaxAge      time.Duration // default 12h: a session ends this long after sign-in, used or not
	MaxSessions int           // default 10,000: live sessions kept; the oldest beyond go
}

func (c *Config) setDefaults() {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 12 * time.Hour
	}
	if c.IdleTimeout > c.MaxAge {
		c.IdleTimeout = c.MaxAge
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 10000
	}
}

// Manager starts, resumes and ends sessions on the injected clock.
type Manager struct {
	store Store
	now   clock.Clock
	cfg   Config
}

// NewManager returns a Manager over store, telling time by now.
func NewManager(store Store, now clock.Clock, cfg Config) *Manager {
	cfg.setDefaults()
	return &Manager{store: store, now: clock.OrSystem(now), cfg: cfg}
}

// MaxAge is how long a session lives at most.
func (m *Manager) MaxAge() time.Duration { return m.cfg.MaxAge }

// Start opens a session of scope and returns its id, which only the
// caller (the browser's cookie) ever holds; bind gives the session's
// Binding, which it may key with the new id.
func (m *Manager) Start(ctx context.Context, scope string, bind func(ID) [32]byte) (ID, Session, error) {
	id, err := NewID()
	if err != nil {
		return ID{}, Session{}, err
	}
	binding := bind(id)
	now := m.now().UTC()
	s := Session{Digest: id.Digest(), Scope: scope, Binding: binding, CreatedAt: now, ExpiresAt: now.Add(m.cfg.MaxAge),
		IdleExpiresAt: now.Add(m.cfg.IdleTimeout)}
	if err := m.store.CreateSession(ctx, s, m.cfg.MaxSessions); err != nil {
		return ID{}, Session{}, fmt.Errorf("start session: %w", err)
	}
	return id, s, nil
}

// Resume returns id's live session and extends its idle expiry;
// ErrNotFound when it has expired or was revoked.
func (m *Manager) Resume(ctx context.Context, id ID) (Session, error) {
	now := m.now().UTC()
	s, err := m.store.TouchSession(ctx, id.Digest(), now, now.Add(m.cfg.IdleTimeout))
	if err != nil {
		return Session{}, fmt.Errorf("resume session: %w", err)
	}
	return s, nil
}

// End revokes id's session: its cookie, wherever copied, opens nothing.
func (m *Manager) End(ctx context.Context, id ID) error {
	if err := m.store.DeleteSession(ctx, id.Digest()); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// Sweep removes expired sessions, so the table holds only live ones.
func (m *Manager) Sweep(ctx context.Context) (int64, error) {
	n, err := m.store.DeleteExpiredSessions(ctx, m.now().UTC())
	if err != nil {
		return 0, fmt.Errorf("sweep sessions: %w", err)
	}
	return n, nil
}
