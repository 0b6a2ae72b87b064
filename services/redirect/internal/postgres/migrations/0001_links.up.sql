-- Course links. Every write stamps the writing transaction's id (xid), so
-- replicas can catch up exactly: after a read whose snapshot had xmin X,
-- every row written by a transaction below X was already visible, so the
-- next read needs only rows with xid >= X.
CREATE TABLE links (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_-]{1,64}$'),
    partner     text NOT NULL,
    course_id   text NOT NULL,
    title       text NOT NULL DEFAULT '',
    destination text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX links_xid ON links (xid);
CREATE INDEX links_partner_code ON links (partner, code);

-- Tell every replica that links changed (once per statement; Postgres
-- folds repeats within a transaction).
CREATE FUNCTION notify_links_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('redirect_links_changed', '');
    RETURN NULL;
END $$;
CREATE TRIGGER links_changed AFTER INSERT OR UPDATE OR DELETE ON links
    FOR EACH STATEMENT EXECUTE FUNCTION notify_links_changed();

-- One random salt per UTC day for visitor hashes, shared by replicas and
-- deleted once its day is over.
CREATE TABLE visitor_salts (
    day        date PRIMARY KEY,
    salt       bytea NOT NULL CHECK (length(salt) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
