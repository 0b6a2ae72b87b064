-- Daily rollups in the time zones finance reports in (REPORT_TIME_ZONES):
-- a report in one of them reads one row per day and key instead of 24.
-- Kept by the compactor from the same deltas as the hourly rollups, in the
-- same transaction; a zone added later is backfilled from the hourly ones.
CREATE TABLE rollup_zones (
    tz       text PRIMARY KEY,
    added_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE click_rollups_daily (
    tz            text    NOT NULL,
    day           date    NOT NULL,
    key_id        integer NOT NULL,
    clicks        bigint  NOT NULL,
    unique_clicks bigint  NOT NULL,
    bot_clicks    bigint  NOT NULL,
    PRIMARY KEY (tz, day, key_id)
) WITH (fillfactor = 70);

CREATE TABLE conversion_rollups_daily (
    tz                     text    NOT NULL,
    day                    date    NOT NULL,
    key_id                 integer NOT NULL,
    conversions            bigint  NOT NULL,
    direct_conversions     bigint  NOT NULL,
    cross_sell_conversions bigint  NOT NULL,
    sale_minor             bigint  NOT NULL,
    pending_minor          bigint  NOT NULL,
    approved_minor         bigint  NOT NULL,
    reversed_minor         bigint  NOT NULL,
    paid_minor             bigint  NOT NULL,
    PRIMARY KEY (tz, day, key_id)
) WITH (fillfactor = 70);
