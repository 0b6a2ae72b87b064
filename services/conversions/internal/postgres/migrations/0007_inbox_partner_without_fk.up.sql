-- Issue 15: webhooks per second. Every accepted request inserted an inbox
-- row whose foreign key to partners took a KEY SHARE lock on its
-- partner's row. Under concurrent requests of one partner those locks
-- pile up on the same row: each new locker rewrites the row's xmax into
-- a new multixact, so the busiest partner's requests serialised on one
-- tuple and the multixact SLRU, and Postgres spent more on that than on
-- the insert itself.
--
-- The rule the key held stays, held from the other side: a partner row
-- is never deleted nor its id changed (no API does either; these
-- triggers refuse it), and the service stores a request only for a
-- partner it has just read. Rows of partner_last_accepted keep their
-- foreign key: they are updated once per partner per flush, not per
-- request.
ALTER TABLE inbox DROP CONSTRAINT inbox_partner_fkey;

CREATE FUNCTION partners_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'partners are never deleted nor renamed: stored requests name them'
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER partners_never_deleted BEFORE DELETE ON partners
    FOR EACH ROW EXECUTE FUNCTION partners_are_kept();
CREATE TRIGGER partners_never_renamed BEFORE UPDATE OF id ON partners
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION partners_are_kept();
CREATE TRIGGER partners_never_truncated BEFORE TRUNCATE ON partners
    FOR EACH STATEMENT EXECUTE FUNCTION partners_are_kept();
