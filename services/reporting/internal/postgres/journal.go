package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// The finance journal (table finance_journal) records every action that is
// on no topic, with the instant the service recorded it and who did it, in
// the same transaction as the action. It is the record of truth for these
// actions: `reporting replay` applies the entries again, in order, each at
// its recorded instant (Store.ApplyJournal), so what they did lands where
// it landed live. Kinds of entry:
const (
	KindRemittance       = "remittance"        // remittancePayload
	KindFXRates          = "fx_rates"          // fxPayload
	KindPeriodClosed     = "period_closed"     // periodPayload
	KindPeriodReopened   = "period_reopened"   // periodPayload
	KindSettlementImport = "settlement_import" // settlementPayload
	KindSettlementApply  = "settlement_apply"  // settlementApplyPayload (settlement_apply.go)
)

// journalKinds applies each kind again. A new kind of finance action is a
// constant, a payload type, a journal() call where the action is taken and
// an entry here.
var journalKinds = map[string]func(ctx context.Context, s *Store, tx *sql.Tx, e JournalEntry) error{
	KindRemittance: func(ctx context.Context, s *Store, tx *sql.Tx, e JournalEntry) error {
		var p remittancePayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return err
		}
		_, _, err := s.addRemittance(ctx, tx, payout.Remittance{ID: p.ID, Partner: p.Partner, Amount: p.AmountMinor, Currency: p.Currency,
			ReceivedAt: p.ReceivedAt, Reference: p.Reference, Orders: p.Orders}, e.RecordedAt, e.Actor, false)
		return err
	},
	KindFXRates: func(ctx context.Context, s *Store, tx *sql.Tx, e JournalEntry) error {
		var p fxPayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return err
		}
		return putFXRates(ctx, tx, p.Rates, e.RecordedAt, e.Actor, false)
	},
	KindPeriodClosed: func(ctx context.Context, s *Store, tx *sql.Tx, e JournalEntry) error {
		var p periodPayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return err
		}
		month, zone, err := p.parse()
		if err != nil {
			return err
		}
		_, err = closePeriod(ctx, tx, month, zone, e.RecordedAt, e.Actor)
		return err
	},
	KindPeriodReopened: func(ctx context.Context, s *Store, tx *sql.Tx, e JournalEntry) error {
		var p periodPayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return err
		}
		month, _, err := p.parse()
		if err != nil {
			return err
		}
		_, err = s.reopenPeriod(ctx, tx, month, e.RecordedAt, e.Actor)
		return err
	},
	KindSettlementImport: func(ctx context.Context, s *Store, tx *sql.Tx, e JournalEntry) error {
		var p settlementPayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return err
		}
		month, err := time.Parse(time.DateOnly, p.Month)
		if err != nil {
			return err
		}
		_, _, err = importSettlement(ctx, tx, p.Partner, month, s.FinanceZone(), p.Lines, e.RecordedAt, e.Actor)
		return err
	},
	KindSettlementApply: replaySettlementApply,
}

func (p periodPayload) parse() (time.Time, *time.Location, error) {
	month, err := time.Parse("2006-01", p.Month)
	if err != nil {
		return time.Time{}, nil, err
	}
	tz := p.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	zone, err := time.LoadLocation(tz)
	return month, zone, err
}

type remittancePayload struct {
	// ID is the id it was given live; absent from entries journaled
	// before it was kept.
	ID          int64     `json:"id,omitempty"`
	Partner     string    `json:"partner"`
	AmountMinor int64     `json:"amount_minor"`
	Currency    string    `json:"currency"`
	ReceivedAt  time.Time `json:"received_at"`
	Reference   string    `json:"reference"`
	// Orders are the orders it names (remittance_orders.go); none before.
	Orders []payout.OrderPayment `json:"orders,omitempty"`
}

type fxPayload struct {
	Rates []report.Rate `json:"rates"`
}

type settlementPayload struct {
	Partner string        `json:"partner"`
	Month   string        `json:"month"` // YYYY-MM-DD, the first day
	Lines   []payout.Line `json:"lines"`
}

// JournalEntry is one finance action as recorded.
type JournalEntry struct {
	ID         int64
	Kind       string
	RecordedAt time.Time
	Actor      string
	Payload    json.RawMessage
}

// journal appends an entry in tx, the action's own transaction.
func journal(ctx context.Context, tx *sql.Tx, kind string, at time.Time, actor string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO finance_journal (kind, recorded_at, actor, payload) VALUES ($1, $2, $3, $4)`,
		kind, at.UTC(), actor, string(b)); err != nil {
		return fmt.Errorf("journal %s: %w", kind, err)
	}
	return nil
}

// Journal calls fn with every entry, in the order they were recorded.
func (s *Store) Journal(ctx context.Context, fn func(JournalEntry) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, kind, recorded_at, actor, payload FROM finance_journal ORDER BY id`)
	if err != nil {
		return database.Classify(fmt.Errorf("journal: %w", err))
	}
	var all []JournalEntry
	for rows.Next() {
		var e JournalEntry
		var payload []byte
		if err := rows.Scan(&e.ID, &e.Kind, &e.RecordedAt, &e.Actor, &payload); err != nil {
			rows.Close()
			return err
		}
		e.RecordedAt, e.Payload = e.RecordedAt.UTC(), payload
		all = append(all, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return database.Classify(err)
	}
	for _, e := range all {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// ApplyJournal performs a recorded finance action again, as of its
// recorded instant and by its recorded actor (`reporting replay`), and
// journals it in this store. An action is applied as it was taken:
// the checks it passed live (a closed month's rates) are not made again.
func (s *Store) ApplyJournal(ctx context.Context, e JournalEntry) error {
	apply, ok := journalKinds[e.Kind]
	if !ok {
		return fmt.Errorf("journal %d: unknown kind %q: this reporting is older than the one that recorded it", e.ID, e.Kind)
	}
	err := database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error { return apply(ctx, s, tx, e) })
	if err != nil {
		return fmt.Errorf("apply journal %d (%s at %s): %w", e.ID, e.Kind, e.RecordedAt.Format(time.RFC3339Nano), err)
	}
	return nil
}
