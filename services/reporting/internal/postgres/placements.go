package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/events"
)

// MaxPlacements is how many distinct placements a link has rollup rows
// (and report rows) of their own for on one UTC day. Placements are the
// visitor's choice (?placement=): without a cap, every random value would
// be a rollup key, a row in every placement report and an entry in
// memory. The first MaxPlacements values a link-day sees keep their
// names; the rest of that day's clicks, and the conversions attributed to
// them, count under OtherPlacement. A link that needs exact placements
// allow-lists them in redirect. It is a constant, not a setting, so that
// the service and `reporting replay` always decide alike.
const MaxPlacements = 50

// OtherPlacement is where the placements beyond MaxPlacements count (the
// redirect records a placement a link does not allow-list the same way).
const OtherPlacement = "other"

// slotCacheSize bounds the link-days whose slots the store remembers: two
// generations of it, each entry at most MaxPlacements placements of at
// most events.MaxTagBytes (about 4 KB): at most 2 x 16,384 x 4 KB = 128 MB
// under an attack that fills every slot of every link, and a few hundred
// bytes per link-day with normal traffic. It holds a day of 16,384 links
// (2,048 made a catalog of 10,000 links look its slots up again on every
// batch: make bench, issue 15).
const slotCacheSize = 16384

// linkDay is one link on one UTC day.
type linkDay struct {
	code string
	day  int32 // days since 1970-01-01
}

// cloneLinkDay is d in memory of its own, for the cache (see cloneKey).
func cloneLinkDay(d linkDay) linkDay { return linkDay{strings.Clone(d.code), d.day} }

func dayOf(t time.Time) int32 { return int32(t.UTC().Truncate(24*time.Hour).Unix() / 86400) }

func (d linkDay) date() string { return time.Unix(int64(d.day)*86400, 0).UTC().Format(time.DateOnly) }

// slots are a link-day's placements with rows of their own.
type slots struct {
	names map[string]bool
	full  bool // len(names) == MaxPlacements: nothing more is admitted
}

// foldPlacements returns clicks with each placement beyond its link-day's
// slots replaced by OtherPlacement (a copy when anything changes; clicks
// itself is never modified). New placements are given free slots first,
// in a transaction of their own that commits before the ingest
// transaction, under row locks, so replicas never admit more than
// MaxPlacements between them. A placement once admitted stays admitted,
// and a full day stays full, so a redelivered click is decided as it was.
func (s *Store) foldPlacements(ctx context.Context, clicks []Click) ([]Click, error) {
	const keep, fold, ask = 0, 1, 2
	decision := make([]uint8, len(clicks))
	wanted := map[linkDay][]string{} // in the order the batch has them
	type value struct {
		d linkDay
		p string
	}
	seen := map[value]bool{}
	s.mu.Lock()
	for i, c := range clicks {
		switch {
		case c.Placement == "" || c.Placement == OtherPlacement:
			continue
		case !needsSlot(c.Placement):
			decision[i] = fold
			continue
		}
		d := linkDay{c.Code, dayOf(c.OccurredAt)}
		sl, ok := s.slots.get(d)
		switch {
		case ok && sl.names[c.Placement]:
		case ok && sl.full:
			decision[i] = fold
		default:
			decision[i] = ask
			if v := (value{d, c.Placement}); !seen[v] {
				seen[v] = true
				wanted[d] = append(wanted[d], c.Placement)
			}
		}
	}
	s.mu.Unlock()
	var admitted map[linkDay]slots
	if len(wanted) > 0 {
		var err error
		if admitted, err = s.admitPlacements(ctx, wanted); err != nil {
			return nil, err
		}
	}
	out := clicks
	for i, c := range clicks {
		if decision[i] == keep || decision[i] == ask && admitted[linkDay{c.Code, dayOf(c.OccurredAt)}].names[c.Placement] {
			continue
		}
		if &out[0] == &clicks[0] {
			out = slices.Clone(clicks)
		}
		out[i].Placement = OtherPlacement
	}
	return out, nil
}

// needsSlot reports whether a placement takes a slot: not the empty one
// and not OtherPlacement, and only a valid tag (events.Validate refuses
// any other; should one reach the store anyway, it counts as other).
func needsSlot(p string) bool {
	return p != "" && p != OtherPlacement && events.ValidTag(p)
}

// admitPlacements gives each link-day's wanted placements free slots, in
// the order given, and returns (and caches) each link-day's slots as they
// stand.
func (s *Store) admitPlacements(ctx context.Context, wanted map[linkDay][]string) (map[linkDay]slots, error) {
	days := make([]linkDay, 0, len(wanted))
	for d := range wanted {
		days = append(days, d)
	}
	slices.SortFunc(days, func(a, b linkDay) int {
		if c := strings.Compare(a.code, b.code); c != 0 {
			return c
		}
		return int(a.day - b.day)
	})
	codes, dates := make([]string, len(days)), make([]string, len(days))
	for i, d := range days {
		codes[i], dates[i] = d.code, d.date()
	}
	got := map[linkDay][]string{}
	err := database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		clear(got)
		// Rows are created, then locked, in (code, day) order: two
		// replicas admitting for the same link-days wait for each other
		// instead of deadlocking.
		if _, err := tx.ExecContext(ctx, `INSERT INTO placement_slots (code, day, placements)
			SELECT c, d::date, '{}' FROM unnest($1::text[], $2::text[]) AS t(c, d) ORDER BY c COLLATE "C", d
			ON CONFLICT DO NOTHING`, pq.Array(codes), pq.Array(dates)); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT code, day - DATE '1970-01-01', placements FROM placement_slots
			WHERE (code, day) IN (SELECT c, d::date FROM unnest($1::text[], $2::text[]) AS t(c, d))
			ORDER BY code, day FOR UPDATE`, pq.Array(codes), pq.Array(dates))
		if err != nil {
			return err
		}
		for rows.Next() {
			var d linkDay
			var names []string
			if err := rows.Scan(&d.code, &d.day, (*pq.StringArray)(&names)); err != nil {
				rows.Close()
				return err
			}
			got[d] = names
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var upCodes, upDates, upNames []string
		for i, d := range days {
			names := got[d]
			added := false
			for _, p := range wanted[d] {
				if len(names) >= MaxPlacements {
					break
				}
				if !slices.Contains(names, p) {
					names = append(names, strings.Clone(p)) // cached: not the message's memory
					added = true
				}
			}
			got[d] = names
			if added {
				// Tags hold no comma, so a joined list splits back exactly.
				upCodes, upDates, upNames = append(upCodes, codes[i]), append(upDates, dates[i]), append(upNames, strings.Join(names, ","))
			}
		}
		if len(upCodes) == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE placement_slots s SET placements = string_to_array(t.p, ',')
			FROM unnest($1::text[], $2::text[], $3::text[]) AS t(c, d, p) WHERE s.code = t.c AND s.day = t.d::date`,
			pq.Array(upCodes), pq.Array(upDates), pq.Array(upNames))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("placement slots: %w", err)
	}
	out := make(map[linkDay]slots, len(got))
	s.mu.Lock()
	defer s.mu.Unlock()
	for d, names := range got {
		set := make(map[string]bool, len(names))
		for _, p := range names {
			set[p] = true
		}
		out[d] = slots{names: set, full: len(names) >= MaxPlacements}
		s.slots.put(d, out[d])
	}
	return out, nil
}
