-- A dashboard session ends when the token that opened it is taken out of
-- the configuration (ADMIN_TOKEN, API_TOKENS): each session keeps the
-- token's binding (httpx.Binding: an HMAC of the token's digest keyed by
-- the session's id, which the table does not hold, so the column says
-- nothing about any token without the browser's cookie), and each use
-- checks it against the tokens configured with the finance scope.
-- Sessions opened before this get 32 zero bytes, which bind no token:
-- they end at their next use. The default stays, so a replica still on
-- the old code during a rolling update stores sessions that end likewise
-- rather than failing to sign anyone in.
ALTER TABLE dashboard_sessions
    ADD COLUMN token_binding bytea NOT NULL
        DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
        CHECK (octet_length(token_binding) = 32);
