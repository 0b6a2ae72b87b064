-- A partner's own settlement reports, as imported, for comparison with the
-- ledger. Finance inputs: kept by `reporting replay`.
CREATE TABLE settlement_imports (
    id         bigserial   PRIMARY KEY,
    partner    text COLLATE "C" NOT NULL,
    month      date        NOT NULL CHECK (month = date_trunc('month', month)),
    lines      integer     NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE settlement_lines (
    import_id        bigint      NOT NULL REFERENCES settlement_imports (id),
    line             integer     NOT NULL,
    order_id         text COLLATE "C" NOT NULL,
    commission_minor bigint      NOT NULL,
    currency         text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('pending', 'approved', 'reversed')),
    PRIMARY KEY (import_id, line)
);
