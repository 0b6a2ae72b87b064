-- Issue 14: partner health. Deliveries are counted per partner, hour and
-- outcome ('accepted', 'duplicate' or a rejection's error code), never per
-- request: the table is bounded by partners x hours x outcomes, and hours
-- older than 8 days are pruned (conversion.HealthKeep). Requests naming no
-- partner are counted under the one partner value '_unknown', which no
-- partner id can be.
CREATE TABLE partner_health (
    partner text        NOT NULL CHECK (partner = '_unknown' OR partner ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    hour    timestamptz NOT NULL CHECK (hour = date_trunc('hour', hour, 'UTC')),
    outcome text        NOT NULL CHECK (outcome ~ '^[a-z0-9_]{1,64}$'),
    n       bigint      NOT NULL CHECK (n >= 0),
    PRIMARY KEY (partner, hour, outcome)
);
CREATE INDEX partner_health_hour ON partner_health (hour);

-- When each partner's last new event was accepted (one row per partner).
CREATE TABLE partner_last_accepted (
    partner     text PRIMARY KEY REFERENCES partners (id),
    accepted_at timestamptz NOT NULL
);
