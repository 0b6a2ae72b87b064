-- The attribution sweep probes only the conversions whose last change may
-- have raced a click's transaction (issue 15). A conversion's transaction
-- that held the attribution lock (ingest.go, attributionLock) from its
-- start, with no session of an older reporting beside it, saw every click
-- committed before it, and every click committed after it sees the
-- conversion: it cannot have raced, and stores raced = false. Every other
-- change stores true, as does every row from before this migration, so the
-- sweep probes them as it did. A constant default: no table rewrite.
ALTER TABLE conversions ADD COLUMN raced boolean NOT NULL DEFAULT true;
