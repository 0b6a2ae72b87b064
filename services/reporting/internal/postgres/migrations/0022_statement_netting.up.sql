-- A payout statement's "approved" nets each conversion's approved
-- receivables (and the remittance money held against them) per moment
-- (payouts.go, statementSQL), now that a conversion's entries follow its
-- timeline (ledger.Moves). Entries posted before that were read one by
-- one (each positive receivable_approved entry), and the statements of
-- months already closed must stay as they were closed: the transactions
-- up to the one recorded here keep that reading. An empty schema (a new
-- deployment, `reporting replay`) records 0: every entry is netted.
CREATE TABLE statement_netting (
    after_txn bigint NOT NULL
);
INSERT INTO statement_netting SELECT coalesce(max(id), 0) FROM ledger_transactions;
CREATE TRIGGER statement_netting_append_only BEFORE UPDATE OR DELETE ON statement_netting
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
