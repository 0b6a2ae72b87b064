-- Money in the conversion rollups is numeric, not bigint: a rollup row is
-- a sum of any number of conversions (each at most events.MaxAmountMinor),
-- so it has no ceiling of its own, and compaction (which adds deltas into
-- these rows) can never fail on a sum that does not fit. Counts stay
-- bigint: one per event, they cannot reach its limit.
ALTER TABLE conversion_rollups
    ALTER COLUMN sale_minor TYPE numeric, ALTER COLUMN pending_minor TYPE numeric,
    ALTER COLUMN approved_minor TYPE numeric, ALTER COLUMN reversed_minor TYPE numeric,
    ALTER COLUMN paid_minor TYPE numeric;
ALTER TABLE conversion_rollup_deltas
    ALTER COLUMN sale_minor TYPE numeric, ALTER COLUMN pending_minor TYPE numeric,
    ALTER COLUMN approved_minor TYPE numeric, ALTER COLUMN reversed_minor TYPE numeric,
    ALTER COLUMN paid_minor TYPE numeric;
ALTER TABLE conversion_rollups_daily
    ALTER COLUMN sale_minor TYPE numeric, ALTER COLUMN pending_minor TYPE numeric,
    ALTER COLUMN approved_minor TYPE numeric, ALTER COLUMN reversed_minor TYPE numeric,
    ALTER COLUMN paid_minor TYPE numeric;

-- The placements of a link that have rollup rows of their own on a UTC
-- day: at most postgres.MaxPlacements, in the order they were first
-- seen; the link's other placements that day are counted as 'other'.
-- Visitors choose placements, so without this every random value would
-- be a rollup key and a report row. Which values got the slots of a busy
-- day depends on arrival order, so `reporting replay` copies this table
-- from the live schema, as it copies the finance inputs.
CREATE TABLE placement_slots (
    code       text COLLATE "C" NOT NULL,
    day        date NOT NULL,
    placements text[] NOT NULL,
    PRIMARY KEY (code, day)
);
