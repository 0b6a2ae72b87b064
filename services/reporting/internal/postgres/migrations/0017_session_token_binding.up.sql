-- A dashboard session ends when the token that opened it is taken out of
-- the configuration (ADMIN_TOKEN, API_TOKENS): each session keeps the
-- token's binding (httpx.Binding, a hash of the token's digest under its
-- own label, never the token or its digest), and each use checks it is
-- still configured with the finance scope. Sessions opened before this
-- have no binding: they end here, and people sign in once more.
DELETE FROM dashboard_sessions;
ALTER TABLE dashboard_sessions
    ADD COLUMN token_binding bytea NOT NULL CHECK (octet_length(token_binding) = 32);
