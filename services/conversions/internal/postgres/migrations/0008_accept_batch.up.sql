-- Issue 15: webhooks per second. Requests that arrive together are
-- stored together: one statement, one transaction and one commit (one
-- WAL flush) for a batch of them, where each took its own before. Each
-- request is still answered only once its batch has committed.
--
-- accept_batch stores the requests of a batch as acceptSQL stores one
-- (store.go): the i-th element of each array is the i-th request. In
-- order, it takes the advisory lock of each conversion in the batch (in
-- ascending key order, so two batches that share conversions never wait
-- for each other in a cycle), then one acceptance number per request in
-- the batch's order; stores each request with its number unless its
-- idempotency key is taken (by an earlier request, or one earlier in the
-- batch); and stores the event of each request it stored, whose value is
-- p_value_prefixes[i], the number in decimal, then p_value_suffixes[i]. It
-- returns the ordinals (1-based) of the requests it stored. The locks are
-- held to the commit, so a later request of the same conversion, in
-- another batch, gets a larger number and commits after.
--
-- Rows are inserted in (partner, idempotency key) order, not the batch's:
-- two batches that share no conversion but reuse each other's keys (one
-- webhook-id sent for two orders) then wait for each other's key in one
-- direction only, never in a cycle. The numbers still follow the batch's
-- order. lock_timeout bounds the wait for a conversion another
-- transaction holds: past it the batch fails (55P03) and the service
-- stores its requests one at a time, so only that conversion's waits.
CREATE FUNCTION accept_batch(
    p_lock_keys bigint[], p_partners text[], p_idempotency_keys text[], p_body_hashes bytea[],
    p_event_ids text[], p_sources text[], p_methods text[], p_headers text[], p_queries text[],
    p_bodies bytea[], p_received_at timestamptz[], p_value_prefixes bytea[], p_value_suffixes bytea[],
    p_topics text[], p_msg_keys bytea[], p_msg_headers text[])
RETURNS SETOF integer
LANGUAGE plpgsql
SET lock_timeout = '2s'
AS $$
DECLARE
    k bigint;
    seqs bigint[] := '{}';
BEGIN
    FOR k IN SELECT DISTINCT l FROM unnest(p_lock_keys) AS l ORDER BY l LOOP
        PERFORM pg_advisory_xact_lock(k);
    END LOOP;
    FOR i IN 1 .. coalesce(cardinality(p_partners), 0) LOOP
        seqs := seqs || nextval('conversions.accepted_seq');
    END LOOP;
    RETURN QUERY
    WITH req AS (
        SELECT * FROM unnest(p_partners, p_idempotency_keys, p_body_hashes, p_event_ids, p_sources, p_methods,
                p_headers, p_queries, p_bodies, p_received_at, p_value_prefixes, p_value_suffixes, p_topics,
                p_msg_keys, p_msg_headers, seqs) WITH ORDINALITY
            AS r (partner, idempotency_key, body_hash, event_id, source, method, headers, query, body,
                  received_at, value_prefix, value_suffix, topic, msg_key, msg_headers, seq, ord)),
    ins AS (
        INSERT INTO conversions.inbox (partner, idempotency_key, body_hash, event_id, source, method, headers, query,
                body, received_at, accepted_seq)
        SELECT req.partner, req.idempotency_key, req.body_hash, req.event_id, req.source, req.method,
                req.headers::jsonb, req.query, req.body, req.received_at, req.seq
            FROM req ORDER BY req.partner, req.idempotency_key, req.ord
        ON CONFLICT (partner, idempotency_key) DO NOTHING
        RETURNING id, accepted_seq),
    out AS (
        INSERT INTO conversions.outbox (topic, key, value, headers, inbox_id)
        SELECT req.topic, req.msg_key, req.value_prefix || convert_to(ins.accepted_seq::text, 'UTF8') || req.value_suffix,
                req.msg_headers::jsonb, ins.id
            FROM ins JOIN req ON req.seq = ins.accepted_seq ORDER BY ins.accepted_seq
        RETURNING inbox_id)
    SELECT req.ord::integer FROM ins JOIN req ON req.seq = ins.accepted_seq;
END $$;
