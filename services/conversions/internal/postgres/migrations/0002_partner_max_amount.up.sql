-- max_amount (contract v1.1): the most a partner's sale_amount or
-- commission may be, a decimal in the partner's currency. numeric keeps
-- it exact (never a float) and as written ("1000000.00"). Partners from
-- before it get the default, 1,000,000 of their currency; the service
-- checks the rest (precision, the schema's ceiling) when it is set.
ALTER TABLE partners ADD COLUMN max_amount numeric NOT NULL DEFAULT 1000000 CHECK (max_amount > 0);
