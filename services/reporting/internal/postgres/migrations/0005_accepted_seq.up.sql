-- Contract v1.1 "Status order": a conversion's events with the same
-- occurred_at apply in the order conversions accepted them, which the
-- event carries (accepted_seq). Kept with the event so every re-fold and
-- a replay order them alike. Events from before v1.1 carry none (0): they
-- order by lifecycle rank, then id (ledger.Compare).
ALTER TABLE conversion_events ADD COLUMN accepted_seq bigint NOT NULL DEFAULT 0 CHECK (accepted_seq >= 0);
