-- Issue 14 item 4: applying a settlement file. Each apply is a row here
-- (who applied which file, when, and what came of its rows), written in
-- the same transaction as the conversion events it adds (source
-- 'settlement', in conversion_events) and its journal entry
-- (settlement_apply), so `reporting replay` applies it again
-- identically. The same file (by digest) applies once per partner.
CREATE TABLE settlement_applies (
    id         bigserial   PRIMARY KEY,
    partner    text COLLATE "C" NOT NULL,
    digest     text        NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    file_name  text        NOT NULL,
    format     text        NOT NULL,
    month      date        NOT NULL CHECK (month = date_trunc('month', month)),
    rows       integer     NOT NULL CHECK (rows >= 0),
    applied    integer     NOT NULL CHECK (applied >= 0),
    unchanged  integer     NOT NULL CHECK (unchanged >= 0),
    unknown    integer     NOT NULL CHECK (unknown >= 0),
    skipped    integer     NOT NULL CHECK (skipped >= 0),
    applied_at timestamptz NOT NULL,
    applied_by text        NOT NULL,
    UNIQUE (partner, digest)
);

-- Each row of an applied file that became an event, or was not applied
-- and why (unknown_order, currency, duplicate).
CREATE TABLE settlement_apply_lines (
    apply_id  bigint  NOT NULL REFERENCES settlement_applies (id),
    line      integer NOT NULL,
    order_id  text COLLATE "C" NOT NULL,
    outcome   text    NOT NULL CHECK (outcome IN ('applied', 'unknown_order', 'currency', 'duplicate')),
    from_status text  NOT NULL,
    to_status   text  NOT NULL,
    event_id  text COLLATE "C",
    PRIMARY KEY (apply_id, line)
);

CREATE TRIGGER settlement_applies_append_only BEFORE UPDATE OR DELETE ON settlement_applies
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER settlement_apply_lines_append_only BEFORE UPDATE OR DELETE ON settlement_apply_lines
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
