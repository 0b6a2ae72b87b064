-- Visitor salts leave the WAL (issue 12): an UNLOGGED table is not written
-- to the WAL, so no WAL archive, streaming replica, point-in-time recovery
-- or base backup (pg_basebackup skips unlogged tables) holds a salt, and
-- with a salt, a visitor hash can be tested against every /24 and common
-- User-Agent.
--
-- The salts stored so far did reach the WAL, so they are dropped rather
-- than carried over: replicas store new ones within a minute (visitor
-- hashes change once, today). Replicas of the previous version keep the
-- salt they hold in memory until they are replaced, so during a rolling
-- deploy the two versions' hashes differ for the rest of the day.
--
-- After a crash or a failover Postgres empties unlogged tables; replicas
-- then put back the salts they hold (visitor.Hasher.Refresh).
TRUNCATE visitor_salts;
ALTER TABLE visitor_salts SET UNLOGGED;
