-- Partners: webhook secrets sealed (AES-GCM, key from SECRETS_KEY) and the
-- postback token kept only as a keyed digest: a dump reveals neither.
CREATE TABLE partners (
    id                    text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    name                  text NOT NULL,
    currency              text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    mapping               jsonb NOT NULL DEFAULT '{}',
    webhook_secrets       bytea[] NOT NULL DEFAULT '{}',
    postback_token_digest bytea,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Every accepted request, raw, for audit and replay. (partner,
-- idempotency_key) is the idempotency: a second delivery finds the first.
CREATE TABLE inbox (
    id              bigserial PRIMARY KEY,
    partner         text NOT NULL REFERENCES partners (id),
    idempotency_key text NOT NULL,
    body_hash       bytea NOT NULL,
    event_id        text NOT NULL,
    source          text NOT NULL CHECK (source IN ('webhook', 'postback')),
    method          text NOT NULL,
    headers         jsonb NOT NULL,
    query           text NOT NULL DEFAULT '',
    body            bytea NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (partner, idempotency_key)
);

-- Events waiting for the relay, written in the same transaction as their
-- inbox row. The relay deletes what Kafka acknowledged.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    topic      text NOT NULL,
    key        bytea NOT NULL,
    value      bytea NOT NULL,
    headers    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
