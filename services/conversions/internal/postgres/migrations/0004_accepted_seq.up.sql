-- Contract v1.1 "Status order": each accepted request gets a number that
-- rises in the order conversions accepted (committed) the requests of one
-- conversion. Store.Accept takes a transaction-scoped advisory lock on the
-- conversion (partner, order_id), then the next number, and commits with
-- the lock held, so a later request of the same conversion can only get a
-- larger one. The number is kept on the request so `conversions replay`
-- sends the very number again. Requests stored before this migration have
-- none (NULL): their events carried none either, and replay sends none.
CREATE SEQUENCE accepted_seq AS bigint;
ALTER TABLE inbox ADD COLUMN accepted_seq bigint CHECK (accepted_seq > 0);
