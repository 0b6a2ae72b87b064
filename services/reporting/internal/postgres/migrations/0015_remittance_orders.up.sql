-- Issue 14 item 4: a remittance may name the orders it pays (a network's
-- payment report). Allocation pays each named order its named amount
-- first (at most its approved commission) and the rest of what the
-- partner remitted oldest purchase first, as before; a remittance that
-- names none is allocated as before. Finance input, journaled with its
-- remittance.
CREATE TABLE remittance_orders (
    remittance_id bigint NOT NULL REFERENCES remittances (id),
    partner       text COLLATE "C" NOT NULL,
    currency      text COLLATE "C" NOT NULL,
    order_id      text COLLATE "C" NOT NULL,
    amount_minor  bigint NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (remittance_id, order_id)
);
CREATE INDEX remittance_orders_partner ON remittance_orders (partner, currency, order_id);
CREATE TRIGGER remittance_orders_append_only BEFORE UPDATE OR DELETE ON remittance_orders
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
