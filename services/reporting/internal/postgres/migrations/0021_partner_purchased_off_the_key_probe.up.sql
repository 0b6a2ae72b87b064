-- The ledger's key probe (apply.go, loadConversions: partner = k.p AND
-- order_id = k.o FOR UPDATE, one per key of a batch) must read the primary
-- key. On a table the planner takes for empty (a new deployment, the first
-- batch after a pause) it costs the primary key and
-- conversions_partner_purchased (partner, purchased_at) exactly alike, at
-- one row, and the tie went to the latter: each probe then walked every
-- conversion of its partner. Planned that way on an empty table, a batch
-- of 20,000 keys ran for minutes while the other consumers stored 250,000
-- conversions of the same partner (make bench, issue 15: "reports hold
-- 185,945 of at least 278,919", one consumer of three stuck in that
-- statement).
--
-- Partial on a condition no conversion fails, so that only a query that
-- states it (partner health's, partnerhealth.go) can use the index, and the
-- key probe, which does not, cannot. The new index is built first, under a
-- SHARE lock (writes to conversions wait while it scans the table; reads go
-- on); dropping the old one then takes the table's exclusive lock only for
-- the rest of this migration's transaction.
CREATE INDEX conversions_partner_purchased_new ON conversions (partner, purchased_at) WHERE purchased_at > '-infinity';
DROP INDEX conversions_partner_purchased;
ALTER INDEX conversions_partner_purchased_new RENAME TO conversions_partner_purchased;
