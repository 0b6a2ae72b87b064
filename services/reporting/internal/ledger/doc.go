// Package ledger is reporting's accounting, free of storage and transport:
// it folds a conversion's events into its state in occurred_at order, says
// which ledger balances a state implies, turns a change of state into a
// balanced double-entry transaction, and says what a conversion adds to
// the report rollups. It does not read or write anything.
package ledger
