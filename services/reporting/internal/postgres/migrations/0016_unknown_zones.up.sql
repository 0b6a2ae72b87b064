-- Go's "Local" was accepted as a report's tz= before 2026-12-03 and, on a
-- fresh install, could be kept as a zone of the daily rollups; PostgreSQL
-- has no zone of that name, so every compaction failed from then on (the
-- compactor joins the deltas with every kept zone). Drop it and its daily
-- rows. Zones are now checked with PostgreSQL before they are kept.
DELETE FROM click_rollups_daily WHERE tz = 'Local';
DELETE FROM conversion_rollups_daily WHERE tz = 'Local';
DELETE FROM rollup_zones WHERE tz = 'Local';
