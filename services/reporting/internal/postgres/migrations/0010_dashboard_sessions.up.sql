-- Dashboard sign-in sessions (issue 12, contract v1.1). The browser holds
-- a random 256-bit id in its cookie; this table holds only the id's
-- SHA-256 digest, so a dump of it opens no session. A session ends at
-- idle_expires_at (moved forward on each use, never past expires_at) or
-- at expires_at (sign-in + SESSION_MAX_AGE), whichever comes first, and
-- at sign-out, which deletes its row. Rows past their expiry are swept.
--
-- UNLOGGED: nothing here belongs in WAL, base backups or replicas; after
-- a crash or a fail-over the table is empty and people sign in again.
CREATE UNLOGGED TABLE dashboard_sessions (
    digest          bytea PRIMARY KEY CHECK (octet_length(digest) = 32),
    scope           text NOT NULL CHECK (scope = 'finance'),
    created_at      timestamptz NOT NULL,
    idle_expires_at timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    CHECK (idle_expires_at <= expires_at)
);
CREATE INDEX dashboard_sessions_idle_expires_at ON dashboard_sessions (idle_expires_at);
CREATE INDEX dashboard_sessions_created_at ON dashboard_sessions (created_at);
