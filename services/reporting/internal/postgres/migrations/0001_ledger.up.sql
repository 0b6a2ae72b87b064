-- Reporting's tables. Everything but the finance inputs (fx_rates,
-- remittances, periods, settlements) is derived from the topics and can be
-- rebuilt by `reporting replay`.

-- Clicks, one row per clicks.v1 event, partitioned by month of the click
-- so old months can be detached. (id, occurred_at) is the idempotency: a
-- redelivered event carries the same time and is skipped.
CREATE TABLE clicks (
    id           text COLLATE "C"        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    code         text COLLATE "C"        NOT NULL,
    partner      text COLLATE "C"        NOT NULL,
    course_id    text COLLATE "C"        NOT NULL,
    placement    text COLLATE "C"        NOT NULL,
    utm_source   text        NOT NULL,
    utm_medium   text        NOT NULL,
    utm_campaign text        NOT NULL,
    bot          boolean     NOT NULL,
    bot_reason   text        NOT NULL,
    is_unique    boolean     NOT NULL,
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);

-- ensure_click_partition creates the month's partition if none is
-- attached. A month whose partition was detached for archiving gets a new
-- one under a dated name, for clicks that arrive later still.
CREATE FUNCTION ensure_click_partition(month date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    name  text := 'clicks_' || to_char(first, 'YYYY_MM');
BEGIN
    IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = (quote_ident(current_schema()) || '.clicks')::regclass
                 AND c.relname LIKE name || '%') THEN
        RETURN;
    END IF;
    IF to_regclass(quote_ident(current_schema()) || '.' || name) IS NOT NULL THEN
        name := name || '_' || to_char(clock_timestamp(), 'YYYYMMDD"T"HH24MISS');
    END IF;
    EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.clicks FOR VALUES FROM (%L) TO (%L)',
        current_schema(), name, current_schema(),
        first::timestamp AT TIME ZONE 'UTC', (first + interval '1 month')::timestamp AT TIME ZONE 'UTC');
END $$;

-- The dimensions rollups are kept by, numbered, so rollup rows are narrow
-- (an hour, a number, the counts) and a report aggregates numbers before
-- it looks up names. Clicks have no currency (''); conversions do.
CREATE TABLE rollup_keys (
    id        integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partner   text COLLATE "C" NOT NULL,
    course_id text COLLATE "C" NOT NULL,
    code      text COLLATE "C" NOT NULL,
    placement text COLLATE "C" NOT NULL,
    currency  text COLLATE "C" NOT NULL,
    UNIQUE (partner, course_id, code, placement, currency)
);

-- Clicks counted per UTC hour and link at ingest, so a month's report
-- reads rollups instead of scanning clicks.
CREATE TABLE click_rollups (
    bucket        timestamptz NOT NULL,
    key_id        integer     NOT NULL,
    clicks        bigint      NOT NULL,
    unique_clicks bigint      NOT NULL,
    bot_clicks    bigint      NOT NULL,
    PRIMARY KEY (bucket, key_id)
) WITH (fillfactor = 70); -- room for HOT updates: compaction updates rows in place

-- Ingest appends deltas here without looking anything up; a compactor
-- folds them into click_rollups every second. Reports read both.
CREATE TABLE click_rollup_deltas (LIKE click_rollups) WITH (
    vacuum_truncate = false, -- truncating takes a lock that stalls ingest
    autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 50000,
    autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 50000);

-- Every conversions.v1 event, kept so a conversion's state can be folded
-- again in occurred_at order whenever an event arrives out of order.
CREATE TABLE conversion_events (
    id               text COLLATE "C"        PRIMARY KEY,
    partner          text COLLATE "C"        NOT NULL,
    order_id         text COLLATE "C"        NOT NULL,
    click_id         text COLLATE "C"        NOT NULL,
    course_id        text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('pending', 'approved', 'reversed')),
    sale_minor       bigint      NOT NULL CHECK (sale_minor >= 0),
    commission_minor bigint      NOT NULL CHECK (commission_minor >= 0),
    currency         text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz,
    recorded_at      timestamptz NOT NULL,
    source           text        NOT NULL,
    replay_of        text        NOT NULL
);
CREATE INDEX conversion_events_conversion ON conversion_events (partner, order_id);

-- A conversion's current state, the fold of its events plus what the
-- ledger allocated to it. Attribution is copied from its click.
CREATE TABLE conversions (
    partner          text COLLATE "C"        NOT NULL,
    order_id         text COLLATE "C"        NOT NULL,
    status           text        NOT NULL,
    sale_minor       bigint      NOT NULL,
    commission_minor bigint      NOT NULL,
    paid_minor       bigint      NOT NULL DEFAULT 0 CHECK (paid_minor >= 0 AND paid_minor <= commission_minor),
    currency         text        NOT NULL,
    purchased_at     timestamptz NOT NULL,
    click_id         text COLLATE "C"        NOT NULL,
    bought_course_id text        NOT NULL,
    attributed       boolean     NOT NULL,
    code             text COLLATE "C"        NOT NULL,
    course_id        text COLLATE "C"        NOT NULL,
    placement        text COLLATE "C"        NOT NULL,
    utm_source       text        NOT NULL,
    utm_medium       text        NOT NULL,
    utm_campaign     text        NOT NULL,
    bot              boolean     NOT NULL,
    events           integer     NOT NULL,
    last_txn         bigint,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner, order_id)
);
CREATE INDEX conversions_waiting ON conversions (click_id) WHERE NOT attributed AND click_id <> '';
CREATE INDEX conversions_waiting_recent ON conversions (updated_at) WHERE NOT attributed AND click_id <> '';
CREATE INDEX conversions_approved ON conversions (partner, currency, purchased_at, order_id) WHERE status = 'approved';

-- Conversions and their money per UTC hour of purchase and link. A change
-- to a conversion subtracts its old contribution and adds its new one.
CREATE TABLE conversion_rollups (
    bucket                 timestamptz NOT NULL,
    key_id                 integer     NOT NULL,
    conversions            bigint      NOT NULL,
    direct_conversions     bigint      NOT NULL,
    cross_sell_conversions bigint      NOT NULL,
    sale_minor             bigint      NOT NULL,
    pending_minor          bigint      NOT NULL,
    approved_minor         bigint      NOT NULL,
    reversed_minor         bigint      NOT NULL,
    paid_minor             bigint      NOT NULL,
    PRIMARY KEY (bucket, key_id)
) WITH (fillfactor = 70);

CREATE TABLE conversion_rollup_deltas (LIKE conversion_rollups) WITH (
    vacuum_truncate = false,
    autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 50000,
    autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 50000);

-- What each partner remitted and what of it is applied, per currency, so
-- allocation is skipped in O(1) for partners that never remitted.
CREATE TABLE payout_balances (
    partner        text COLLATE "C" NOT NULL,
    currency       text COLLATE "C" NOT NULL,
    remitted_minor bigint NOT NULL DEFAULT 0,
    applied_minor  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (partner, currency)
);

-- The ledger: append-only, double-entry. A transaction's entries sum to
-- zero per currency; a correction is a new transaction naming the one it
-- corrects. Nothing here is ever updated or deleted. (No foreign keys: a
-- per-row check would halve ingest; `reporting verify` checks that every
-- entry's transaction and every correction's target exist.)
CREATE TABLE ledger_transactions (
    id           bigserial   PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('conversion', 'remittance', 'allocation')),
    partner      text        NOT NULL,
    order_id     text,
    event_id     text,
    corrects     bigint,
    effective_at timestamptz NOT NULL,
    description  text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_transactions_conversion ON ledger_transactions (partner, order_id);

CREATE TABLE ledger_entries (
    id           bigserial   PRIMARY KEY,
    txn_id       bigint      NOT NULL,
    account      text        NOT NULL,
    partner      text        NOT NULL,
    order_id     text,
    currency     text        NOT NULL,
    amount_minor bigint      NOT NULL CHECK (amount_minor <> 0),
    effective_at timestamptz NOT NULL
);
CREATE INDEX ledger_entries_conversion ON ledger_entries (partner, order_id) WHERE order_id IS NOT NULL;
CREATE INDEX ledger_entries_partner ON ledger_entries (partner, currency, effective_at);

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END $$;
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

-- Finance inputs. A rate holds from its date until the next one.
CREATE TABLE fx_rates (
    date       date        NOT NULL,
    base       text        NOT NULL CHECK (base ~ '^[A-Z]{3}$'),
    quote      text        NOT NULL CHECK (quote ~ '^[A-Z]{3}$'),
    rate       numeric     NOT NULL CHECK (rate > 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (base, quote, date)
);

CREATE TABLE remittances (
    id           bigserial   PRIMARY KEY,
    partner      text        NOT NULL,
    amount_minor bigint      NOT NULL CHECK (amount_minor > 0),
    currency     text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    received_at  timestamptz NOT NULL,
    reference    text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (partner, reference)
);

-- Closed months: their figures never change; later events land as
-- adjustments in the open period.
CREATE TABLE periods (
    month     date        PRIMARY KEY CHECK (month = date_trunc('month', month)),
    closed_at timestamptz NOT NULL
);
