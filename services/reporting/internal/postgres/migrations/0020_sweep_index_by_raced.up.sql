-- The attribution sweep (ingest.go, AttributionSweep) reads the waiting
-- conversions that changed in a range of time, the raced ones only, or
-- every one while an older reporting may be running. With raced first in
-- the index, each is an index range (raced = ANY(...)): filtering raced
-- through conversions_waiting_recent fetched every waiting conversion of
-- the range from the heap, as costly as the probes it spared (issue 15).
-- Partial, like the index it replaces: only waiting conversions. Built
-- under a SHARE lock (writes to conversions wait while it scans the
-- table; reads go on). An older reporting's sweep, which has no condition
-- on raced, still reads it, whole, for as long as it runs.
CREATE INDEX conversions_waiting_by_raced ON conversions (raced, updated_at) WHERE NOT attributed AND click_id <> '';
DROP INDEX conversions_waiting_recent;
