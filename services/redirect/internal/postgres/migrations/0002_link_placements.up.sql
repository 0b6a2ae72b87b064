-- A link may allow-list its placements (contract v1.1): a click with any
-- other placement is recorded as "other", so visitors cannot mint new
-- report keys. Empty: any valid placement is recorded as sent. The
-- service validates each entry (at most 64 bytes of [A-Za-z0-9._~-]); the
-- table holds the count to the same bound. Adding a column with a
-- constant default rewrites no row and fires no trigger.
ALTER TABLE links ADD COLUMN placements text[] NOT NULL DEFAULT '{}'
    CONSTRAINT links_placements_bounded CHECK (cardinality(placements) <= 32);
