package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/reporting"
)

// partnerActivitySQL reads conversions by partner and purchase time:
// $1 the day's start, $2 the week's. Both lateral reads say purchased_at
// > '-infinity' (with that constant, written so), true of every
// conversion, because the index they read (conversions_partner_purchased,
// migration 0021) is partial on it: so the ledger's key probe, which
// does not say it, can never take that index for the primary key's.
// Without it the last purchase's max(purchased_at), and a generic plan
// of the week's count, could not use the index.
const partnerActivitySQL = `
		WITH p AS (SELECT DISTINCT partner FROM conversions)
		SELECT p.partner, last.at,
			coalesce(w.day, 0), coalesce(w.week, 0), coalesce(w.no_click, 0), coalesce(w.unknown_click, 0)
		FROM p
		LEFT JOIN LATERAL (SELECT max(purchased_at) AS at FROM conversions c
			WHERE c.partner = p.partner AND c.purchased_at > '-infinity') last ON true
		LEFT JOIN LATERAL (
			SELECT count(*) FILTER (WHERE purchased_at >= $1) AS day, count(*) AS week,
				count(*) FILTER (WHERE NOT attributed AND click_id = '') AS no_click,
				count(*) FILTER (WHERE NOT attributed AND click_id <> '') AS unknown_click
			FROM conversions c WHERE c.partner = p.partner AND c.purchased_at >= $2 AND c.purchased_at > '-infinity') w ON true
		ORDER BY 1`

// PartnerActivity implements reporting.PartnerHealthStore: per partner
// with a conversion, the last purchase, the conversions purchased since
// day and since week, and of those since week, the unattributed ones,
// split into those that named no click and those whose click is unknown.
func (s *Store) PartnerActivity(ctx context.Context, day, week time.Time) ([]reporting.PartnerActivity, error) {
	rows, err := s.db.QueryContext(ctx, partnerActivitySQL, day, week)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("partner activity: %w", err))
	}
	defer rows.Close()
	var out []reporting.PartnerActivity
	for rows.Next() {
		var a reporting.PartnerActivity
		var last sql.NullTime
		if err := rows.Scan(&a.Partner, &last, &a.Conversions24h, &a.Conversions7d, &a.NoClickID7d, &a.UnknownClick7d); err != nil {
			return nil, database.Classify(fmt.Errorf("partner activity: %w", err))
		}
		if last.Valid {
			t := last.Time.UTC()
			a.LastPurchaseAt = &t
		}
		out = append(out, a)
	}
	return out, database.Classify(rows.Err())
}

// Unattributed implements reporting.PartnerHealthStore: a partner's most
// recently purchased conversions that joined no click, at most limit.
func (s *Store) Unattributed(ctx context.Context, partner string, limit int) ([]reporting.UnattributedConversion, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT order_id, click_id, status, commission_minor, currency, purchased_at FROM conversions
		WHERE partner = $1 AND NOT attributed ORDER BY purchased_at DESC, order_id LIMIT $2`, partner, limit)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("unattributed conversions of %s: %w", partner, err))
	}
	defer rows.Close()
	out := []reporting.UnattributedConversion{}
	for rows.Next() {
		var u reporting.UnattributedConversion
		var commission int64
		if err := rows.Scan(&u.OrderID, &u.ClickID, &u.Status, &commission, &u.Currency, &u.PurchasedAt); err != nil {
			return nil, database.Classify(fmt.Errorf("unattributed conversions of %s: %w", partner, err))
		}
		cur, _ := money.LookupCurrency(u.Currency)
		u.Commission, u.PurchasedAt = money.FormatMinor(commission, cur.Exponent), u.PurchasedAt.UTC()
		out = append(out, u)
	}
	return out, database.Classify(rows.Err())
}
