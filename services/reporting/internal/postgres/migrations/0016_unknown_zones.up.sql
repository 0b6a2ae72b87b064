-- A report zone that PostgreSQL does not know (Go's "Local" was accepted
-- as tz= before 2026-12-03) made every compaction fail from then on, as
-- the compactor joins the deltas with every kept zone. Drop such zones
-- and their daily rollups; a report in a valid zone learns it again.
DELETE FROM click_rollups_daily WHERE tz NOT IN (SELECT name FROM pg_timezone_names);
DELETE FROM conversion_rollups_daily WHERE tz NOT IN (SELECT name FROM pg_timezone_names);
DELETE FROM rollup_zones WHERE tz NOT IN (SELECT name FROM pg_timezone_names);
