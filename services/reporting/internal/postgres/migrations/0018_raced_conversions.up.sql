-- The attribution sweep probes only the conversions whose last change may
-- have raced a click's transaction (issue 15). A conversion's transaction
-- that held the attribution lock (ingest.go, attributionLock) from its
-- start saw every click committed before it, and every click committed
-- after it sees the conversion: it cannot have raced, and stores raced =
-- false. Every other change stores true, as does every row from before
-- this migration, so the sweep probes them as it did.
--
-- The sweep's index keeps only those: conversions waiting for clicks that
-- never come (foreign or forged ids) no longer cost an index entry and
-- eight probes each when nothing raced them.
ALTER TABLE conversions ADD COLUMN raced boolean NOT NULL DEFAULT true;
CREATE INDEX conversions_raced_recent ON conversions (updated_at) WHERE NOT attributed AND click_id <> '' AND raced;
DROP INDEX conversions_waiting_recent;
