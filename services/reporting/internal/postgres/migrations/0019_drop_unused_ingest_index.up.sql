-- conversion_events_ingest (0006) served no query: the archive, the one
-- reader of ingest_seq, orders by recorded_at first and sorts anyway. It
-- cost every conversion event an index entry (issue 15: reporting's ledger
-- is what holds the webhooks' rate with reporting live).
DROP INDEX conversion_events_ingest;
