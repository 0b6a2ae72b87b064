-- Issue 11: a ledger finance can sign.

-- 1. Every finance action (a remittance, FX rates put, a month closed or
-- reopened, a settlement imported) is a row here, written in the same
-- transaction as the action, with the instant the service recorded it
-- and who did it. It is the record of truth for what is on no topic:
-- `reporting replay` applies these again, in order, at their recorded
-- instants (postgres.Journal). Nothing here is ever updated or deleted.
CREATE TABLE finance_journal (
    id          bigserial   PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind ~ '^[a-z_]{1,40}$'),
    recorded_at timestamptz NOT NULL,
    actor       text        NOT NULL,
    payload     jsonb       NOT NULL
);
CREATE INDEX finance_journal_recorded ON finance_journal (recorded_at, id);

-- What was done before the journal existed is journaled now, each at the
-- time its table recorded (the database's clock then), so a replay
-- applies it too. Rates are one entry: they act on reports, not ingest.
INSERT INTO finance_journal (kind, recorded_at, actor, payload)
SELECT kind, at, 'before migration 0006', payload FROM (
    SELECT 'remittance' AS kind, created_at AS at, id AS ord,
        jsonb_build_object('partner', partner, 'amount_minor', amount_minor, 'currency', currency,
            'received_at', received_at, 'reference', reference) AS payload
    FROM remittances
    UNION ALL
    SELECT 'fx_rates', max(updated_at), 0,
        jsonb_build_object('rates', jsonb_agg(jsonb_build_object('Date', to_char(date, 'YYYY-MM-DD'), 'Base', base,
            'Quote', quote, 'Rate', rate::text) ORDER BY base, quote, date))
    FROM fx_rates HAVING count(*) > 0
    UNION ALL
    SELECT 'period_closed', closed_at, 0,
        jsonb_build_object('month', to_char(month, 'YYYY-MM'), 'time_zone', 'UTC', 'from', 'open', 'to', 'closed')
    FROM periods
    UNION ALL
    SELECT 'settlement_import', i.created_at, i.id,
        jsonb_build_object('partner', i.partner, 'month', to_char(i.month, 'YYYY-MM-DD'),
            'lines', coalesce((SELECT jsonb_agg(jsonb_build_object('Line', l.line, 'OrderID', l.order_id,
                'Commission', l.commission_minor, 'Currency', l.currency, 'Status', l.status) ORDER BY l.line)
                FROM settlement_lines l WHERE l.import_id = i.id), '[]'::jsonb))
    FROM settlement_imports i
) j ORDER BY at, kind, ord;

-- 2. Periods keep their history: a month closed, reopened and closed
-- again is two rows. A change recorded while a row was in force (at or
-- after closed_at, before reopened_at) is an adjustment in the open
-- period; that is decided by the history, so a replay decides the same.
-- Each row says the zone its month was cut in (FINANCE_TIME_ZONE).
ALTER TABLE periods DROP CONSTRAINT periods_pkey;
ALTER TABLE periods ADD COLUMN id bigserial PRIMARY KEY,
    ADD COLUMN time_zone   text NOT NULL DEFAULT 'UTC',
    ADD COLUMN closed_by   text NOT NULL DEFAULT '',
    ADD COLUMN reopened_at timestamptz,
    ADD COLUMN reopened_by text,
    ADD CHECK (reopened_at IS NULL OR reopened_at >= closed_at);
CREATE UNIQUE INDEX periods_closed_month ON periods (month) WHERE reopened_at IS NULL;

-- The figures of a month as they were when it closed, per rollup key,
-- so `reporting verify` can prove a closed month never moved.
CREATE TABLE period_figures (
    period_id   bigint  NOT NULL REFERENCES periods (id),
    key_id      integer NOT NULL,
    clicks      bigint  NOT NULL,
    bot_clicks  bigint  NOT NULL,
    conversions bigint  NOT NULL,
    sale_minor     numeric NOT NULL,
    pending_minor  numeric NOT NULL,
    approved_minor numeric NOT NULL,
    reversed_minor numeric NOT NULL,
    paid_minor     numeric NOT NULL,
    PRIMARY KEY (period_id, key_id)
);

-- Months closed before: their figures as they are now.
INSERT INTO period_figures (period_id, key_id, clicks, bot_clicks, conversions, sale_minor, pending_minor,
    approved_minor, reversed_minor, paid_minor)
SELECT p.id, f.key_id, sum(f.clicks), sum(f.bot_clicks), sum(f.conversions), sum(f.sale), sum(f.pending),
    sum(f.approved), sum(f.reversed), sum(f.paid)
FROM periods p CROSS JOIN LATERAL (
    SELECT key_id, clicks, bot_clicks, 0 AS conversions, 0 AS sale, 0 AS pending, 0 AS approved, 0 AS reversed, 0 AS paid
        FROM click_rollups WHERE bucket >= p.month::timestamp AT TIME ZONE 'UTC'
         AND bucket < (p.month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
    UNION ALL SELECT key_id, clicks, bot_clicks, 0, 0, 0, 0, 0, 0
        FROM click_rollup_deltas WHERE bucket >= p.month::timestamp AT TIME ZONE 'UTC'
         AND bucket < (p.month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
    UNION ALL SELECT key_id, 0, 0, conversions, sale_minor, pending_minor, approved_minor, reversed_minor, paid_minor
        FROM conversion_rollups WHERE bucket >= p.month::timestamp AT TIME ZONE 'UTC'
         AND bucket < (p.month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
    UNION ALL SELECT key_id, 0, 0, conversions, sale_minor, pending_minor, approved_minor, reversed_minor, paid_minor
        FROM conversion_rollup_deltas WHERE bucket >= p.month::timestamp AT TIME ZONE 'UTC'
         AND bucket < (p.month + interval '1 month')::timestamp AT TIME ZONE 'UTC') f
GROUP BY 1, 2;

-- 3. The archive replay rebuilds from: clicks and conversion events are
-- kept with the Kafka timestamp they were recorded at (clicks had none:
-- older rows fall back to occurred_at) and, for events, the order they
-- were stored in, which is each conversion's order on its partition.
-- Both columns are nullable, so adding them rewrites nothing.
ALTER TABLE clicks ADD COLUMN recorded_at timestamptz;
CREATE SEQUENCE conversion_events_ingest_seq AS bigint;
ALTER TABLE conversion_events ADD COLUMN ingest_seq bigint;
ALTER TABLE conversion_events ALTER COLUMN ingest_seq SET DEFAULT nextval('conversion_events_ingest_seq');
CREATE INDEX conversion_events_ingest ON conversion_events (ingest_seq);

-- 4. Rollup rows are quarter-hours from here on, so a day can be cut in
-- any zone (Asia/Kolkata +05:30, Asia/Kathmandu +05:45). Rows written
-- before were whole hours: fine_since is the first bucket that is
-- certainly a quarter-hour; a report in a zone off the whole hour that
-- reaches back before it is refused (rebuild with `reporting replay`).
CREATE TABLE rollup_granularity (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    fine_since timestamptz NOT NULL
);
INSERT INTO rollup_granularity (fine_since)
SELECT coalesce(max(b) + interval '1 hour', '-infinity') FROM (
    SELECT max(bucket) AS b FROM click_rollups UNION ALL SELECT max(bucket) FROM click_rollup_deltas
    UNION ALL SELECT max(bucket) FROM conversion_rollups UNION ALL SELECT max(bucket) FROM conversion_rollup_deltas) m;

-- 5. The ledger and the journal refuse TRUNCATE too (UPDATE and DELETE
-- were refused already); only a migration, run by the schema's owner
-- with the triggers disabled on purpose, can change them.
CREATE FUNCTION ledger_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: TRUNCATE on % refused', TG_TABLE_NAME;
END $$;
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_no_truncate();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_no_truncate();
CREATE TRIGGER finance_journal_append_only BEFORE UPDATE OR DELETE ON finance_journal
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER finance_journal_no_truncate BEFORE TRUNCATE ON finance_journal
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_no_truncate();
