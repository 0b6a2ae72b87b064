package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/redirect/internal/link"
	"github.com/linkcredit/linkcredit/services/redirect/internal/linktable"
)

// ErrLinkNotFound is returned for an unknown code.
var ErrLinkNotFound = errs.New(errs.NotFound, "link_not_found", "no link has this code")

// Links stores course links in redirect.links.
type Links struct{ db *sql.DB }

// NewLinks returns the store.
func NewLinks(db *sql.DB) *Links { return &Links{db: db} }

const linkColumns = `code, partner, course_id, title, destination, active, placements, created_at, updated_at`

func scanLink(row interface{ Scan(...any) error }, extra ...any) (link.Link, error) {
	var l link.Link
	var placements pq.StringArray
	err := row.Scan(append([]any{&l.Code, &l.Partner, &l.CourseID, &l.Title, &l.Destination, &l.Active, &placements, &l.CreatedAt, &l.UpdatedAt}, extra...)...)
	l.CreatedAt, l.UpdatedAt = l.CreatedAt.UTC(), l.UpdatedAt.UTC()
	l.Placements = []string(placements)
	if l.Placements == nil {
		l.Placements = []string{} // "placements": [] in JSON, never null
	}
	return l, err
}

// placementArray is a link's allow-list as a parameter: never NULL.
func placementArray(p []string) pq.StringArray {
	if p == nil {
		return pq.StringArray{}
	}
	return pq.StringArray(p)
}

// Put creates or replaces a link, reporting whether it was created.
func (s *Links) Put(ctx context.Context, l link.Link) (link.Link, bool, error) {
	row := s.db.QueryRowContext(ctx, `
		INSERT INTO redirect.links AS l (code, partner, course_id, title, destination, active, placements)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (code) DO UPDATE SET partner = EXCLUDED.partner, course_id = EXCLUDED.course_id,
			title = EXCLUDED.title, destination = EXCLUDED.destination, active = EXCLUDED.active,
			placements = EXCLUDED.placements, xid = pg_current_xact_id(), updated_at = now()
		RETURNING `+linkColumns+`, (xmax = 0)`,
		l.Code, l.Partner, l.CourseID, l.Title, l.Destination, l.Active, placementArray(l.Placements))
	var created bool
	out, err := scanLink(row, &created)
	if err != nil {
		return link.Link{}, false, database.Classify(fmt.Errorf("put link %s: %w", l.Code, err))
	}
	return out, created, nil
}

// Get returns one link.
func (s *Links) Get(ctx context.Context, code string) (link.Link, error) {
	l, err := scanLink(s.db.QueryRowContext(ctx, `SELECT `+linkColumns+` FROM redirect.links WHERE code = $1`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return link.Link{}, ErrLinkNotFound
	}
	if err != nil {
		return link.Link{}, database.Classify(fmt.Errorf("get link %s: %w", code, err))
	}
	return l, nil
}

// List returns up to limit links after the cursor code, ordered by code,
// optionally of one partner.
func (s *Links) List(ctx context.Context, partner, after string, limit int) ([]link.Link, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+linkColumns+` FROM redirect.links
		WHERE ($1 = '' OR partner = $1) AND code > $2 ORDER BY code LIMIT $3`, partner, after, limit)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("list links: %w", err))
	}
	defer rows.Close()
	var out []link.Link
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, database.Classify(rows.Err())
}

// Upsert writes a batch of links (codes unique within the batch) in one
// statement and reports how many were created and updated.
func (s *Links) Upsert(ctx context.Context, links []link.Link) (created, updated int, err error) {
	if len(links) == 0 {
		return 0, 0, nil
	}
	// Placements travel joined by FormatPlacements' comma (no placement
	// holds one), since unnest cannot take an array of arrays of
	// different lengths.
	cols := make([][]string, 6)
	active := make([]bool, len(links))
	for i, l := range links {
		for j, v := range []string{l.Code, l.Partner, l.CourseID, l.Title, l.Destination, link.FormatPlacements(l.Placements)} {
			cols[j] = append(cols[j], v)
		}
		active[i] = l.Active
	}
	rows, err := s.db.QueryContext(ctx, `
		INSERT INTO redirect.links AS l (code, partner, course_id, title, destination, active, placements)
		SELECT code, partner, course_id, title, destination, active, string_to_array(placements, ',')
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[])
			AS r (code, partner, course_id, title, destination, active, placements)
		ON CONFLICT (code) DO UPDATE SET partner = EXCLUDED.partner, course_id = EXCLUDED.course_id,
			title = EXCLUDED.title, destination = EXCLUDED.destination, active = EXCLUDED.active,
			placements = EXCLUDED.placements, xid = pg_current_xact_id(), updated_at = now()
		RETURNING (xmax = 0)`,
		pq.Array(cols[0]), pq.Array(cols[1]), pq.Array(cols[2]), pq.Array(cols[3]), pq.Array(cols[4]), pq.Array(active), pq.Array(cols[5]))
	if err != nil {
		return 0, 0, database.Classify(fmt.Errorf("upsert %d links: %w", len(links), err))
	}
	defer rows.Close()
	for rows.Next() {
		var isNew bool
		if err := rows.Scan(&isNew); err != nil {
			return 0, 0, err
		}
		if isNew {
			created++
		} else {
			updated++
		}
	}
	return created, updated, database.Classify(rows.Err())
}

// Changes calls fn for every link written by a transaction at or after
// since (a snapshot xmin from an earlier call; "0" for everything) and
// returns the xmin to pass next time. Rows may be seen twice; never missed.
func (s *Links) Changes(ctx context.Context, since string, fn func(linktable.Link) error) (string, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return since, database.Classify(err)
	}
	defer tx.Rollback()
	var xmin string
	if err := tx.QueryRowContext(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&xmin); err != nil {
		return since, database.Classify(err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT code, partner, course_id, destination, active,
		array_to_string(placements, $2) FROM redirect.links WHERE xid >= $1::xid8`, since, linktable.PlacementSep)
	if err != nil {
		return since, database.Classify(fmt.Errorf("link changes: %w", err))
	}
	defer rows.Close()
	var l linktable.Link
	for rows.Next() {
		if err := rows.Scan(&l.Code, &l.Partner, &l.CourseID, &l.Destination, &l.Active, &l.Placements); err != nil {
			return since, err
		}
		if err := fn(l); err != nil {
			return since, err
		}
	}
	if err := rows.Err(); err != nil {
		return since, database.Classify(err)
	}
	return xmin, tx.Commit()
}

// NotifyChannel is signalled whenever links change.
const NotifyChannel = "redirect_links_changed"

// Listen calls onChange on every change notification, and once after each
// (re)connection (notifications sent while disconnected are lost, so the
// caller must catch up then). It returns when ctx ends.
func Listen(ctx context.Context, databaseURL string, onChange func()) error {
	l := pq.NewListener(databaseURL, 100*time.Millisecond, 10*time.Second, nil)
	defer l.Close()
	if err := l.Listen(NotifyChannel); err != nil {
		return fmt.Errorf("listen %s: %w", NotifyChannel, err)
	}
	onChange()
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.Notify:
			onChange() // nil (a reconnect) or a notification: both mean catch up
		case <-ping.C:
			go l.Ping()
		}
	}
}
