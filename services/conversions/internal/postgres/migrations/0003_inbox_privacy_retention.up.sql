-- Issue 12 (contract v1.1): the inbox keeps no visitor IP, and keeps
-- requests for a limited time (INBOX_RETENTION), but never one whose event
-- has not been published yet.

-- 1. Headers: rows stored before kept X-Forwarded-For (and traceparent).
-- Keep only the allow-list the service keeps now (httptransport's
-- auditHeaders; a test holds the two lists equal).
WITH allow (keys) AS (SELECT ARRAY['content-type', 'user-agent',
        'webhook-id', 'webhook-timestamp', 'webhook-signature',
        'svix-id', 'svix-timestamp', 'svix-signature']::text[])
UPDATE inbox SET headers = CASE WHEN jsonb_typeof(inbox.headers) = 'object'
        THEN (SELECT coalesce(jsonb_object_agg(h.key, h.value), '{}'::jsonb)
              FROM jsonb_each(inbox.headers) AS h WHERE h.key = ANY (allow.keys))
        ELSE '{}'::jsonb END
    FROM allow
    WHERE CASE WHEN jsonb_typeof(inbox.headers) = 'object'
        THEN inbox.headers - allow.keys <> '{}'::jsonb
        ELSE true END;

-- 2. Each outbox event names the inbox row it came from, and the foreign
-- key makes "never delete a request whose event is unpublished" a rule of
-- the schema, not only of the retention query. Events queued before this
-- migration are matched by their id (or, for a replay, the id of the event
-- it supersedes), read from the JSON as text: every value was written by
-- events.Marshal (compact JSON, "id" its first key, ids without quotes),
-- and a JSON parser would refuse a \u0000 a v1 event may hold elsewhere.
ALTER TABLE outbox ADD COLUMN inbox_id bigint REFERENCES inbox (id);
UPDATE outbox o SET inbox_id = i.id
    FROM inbox i
    WHERE i.event_id = coalesce(
        substring(convert_from(o.value, 'UTF8') FROM '"replay_of":"([^"\\]*)"'),
        substring(convert_from(o.value, 'UTF8') FROM '"id":"([^"\\]*)"'));
CREATE INDEX outbox_inbox_id_idx ON outbox (inbox_id);

-- 3. Events Kafka refuses for good (a message above the broker's
-- message.max.bytes) are set aside here by the relay instead of blocking
-- the outbox. To send one again after raising the broker's limit:
--   WITH m AS (DELETE FROM conversions.outbox_parked WHERE id = <id> RETURNING *)
--   INSERT INTO conversions.outbox (topic, key, value, headers, inbox_id, created_at)
--   SELECT topic, key, value, headers, inbox_id, created_at FROM m;
CREATE TABLE outbox_parked (
    id         bigint PRIMARY KEY, -- its id in the outbox
    inbox_id   bigint REFERENCES inbox (id),
    topic      text NOT NULL,
    key        bytea NOT NULL,
    value      bytea NOT NULL,
    headers    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    parked_at  timestamptz NOT NULL,
    reason     text NOT NULL
);
CREATE INDEX outbox_parked_inbox_id_idx ON outbox_parked (inbox_id);

-- 4. Retention deletes by age. A plain CREATE INDEX (migrations run in a
-- transaction) holds off inserts into the inbox while it builds: on a
-- large inbox, expect 503s (which partners retry) for that long.
CREATE INDEX inbox_received_at_idx ON inbox (received_at);
