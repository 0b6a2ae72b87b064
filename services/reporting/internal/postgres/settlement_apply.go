package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
)

// SourceSettlement is the source of the conversion events an applied
// settlement file adds. They are on no topic: the finance journal
// (KindSettlementApply) is their record, so the archive leaves them out
// and `reporting replay` adds them again from the journal.
const SourceSettlement = "settlement"

var digestPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// settlementApplyPayload is a KindSettlementApply entry: the apply as
// decided live, events included, so a replay adds exactly these events
// whatever else it has rebuilt by then.
type settlementApplyPayload struct {
	Partner   string             `json:"partner"`
	Month     string             `json:"month"` // YYYY-MM-DD, the first day
	Digest    string             `json:"digest"`
	FileName  string             `json:"file_name"`
	Format    string             `json:"format"`
	Rows      int                `json:"rows"`
	Unchanged int                `json:"unchanged"`
	Lines     []appliedLineEntry `json:"lines"`
}

type appliedLineEntry struct {
	Line    int              `json:"line"`
	OrderID string           `json:"order_id"`
	Outcome string           `json:"outcome"`
	From    string           `json:"from"`
	To      string           `json:"to"`
	Event   *settlementEvent `json:"event,omitempty"`
}

// settlementEvent is a conversion event an apply adds.
type settlementEvent struct {
	ID          string    `json:"id"`
	Status      string    `json:"status"`
	Sale        int64     `json:"sale_minor"`
	Commission  int64     `json:"commission_minor"`
	Currency    string    `json:"currency"`
	OccurredAt  time.Time `json:"occurred_at"`
	AcceptedSeq int64     `json:"accepted_seq"`
}

// ApplySettlement stores a settlement file (importSettlement) and
// applies it, in one transaction as of the store's clock, by actor: each
// line whose status differs from its conversion's becomes a conversion
// event with source "settlement" (the conversion's amounts, the line's
// status), which the conversion's fold then applies like any other.
// Lines naming orders the ledger does not have, in another currency than
// their conversion, or repeating an order are reported, not applied.
//
// The event's occurred_at is the line's date, or the conversion's latest
// event time when that is later (an export dated by purchase must still
// land after what the ledger already holds), and it orders after the
// conversion's events of the same instant. A change to a month closed at
// this instant lands as an adjustment in the open period, as every other
// change recorded now. The file applies once: its digest again answers
// the first apply's record (Again) and changes nothing.
//
// It returns the import's id, the apply, and the differences between the
// file and the ledger before and after applying.
func (s *Store) ApplySettlement(ctx context.Context, f payout.SettlementFile, actor string) (importID int64,
	out payout.SettlementApply, before, after []payout.Difference, err error) {
	if !digestPattern.MatchString(f.Digest) {
		return 0, out, nil, nil, fmt.Errorf("apply settlement: digest %q is not a hex SHA-256", f.Digest)
	}
	at := s.now()
	err = database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		if err := lockPeriodsShared(ctx, tx); err != nil {
			return err
		}
		// One apply of a partner's files at a time: the digest check and
		// the events it plans from must not race another apply.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('reporting.settlement_apply ' || $1))`,
			f.Partner); err != nil {
			return err
		}
		prev, found, err := loadSettlementApply(ctx, tx, f.Partner, f.Digest)
		if err != nil || found {
			out = prev
			return err
		}
		importID, before, err = importSettlement(ctx, tx, f.Partner, f.Month, s.FinanceZone(), f.Lines, at, actor)
		if err != nil {
			return err
		}
		p, err := planSettlement(ctx, tx, f)
		if err != nil {
			return err
		}
		if out, err = s.applySettlement(ctx, tx, p, at, actor); err != nil {
			return err
		}
		after, err = compareSettlement(ctx, tx, f.Partner, f.Month, s.FinanceZone(), f.Lines)
		return err
	})
	if err != nil {
		return 0, payout.SettlementApply{}, nil, nil, database.Classify(fmt.Errorf("apply settlement: %w", err))
	}
	if out.Again {
		// Nothing was stored now: what the file and the ledger still
		// disagree on is the answer, before and after alike.
		after, err = s.CompareSettlement(ctx, f.Partner, f.Month, f.Lines)
		before = after
	}
	return importID, out, before, after, err
}

// planSettlement decides, from the ledger as it is in tx, what applying
// f does with each line.
func planSettlement(ctx context.Context, tx *sql.Tx, f payout.SettlementFile) (settlementApplyPayload, error) {
	p := settlementApplyPayload{Partner: f.Partner, Month: monthOf(f.Month).Format(time.DateOnly), Digest: f.Digest,
		FileName: f.FileName, Format: f.Format, Rows: len(f.Lines)}
	var keys []convKey
	seen := map[string]bool{}
	for _, l := range f.Lines {
		if !seen[l.OrderID] {
			seen[l.OrderID] = true
			keys = append(keys, convKey{f.Partner, l.OrderID})
		}
	}
	current, err := loadConversions(ctx, tx, keys)
	if err != nil {
		return p, err
	}
	evs, err := loadEvents(ctx, tx, keys)
	if err != nil {
		return p, err
	}
	done := map[string]bool{}
	for _, l := range f.Lines {
		k := convKey{f.Partner, l.OrderID}
		cur, ok := current[k]
		e := appliedLineEntry{Line: l.Line, OrderID: l.OrderID, To: l.Status}
		switch {
		case done[l.OrderID]:
			e.Outcome = payout.OutcomeDuplicate
		case !ok || !cur.state.Exists():
			e.Outcome = payout.OutcomeUnknownOrder
		case cur.state.Currency != l.Currency:
			e.Outcome, e.From = payout.OutcomeCurrency, cur.state.Status
		case cur.state.Status == l.Status:
			p.Unchanged++
			done[l.OrderID] = true
			continue
		default:
			e.Outcome, e.From = payout.OutcomeApplied, cur.state.Status
			e.Event = settlementEventFor(f.Digest, l, cur.state, evs[k])
		}
		done[l.OrderID] = true
		p.Lines = append(p.Lines, e)
	}
	return p, nil
}

// settlementEventFor is the event that moves a conversion in state st,
// with events evs, to line l's status: after every event it has. A line
// dated no later than the conversion's last event takes effect one
// microsecond after it (the finest time kept): a moment of its own, so
// that an approval the settlement reverses stays approved at its moment,
// as when the same reversal comes by webhook later, instead of being
// undone at that same moment (and counted approved nowhere).
func settlementEventFor(digest string, l payout.Line, st ledger.State, evs []ledger.Event) *settlementEvent {
	e := &settlementEvent{ID: "settlement:" + digest[:32] + ":" + strconv.Itoa(l.Line), Status: l.Status,
		Sale: st.Sale, Commission: st.Commission, Currency: st.Currency, OccurredAt: l.Date.UTC()}
	var latest time.Time
	var seq int64
	for _, ev := range evs {
		if ev.OccurredAt.After(latest) {
			latest = ev.OccurredAt
		}
	}
	for _, ev := range evs {
		if ev.OccurredAt.Equal(latest) {
			seq = max(seq, ev.AcceptedSeq)
		}
	}
	if !e.OccurredAt.After(latest) {
		e.OccurredAt, e.AcceptedSeq = latest.Add(time.Microsecond), seq+1
	}
	return e
}

// applySettlement records p as applied at at by actor: the apply and its
// lines, the settlement events, the conversions folded again, and the
// journal entry. Live and in a replay alike, it applies p as decided.
func (s *Store) applySettlement(ctx context.Context, tx *sql.Tx, p settlementApplyPayload, at time.Time, actor string) (payout.SettlementApply, error) {
	month, err := time.Parse(time.DateOnly, p.Month)
	if err != nil {
		return payout.SettlementApply{}, err
	}
	out := payout.SettlementApply{Partner: p.Partner, Digest: p.Digest, FileName: p.FileName, Format: p.Format,
		Month: month, Rows: p.Rows, Unchanged: p.Unchanged, AppliedAt: at.UTC(), AppliedBy: actor}
	var line []int64
	var order, outcome, from, to, eventID []string
	var ev struct {
		id, order, status, currency, occurred []string
		sale, commission, seq                 []int64
	}
	var keys []convKey
	for _, l := range p.Lines {
		a := payout.AppliedLine{Line: l.Line, OrderID: l.OrderID, Outcome: l.Outcome, From: l.From, To: l.To}
		switch l.Outcome {
		case payout.OutcomeApplied:
			if l.Event == nil {
				return out, fmt.Errorf("line %d: applied without an event", l.Line)
			}
			out.Applied++
			a.EventID = l.Event.ID
			e := l.Event
			ev.id, ev.order, ev.status = append(ev.id, e.ID), append(ev.order, l.OrderID), append(ev.status, e.Status)
			ev.currency = append(ev.currency, e.Currency)
			ev.occurred = append(ev.occurred, e.OccurredAt.UTC().Format(time.RFC3339Nano))
			ev.sale, ev.commission, ev.seq = append(ev.sale, e.Sale), append(ev.commission, e.Commission), append(ev.seq, e.AcceptedSeq)
			keys = append(keys, convKey{p.Partner, l.OrderID})
		case payout.OutcomeUnknownOrder:
			out.Unknown++
		default:
			out.Other++
		}
		out.Lines = append(out.Lines, a)
		line, order, outcome = append(line, int64(l.Line)), append(order, l.OrderID), append(outcome, l.Outcome)
		from, to, eventID = append(from, l.From), append(to, l.To), append(eventID, a.EventID)
	}
	if err := tx.QueryRowContext(ctx, `INSERT INTO settlement_applies (partner, digest, file_name, format, month, rows,
			applied, unchanged, unknown, skipped, applied_at, applied_by)
		VALUES ($1, $2, $3, $4, $5::date, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		p.Partner, p.Digest, p.FileName, p.Format, p.Month, p.Rows, out.Applied, out.Unchanged, out.Unknown, out.Other,
		at.UTC(), actor).Scan(&out.ID); err != nil {
		return out, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO settlement_apply_lines (apply_id, line, order_id, outcome, from_status,
			to_status, event_id)
		SELECT $1, l, o, oc, f, t, nullif(e, '') FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[],
			$7::text[]) AS u(l, o, oc, f, t, e)`,
		out.ID, pq.Array(line), pq.Array(order), pq.Array(outcome), pq.Array(from), pq.Array(to), pq.Array(eventID)); err != nil {
		return out, err
	}
	if len(keys) > 0 {
		n := len(keys)
		partner := make([]string, n)
		for i := range partner {
			partner[i] = p.Partner
		}
		stamp := at.UTC().Format(time.RFC3339Nano)
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO conversion_events (id, partner, order_id, click_id, course_id, status, sale_minor,
				commission_minor, currency, occurred_at, received_at, recorded_at, source, replay_of, accepted_seq)
			SELECT id, partner, order_id, '', '', status, sale, commission, currency, occurred::timestamptz,
				$9::timestamptz, $9::timestamptz, $10, '', seq
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[],
				$8::text[], $11::bigint[]) AS e(id, partner, order_id, status, sale, commission, currency, occurred, seq)`,
			pq.Array(ev.id), pq.Array(partner), pq.Array(ev.order), pq.Array(ev.status), pq.Array(ev.sale),
			pq.Array(ev.commission), pq.Array(ev.currency), pq.Array(ev.occurred), stamp, SourceSettlement,
			pq.Array(ev.seq)); err != nil {
			return out, fmt.Errorf("insert settlement events: %w", err)
		}
		periods, err := loadPeriods(ctx, tx)
		if err != nil {
			return out, err
		}
		if err := s.recompute(ctx, tx, periods, keys, cause{recordedAt: at}); err != nil {
			return out, err
		}
	}
	return out, journal(ctx, tx, KindSettlementApply, at, actor, p)
}

// replaySettlementApply is KindSettlementApply's entry in journalKinds.
func replaySettlementApply(ctx context.Context, s *Store, tx *sql.Tx, e JournalEntry) error {
	var p settlementApplyPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return err
	}
	_, err := s.applySettlement(ctx, tx, p, e.RecordedAt, e.Actor)
	return err
}

// loadSettlementApply reads the apply of partner's file with digest.
func loadSettlementApply(ctx context.Context, tx *sql.Tx, partner, digest string) (payout.SettlementApply, bool, error) {
	a := payout.SettlementApply{Partner: partner, Digest: digest, Again: true}
	err := tx.QueryRowContext(ctx, `SELECT id, file_name, format, month, rows, applied, unchanged, unknown, skipped,
			applied_at, applied_by
		FROM settlement_applies WHERE partner = $1 AND digest = $2`, partner, digest).Scan(&a.ID, &a.FileName, &a.Format,
		&a.Month, &a.Rows, &a.Applied, &a.Unchanged, &a.Unknown, &a.Other, &a.AppliedAt, &a.AppliedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return payout.SettlementApply{}, false, nil
	}
	if err != nil {
		return a, false, err
	}
	a.Month, a.AppliedAt = a.Month.UTC(), a.AppliedAt.UTC()
	rows, err := tx.QueryContext(ctx, `SELECT line, order_id, outcome, from_status, to_status, coalesce(event_id, '')
		FROM settlement_apply_lines WHERE apply_id = $1 ORDER BY line`, a.ID)
	if err != nil {
		return a, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var l payout.AppliedLine
		if err := rows.Scan(&l.Line, &l.OrderID, &l.Outcome, &l.From, &l.To, &l.EventID); err != nil {
			return a, false, err
		}
		a.Lines = append(a.Lines, l)
	}
	return a, true, rows.Err()
}
